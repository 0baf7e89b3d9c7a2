//! The TOML shape of a fleet file, with the defaults from the design (lifecycle §4, signals §5).
//!
//! Every struct denies unknown keys so a typo is an error with a location, never a silently
//! ignored setting. Defaults live in `Default` impls so `drover config default`, the example
//! file and the parser cannot drift apart (a test compares them).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use super::schema_action::DetectorAction;
pub use super::schema_board::{BoardSection, BoardSource};
pub use super::schema_context::{
    CompactionLoopDetector, ContextDetector, IdleAfterCompactionDetector,
};
pub use super::schema_hosts::{EngineKind, HostSection, Placement, RuntimeSection};
pub use super::schema_telemetry::{TelemetrySection, endpoint_problem};
pub use super::schema_transcript::TranscriptDetector;
use super::units::{ByteSize, HumanDuration};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub fleet: FleetSection,
    #[serde(default)]
    pub upstream: Option<UpstreamSection>,
    #[serde(default)]
    pub roles: Vec<RoleSection>,
    #[serde(default)]
    pub loops: LoopsSection,
    #[serde(default)]
    pub ui: UiSection,
    #[serde(default)]
    pub notify: NotifySection,
    #[serde(default)]
    pub logs: LogsSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    /// OpenTelemetry export over OTLP/HTTP; off unless `otlp_endpoint` is set.
    #[serde(default)]
    pub telemetry: TelemetrySection,
    /// Dollars per million tokens per model (name or prefix; `default` for the rest).
    #[serde(default)]
    pub pricing: crate::signals::usage::PriceTable,
    #[serde(default)]
    pub budget: BudgetSection,
    /// Context window in tokens per model (name or prefix; `default` for the rest), on top
    /// of the built-in table.
    #[serde(default)]
    pub context_windows: BTreeMap<String, u64>,
    /// The Docker engines the fleet runs on; none: the one at `[fleet] docker_host`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostSection>,
    #[serde(default, skip_serializing_if = "RuntimeSection::is_default")]
    pub runtime: RuntimeSection,
}

impl ConfigFile {
    /// The hosts a role's replicas go round: its own `hosts`, else every `[[hosts]]` (spread);
    /// empty with one engine.
    pub fn role_hosts(&self, role: &RoleSection) -> Vec<String> {
        match role.hosts.is_empty() {
            false => role.hosts.clone(),
            true => self.hosts.iter().map(|h| h.name.clone()).collect(),
        }
    }
}

/// Fleet-wide spending limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetSection {
    /// Once today's (UTC) spend reaches this, no new session starts until midnight UTC.
    pub daily_usd: Option<f64>,
    /// The same per slot: a slot that spent this today starts no new session until midnight
    /// UTC; the rest of the fleet runs on.
    pub slot_daily_usd: Option<f64>,
    /// The same per role (role name → dollars): only that role's slots are held.
    pub role_daily_usd: std::collections::BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    /// Names containers (`drover-<fleet>-<slot>`), labels and the control socket.
    pub name: String,
    /// Database, container logs and drover's own log; default: XDG data dir / drover / <name>.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// `unix:///path` or `tcp://host:port`; default: `$DOCKER_HOST`, else the local socket.
    #[serde(default)]
    pub docker_host: Option<String>,
    /// Hostname of every agent container: `{slot}` and `{fleet}` are replaced; default `{slot}`
    /// (so a lock file naming its host names its slot); `""` keeps Docker's (the short id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSection {
    /// The bare repository agents clone from and push to.
    pub repo: PathBuf,
    /// Branch to read; default: the one HEAD names.
    pub branch: Option<String>,
    /// Where the repo is mounted inside every agent container.
    pub mount_target: String,
    /// Lock files live here at the branch tip (`<locks_dir>/<task>.txt`).
    pub locks_dir: String,
    /// Team notes, read from the branch tip.
    pub progress_file: String,
    /// Read PROGRESS.md from this host file instead of the repo.
    pub progress_host_path: Option<PathBuf>,
    /// Mount the repo read-only into agents (they then cannot push).
    pub read_only: bool,
    /// Where the team's board lives (`[upstream.board]`).
    pub board: BoardSection,
    /// The check of the shared branch (`[upstream.check]`); off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<super::schema_check::CheckSection>,
}

impl Default for UpstreamSection {
    fn default() -> Self {
        Self {
            repo: PathBuf::new(),
            branch: None,
            mount_target: "/upstream".into(),
            locks_dir: "current_tasks".into(),
            progress_file: "PROGRESS.md".into(),
            progress_host_path: None,
            read_only: false,
            board: BoardSection::default(),
            check: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSection {
    pub name: String,
    #[serde(default = "one")]
    pub replicas: u32,
    pub image: String,
    /// Overrides the image's command; a list, as Docker's exec form.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub workdir: Option<String>,
    /// User inside the container (`uid[:gid]` or a name).
    #[serde(default)]
    pub user: Option<String>,
    /// Literal environment. Values of secret-looking keys are redacted wherever they are shown.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Names copied from drover's own environment when a container is created; values are never
    /// written anywhere.
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// Must be present and non-empty before any start (preflight).
    #[serde(default)]
    pub required_env: Vec<String>,
    #[serde(default)]
    pub mounts: Vec<MountSection>,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub security: SecuritySection,
    #[serde(default)]
    pub restart: RestartSection,
    #[serde(default)]
    pub crash_loop: CrashLoopSection,
    #[serde(default)]
    pub recovery: RecoverySection,
    #[serde(default)]
    pub preflight: Option<PreflightSection>,
    #[serde(default)]
    pub probe: Option<ProbeSection>,
    #[serde(default = "default_stall_after")]
    pub stall_after: HumanDuration,
    #[serde(default = "default_task_timeout")]
    pub task_timeout: HumanDuration,
    #[serde(default)]
    pub tests: TestsSection,
    /// Slots sharing an account (and so its usage limits): one limit seen holds every slot
    /// of every role with the same group. Unset: the role is its own group.
    #[serde(default)]
    pub quota_group: Option<String>,
    #[serde(default)]
    pub quota: QuotaSection,
    /// Its slots start new runs while main is red under `[upstream.check] on_red = "hold"`
    /// (the role that repairs the branch).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixes_main: bool,
    /// The `[[hosts]]` this role's replicas go round, in order; empty: every host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Over every host (`"spread"`, the default with `[[hosts]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// How usage limits are waited out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaSection {
    /// Wait after a limit whose notice states no reset time; doubles with each limit in a row.
    pub cooldown: HumanDuration,
    pub max_cooldown: HumanDuration,
    /// Each slot starts up to this long after the reset, so a group does not restart at once.
    pub jitter: HumanDuration,
    /// The longest a slot waits for a limit, whatever reset the notice states.
    pub max_throttle: HumanDuration,
    /// This many limits within `limits_window` block the slot (0: never).
    pub max_limits: u32,
    pub limits_window: HumanDuration,
}

impl Default for QuotaSection {
    fn default() -> Self {
        Self {
            cooldown: HumanDuration::from_secs(15 * 60),
            max_cooldown: HumanDuration::from_secs(2 * 60 * 60),
            jitter: HumanDuration::from_secs(60),
            max_throttle: HumanDuration::from_secs(24 * 60 * 60),
            max_limits: 6,
            limits_window: HumanDuration::from_secs(60 * 60),
        }
    }
}

/// Tiered recovery for consecutive failures: restart, then recreate, then Blocked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoverySection {
    /// Consecutive failures answered by starting the same container again.
    pub restarts: u32,
    /// Further consecutive failures answered by a new container from the image; the next
    /// failure blocks the slot.
    pub recreates: u32,
}

impl Default for RecoverySection {
    fn default() -> Self {
        Self {
            restarts: 5,
            recreates: 2,
        }
    }
}

fn one() -> u32 {
    1
}
fn default_stall_after() -> HumanDuration {
    HumanDuration::from_secs(15 * 60)
}
fn default_task_timeout() -> HumanDuration {
    HumanDuration::from_secs(30 * 60)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountSection {
    pub source: PathBuf,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub memory: ByteSize,
    pub cpus: f64,
    pub pids: i64,
    /// A container run lasting longer is stopped and ends as timed out; off when absent
    /// (long-lived agent loops). Not part of the container spec: changing it replaces nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_timeout: Option<HumanDuration>,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            memory: ByteSize(2 << 30),
            cpus: 1.0,
            pids: 512,
            run_timeout: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySection {
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    pub no_new_privileges: bool,
    pub read_only_rootfs: bool,
    /// Mounting the Docker socket gives an agent root on the host; off unless said explicitly.
    pub allow_docker_socket: bool,
}

impl Default for SecuritySection {
    fn default() -> Self {
        Self {
            cap_drop: vec!["ALL".into()],
            cap_add: Vec::new(),
            no_new_privileges: true,
            read_only_rootfs: false,
            allow_docker_socket: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicyName {
    Always,
    OnFailure,
    Never,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestartSection {
    pub policy: RestartPolicyName,
    pub initial_backoff: HumanDuration,
    pub max_backoff: HumanDuration,
    /// Fraction of the backoff added or removed at random (0.1 = ±10 %).
    pub jitter: f64,
    /// Healthy running this long resets the backoff.
    pub reset_after: HumanDuration,
    /// More restarts than this within `window` blocks the slot.
    pub max_restarts: u32,
    pub window: HumanDuration,
    /// A Blocked slot retries once after this long (off when unset); still failing → Blocked
    /// again, with the count of retries.
    pub unblock_after: Option<HumanDuration>,
}

impl Default for RestartSection {
    fn default() -> Self {
        Self {
            policy: RestartPolicyName::Always,
            initial_backoff: HumanDuration::from_secs(1),
            max_backoff: HumanDuration::from_secs(60),
            jitter: 0.1,
            reset_after: HumanDuration::from_secs(300),
            max_restarts: 10,
            window: HumanDuration::from_secs(600),
            unblock_after: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrashLoopSection {
    /// An exit sooner than this after start is an early failure.
    pub min_uptime: HumanDuration,
    /// This many early failures within `window` is a crash loop.
    pub failures: u32,
    pub window: HumanDuration,
    /// The same exit code and last error line this many times in a row blocks the slot.
    pub identical_failures_to_block: u32,
}

impl Default for CrashLoopSection {
    fn default() -> Self {
        Self {
            min_uptime: HumanDuration::from_secs(10),
            failures: 3,
            window: HumanDuration::from_secs(60),
            identical_failures_to_block: 3,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightSection {
    /// Run in a throwaway container of the role's image before every (re)start.
    pub command: Vec<String>,
    #[serde(default = "default_preflight_timeout")]
    pub timeout: HumanDuration,
}

fn default_preflight_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeAction {
    Alert,
    Restart,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    /// Command run inside the container; exit 0 = ready.
    #[serde(default)]
    pub exec: Option<Vec<String>>,
    /// URL fetched from the host; 2xx = ready.
    #[serde(default)]
    pub http: Option<String>,
    #[serde(default = "default_probe_period")]
    pub period: HumanDuration,
    #[serde(default = "default_probe_timeout")]
    pub timeout: HumanDuration,
    #[serde(default = "default_probe_threshold")]
    pub failure_threshold: u32,
    #[serde(default = "default_probe_action")]
    pub action: ProbeAction,
}

fn default_probe_period() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_probe_timeout() -> HumanDuration {
    HumanDuration::from_secs(5)
}
fn default_probe_threshold() -> u32 {
    3
}
fn default_probe_action() -> ProbeAction {
    ProbeAction::Alert
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestsSection {
    /// Parsers to run on agent output; `auto` runs them all.
    pub parsers: Vec<String>,
    /// Folder inside the container where JUnit XML results appear.
    pub junit_dir: Option<String>,
}

impl Default for TestsSection {
    fn default() -> Self {
        Self {
            parsers: vec!["auto".into()],
            junit_dir: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoopsSection {
    pub crash_loop: SimpleDetector,
    pub reclaim: ReclaimDetector,
    pub output_repetition: OutputRepetitionDetector,
    pub transcript: TranscriptDetector,
    pub failing_tests: FailingTestsDetector,
    pub stall: SimpleDetector,
    pub budget: BudgetDetector,
    pub lock_overdue: SimpleDetector,
    pub context: ContextDetector,
    pub compaction_loop: CompactionLoopDetector,
    pub idle_after_compaction: IdleAfterCompactionDetector,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimpleDetector {
    pub enabled: bool,
    pub action: DetectorAction,
}

impl Default for SimpleDetector {
    fn default() -> Self {
        Self {
            enabled: true,
            action: DetectorAction::Alert,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReclaimDetector {
    pub enabled: bool,
    pub action: DetectorAction,
    /// A task claimed this many times within `window` is a re-claim loop.
    pub max_claims: u32,
    /// One slot claiming the same task this many times within `window` is one too (it keeps
    /// failing the task and taking it again).
    pub max_claims_per_slot: u32,
    pub window: HumanDuration,
}

impl Default for ReclaimDetector {
    fn default() -> Self {
        Self {
            enabled: true,
            action: DetectorAction::Alert,
            max_claims: 5,
            max_claims_per_slot: 3,
            window: HumanDuration::from_secs(6 * 3600),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputRepetitionDetector {
    pub enabled: bool,
    pub action: DetectorAction,
    /// Lines per comparison window.
    pub window_lines: u32,
    /// Share of a window's normalised lines already seen in the previous windows.
    pub threshold: f64,
    /// Consecutive repetitive windows before it fires.
    pub windows: u32,
    /// The same block of `block_lines` lines this many times fires too.
    pub block_lines: u32,
    pub block_repeats: u32,
    /// Identical tool-call lines in a row.
    pub tool_call_repeats: u32,
}

impl Default for OutputRepetitionDetector {
    fn default() -> Self {
        Self {
            enabled: true,
            action: DetectorAction::Alert,
            window_lines: 50,
            threshold: 0.8,
            windows: 3,
            block_lines: 10,
            block_repeats: 10,
            tool_call_repeats: 5,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailingTestsDetector {
    pub enabled: bool,
    pub action: DetectorAction,
    /// The same failing set in this many consecutive runs with no new commit.
    pub runs: u32,
}

impl Default for FailingTestsDetector {
    fn default() -> Self {
        Self {
            enabled: true,
            action: DetectorAction::Alert,
            runs: 3,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetDetector {
    pub enabled: bool,
    pub action: DetectorAction,
    pub warn_tokens_per_task: u64,
    pub alert_tokens_per_task: u64,
    pub max_rounds: u32,
}

impl Default for BudgetDetector {
    fn default() -> Self {
        Self {
            enabled: true,
            action: DetectorAction::Alert,
            warn_tokens_per_task: 20_000,
            alert_tokens_per_task: 50_000,
            max_rounds: 50,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSection {
    /// Built-in (dark, light, high-contrast, mono) or a file in `<config dir>/themes/`.
    pub theme: String,
    /// Key overrides by action name, e.g. `pause = "P"`.
    pub keys: BTreeMap<String, String>,
    /// Milliseconds between frames at most; nothing is drawn when nothing changed.
    pub max_fps: u32,
}

impl Default for UiSection {
    fn default() -> Self {
        Self {
            theme: "dark".into(),
            keys: BTreeMap::new(),
            max_fps: 20,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySection {
    /// Ring the terminal bell for alerts that need a human.
    pub bell: bool,
    /// OSC 9 / OSC 777 desktop notifications from the TUI.
    pub desktop: bool,
    /// Command run with the alert as JSON on stdin.
    pub hook: Option<Vec<String>>,
    pub hook_timeout: HumanDuration,
}

impl Default for NotifySection {
    fn default() -> Self {
        Self {
            bell: true,
            desktop: true,
            hook: None,
            hook_timeout: HumanDuration::from_secs(10),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsSection {
    /// In-memory lines kept per slot for the TUI (older lines are read from disk).
    pub ring_lines: u32,
    pub ring_bytes: ByteSize,
    /// A per-container log file rotates at this size; `keep_files` rotations are kept.
    pub file_max: ByteSize,
    pub keep_files: u32,
    /// A longer line is cut (marked) before parsing and storage.
    pub max_line: ByteSize,
    /// All log files of one slot (every generation, rotated parts included) are pruned to this
    /// total when a container's output starts being followed, oldest generation first; the
    /// files of the generation being followed are never removed.
    pub slot_max: ByteSize,
}

impl Default for LogsSection {
    fn default() -> Self {
        Self {
            // The ring only spares the log pane a disk read for the newest lines: older ones
            // are paged in from the file. A thousand lines is a few screens of scrollback; a
            // ring's memory is its text plus 16 bytes a line, so fifty slots hold at most
            // about 50 MiB even with long JSON lines (5 000 lines / 4 MiB allowed 200 MiB).
            ring_lines: 1000,
            ring_bytes: ByteSize::mib(1),
            file_max: ByteSize::mib(64),
            keep_files: 4,
            max_line: ByteSize(64 * 1024),
            slot_max: ByteSize::mib(1024),
        }
    }
}

/// The optional Prometheus text endpoint (`GET /metrics`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Where to serve it, e.g. "127.0.0.1:9464"; unset = no endpoint.
    pub listen: Option<std::net::SocketAddr>,
    /// The endpoint has no authentication, so a non-loopback `listen` is refused unless this
    /// says it is intended.
    pub allow_remote: bool,
}
