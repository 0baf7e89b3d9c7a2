//! `go test -json` events: build output and failures, per-test `run`/`output`/result events
//! and per-package results, each package tracked apart (at most `MAX_TRACKED`) since their
//! events may interleave. They feed the same run state as text output, so counting is the same.

use std::borrow::Cow;

use serde::Deserialize;

use super::{GoRun, GoTestParser, MAX_TRACKED, clip, compile_error_line, test_frame, test_log};
use crate::parsers::{Claim, LineCtx};

#[derive(Default)]
pub(super) struct JsonPackage {
    name: String,
    results: u32,
    failures: u32,
    no_tests: bool,
    orphan_log: Option<(String, String)>,
}

#[derive(Deserialize)]
struct GoEvent<'a> {
    #[serde(rename = "Action", borrow)]
    action: Cow<'a, str>,
    #[serde(rename = "Package", borrow, default)]
    package: Option<Cow<'a, str>>,
    #[serde(rename = "ImportPath", borrow, default)]
    import_path: Option<Cow<'a, str>>,
    #[serde(rename = "Test", borrow, default)]
    test: Option<Cow<'a, str>>,
    #[serde(rename = "Output", borrow, default)]
    output: Option<Cow<'a, str>>,
    #[serde(rename = "Elapsed", default)]
    elapsed: Option<f64>,
}

impl GoTestParser {
    pub(super) fn feed_json(&mut self, line: &str, ctx: &LineCtx) -> Claim {
        let Ok(ev) = serde_json::from_str::<GoEvent<'_>>(line) else {
            return Claim::NotMine;
        };
        let pkg_name = ev
            .package
            .as_deref()
            .or(ev.import_path.as_deref())
            .unwrap_or("");
        match ev.action.as_ref() {
            "build-output" => {
                if let Some(out) = ev.output.as_deref()
                    && let Some((loc, msg)) = compile_error_line(out.trim_end())
                    && self.compile_error.is_none()
                {
                    self.compile_error = Some((loc.to_owned(), clip(msg).to_owned()));
                }
                return Claim::Mine;
            }
            "build-fail" => {
                let compile = self.compile_error.take();
                let run = self.run.get_or_insert_with(|| GoRun::new(ctx.line_no));
                run.package_done(false, pkg_name, "[build failed]", compile.as_ref());
                return Claim::Mine;
            }
            _ => {}
        }
        let run = self.run.get_or_insert_with(|| GoRun::new(ctx.line_no));
        let pkg_index = match run.json.iter().position(|p| p.name == pkg_name) {
            Some(i) => i,
            None if run.json.len() < MAX_TRACKED => {
                run.json.push(JsonPackage {
                    name: pkg_name.to_owned(),
                    ..JsonPackage::default()
                });
                run.json.len() - 1
            }
            None => return Claim::Mine,
        };
        let Some(pkg) = run.json.get_mut(pkg_index) else {
            return Claim::Mine;
        };
        match (ev.action.as_ref(), ev.test.as_deref()) {
            ("output", test) => {
                let Some(text) = ev.output.as_deref() else {
                    return Claim::Mine;
                };
                let text = text.trim_end_matches('\n');
                if text.contains("[no tests to run]") {
                    pkg.no_tests = true;
                }
                if let Some(msg) = text.strip_prefix("panic: ") {
                    let msg = msg.trim_end_matches(" [recovered]").to_owned();
                    match test {
                        // The test's own `fail` event follows and takes the panic as reason.
                        Some(t) => {
                            if msg.starts_with("test timed out") {
                                run.crashed = true;
                            }
                            run.in_panic = true;
                            run.panic_failure = None;
                            run.test_logs.retain(|(name, _, _)| name != t);
                            let reason = if msg.starts_with("test timed out") {
                                msg
                            } else {
                                format!("panic: {msg}")
                            };
                            run.remember_log(t, "", &reason);
                        }
                        None => {
                            run.pkg_failures = pkg.failures;
                            run.current_test.clear();
                            run.panic(&msg);
                            if let Some(p) = run.json.get_mut(pkg_index) {
                                p.failures = p.failures.saturating_add(1);
                            }
                        }
                    }
                } else if run.in_panic
                    && let Some(path) = test_frame(text)
                {
                    match (run.panic_failure, test) {
                        (Some(i), _) => run.b.set_location_if_none(i, path),
                        (None, Some(t)) => {
                            if let Some(entry) =
                                run.test_logs.iter_mut().find(|(name, _, _)| name == t)
                                && entry.1.is_empty()
                            {
                                entry.1 = path.to_owned();
                            }
                        }
                        (None, None) => {}
                    }
                } else if let Some((loc, msg)) = test_log(text) {
                    match test {
                        Some(t) => run.remember_log(t, loc, msg),
                        None => pkg.orphan_log = Some((loc.to_owned(), clip(msg).to_owned())),
                    }
                }
            }
            ("run", Some(t)) => {
                run.current_test.clear();
                run.current_test.push_str(t);
            }
            (action @ ("pass" | "fail" | "skip"), Some(t)) => {
                pkg.results = pkg.results.saturating_add(1);
                let orphan = if action == "fail" {
                    pkg.failures = pkg.failures.saturating_add(1);
                    pkg.orphan_log.take()
                } else {
                    None
                };
                run.record_result(action, t);
                if let Some((loc, msg)) = orphan
                    && let Some(i) = run.reasonless_failure.take()
                {
                    run.b.set_reason_if_none(i, &msg);
                    run.b.set_location_if_none(i, &loc);
                }
            }
            (action @ ("pass" | "fail" | "skip"), None) => {
                let p = run.json.swap_remove(pkg_index);
                run.pkg_results = p.results;
                run.pkg_failures = p.failures;
                let detail = match (action, p.no_tests) {
                    ("skip", _) | (_, true) => "[no tests to run]".to_owned(),
                    _ => ev.elapsed.map(|e| format!("{e}s")).unwrap_or_default(),
                };
                run.package_done(action == "pass" || action == "skip", &p.name, &detail, None);
            }
            _ => {}
        }
        Claim::Mine
    }
}
