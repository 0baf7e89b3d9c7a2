//! Preflight: the checks run before every (re)start of a slot, so a fleet-wide mistake (a missing
//! API key, a wrong image tag, a missing mount) blocks the slot with a clear reason instead of
//! starting containers that fail forever.
//!
//! Order matters: cheap local checks first (env, mounts), then the image, then the optional
//! command in a throwaway container.

use std::time::Duration;

use crate::port::{ContainerRuntime, CreateRequest, RuntimeError};
use crate::spec::ContainerSpec;

/// Checks what needs no Docker: required env present and non-empty (in the role's literal env
/// or drover's environment through `pass_env`), mount sources present.
pub fn local_checks(
    spec: &ContainerSpec,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let mut missing = Vec::new();
    for name in &spec.required_env {
        let literal = spec
            .env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        let value =
            literal.or_else(|| spec.pass_env.contains(name).then(|| lookup(name)).flatten());
        if value.is_none_or(|v| v.trim().is_empty()) {
            missing.push(name.as_str());
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "required environment variable{} {} missing or empty in drover's environment",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", ")
        ));
    }
    for m in &spec.mounts {
        if !m.source.exists() {
            return Err(format!(
                "mount source {} does not exist",
                m.source.display()
            ));
        }
    }
    Ok(())
}

/// Outcome of a full preflight: `Ok` or the reason to block the slot. `Err(RuntimeError)` only
/// when the engine itself could not be asked (the caller treats that as "Docker down", not a
/// block).
pub async fn run(
    runtime: &dyn ContainerRuntime,
    spec: &ContainerSpec,
    slot: &str,
    timeout: Duration,
    lookup: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Result<(), String>, RuntimeError> {
    if let Err(reason) = local_checks(spec, lookup) {
        return Ok(Err(reason));
    }
    if !runtime.image_exists(&spec.image).await? {
        return Ok(Err(format!(
            "image {} is not present on this Docker host; drover never pulls images — build, load or `docker pull` it first",
            spec.image
        )));
    }
    let Some(command) = &spec.preflight else {
        return Ok(Ok(()));
    };
    let name = format!("drover-{}-{slot}-preflight", spec.fleet);
    let req = CreateRequest {
        name: &name,
        spec,
        slot,
        generation: 0,
        spec_hash: "preflight",
        fleet_id: "",
        env: lookup,
    };
    match runtime.run_preflight(req, command, timeout).await {
        Ok(out) if out.exit_code == 0 => Ok(Ok(())),
        Ok(out) => {
            let last = out
                .output
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            Ok(Err(format!(
                "preflight command exited {}: {}",
                out.exit_code, last
            )))
        }
        Err(RuntimeError::Timeout(t)) => Ok(Err(format!(
            "preflight command did not finish within {}",
            humantime::format_duration(t)
        ))),
        Err(e) if e.is_unreachable() => Err(e),
        Err(e) => Ok(Err(format!("preflight could not run: {e}"))),
    }
}
