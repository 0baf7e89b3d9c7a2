//! The README's documented JSON (`status --json`, `events --json`, `report --json`: the
//! ```jsonc blocks headed `// drover <command> --json`) against a real daemon's output: every
//! field a block shows must be in the real output at the same place, so the documentation
//! cannot drift from the interface again. `<name>` keys stand for each key of a map.

use crate::common;
use crate::control_support;

use std::path::Path;

use control_support::{Fleet, slot};
use serde_json::Value;

/// `text` without `//` comments (outside strings).
fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut in_str = false;
        let mut escaped = false;
        let mut cut = line.len();
        let b = line.as_bytes();
        for i in 0..b.len() {
            match b[i] {
                _ if escaped => escaped = false,
                b'\\' if in_str => escaped = true,
                b'"' => in_str = !in_str,
                b'/' if !in_str && b.get(i + 1) == Some(&b'/') => {
                    cut = i;
                    break;
                }
                _ => {}
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// The documented JSON of `drover <command> --json`, parsed.
fn documented(readme: &str, command: &str) -> Value {
    let header = format!("// drover {command} --json");
    let mut blocks = readme.split("```jsonc\n").skip(1);
    let block = blocks
        .find(|b| b.starts_with(&header))
        .unwrap_or_else(|| panic!("README has no ```jsonc block headed `{header}`"));
    let body = block.split("```").next().unwrap();
    serde_json::from_str(&strip_comments(body)).unwrap_or_else(|e| {
        panic!("the README's `{header}` block is not JSON once its comments go: {e}")
    })
}

/// Every field `doc` shows that `real` lacks, as paths. Below a null or empty real value
/// nothing can be checked; `<name>` keys match every key of the real map.
fn missing(doc: &Value, real: &Value, path: &str, out: &mut Vec<String>) {
    match (doc, real) {
        (Value::Object(d), Value::Object(r)) => {
            for (k, dv) in d {
                if k.starts_with('<') {
                    for (rk, rv) in r {
                        missing(dv, rv, &format!("{path}.{rk}"), out);
                    }
                } else {
                    match r.get(k) {
                        Some(rv) => missing(dv, rv, &format!("{path}.{k}"), out),
                        None => out.push(format!("{path}.{k}")),
                    }
                }
            }
        }
        (Value::Array(d), Value::Array(r)) => {
            if let Some(dv) = d.first() {
                for (i, rv) in r.iter().enumerate() {
                    missing(dv, rv, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn json_of(fleet: &Fleet, args: &[&str]) -> String {
    let out = fleet.run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_field_the_readme_documents_is_in_the_real_json() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let image = common::ensure_test_image();
    let name = common::unique_fleet("dv-otel-docs");
    let _guard = common::FleetGuard(name.clone());
    let fleet = Fleet::new(
        &name,
        &format!(
            r#"
[[roles]]
name = "worker"
replicas = 1
image = "{image}"
command = ["sh", "-c", "echo tokens=100; while true; do sleep 1; done"]

[roles.limits]
run_timeout = "30m"

[[roles]]
name = "crasher"
replicas = 1
image = "{image}"
command = ["sh", "-c", "echo boom; exit 1"]

[roles.restart]
initial_backoff = "100ms"
max_backoff = "200ms"

[pricing.default]
input = 1.0
output = 1.0
"#
        ),
    );
    let mut daemon = fleet.start_daemon();
    // Every optional part present at least once: a run with its limit, an exit, alerts.
    fleet.wait_status("a running worker, a crashed slot with alerts", |s| {
        !slot(s, "worker-1")["run"].is_null()
            && !slot(s, "worker-1")["run_limit"].is_null()
            && !slot(s, "crasher-1")["last_exit"].is_null()
            && s["alerts"].as_array().is_some_and(|a| !a.is_empty())
    });
    let mut gaps = Vec::new();

    let status: Value = serde_json::from_str(&json_of(&fleet, &["status", "--json"])).unwrap();
    missing(&documented(&readme, "status"), &status, "status", &mut gaps);

    let doc = documented(&readme, "events");
    let events = json_of(&fleet, &["events", "--json", "--since", "1h"]);
    let lines: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|e| e["kind"] == "died"), "{events}");
    for (i, e) in lines.iter().enumerate() {
        missing(&doc, e, &format!("events[{i}]"), &mut gaps);
    }

    let report: Value = serde_json::from_str(&json_of(&fleet, &["report", "--json"])).unwrap();
    assert!(
        report["slots"].as_object().is_some_and(|m| !m.is_empty()),
        "{report}"
    );
    missing(&documented(&readme, "report"), &report, "report", &mut gaps);
    daemon.stop();
    assert!(
        gaps.is_empty(),
        "documented in the README but not in the output:\n{}",
        gaps.join("\n")
    );
}

#[test]
fn the_field_check_catches_a_documented_field_that_is_not_there() {
    let doc: Value = serde_json::from_str(&strip_comments(
        "{\"a\": 1, // a comment with \"quotes\"\n \"b\": {\"<k>\": {\"c\": \"x // y\"}}, \"d\": [{\"e\": 1}]}",
    ))
    .unwrap();
    let real: Value =
        serde_json::from_str(r#"{"a": 1, "b": {"one": {"c": 1}, "two": {}}, "d": [{"e": 1}, {}]}"#)
            .unwrap();
    let mut gaps = Vec::new();
    missing(&doc, &real, "x", &mut gaps);
    assert_eq!(gaps, ["x.b.two.c", "x.d[1].e"]);
}
