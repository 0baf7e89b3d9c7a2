//! The checks of `[[hosts]]`, `[runtime]` and a role's placement that a schema cannot express,
//! with file:line diagnostics: unique simple host names, a known transport, TLS complete and
//! readable, and roles naming only defined hosts.
//!
//! Invariant: a plain-text `tcp://` engine is accepted only on the loopback address — anyone
//! who reaches that port is root on that machine.

use std::path::{Path, PathBuf};

use super::diagnose::{Diagnostic, Seg, SourceIndex};
use super::schema::ConfigFile;
use super::schema_hosts::EngineKind;

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

fn host_path(i: usize, k: &str) -> Vec<Seg> {
    vec![key("hosts"), Seg::Index(i), key(k)]
}

fn is_loopback(authority: &str) -> bool {
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// `resolve` turns a configured path into the file it names (relative to the config file).
pub(super) fn validate(
    file: &ConfigFile,
    index: &SourceIndex<'_>,
    resolve: &dyn Fn(&Path) -> PathBuf,
    out: &mut Vec<Diagnostic>,
) {
    let names: Vec<&str> = file.hosts.iter().map(|h| h.name.as_str()).collect();
    if !file.hosts.is_empty() && file.fleet.docker_host.is_some() {
        out.push(index.at_path(
            &[key("fleet"), key("docker_host")],
            "[fleet] docker_host and [[hosts]] both name engines — with [[hosts]], list every engine there (the local one as docker_host = \"unix:///var/run/docker.sock\")",
        ));
    }
    for (i, h) in file.hosts.iter().enumerate() {
        let simple = !h.name.is_empty()
            && h.name.len() <= 32
            && h.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !simple {
            out.push(index.at_path(
                &host_path(i, "name"),
                format!(
                    "host name `{}` must be letters, digits, `-`, `_` or `.` (at most 32): it is shown in the HOST column and written into container ids",
                    h.name
                ),
            ));
        } else if names[..i].contains(&h.name.as_str()) {
            out.push(index.at_path(
                &host_path(i, "name"),
                format!(
                    "duplicate host name `{}` — each [[hosts]] needs its own name",
                    h.name
                ),
            ));
        }
        let tls = [&h.tls_ca, &h.tls_cert, &h.tls_key];
        let given = tls.iter().filter(|t| t.is_some()).count();
        let dh = h.docker_host.as_str();
        if let Some(rest) = dh.strip_prefix("tcp://") {
            if given == 0 && !is_loopback(rest) {
                out.push(index.at_path(
                    &host_path(i, "docker_host"),
                    format!(
                        "`{dh}` without TLS lets anyone who reaches that port be root on that host — set tls_ca, tls_cert and tls_key (the engine's --tlsverify certificates), use ssh://user@host, or 127.0.0.1"
                    ),
                ));
            }
        } else if let Some(rest) = dh.strip_prefix("ssh://") {
            if rest.is_empty() || rest.contains('/') {
                out.push(index.at_path(
                    &host_path(i, "docker_host"),
                    format!(
                        "`{dh}` is not an ssh address — use ssh://user@host or ssh://user@host:port"
                    ),
                ));
            }
        } else if !dh.starts_with("unix:///") {
            out.push(index.at_path(
                &host_path(i, "docker_host"),
                format!("`{dh}` is not a Docker address — use unix:///path, tcp://host:port or ssh://user@host"),
            ));
        }
        if given > 0 && !dh.starts_with("tcp://") {
            out.push(index.at_path(
                &host_path(i, "tls_ca"),
                "tls_ca, tls_cert and tls_key apply to tcp:// engines only",
            ));
        } else if given > 0 && given < 3 {
            out.push(index.at_path(
                &host_path(i, "tls_ca"),
                "TLS needs all three of tls_ca, tls_cert and tls_key",
            ));
        }
        for (k, p) in ["tls_ca", "tls_cert", "tls_key"].iter().zip(tls) {
            if let Some(p) = p
                && !resolve(p).is_file()
            {
                out.push(index.at_path(
                    &host_path(i, k),
                    format!("{k} `{}` is not a readable file", p.display()),
                ));
            }
        }
        let t = h.request_timeout.0;
        if t.is_zero() || t > std::time::Duration::from_secs(600) {
            out.push(index.at_path(
                &host_path(i, "request_timeout"),
                "request_timeout must be between 1s and 10m",
            ));
        }
    }
    if file.runtime.engine == EngineKind::Swarm {
        out.push(index.at_path(
            &[key("runtime"), key("engine")],
            "engine = \"swarm\" is not supported by this version of drover — use \"docker\" (with [[hosts]] for several machines)",
        ));
    }
    for (i, role) in file.roles.iter().enumerate() {
        let at = |k: &str| vec![key("roles"), Seg::Index(i), key(k)];
        if file.hosts.is_empty() && (!role.hosts.is_empty() || role.placement.is_some()) {
            let k = if role.hosts.is_empty() {
                "placement"
            } else {
                "hosts"
            };
            out.push(index.at_path(
                &at(k),
                format!(
                    "role `{}` places replicas on hosts, but no [[hosts]] are defined",
                    role.name
                ),
            ));
            continue;
        }
        if !role.hosts.is_empty() && role.placement.is_some() {
            out.push(index.at_path(
                &at("placement"),
                "a role takes either `hosts` (its own) or `placement = \"spread\"` (over every host), not both",
            ));
        }
        for (j, h) in role.hosts.iter().enumerate() {
            if !names.contains(&h.as_str()) {
                out.push(index.at_path(
                    &[key("roles"), Seg::Index(i), key("hosts"), Seg::Index(j)],
                    format!(
                        "role `{}` names host `{h}`, which no [[hosts]] defines (known: {})",
                        role.name,
                        names.join(", ")
                    ),
                ));
            } else if role.hosts[..j].contains(h) {
                out.push(index.at_path(
                    &[key("roles"), Seg::Index(i), key("hosts"), Seg::Index(j)],
                    format!("role `{}` names host `{h}` twice", role.name),
                ));
            }
        }
    }
}
