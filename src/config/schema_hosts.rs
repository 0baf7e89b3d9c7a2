//! `[[hosts]]` (the Docker engines one fleet runs on), `[runtime]` (which engine kind) and a
//! role's placement over the hosts; their checks are in `validate_hosts`.
//!
//! Invariants: no `[[hosts]]` means one engine at `[fleet] docker_host` (or the local socket),
//! exactly as before; with `[[hosts]]` every role runs on named hosts only.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::units::HumanDuration;

/// One Docker engine of the fleet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSection {
    /// Shown in the HOST column and written into container ids as `name/id`.
    pub name: String,
    /// `unix:///path`, `tcp://host:port` (with `tls_*` unless on 127.0.0.1) or
    /// `ssh://user@host` (through the system ssh client and its keys).
    pub docker_host: String,
    /// The CA, client certificate and key of a `tcp://` engine that verifies clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Every request to this host gives up after this long; the host is then checked and
    /// marked down if it does not answer.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: HumanDuration,
}

fn default_request_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

/// The kind of engine the fleet runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Docker Engine(s): the local socket, `[fleet] docker_host`, or `[[hosts]]`.
    #[default]
    Docker,
    /// Docker Swarm services (one replica per slot).
    Swarm,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSection {
    pub engine: EngineKind,
}

impl RuntimeSection {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// How a role's replicas are placed over `[[hosts]]` when it names none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Round the hosts in order: replica 1 on the first, 2 on the second, … (a slot keeps its
    /// host across restarts).
    #[default]
    Spread,
}
