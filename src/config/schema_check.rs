//! `[upstream.check]`: the check of the shared branch — the image and command run on a
//! checkout of each new tip, how often, how long at most, with which limits, how far a red
//! range is bisected, and what red does (`on_red`) — with its validation (file:line errors).

use serde::{Deserialize, Serialize};

use super::diagnose::{Diagnostic, Seg, SourceIndex};
use super::units::{ByteSize, HumanDuration};
use crate::core::{MainPolicy, OnRed};

/// The most bisection steps a red range may take (2^32 commits; more is a typo).
pub const MAX_BISECT_LIMIT: u32 = 32;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    /// Image the check runs in (must be on the Docker host: drover pulls nothing).
    pub image: String,
    /// Run in the checkout, e.g. `["cargo", "test", "--quiet"]`; its output is read with
    /// drover's test readers.
    pub command: Vec<String>,
    /// At most one check of a new tip per this interval.
    #[serde(default = "default_every")]
    pub every: HumanDuration,
    /// A check running longer is stopped and reported as the check's failure (not red).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Memory, CPUs and processes of the check container, as a role's.
    #[serde(default)]
    pub limits: CheckLimits,
    /// Extra checks allowed to find the first red commit of a red range.
    #[serde(default = "default_max_bisect")]
    pub max_bisect: u32,
    /// `alert` (default) or `hold`: no new run starts while main is red.
    #[serde(default)]
    pub on_red: OnRed,
    /// Where the checkout is mounted in the check container (also its working directory).
    #[serde(default = "default_mount_target")]
    pub mount_target: String,
}

/// `[upstream.check.limits]`: a role's limits without `run_timeout` (the check has `timeout`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckLimits {
    pub memory: ByteSize,
    pub cpus: f64,
    pub pids: i64,
}

impl Default for CheckLimits {
    fn default() -> Self {
        Self {
            memory: ByteSize(2 << 30),
            cpus: 1.0,
            pids: 512,
        }
    }
}

fn default_every() -> HumanDuration {
    HumanDuration::from_secs(300)
}

fn default_timeout() -> HumanDuration {
    HumanDuration::from_secs(30 * 60)
}

fn default_max_bisect() -> u32 {
    6
}

fn default_mount_target() -> String {
    "/src".into()
}

impl CheckSection {
    /// The core's policy for this check.
    pub fn policy(&self) -> MainPolicy {
        MainPolicy {
            every: u64::try_from(self.every.0.as_millis()).unwrap_or(u64::MAX),
            max_bisect: self.max_bisect,
            on_red: self.on_red,
        }
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

fn at(rest: &str) -> Vec<Seg> {
    vec![key("upstream"), key("check"), key(rest)]
}

pub(super) fn validate(check: &CheckSection, index: &SourceIndex<'_>, out: &mut Vec<Diagnostic>) {
    if check.image.trim().is_empty() {
        out.push(index.at_path(
            &at("image"),
            "[upstream.check] image must name an image on the Docker host, e.g. \"rust:1\"",
        ));
    }
    if check.command.is_empty() || check.command.iter().all(|c| c.trim().is_empty()) {
        out.push(index.at_path(
            &at("command"),
            "[upstream.check] command must not be empty, e.g. [\"cargo\", \"test\", \"--quiet\"]",
        ));
    }
    if check.every.0.as_secs() < 1 {
        out.push(index.at_path(&at("every"), "every must be at least 1s"));
    }
    if check.timeout.0.as_secs() < 1 {
        out.push(index.at_path(&at("timeout"), "timeout must be at least 1s"));
    }
    if check.max_bisect > MAX_BISECT_LIMIT {
        out.push(index.at_path(
            &at("max_bisect"),
            format!(
                "max_bisect {} is more than {MAX_BISECT_LIMIT} (enough for 4 billion commits)",
                check.max_bisect
            ),
        ));
    }
    if !check.mount_target.starts_with('/') || check.mount_target == "/" {
        out.push(index.at_path(
            &at("mount_target"),
            "mount_target must be an absolute path inside the container other than /, like \"/src\"",
        ));
    }
    let limits = |k: &str| vec![key("upstream"), key("check"), key("limits"), key(k)];
    let l = &check.limits;
    if !(l.cpus > 0.0 && l.cpus <= 1024.0) {
        out.push(index.at_path(
            &limits("cpus"),
            "cpus must be a positive number of cores, e.g. 1.5",
        ));
    }
    if l.memory.0 < 6 << 20 {
        out.push(index.at_path(
            &limits("memory"),
            "memory limit below Docker's minimum of 6m — use e.g. \"2g\"",
        ));
    }
    if l.pids < 1 {
        out.push(index.at_path(&limits("pids"), "pids must be at least 1"));
    }
}
