//! No module imports its importer: for every crate of the workspace, the import graph between
//! its files (from `crate::`, `super::`, `self::` and child-module paths, in `use` lines and in
//! code) has no circle. A circle fails the test naming each of its files and the line of every
//! import that closes it.
//!
//! Reading, not compiling: comments, strings and `#[cfg(test)]` items are blanked first (tests
//! may reach anywhere); a path is followed through `pub use` re-exports to the file that
//! defines the name, so importing through a facade `mod.rs` is an import of the defining
//! file. `mod x;` lines are structure, not imports, and so is a child's use of its ancestors'
//! definitions (a child is part of them); a parent's use of its child is an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One module file of a crate.
struct Module {
    file: PathBuf,
    /// Path from the crate root (`[]` is `lib.rs`).
    path: Vec<String>,
    /// The source with comments, strings and test items blanked (lines kept).
    code: String,
    children: BTreeSet<String>,
    /// Names this file defines (fn, struct, enum, trait, type, const, static, macro).
    defines: BTreeSet<String>,
    /// `pub use` re-exports: exported name → the absolute path it stands for.
    reexports: BTreeMap<String, Vec<String>>,
    /// `pub use a::b::*`: the absolute module paths re-exported whole.
    globs: Vec<Vec<String>>,
}

/// An import of one file by another, with where it is written.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: PathBuf,
    pub to: PathBuf,
    pub line: usize,
    pub path: String,
    /// The module paths of `from` and `to` (from the crate root).
    pub from_mod: Vec<String>,
    pub to_mod: Vec<String>,
}

/// Blanks comments, string and char literals (keeping newlines so lines still count).
fn blank(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let keep = |c: u8| if c == b'\n' { b'\n' } else { b' ' };
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(keep(b[i]));
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string r"..." / r#"..."#.
            let mut j = i + 1;
            while b.get(j) == Some(&b'#') {
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            out.extend(std::iter::repeat_n(b' ', j + 1 - i));
            i = j + 1;
            while i < b.len() && !b[i..].starts_with(&close) {
                out.push(keep(b[i]));
                i += 1;
            }
            out.extend(std::iter::repeat_n(b' ', close.len().min(b.len() - i)));
            i += close.len();
        } else if b[i] == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    out.push(b' ');
                    i += 1;
                }
                out.push(keep(b[i]));
                i += 1;
            }
            out.push(b' ');
            i += 1;
        } else if b[i] == b'\'' {
            // A char literal ('a', '\n', '\u{1F600}'), not a lifetime ('a without a close).
            let close = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|c| *c == b'\'')
                    .map(|p| i + 2 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                // A multi-byte char: the close is within 5 bytes.
                b[i + 1..b.len().min(i + 6)]
                    .iter()
                    .position(|c| *c == b'\'')
                    .filter(|_| b.get(i + 1).is_some_and(|c| *c >= 0x80))
                    .map(|p| i + 1 + p)
            };
            match close {
                Some(end) => {
                    out.extend(std::iter::repeat_n(b' ', end + 1 - i));
                    i = end + 1;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Blanks every item marked `#[cfg(test)]` (a `mod`, `fn`, `use`, `impl`... or a block).
fn blank_test_items(code: &str) -> String {
    let mut b = code.as_bytes().to_vec();
    let marker = b"#[cfg(test)]";
    let mut from = 0;
    while let Some(p) = find(&b[from..], marker).map(|p| p + from) {
        let start = p;
        let mut i = p + marker.len();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let rest = String::from_utf8_lossy(&b[i..b.len().min(i + 40)]).into_owned();
        let word = rest
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ")
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .next()
            .unwrap_or("")
            .to_string();
        let item = [
            "mod", "fn", "use", "impl", "const", "static", "struct", "enum", "type",
        ]
        .contains(&word.as_str());
        if item || b.get(i) == Some(&b'{') {
            let mut end = i;
            while end < b.len() && b[end] != b'{' && b[end] != b';' {
                end += 1;
            }
            if end < b.len() && b[end] == b'{' {
                let mut depth = 0;
                while end < b.len() {
                    match b[end] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    end += 1;
                }
            }
            let stop = (end + 1).min(b.len());
            for c in &mut b[start..stop] {
                if *c != b'\n' {
                    *c = b' ';
                }
            }
        }
        from = p + 1;
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits code into tokens (identifiers, `::`, and single punctuation) with their line.
fn tokens(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if is_ident(c) {
            let s = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            out.push((chars[s..i].iter().collect(), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(("::".into(), line));
            i += 2;
        } else {
            out.push((c.to_string(), line));
            i += 1;
        }
    }
    out
}

/// Expands a `use` tree starting at `toks[i]` into full paths; returns them and the index
/// after the tree.
fn use_tree(
    toks: &[(String, usize)],
    mut i: usize,
    prefix: &[String],
) -> (Vec<Vec<String>>, usize) {
    let mut path = prefix.to_vec();
    let mut out = Vec::new();
    while i < toks.len() {
        let t = toks[i].0.as_str();
        match t {
            "::" => i += 1,
            "{" => {
                i += 1;
                loop {
                    let (mut sub, next) = use_tree(toks, i, &path);
                    out.append(&mut sub);
                    i = next;
                    match toks.get(i).map(|t| t.0.as_str()) {
                        Some(",") => i += 1,
                        Some("}") => return (out, i + 1),
                        _ => return (out, i),
                    }
                    if toks.get(i).map(|t| t.0.as_str()) == Some("}") {
                        return (out, i + 1);
                    }
                }
            }
            "as" => {
                // `use a::b as c`: the import is still a::b; skip the alias.
                i += 2;
            }
            "*" => {
                path.push("*".into());
                i += 1;
            }
            "," | "}" | ";" => break,
            w if w.chars().all(is_ident) => {
                path.push(w.to_string());
                i += 1;
            }
            _ => break,
        }
    }
    if path.len() > prefix.len() || (!prefix.is_empty() && path.len() == prefix.len()) {
        out.push(path);
    }
    (out, i)
}

/// Reads the module tree of the crate whose root file is `root`.
fn read_crate(root: &Path) -> Vec<Module> {
    let mut mods = Vec::new();
    let mut todo = vec![(root.to_path_buf(), Vec::<String>::new())];
    while let Some((file, path)) = todo.pop() {
        let src =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let code = blank_test_items(&blank(&src));
        let toks = tokens(&code);
        let mod_rs = matches!(
            file.file_name().and_then(|n| n.to_str()),
            Some("lib.rs" | "mod.rs" | "main.rs")
        );
        let dir = if mod_rs {
            file.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            file.with_extension("")
        };
        let mut m = Module {
            file: file.clone(),
            path: path.clone(),
            code: code.clone(),
            children: BTreeSet::new(),
            defines: BTreeSet::new(),
            reexports: BTreeMap::new(),
            globs: Vec::new(),
        };
        let mut depth = 0usize;
        for (k, (t, _)) in toks.iter().enumerate() {
            match t.as_str() {
                "{" => depth += 1,
                "}" => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > 0 {
                continue;
            }
            let next = toks.get(k + 1).map(|t| t.0.as_str()).unwrap_or("");
            let after = toks.get(k + 2).map(|t| t.0.as_str()).unwrap_or("");
            match t.as_str() {
                "mod" if after == ";" => {
                    m.children.insert(next.to_string());
                    let a = dir.join(format!("{next}.rs"));
                    let b = dir.join(next).join("mod.rs");
                    let child = if a.exists() { a } else { b };
                    let mut cp = path.clone();
                    cp.push(next.to_string());
                    todo.push((child, cp));
                }
                "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union" => {
                    m.defines.insert(next.to_string());
                }
                "macro_rules" => {
                    m.defines.insert(after.to_string());
                }
                "use" if k > 0 && matches!(toks[k - 1].0.as_str(), "pub" | ")") => {
                    let (paths, _) = use_tree(&toks, k + 1, &[]);
                    for p in paths {
                        let Some(abs) = absolute(&path, &m.children, &p) else {
                            continue;
                        };
                        match p.last().map(String::as_str) {
                            Some("*") => m.globs.push(abs[..abs.len() - 1].to_vec()),
                            Some("self") => {
                                let name = abs[abs.len() - 2].clone();
                                m.reexports.insert(name, abs[..abs.len() - 1].to_vec());
                            }
                            Some(name) => {
                                m.reexports.insert(name.to_string(), abs);
                            }
                            None => {}
                        }
                    }
                }
                _ => {}
            }
        }
        mods.push(m);
    }
    mods
}

/// A path as written in module `at` made absolute from the crate root; `None` when it leaves
/// the crate (another crate, std, a local name).
fn absolute(at: &[String], children: &BTreeSet<String>, p: &[String]) -> Option<Vec<String>> {
    let first = p.first()?.as_str();
    let mut base: Vec<String> = match first {
        "crate" => Vec::new(),
        "self" => at.to_vec(),
        "super" => at.to_vec(),
        c if children.contains(c) => at.to_vec(),
        _ => return None,
    };
    let mut rest = p;
    if first == "crate" || first == "self" {
        rest = &p[1..];
    }
    while rest.first().map(String::as_str) == Some("super") {
        base.pop()?;
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The file that defines what absolute `path` names, following re-exports.
fn target<'a>(mods: &'a [Module], path: &[String], hops: usize) -> Option<&'a Module> {
    let find_mod = |p: &[String]| mods.iter().find(|m| m.path == p);
    let mut here = find_mod(&[])?;
    for (k, seg) in path.iter().enumerate() {
        if here.children.contains(seg) {
            here = find_mod(&path[..=k])?;
            continue;
        }
        if seg == "*" || seg == "self" || here.defines.contains(seg) || hops > 8 {
            return Some(here);
        }
        if let Some(re) = here.reexports.get(seg) {
            let mut full = re.clone();
            full.extend(path[k + 1..].iter().cloned());
            return target(mods, &full, hops + 1).or(Some(here));
        }
        for g in &here.globs {
            let mut full = g.clone();
            full.extend(path[k..].iter().cloned());
            if let Some(t) = target(mods, &full, hops + 1)
                && t.path != here.path
            {
                return Some(t);
            }
        }
        return Some(here);
    }
    Some(here)
}

/// Every import between two files of the crate rooted at `root`.
pub fn edges(root: &Path) -> Vec<Edge> {
    let mods = read_crate(root);
    let mut out = Vec::new();
    for m in &mods {
        let toks = tokens(&m.code);
        let mut k = 0;
        while k < toks.len() {
            let (t, line) = (&toks[k].0, toks[k].1);
            let prev = if k > 0 { toks[k - 1].0.as_str() } else { "" };
            let prev2 = if k > 1 { toks[k - 2].0.as_str() } else { "" };
            let mut paths = Vec::new();
            if t == "use" {
                // A `pub use` counts too: the file may use what it re-exports.
                let (p, next) = use_tree(&toks, k + 1, &[]);
                paths = p;
                k = next;
            } else if prev != "::"
                && !(prev == "mod" || (prev2 == "mod" && prev == "pub"))
                && toks.get(k + 1).map(|t| t.0.as_str()) == Some("::")
                && (matches!(t.as_str(), "crate" | "super" | "self") || m.children.contains(t))
            {
                let mut p = vec![t.clone()];
                let mut j = k + 1;
                while toks.get(j).map(|t| t.0.as_str()) == Some("::")
                    && toks.get(j + 1).is_some_and(|t| t.0.chars().all(is_ident))
                {
                    p.push(toks[j + 1].0.clone());
                    j += 2;
                }
                paths.push(p);
                k = j;
            } else {
                k += 1;
            }
            for p in paths {
                let Some(abs) = absolute(&m.path, &m.children, &p) else {
                    continue;
                };
                // A child is part of its ancestors: reaching up to their shared definitions
                // (`super::Shared`) is the module tree at work, not an import of an importer.
                if let Some(to) = target(&mods, &abs, 0)
                    && to.file != m.file
                    && !m.path.starts_with(&to.path)
                {
                    out.push(Edge {
                        from: m.file.clone(),
                        to: to.file.clone(),
                        line,
                        path: p.join("::"),
                        from_mod: m.path.clone(),
                        to_mod: to.path.clone(),
                    });
                }
            }
        }
    }
    out
}

/// The same imports between the crate's top-level modules (`supervisor`, `ui`...): a file of
/// one that imports a file of another is an import of the module. Each node is named by its
/// module, as a path.
pub fn top_level(edges: &[Edge]) -> Vec<Edge> {
    edges
        .iter()
        .filter(|e| !e.from_mod.is_empty() && !e.to_mod.is_empty() && e.from_mod[0] != e.to_mod[0])
        .map(|e| Edge {
            from: PathBuf::from(&e.from_mod[0]),
            to: PathBuf::from(&e.to_mod[0]),
            path: format!("{} in {}", e.path, e.from.display()),
            ..e.clone()
        })
        .collect()
}

/// The circles of the import graph: groups of two or more files that reach each other
/// (strongly connected components, Tarjan's algorithm), each with the edges inside it.
pub fn circles(edges: &[Edge]) -> Vec<(BTreeSet<PathBuf>, Vec<Edge>)> {
    let nodes: BTreeSet<&PathBuf> = edges.iter().flat_map(|e| [&e.from, &e.to]).collect();
    let nodes: Vec<&PathBuf> = nodes.into_iter().collect();
    let index_of = |p: &PathBuf| nodes.iter().position(|n| *n == p).unwrap_or(0);
    let mut adj = vec![BTreeSet::new(); nodes.len()];
    for e in edges {
        adj[index_of(&e.from)].insert(index_of(&e.to));
    }
    struct T {
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(v: usize, adj: &[BTreeSet<usize>], t: &mut T) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in &adj[v] {
            match t.index[w] {
                None => {
                    visit(w, adj, t);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            t.out.push(comp);
        }
    }
    let n = nodes.len();
    let mut t = T {
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(v, &adj, &mut t);
        }
    }
    t.out
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let files: BTreeSet<PathBuf> = c.iter().map(|i| nodes[*i].clone()).collect();
            let inside = edges
                .iter()
                .filter(|e| files.contains(&e.from) && files.contains(&e.to))
                .cloned()
                .collect();
            (files, inside)
        })
        .collect()
}
