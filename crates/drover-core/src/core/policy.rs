//! The fleet specification and the lifecycle policies the core enforces, with the defaults of
//! DESIGN.md §4 — restart, crash loop, recovery, probes, loop detectors (`LoopPolicy`) and
//! usage limits (`ThrottlePolicy`) — plus the backoff arithmetic and its deterministic jitter.
//!
//! The config module maps TOML into these structs; the core never parses anything itself.
//! Jitter is a pure function of (seed, slot, attempt), so a replay gives identical schedules.

use serde::{Deserialize, Serialize};

use super::model::{DetectorAction, Millis};
use drover_signals::BudgetLimits;

const SECOND: Millis = 1_000;
const MINUTE: Millis = 60 * SECOND;

/// Everything the core needs to know about one fleet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetSpec {
    /// Fixed for the life of a fleet: it names containers and labels.
    pub name: String,
    pub roles: Vec<RoleSpec>,
    /// A Docker operation without an answer after this long is considered lost; the core then
    /// asks for a fresh listing instead of waiting forever.
    pub op_timeout: Millis,
    /// `[budget] daily_usd` in micro-dollars: no new session starts once today's spend
    /// reaches it (see `spend`).
    #[serde(default)]
    pub daily_budget_micros: Option<u64>,
    /// The same cap scoped to one slot (`[budget] slot_daily_usd`) and to each named role
    /// (`[budget] role_daily_usd`): reaching one holds only that slot, or that role's slots,
    /// so one agent cannot stop the fleet.
    #[serde(default)]
    pub slot_daily_budget_micros: Option<u64>,
    #[serde(default)]
    pub role_daily_budget_micros: std::collections::BTreeMap<String, u64>,
}

impl FleetSpec {
    pub fn new(name: impl Into<String>, roles: Vec<RoleSpec>) -> Self {
        Self {
            name: name.into(),
            roles,
            op_timeout: 2 * MINUTE,
            daily_budget_micros: None,
            slot_daily_budget_micros: None,
            role_daily_budget_micros: Default::default(),
        }
    }

    pub fn role(&self, name: &str) -> Option<&RoleSpec> {
        self.roles.iter().find(|r| r.name == name)
    }
}

/// One role: `replicas` identical slots sharing a container spec and policies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleSpec {
    pub name: String,
    pub replicas: u32,
    /// Hash of everything that defines the container (computed by the adapter); a container
    /// carrying another hash is stale and gets replaced.
    pub spec_hash: String,
    pub restart: RestartPolicy,
    pub crash_loop: CrashLoopPolicy,
    pub recovery: RecoveryPolicy,
    pub probe: Option<ProbePolicy>,
    /// No log output, commit or progress for this long while running → Stalled + alert.
    pub stall_after: Millis,
    /// A task lock held longer than this → alert.
    pub task_timeout: Millis,
    /// Run the adapter's preflight checks before every (re)start.
    pub preflight: bool,
    /// Grace period between SIGTERM and SIGKILL when stopping.
    pub stop_grace: Millis,
    /// What the loop detectors do (the fleet's `[loops]`, the same for every role).
    #[serde(default)]
    pub loops: LoopPolicy,
    /// A container run lasting longer is stopped and ends as timed out (off when `None`).
    #[serde(default)]
    pub run_timeout: Option<Millis>,
    /// How usage limits are waited out (see `throttle`).
    #[serde(default)]
    pub throttle: ThrottlePolicy,
    /// Fingerprint (computed by the adapter) of what a start depends on beyond the spec hash:
    /// the required and passed-through env as drover's environment holds them (hashed) and
    /// the image. A block by drover decided under another fingerprint is re-evaluated.
    #[serde(default)]
    pub environment: String,
    /// Exempt from the red-main hold: its slots start while main is red (to fix it).
    #[serde(default)]
    pub fixes_main: bool,
    /// The hosts this role's replicas go round (see `hosts::place`); empty when the fleet
    /// has one engine.
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl RoleSpec {
    /// A role with the default policies.
    pub fn new(name: impl Into<String>, replicas: u32, spec_hash: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            replicas,
            spec_hash: spec_hash.into(),
            restart: RestartPolicy::default(),
            crash_loop: CrashLoopPolicy::default(),
            recovery: RecoveryPolicy::default(),
            probe: None,
            stall_after: 15 * MINUTE,
            task_timeout: 30 * MINUTE,
            preflight: true,
            stop_grace: 10 * SECOND,
            loops: LoopPolicy::default(),
            run_timeout: None,
            throttle: ThrottlePolicy::default(),
            environment: String::new(),
            fixes_main: false,
            hosts: Vec::new(),
        }
    }

    /// What a block by drover is decided under: the spec hash and the environment.
    pub fn cause_key(&self) -> String {
        format!("{}/{}", self.spec_hash, self.environment)
    }
}

/// When an exited container is started again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMode {
    /// Restart after every exit; clean exits (code 0) restart at once (session-per-container).
    #[default]
    Always,
    /// Restart only after failures; a clean exit leaves the slot Exited.
    OnFailure,
    /// Never restart automatically.
    Never,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub mode: RestartMode,
    /// Delay before the second consecutive failure restart (the first one is immediate).
    pub initial_backoff: Millis,
    /// Cap of the base delay; jitter spreads around the capped value.
    pub max_backoff: Millis,
    /// Fraction of the delay added or removed at random (0.1 = ±10 %).
    pub jitter: f64,
    /// Healthy running this long forgets past failures (backoff, recovery tier, streak).
    pub reset_after: Millis,
    /// With this many failure restarts inside `window`, the next failure blocks the slot.
    pub max_restarts: u32,
    pub window: Millis,
    /// Delay of clean-exit restarts while the slot spins idle (clean exits within seconds), so
    /// an agent with nothing to do cannot hammer Docker.
    pub idle_backoff: Millis,
    /// A slot drover blocked retries once after this long (off when `None`).
    #[serde(default)]
    pub unblock_after: Option<Millis>,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            mode: RestartMode::Always,
            initial_backoff: SECOND,
            max_backoff: MINUTE,
            jitter: 0.1,
            reset_after: 5 * MINUTE,
            max_restarts: 10,
            window: 10 * MINUTE,
            idle_backoff: 5 * SECOND,
            unblock_after: None,
        }
    }
}

impl RestartPolicy {
    /// The un-jittered delay before restart number `step` (0-based) of a failure streak:
    /// 0, initial, 2×initial, … capped at `max_backoff`.
    pub fn base_delay(&self, step: u32) -> Millis {
        if step == 0 {
            return 0;
        }
        let doublings = (step - 1).min(62);
        self.initial_backoff
            .saturating_mul(1u64 << doublings)
            .min(self.max_backoff)
    }

    /// The delay for `step` with jitter `unit` in [-1, 1): base × (1 + jitter × unit).
    pub fn jittered_delay(&self, step: u32, unit: f64) -> Millis {
        let base = self.base_delay(step);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let spread = base as f64 * jitter * unit.clamp(-1.0, 1.0);
        // The cast saturates and the value is non-negative because |spread| <= base.
        (base as f64 + spread).round().max(0.0) as Millis
    }

    /// The inclusive range a jittered delay for `step` always falls in.
    pub fn delay_bounds(&self, step: u32) -> (Millis, Millis) {
        let base = self.base_delay(step) as f64;
        let jitter = self.jitter.clamp(0.0, 1.0);
        (
            (base * (1.0 - jitter)).floor().max(0.0) as Millis,
            (base * (1.0 + jitter)).ceil() as Millis,
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashLoopPolicy {
    /// An exit sooner than this after start is an early exit; a run this long is "up".
    pub min_uptime: Millis,
    /// This many early failures within `window` shows the slot as crash-looping.
    pub failures: u32,
    pub window: Millis,
    /// The same failure signature (exit code + normalised last error line) this many times in
    /// a row blocks the slot with that line as the reason.
    pub identical_failures_to_block: u32,
}

impl Default for CrashLoopPolicy {
    fn default() -> Self {
        Self {
            min_uptime: 10 * SECOND,
            failures: 3,
            window: MINUTE,
            identical_failures_to_block: 3,
        }
    }
}

/// Tiered recovery for consecutive failures: restart the same container, then recreate it
/// from the image (a new generation), then block for a human.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryPolicy {
    /// Consecutive failures answered by restarting the same container.
    pub restarts: u32,
    /// Further consecutive failures answered by recreating the container; the next one blocks.
    pub recreates: u32,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self {
            restarts: 5,
            recreates: 2,
        }
    }
}

/// What an Unready slot gets besides its alert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeAction {
    #[default]
    Alert,
    /// Stop the container; the stop counts as a failure and follows the restart policy.
    Restart,
}

/// A readiness probe run by the adapter (exec or HTTP; the core only schedules it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbePolicy {
    pub period: Millis,
    pub failure_threshold: u32,
    pub action: ProbeAction,
}

impl Default for ProbePolicy {
    fn default() -> Self {
        Self {
            period: 30 * SECOND,
            failure_threshold: 3,
            action: ProbeAction::Alert,
        }
    }
}

/// splitmix64: a tiny, well-mixed deterministic generator step.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a over a name, to fold slot names into the jitter seed.
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A jitter unit in [-1, 1) from (seed, slot, attempt): the same inputs always give the same
/// value, independent of the order in which slots are handled.
pub(crate) fn jitter_unit(seed: u64, slot: &str, attempt: u64) -> f64 {
    let x = splitmix64(seed ^ splitmix64(fnv1a(slot) ^ splitmix64(attempt)));
    // 53 random bits → [0, 1) → [-1, 1).
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

const HOUR: Millis = 3_600_000;

/// Whether a detector runs and what it does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorRule {
    pub enabled: bool,
    pub action: DetectorAction,
}

impl Default for DetectorRule {
    fn default() -> Self {
        Self {
            enabled: true,
            action: DetectorAction::Alert,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimRule {
    pub rule: DetectorRule,
    /// Claims of one task within `window` that make a re-claim loop.
    pub max_claims: u32,
    /// Claims of one task by one slot within `window` that make one too.
    pub max_claims_per_slot: u32,
    pub window: Millis,
}

impl Default for ReclaimRule {
    fn default() -> Self {
        Self {
            rule: DetectorRule::default(),
            max_claims: 5,
            max_claims_per_slot: 3,
            window: 6 * HOUR,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingTestsRule {
    pub rule: DetectorRule,
    /// The same failing set in this many consecutive runs with no commit in between.
    pub runs: u32,
}

impl Default for FailingTestsRule {
    fn default() -> Self {
        Self {
            rule: DetectorRule::default(),
            runs: 3,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetRule {
    pub rule: DetectorRule,
    pub limits: BudgetLimits,
}

/// The `[loops]` policy: what each detector does. Carried by every role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoopPolicy {
    pub crash_loop: DetectorRule,
    pub stall: DetectorRule,
    pub lock_overdue: DetectorRule,
    pub reclaim: ReclaimRule,
    pub failing_tests: FailingTestsRule,
    pub budget: BudgetRule,
    /// `context_high`, `compaction_loop`, `idle_after_compaction`.
    pub context: ContextPolicy,
}

/// `[loops.context]`: the agent's context is nearly full (`context_high`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextHighRule {
    pub rule: DetectorRule,
    /// Percent of the model's window at which it fires.
    pub warn_at: u32,
}

impl Default for ContextHighRule {
    fn default() -> Self {
        Self {
            rule: DetectorRule::default(),
            warn_at: 85,
        }
    }
}

/// `[loops.compaction_loop]`: compaction after compaction in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionLoopRule {
    pub rule: DetectorRule,
    /// Compactions within `window` that fire it.
    pub max: u32,
    pub window: Millis,
}

impl Default for CompactionLoopRule {
    fn default() -> Self {
        Self {
            rule: DetectorRule::default(),
            max: 3,
            window: HOUR,
        }
    }
}

/// `[loops.idle_after_compaction]`: silence after a compaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleAfterCompactionRule {
    pub rule: DetectorRule,
    /// Silence after a compaction that fires it.
    pub after: Millis,
}

impl Default for IdleAfterCompactionRule {
    fn default() -> Self {
        Self {
            rule: DetectorRule::default(),
            after: HOUR / 12,
        }
    }
}

/// The context detectors, judged in `context.rs`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextPolicy {
    pub high: ContextHighRule,
    pub compaction_loop: CompactionLoopRule,
    pub idle_after_compaction: IdleAfterCompactionRule,
}

/// How a role waits out usage limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottlePolicy {
    /// Slots sharing an account; `None` = the role's name (the role is the group).
    pub group: Option<String>,
    /// Wait when the notice states no reset time; doubles with each limit in a row.
    pub cooldown: Millis,
    pub max_cooldown: Millis,
    /// Each slot restarts up to this long after the reset (deterministic per slot), so a
    /// group's slots do not all hit the account in the same second.
    pub jitter: Millis,
    /// The longest a throttle lasts, whatever reset a notice states.
    #[serde(default = "default_max_throttle")]
    pub max_throttle: Millis,
    /// This many limits within `limits_window` block the slot (0 = never).
    #[serde(default = "default_max_limits")]
    pub max_limits: u32,
    #[serde(default = "default_limits_window")]
    pub limits_window: Millis,
}

/// Default of [`ThrottlePolicy::max_throttle`]: a day.
pub const MAX_THROTTLE: Millis = 24 * 60 * MINUTE;

fn default_max_throttle() -> Millis {
    MAX_THROTTLE
}

fn default_max_limits() -> u32 {
    6
}

fn default_limits_window() -> Millis {
    60 * MINUTE
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            group: None,
            cooldown: 15 * MINUTE,
            max_cooldown: 2 * 60 * MINUTE,
            jitter: MINUTE,
            max_throttle: default_max_throttle(),
            max_limits: default_max_limits(),
            limits_window: default_limits_window(),
        }
    }
}

impl ThrottlePolicy {
    /// The quota group of `role`.
    pub fn group_of<'a>(&'a self, role: &'a str) -> &'a str {
        self.group.as_deref().unwrap_or(role)
    }

    /// The cool-down after `streak` limits in a row (0 = first).
    pub fn cooldown_after(&self, streak: u32) -> Millis {
        let factor = 1u64 << streak.min(20);
        self.cooldown
            .saturating_mul(factor)
            .min(self.max_cooldown.max(self.cooldown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_backoff_doubles_from_one_second_to_the_cap() {
        let p = RestartPolicy::default();
        let delays: Vec<Millis> = (0..10).map(|s| p.base_delay(s)).collect();
        assert_eq!(
            delays,
            [
                0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000
            ]
        );
        assert_eq!(p.base_delay(u32::MAX), 60_000);
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_is_deterministic() {
        let p = RestartPolicy::default();
        for attempt in 0..1_000 {
            let u = jitter_unit(7, "implementer-1", attempt);
            assert!((-1.0..1.0).contains(&u));
            let d = p.jittered_delay(5, u);
            let (lo, hi) = p.delay_bounds(5);
            assert!((lo..=hi).contains(&d), "{d} not in {lo}..={hi}");
        }
        assert_eq!(
            jitter_unit(7, "implementer-1", 3),
            jitter_unit(7, "implementer-1", 3)
        );
        assert_ne!(
            jitter_unit(7, "implementer-1", 3),
            jitter_unit(7, "implementer-2", 3)
        );
    }
}
