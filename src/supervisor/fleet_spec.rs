//! Maps a validated [`Config`] into what the core and the Docker adapter need: the core's
//! [`FleetSpec`] (policies in milliseconds) and one container [`ContainerSpec`] per role with its
//! spec hash. The hash is computed once here so the core and the adapter always agree on it.

use std::collections::HashMap;

use crate::config::{Config, ProbeAction as CfgProbeAction, RestartPolicyName};
use crate::core::{
    CrashLoopPolicy, FleetSpec, ProbeAction, ProbePolicy, RecoveryPolicy, RestartMode,
    RestartPolicy, RoleSpec as CoreRole, ThrottlePolicy,
};
use drover_runtime::spec::ContainerSpec;

/// A role as the adapters execute it.
#[derive(Clone, Debug)]
pub struct RoleRuntime {
    pub container: ContainerSpec,
    pub spec_hash: String,
    /// URL of an `http` probe (an `exec` probe lives in the container spec).
    pub probe_http: Option<String>,
    pub probe_timeout_ms: u64,
    pub preflight_timeout_ms: u64,
    /// The hosts its replicas go round (empty with one engine); see `core::place`.
    pub hosts: Vec<String>,
}

/// Everything derived from the config that the supervisor uses.
#[derive(Clone, Debug)]
pub struct FleetPlan {
    pub core: FleetSpec,
    pub roles: HashMap<String, RoleRuntime>,
}

impl FleetPlan {
    pub fn from_config(cfg: &Config) -> Self {
        let mut roles = HashMap::new();
        let mut core_roles = Vec::new();
        for r in &cfg.file.roles {
            let container = cfg.container_spec(r);
            let spec_hash = container.spec_hash();
            let mut core = CoreRole::new(&r.name, r.replicas, &spec_hash);
            core.restart = RestartPolicy {
                mode: match r.restart.policy {
                    RestartPolicyName::Always => RestartMode::Always,
                    RestartPolicyName::OnFailure => RestartMode::OnFailure,
                    RestartPolicyName::Never => RestartMode::Never,
                },
                initial_backoff: r.restart.initial_backoff.as_millis_u64(),
                max_backoff: r.restart.max_backoff.as_millis_u64(),
                jitter: r.restart.jitter,
                reset_after: r.restart.reset_after.as_millis_u64(),
                max_restarts: r.restart.max_restarts,
                window: r.restart.window.as_millis_u64(),
                unblock_after: r.restart.unblock_after.map(|d| d.as_millis_u64()),
                ..RestartPolicy::default()
            };
            core.crash_loop = CrashLoopPolicy {
                min_uptime: r.crash_loop.min_uptime.as_millis_u64(),
                failures: r.crash_loop.failures,
                window: r.crash_loop.window.as_millis_u64(),
                identical_failures_to_block: r.crash_loop.identical_failures_to_block,
            };
            core.recovery = RecoveryPolicy {
                restarts: r.recovery.restarts,
                recreates: r.recovery.recreates,
            };
            core.probe = r.probe.as_ref().map(|p| ProbePolicy {
                period: p.period.as_millis_u64(),
                failure_threshold: p.failure_threshold,
                action: match p.action {
                    CfgProbeAction::Alert => ProbeAction::Alert,
                    CfgProbeAction::Restart => ProbeAction::Restart,
                },
            });
            core.stall_after = r.stall_after.as_millis_u64();
            core.task_timeout = r.task_timeout.as_millis_u64();
            core.run_timeout = r.limits.run_timeout.map(|d| d.as_millis_u64());
            core.loops = cfg.file.loops.loop_policy();
            core.throttle = ThrottlePolicy {
                group: r.quota_group.clone(),
                cooldown: r.quota.cooldown.as_millis_u64(),
                max_cooldown: r.quota.max_cooldown.as_millis_u64(),
                jitter: r.quota.jitter.as_millis_u64(),
                max_throttle: r.quota.max_throttle.as_millis_u64(),
                max_limits: r.quota.max_limits,
                limits_window: r.quota.limits_window.as_millis_u64(),
            };
            core.environment = environment(&container, &|k| std::env::var(k).ok());
            core.fixes_main = r.fixes_main;
            // Preflight always runs: required env, image and mounts are checked even without a
            // preflight command, because that is what stops a fleet-wide start storm.
            core.preflight = true;
            core.hosts = cfg.file.role_hosts(r);
            let hosts = core.hosts.clone();
            core_roles.push(core);
            roles.insert(
                r.name.clone(),
                RoleRuntime {
                    container,
                    spec_hash,
                    probe_http: r.probe.as_ref().and_then(|p| p.http.clone()),
                    probe_timeout_ms: r
                        .probe
                        .as_ref()
                        .map(|p| p.timeout.as_millis_u64())
                        .unwrap_or(5_000),
                    preflight_timeout_ms: r
                        .preflight
                        .as_ref()
                        .map(|p| p.timeout.as_millis_u64())
                        .unwrap_or(30_000),
                    hosts,
                },
            );
        }
        let mut core = FleetSpec::new(&cfg.file.fleet.name, core_roles);
        let micros = |usd: f64| (usd.max(0.0) * 1_000_000.0).round() as u64;
        let budget = &cfg.file.budget;
        core.daily_budget_micros = budget.daily_usd.map(micros);
        core.slot_daily_budget_micros = budget.slot_daily_usd.map(micros);
        core.role_daily_budget_micros = budget
            .role_daily_usd
            .iter()
            .map(|(role, usd)| (role.clone(), micros(*usd)))
            .collect();
        Self { core, roles }
    }
}

/// The role's environment fingerprint (see `RoleSpec::environment`): which required and
/// passed-through variables drover's environment holds, with their values folded into an
/// FNV-1a hash (never stored), and the image reference. Changes when a missing key is set.
pub fn environment(spec: &ContainerSpec, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut write = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    write(spec.image.as_bytes());
    let mut names: Vec<&String> = spec.required_env.iter().chain(&spec.pass_env).collect();
    names.sort();
    names.dedup();
    for name in names {
        write(b"\0");
        write(name.as_bytes());
        match lookup(name).filter(|v| !v.trim().is_empty()) {
            Some(v) => {
                write(b"=");
                write(v.as_bytes());
            }
            None => write(b"!"),
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn durations_and_policies_map_to_the_core() {
        let text = "[fleet]\nname = \"f\"\n[[roles]]\nname = \"impl\"\nreplicas = 3\nimage = \"i\"\n[roles.restart]\ninitial_backoff = \"2s\"\nmax_backoff = \"30s\"\npolicy = \"on-failure\"\n";
        let cfg = crate::config::parse(text, Path::new("f.toml")).unwrap();
        let plan = FleetPlan::from_config(&cfg);
        let role = plan.core.role("impl").unwrap();
        assert_eq!(role.replicas, 3);
        assert_eq!(role.restart.initial_backoff, 2_000);
        assert_eq!(role.restart.max_backoff, 30_000);
        assert_eq!(role.restart.mode, RestartMode::OnFailure);
        assert_eq!(role.crash_loop.min_uptime, 10_000);
        assert_eq!(role.spec_hash, plan.roles["impl"].spec_hash);
    }

    #[test]
    fn recovery_tiers_and_throttle_bounds_map_to_the_core() {
        let text = "[fleet]\nname = \"f\"\n[[roles]]\nname = \"impl\"\nimage = \"i\"\n[roles.recovery]\nrestarts = 1\nrecreates = 0\n[roles.quota]\nmax_throttle = \"3h\"\nmax_limits = 4\n";
        let cfg = crate::config::parse(text, Path::new("f.toml")).unwrap();
        let role = FleetPlan::from_config(&cfg).core.roles[0].clone();
        assert_eq!((role.recovery.restarts, role.recovery.recreates), (1, 0));
        assert_eq!(role.throttle.max_throttle, 3 * 3_600_000);
        assert_eq!(role.throttle.max_limits, 4);
    }

    #[test]
    fn the_environment_fingerprint_moves_when_a_required_key_is_set() {
        let text = "[fleet]\nname = \"f\"\n[[roles]]\nname = \"impl\"\nimage = \"i\"\npass_env = [\"NC_API_KEY\"]\nrequired_env = [\"NC_API_KEY\"]\n";
        let cfg = crate::config::parse(text, Path::new("f.toml")).unwrap();
        let spec = &FleetPlan::from_config(&cfg).roles["impl"].container;
        let unset = environment(spec, &|_| None);
        let set = environment(spec, &|_| Some("k-1".into()));
        assert_ne!(unset, set);
        assert_eq!(set, environment(spec, &|_| Some("k-1".into())));
        assert_ne!(
            set,
            environment(spec, &|_| Some("k-2".into())),
            "a rotated key too"
        );
        assert_eq!(
            unset,
            environment(spec, &|_| Some("  ".into())),
            "blank is unset"
        );
    }
}
