//! The crate's promise, checked: nothing in drover-core's dependency tree does I/O, async or
//! terminal work. Reads the workspace's Cargo.lock and walks drover-core's dependencies.

use std::collections::{BTreeMap, BTreeSet};

const FORBIDDEN: &[&str] = &[
    "tokio",
    "bollard",
    "sqlx",
    "git2",
    "ratatui",
    "crossterm",
    "notify",
    "hyper",
];

/// Package name → names of its dependencies, from the lock file.
fn lock_graph(lock: &str) -> BTreeMap<String, Vec<String>> {
    let mut graph = BTreeMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let mut name = None;
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in block.lines() {
            let line = line.trim();
            if let Some(n) = line.strip_prefix("name = ") {
                name = Some(n.trim_matches('"').to_string());
            } else if line.starts_with("dependencies = [") {
                in_deps = true;
            } else if in_deps && line == "]" {
                in_deps = false;
            } else if in_deps {
                // `"serde 1.0.2",` or `"serde",`: the name is the first word.
                let d = line.trim_matches(|c| c == '"' || c == ',');
                if let Some(n) = d.split_whitespace().next() {
                    deps.push(n.to_string());
                }
            }
        }
        if let Some(n) = name {
            graph.entry(n).or_insert_with(Vec::new).extend(deps);
        }
    }
    graph
}

#[test]
fn the_core_depends_on_no_runtime_or_terminal_crate() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
        .expect("the workspace's Cargo.lock");
    let graph = lock_graph(&lock);
    assert!(graph.contains_key("tokio"), "the lock file was read");
    let mut seen = BTreeSet::new();
    let mut todo = vec!["drover-core".to_string()];
    while let Some(p) = todo.pop() {
        if seen.insert(p.clone()) {
            todo.extend(graph.get(&p).into_iter().flatten().cloned());
        }
    }
    let bad: Vec<_> = FORBIDDEN.iter().filter(|f| seen.contains(**f)).collect();
    assert!(bad.is_empty(), "drover-core pulls in {bad:?}");
    assert!(seen.contains("serde"), "walked the real tree: {seen:?}");
}
