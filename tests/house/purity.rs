//! Which crate may depend on what, checked from the workspace's Cargo.lock: nothing in
//! drover-core's or drover-signals' tree does I/O, async or terminal work, the signals depend
//! on nothing of drover's, the runtime on nothing but the core (no store, git or terminal), the
//! face (drover-tui) on no engine, store, git, file watcher or HTTP server, and only the runtime
//! names the Engine API.

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

/// Every package `root` depends on, itself included, from the lock file.
fn tree_of(root: &str) -> BTreeSet<String> {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("the workspace's Cargo.lock");
    let graph = lock_graph(&lock);
    assert!(graph.contains_key("tokio"), "the lock file was read");
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(p) = todo.pop() {
        if seen.insert(p.clone()) {
            todo.extend(graph.get(&p).into_iter().flatten().cloned());
        }
    }
    assert!(seen.contains("serde"), "walked the real tree: {seen:?}");
    seen
}

#[test]
fn the_core_depends_on_no_runtime_or_terminal_crate() {
    let seen = tree_of("drover-core");
    let bad: Vec<_> = FORBIDDEN.iter().filter(|f| seen.contains(**f)).collect();
    assert!(bad.is_empty(), "drover-core pulls in {bad:?}");
}

#[test]
fn the_signals_depend_on_nothing_of_drovers_and_do_no_io() {
    let seen = tree_of("drover-signals");
    let bad: Vec<_> = FORBIDDEN
        .iter()
        .copied()
        .chain(["drover-core", "drover"])
        .filter(|f| seen.contains(*f))
        .collect();
    assert!(bad.is_empty(), "drover-signals pulls in {bad:?}");
}

#[test]
fn the_runtime_depends_on_the_core_only_and_no_face_or_store() {
    let seen = tree_of("drover-runtime");
    assert!(
        seen.contains("bollard"),
        "the runtime is the Docker adapter"
    );
    let bad: Vec<_> = ["drover", "sqlx", "git2", "ratatui", "crossterm", "notify"]
        .into_iter()
        .filter(|f| seen.contains(*f))
        .collect();
    assert!(bad.is_empty(), "drover-runtime pulls in {bad:?}");
}

/// Which packages name `dep` in their own dependency list.
fn direct_dependents(dep: &str) -> BTreeSet<String> {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("the workspace's Cargo.lock");
    lock_graph(&lock)
        .into_iter()
        .filter(|(_, deps)| deps.iter().any(|d| d == dep))
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn only_the_runtime_names_the_engine_api() {
    // The demo's image build and cleanup go through `drover_runtime::docker::Docker`'s image
    // calls too; everything else reaches Docker through the port.
    let names = direct_dependents("bollard");
    assert_eq!(
        names,
        BTreeSet::from(["drover-runtime".to_string()]),
        "bollard is named by {names:?}"
    );
}

#[test]
fn the_face_depends_on_no_engine_store_git_or_server() {
    let seen = tree_of("drover-tui");
    assert!(seen.contains("ratatui"), "the face draws with ratatui");
    let bad: Vec<_> = [
        "drover",
        "drover-runtime",
        "bollard",
        "sqlx",
        "git2",
        "hyper",
        "notify",
    ]
    .into_iter()
    .filter(|f| seen.contains(*f))
    .collect();
    assert!(bad.is_empty(), "drover-tui pulls in {bad:?}");
}
