//! The board (`drover report --upstream --json`'s `board` and `flow`): a real bare repository
//! with the three-folder layout and a known history of claims, completions and one task sent
//! back to the backlog, checked against `git ls-tree` and `git log`; a repository keeping a
//! Markdown checklist; one keeping neither.

use crate::upstream_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use upstream_support::{Agent, Upstream, git_ok};

/// 2025-10-09 08:53:20 UTC.
const T0: i64 = 1_760_000_000;
const DAY: i64 = 86_400;

fn report_json(bare: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["report", "--json", "--upstream"])
        .arg(bare)
        .output()
        .expect("drover runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Task files in a folder at the tip, as `git ls-tree` lists them (hidden files excluded).
fn ls_tree_count(bare: &Path, dir: &str) -> u64 {
    git_ok(
        bare,
        &["ls-tree", "-r", "--name-only", "main", &format!("{dir}/")],
        None,
    )
    .lines()
    .filter(|p| !p.rsplit('/').next().unwrap_or("").starts_with('.') && !p.is_empty())
    .count() as u64
}

/// Files added to the done folder per UTC day, from `git log` on the first-parent history.
fn completed_per_day_from_git_log(bare: &Path) -> BTreeMap<String, u64> {
    let log = git_ok(
        bare,
        &[
            "log",
            "--first-parent",
            "--diff-filter=A",
            "--name-only",
            "--format=@%ct",
            "main",
            "--",
            "completed_tasks/",
        ],
        None,
    );
    let mut per_day = BTreeMap::new();
    let mut day = String::new();
    for line in log.lines() {
        if let Some(t) = line.strip_prefix('@') {
            let secs: u64 = t.parse().expect("epoch");
            let d = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            )
            .to_string();
            day = d[..10].to_owned();
        } else if line.starts_with("completed_tasks/") && !line.contains("/.") {
            *per_day.entry(day.clone()).or_insert(0) += 1;
        }
    }
    per_day
}

fn mv(agent: &Agent, from: &str, to: &str) {
    git_ok(&agent.dir, &["mv", from, to], None);
}

/// Claims a backlog task: moves it to current_tasks/ with a first line naming the agent.
fn claim(agent: &Agent, file: &str, title: &str, at: i64) {
    mv(
        agent,
        &format!("ideas/{file}"),
        &format!("current_tasks/{file}"),
    );
    agent.write(
        format!("current_tasks/{file}"),
        format!("Agent: {}\n# {title}\n", agent.name).as_bytes(),
    );
    agent.commit_all(&format!("Lock task: {file}"), at);
}

fn complete(agent: &Agent, file: &str, at: i64) {
    mv(
        agent,
        &format!("current_tasks/{file}"),
        &format!("completed_tasks/{file}"),
    );
    agent.commit_all(&format!("Remove task lock: {file} (completed)"), at);
}

fn three_folder_repo() -> Upstream {
    let up = Upstream::new();
    let a = up.agent("agent-1");
    for dir in ["ideas", "current_tasks", "completed_tasks"] {
        a.write(format!("{dir}/.keep"), b"");
    }
    for (f, t) in [
        ("a.md", "Fix A"),
        ("b.txt", "Fix B"),
        ("c.txt", "Fix C"),
        ("d.txt", "Fix D"),
        ("e.txt", "Fix E"),
    ] {
        a.write(
            format!("ideas/{f}"),
            format!("Task: {t}\nwhy and how\n").as_bytes(),
        );
    }
    a.commit_all("ideas", T0);
    claim(&a, "a.md", "Fix A", T0 + 100);
    claim(&a, "b.txt", "Fix B", T0 + 200);
    complete(&a, "a.md", T0 + 3_700);
    claim(&a, "c.txt", "Fix C", T0 + 4_000);
    // b goes back: its lock released and the idea put back.
    mv(&a, "current_tasks/b.txt", "ideas/b.txt");
    a.commit_all("Unlock b: blocked on c", T0 + 5_000);
    complete(&a, "c.txt", T0 + DAY + 100);
    claim(&a, "d.txt", "Fix D", T0 + DAY + 200);
    complete(&a, "d.txt", T0 + DAY + 800);
    let b = &a;
    claim(b, "e.txt", "Fix E", T0 + DAY + 1_000);
    a.write("ideas/f.md", b"# Try F\n\nlater\n");
    a.commit_all("idea f", T0 + DAY + 1_100);
    a.push().expect("push");
    up
}

#[test]
fn a_three_folder_board_matches_ls_tree_and_its_completions_match_git_log() {
    let up = three_folder_repo();
    let r = report_json(&up.bare);
    let board = &r["board"];
    assert_eq!(board["source"], "folders", "{board}");
    for (key, dir) in [
        ("backlog", "ideas"),
        ("in_progress", "current_tasks"),
        ("done", "completed_tasks"),
    ] {
        assert_eq!(
            board[key]["count"].as_u64(),
            Some(ls_tree_count(&up.bare, dir)),
            "{key}: {board}"
        );
    }
    assert_eq!(
        (
            board["backlog"]["count"].as_u64(),
            board["in_progress"]["count"].as_u64(),
            board["done"]["count"].as_u64()
        ),
        (Some(2), Some(1), Some(3))
    );
    let held = &board["in_progress"]["items"][0];
    assert_eq!(held["title"], "Fix E");
    assert_eq!(held["holder"], "agent-1");
    assert_eq!(held["claimed_at_ms"], (T0 + DAY + 1_000) * 1000);
    let titles: Vec<&str> = board["backlog"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["title"].as_str())
        .collect();
    assert_eq!(titles, ["Fix B", "Try F"]);
    let done_a = &board["done"]["items"][0];
    assert_eq!(done_a["task"], "a");
    assert_eq!(done_a["completed_at_ms"], (T0 + 3_700) * 1000);

    let flow = &r["flow"];
    let per_day: BTreeMap<String, u64> = flow["completed_per_day"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| {
            (
                d["day"].as_str().expect("day").to_owned(),
                d["completed"].as_u64().expect("n"),
            )
        })
        .collect();
    let from_git = completed_per_day_from_git_log(&up.bare);
    assert_eq!(per_day, from_git);
    assert_eq!(
        from_git.values().copied().collect::<Vec<_>>(),
        [1, 2],
        "the history spans two days"
    );
    // Claim to completion: 3 600 s (a), 600 s (d), 82 500 s (c); nearest rank.
    assert_eq!(flow["claim_to_done_p50_s"], 3_600);
    assert_eq!(flow["claim_to_done_p90_s"], DAY + 100 - 4_000);
    assert_eq!(flow["back_to_backlog"], 1);

    // The text report prints the same.
    let text = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["report", "--upstream"])
        .arg(&up.bare)
        .output()
        .expect("drover runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("in progress: 1"), "{text}");
    assert!(text.contains("Fix E (agent-1,"), "{text}");
    assert!(text.contains("2025-10-10     2"), "{text}");
    assert!(text.contains("back to backlog: 1"), "{text}");
}

#[test]
fn a_checklist_repo_has_a_board_from_its_todo_file() {
    let up = Upstream::new();
    let a = up.agent("agent-1");
    a.write(
        "TODO.md",
        b"# TODO\n\n- [ ] parse headers\n- [ ] \x1b[31mred\x1b[0m title\n- [~] codegen\n- [x] lexer\nnotes\n",
    );
    git_ok(&a.dir, &["rm", "-q", "PROGRESS.md"], None);
    a.commit_all("todo", T0);
    a.push().expect("push");
    let board = &report_json(&up.bare)["board"];
    assert_eq!(board["has_progress_file"], false);
    assert_eq!(board["source"], "checklist", "{board}");
    assert_eq!(board["location"], "TODO.md");
    assert_eq!(board["backlog"]["count"], 2);
    assert_eq!(board["in_progress"]["count"], 1);
    assert_eq!(board["done"]["count"], 1);
    assert_eq!(board["backlog"]["items"][1]["title"], "red title");
    let text = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["report", "--upstream"])
        .arg(&up.bare)
        .output()
        .expect("drover runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("this repo keeps no PROGRESS.md; its board is TODO.md — 2 waiting, 1 in progress, 1 done"),
        "{text}"
    );
}

#[test]
fn a_repo_with_neither_has_no_board_and_says_so() {
    let up = Upstream::new();
    let r = report_json(&up.bare);
    assert_eq!(r["board"]["source"], "none");
    assert_eq!(r["board"]["backlog"]["count"], 0);
    assert!(r["flow"].is_null());
    let text = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["report", "--upstream"])
        .arg(&up.bare)
        .output()
        .expect("drover runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("board: none"), "{text}");
}
