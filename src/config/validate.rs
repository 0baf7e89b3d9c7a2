//! Semantic checks a schema cannot express: duplicates, impossible numbers, missing files and
//! settings that would make agents fail at start. All problems are collected, not just the first.

use std::collections::HashSet;
use std::path::Path;

use super::diagnose::{Diagnostic, Seg, SourceIndex};
use super::schema::ConfigFile;

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

fn role_path(i: usize, rest: &[&str]) -> Vec<Seg> {
    let mut p = vec![key("roles"), Seg::Index(i)];
    p.extend(rest.iter().map(|k| key(k)));
    p
}

/// True for names usable in container names and slot ids.
fn is_simple_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 48
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Checks `file`; `base` resolves relative paths (the config file's folder) and
/// `theme_exists` answers whether a theme name can be loaded.
pub fn validate(
    file: &ConfigFile,
    index: &SourceIndex<'_>,
    base: &Path,
    theme_exists: &dyn Fn(&str) -> bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let fleet = &file.fleet;
    if !is_simple_name(&fleet.name) {
        out.push(index.at_path(
            &[key("fleet"), key("name")],
            format!(
                "fleet name `{}` is not usable in container names — use letters, digits, `-` or `_` (at most 48)",
                fleet.name
            ),
        ));
    }
    if let Some(up) = &file.upstream {
        let repo = resolve(base, &up.repo);
        if up.repo.as_os_str().is_empty() {
            out.push(index.at_path(
                &[key("upstream")],
                "missing key `repo` in [upstream] — the bare repository agents push to",
            ));
        } else if !repo.is_dir() {
            out.push(index.at_path(
                &[key("upstream"), key("repo")],
                format!(
                    "upstream repo `{}` does not exist — create it with `git init --bare {}`",
                    repo.display(),
                    repo.display()
                ),
            ));
        }
        super::schema_board::validate(&up.board, index, &mut out);
        if let Some(check) = &up.check {
            super::schema_check::validate(check, index, &mut out);
        }
        if !up.mount_target.starts_with('/') {
            out.push(index.at_path(
                &[key("upstream"), key("mount_target")],
                "mount_target must be an absolute path inside the container, like \"/upstream\"",
            ));
        }
    }
    if let Some(addr) = file.metrics.listen
        && !addr.ip().is_loopback()
        && !file.metrics.allow_remote
    {
        out.push(index.at_path(
            &[key("metrics"), key("listen")],
            format!(
                "metrics listen address {addr} is reachable from other hosts and the endpoint has no authentication — use 127.0.0.1, or set `allow_remote = true` in [metrics] if that is intended"
            ),
        ));
    }
    super::schema_telemetry::validate(&file.telemetry, index, &mut out);
    super::validate_hosts::validate(file, index, &|p| resolve(base, p), &mut out);
    if file.roles.is_empty() {
        out.push(index.at(
            0,
            "no [[roles]] defined — add at least one role with `name` and `image`",
        ));
    }
    let total = file
        .roles
        .iter()
        .map(|r| r.replicas)
        .fold(0u32, u32::saturating_add);
    if total > crate::core::MAX_SLOTS
        && file
            .roles
            .iter()
            .all(|r| r.replicas <= crate::core::MAX_SLOTS)
    {
        out.push(index.at(
            0,
            format!(
                "the roles' replicas add up to {total} slots; a fleet has at most {}",
                crate::core::MAX_SLOTS
            ),
        ));
    }
    let mut seen = HashSet::new();
    for (i, role) in file.roles.iter().enumerate() {
        if !is_simple_name(&role.name) {
            out.push(index.at_path(
                &role_path(i, &["name"]),
                format!(
                    "role name `{}` is not usable in slot names — use letters, digits, `-` or `_`",
                    role.name
                ),
            ));
        } else if !seen.insert(role.name.as_str()) {
            out.push(index.at_path(
                &role_path(i, &["name"]),
                format!(
                    "duplicate role name `{}` — each [[roles]] needs its own name",
                    role.name
                ),
            ));
        }
        if role.replicas == 0 {
            out.push(index.at_path(&role_path(i, &["replicas"]), "replicas must be at least 1 (to run none, remove the role or `drover ctl scale` it at run time)"));
        }
        if role.replicas > crate::core::MAX_SLOTS {
            out.push(index.at_path(
                &role_path(i, &["replicas"]),
                format!(
                    "replicas must be at most {} (a fleet has at most that many slots)",
                    crate::core::MAX_SLOTS
                ),
            ));
        }
        if role.image.trim().is_empty() {
            out.push(index.at_path(&role_path(i, &["image"]), "image must not be empty"));
        }
        if role.command.as_ref().is_some_and(|c| c.is_empty()) {
            out.push(index.at_path(
                &role_path(i, &["command"]),
                "command must not be an empty list — omit it to use the image's own command",
            ));
        }
        for (j, name) in role.required_env.iter().enumerate() {
            if !role.env.contains_key(name) && !role.pass_env.contains(name) {
                let mut p = role_path(i, &["required_env"]);
                p.push(Seg::Index(j));
                out.push(index.at_path(&p, format!("required_env `{name}` is neither in `env` nor in `pass_env` — add it to `pass_env` to take it from drover's environment")));
            }
        }
        for (j, m) in role.mounts.iter().enumerate() {
            let mut p = role_path(i, &["mounts"]);
            p.push(Seg::Index(j));
            let src = resolve(base, &m.source);
            if !src.exists() {
                let mut q = p.clone();
                q.push(key("source"));
                out.push(index.at_path(
                    &q,
                    format!("mount source `{}` does not exist", src.display()),
                ));
            }
            if drover_runtime::spec::exposes_docker_socket(&src, fleet.docker_host.as_deref())
                && !role.security.allow_docker_socket
            {
                out.push(index.at_path(&p, "mounting the Docker socket gives the agent root on the host — set `allow_docker_socket = true` in [roles.security] if you really mean it"));
            }
            if !m.target.starts_with('/') {
                let mut q = p.clone();
                q.push(key("target"));
                out.push(index.at_path(
                    &q,
                    "mount target must be an absolute path inside the container",
                ));
            }
        }
        let r = &role.restart;
        if r.max_backoff < r.initial_backoff {
            out.push(index.at_path(&role_path(i, &["restart", "max_backoff"]), format!("max_backoff ({}) is shorter than initial_backoff ({}) — make it at least as long", r.max_backoff, r.initial_backoff)));
        }
        if !(0.0..1.0).contains(&r.jitter) {
            out.push(index.at_path(
                &role_path(i, &["restart", "jitter"]),
                "jitter is a fraction from 0 up to (not including) 1, e.g. 0.1 for ±10 %",
            ));
        }
        if r.max_restarts == 0 {
            out.push(index.at_path(
                &role_path(i, &["restart", "max_restarts"]),
                "max_restarts must be at least 1",
            ));
        }
        let c = &role.crash_loop;
        if c.failures == 0 || c.identical_failures_to_block == 0 {
            out.push(index.at_path(
                &role_path(i, &["crash_loop"]),
                "crash_loop counts (failures, identical_failures_to_block) must be at least 1",
            ));
        }
        let rc = &role.recovery;
        if rc.restarts.saturating_add(rc.recreates) == 0 {
            out.push(index.at_path(
                &role_path(i, &["recovery"]),
                "recovery needs at least one restart or recreate before Blocked (restarts + recreates ≥ 1)",
            ));
        }
        let q = &role.quota;
        if q.max_throttle.as_millis_u64() == 0 {
            out.push(index.at_path(
                &role_path(i, &["quota", "max_throttle"]),
                "max_throttle must be longer than zero, e.g. \"24h\"",
            ));
        }
        let l = &role.limits;
        if !(l.cpus > 0.0 && l.cpus <= 1024.0) {
            out.push(index.at_path(
                &role_path(i, &["limits", "cpus"]),
                "cpus must be a positive number of cores, e.g. 1.5",
            ));
        }
        if l.memory.0 < 6 << 20 {
            out.push(index.at_path(
                &role_path(i, &["limits", "memory"]),
                "memory limit below Docker's minimum of 6m — use e.g. \"2g\"",
            ));
        }
        if l.pids < 1 {
            out.push(index.at_path(
                &role_path(i, &["limits", "pids"]),
                "pids must be at least 1",
            ));
        }
        if let Some(pf) = &role.preflight
            && pf.command.is_empty()
        {
            out.push(index.at_path(
                &role_path(i, &["preflight", "command"]),
                "preflight command must not be empty",
            ));
        }
        if let Some(p) = &role.probe {
            match (&p.exec, &p.http) {
                (Some(_), Some(_)) | (None, None) => out.push(index.at_path(
                    &role_path(i, &["probe"]),
                    "a probe needs exactly one of `exec` (a command) or `http` (a URL)",
                )),
                (Some(cmd), None) if cmd.is_empty() => out.push(index.at_path(
                    &role_path(i, &["probe", "exec"]),
                    "probe exec command must not be empty",
                )),
                (None, Some(url)) if url.starts_with("https://") => out.push(index.at_path(
                    &role_path(i, &["probe", "http"]),
                    "probe http supports plain http:// URLs only — for https use an exec probe, e.g. exec = [\"curl\", \"-fsS\", \"https://…\"]",
                )),
                (None, Some(url)) if !url.starts_with("http://") => out.push(index.at_path(
                    &role_path(i, &["probe", "http"]),
                    "probe http must be a URL starting with http://",
                )),
                _ => {}
            }
            if p.failure_threshold == 0 {
                out.push(index.at_path(
                    &role_path(i, &["probe", "failure_threshold"]),
                    "failure_threshold must be at least 1",
                ));
            }
        }
        for name in role.pass_env.iter().chain(role.env.keys()) {
            if name.is_empty() || name.contains('=') {
                out.push(index.at_path(
                    &role_path(i, &["env"]),
                    format!("`{name}` is not a valid environment variable name"),
                ));
            }
        }
    }
    for (i, role) in file.roles.iter().enumerate() {
        for (j, name) in role.tests.parsers.iter().enumerate() {
            if name != "auto" && !crate::signals::PARSER_NAMES.contains(&name.as_str()) {
                let mut p = role_path(i, &["tests", "parsers"]);
                p.push(Seg::Index(j));
                out.push(index.at_path(
                    &p,
                    format!(
                        "unknown test parser `{name}` — use `auto` or any of: {}",
                        crate::signals::PARSER_NAMES.join(", ")
                    ),
                ));
            }
        }
    }
    let rep = &file.loops.output_repetition;
    if !(rep.threshold > 0.0 && rep.threshold <= 1.0) {
        out.push(index.at_path(
            &[key("loops"), key("output_repetition"), key("threshold")],
            "threshold is a share of repeated lines, greater than 0 and at most 1 (e.g. 0.8)",
        ));
    }
    if rep.window_lines == 0 || rep.windows == 0 {
        out.push(index.at_path(
            &[key("loops"), key("output_repetition")],
            "window_lines and windows must be at least 1",
        ));
    }
    if !(1..=100).contains(&file.loops.context.warn_at) {
        out.push(index.at_path(
            &[key("loops"), key("context"), key("warn_at")],
            "warn_at is a percent of the model's context window, 1 to 100 (e.g. 85)",
        ));
    }
    if file.loops.compaction_loop.compactions == 0 {
        out.push(index.at_path(
            &[key("loops"), key("compaction_loop"), key("compactions")],
            "compactions must be at least 1 (use enabled = false to turn the detector off)",
        ));
    }
    for (model, window) in &file.context_windows {
        if *window == 0 || *window > crate::signals::transcript::context::MAX_WINDOW_TOKENS {
            out.push(index.at_path(
                &[key("context_windows"), key(model)],
                format!(
                    "a context window is a number of tokens, 1 to {} (e.g. 200000)",
                    crate::signals::transcript::context::MAX_WINDOW_TOKENS
                ),
            ));
        }
    }
    // The ranges live beside the detectors (`TurnLimits::problems`); each is reported at its key.
    for (field, message) in file.loops.transcript.limits().problems() {
        out.push(index.at_path(&[key("loops"), key("transcript"), key(field)], message));
    }
    if !theme_exists(&file.ui.theme) {
        out.push(index.at_path(&[key("ui"), key("theme")], format!("unknown theme `{}` — built in: dark, light, high-contrast, mono (or put <name>.toml in the themes folder of drover's config dir)", file.ui.theme)));
    }
    // The key table is plain data (no terminal), so a bad override is caught here with its
    // position instead of when the TUI opens.
    for problem in crate::keys::binding_problems(&file.ui.keys) {
        let path: Vec<Seg> = match &problem.action {
            Some(a) if file.ui.keys.contains_key(a) => vec![key("ui"), key("keys"), key(a)],
            _ => vec![key("ui"), key("keys")],
        };
        out.push(index.at_path(&path, problem.message));
    }
    if file.notify.hook.as_ref().is_some_and(|h| h.is_empty()) {
        out.push(index.at_path(
            &[key("notify"), key("hook")],
            "hook must be a non-empty command list, e.g. [\"notify-send\", \"drover\"]",
        ));
    }
    out
}

/// Resolves `p` against `base` unless absolute, expanding a leading `~/`.
pub fn resolve(base: &Path, p: &Path) -> std::path::PathBuf {
    if let Ok(rest) = p.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return Path::new(&home).join(rest);
    }
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
