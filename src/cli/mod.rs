//! Command-line interface (clap derive): global options, subcommands, and the code behind the
//! commands that orchestrate several subsystems (`run`, `demo`, `scan`). This is the binary's
//! edge, so errors here are `anyhow` with context.

pub mod attach;
pub mod ctl;
pub mod daemon;
pub mod demo;
pub mod discover;
pub mod down;
pub mod events;
pub mod hint;
pub mod mcp;
pub mod remote;
pub mod report;
pub mod run;
pub mod scan;
pub mod status;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "drover", version, about = "Supervise a fleet of AI coding-agent containers", long_about = None)]
pub struct Cli {
    /// Fleet config file (default: $DROVER_CONFIG, ./drover.toml, ~/.config/drover/config.toml).
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// More log detail (-v debug, -vv trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log detail (-q warnings only, -qq errors only).
    #[arg(long, short = 'q', global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    /// Format of log lines on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Supervise the fleet (the default): the TUI, or headless with --no-tui.
    Run(RunArgs),
    /// Send an operator command to the running daemon (see `drover ctl --help` for exit codes).
    Ctl(ctl::CtlArgs),
    /// The fleet as a table, or as the documented JSON (--json), from the running daemon.
    Status(status::StatusArgs),
    /// The persisted event log (then live with --follow).
    Events(events::EventsArgs),
    /// Reliability report from the store: MTTR, MTBF, recovery rate, restarts, alerts, tests.
    Report(report::ReportArgs),
    /// The full TUI against the running daemon; quitting leaves the daemon running.
    Attach(attach::AttachArgs),
    /// The running fleets of this user (name, pid, config): pick one with `--fleet NAME`.
    Ls,
    /// Take the fleet down: stop and remove drover's containers of it (`--purge`: also its
    /// data folder). Refused while a drover supervises the fleet.
    Down(down::DownArgs),
    /// An MCP server on stdio for the running daemon (read tools; actions with --allow).
    Mcp(mcp::McpArgs),
    /// Validate the config and print the resolved fleet (`env` values redacted).
    CheckConfig {
        /// Print literal `env` values (secret-looking ones included); never `pass_env` values.
        #[arg(long)]
        show_values: bool,
    },
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// A throwaway fleet of simulated agents in real containers, supervised for real.
    Demo(DemoArgs),
    /// Print what drover extracts from a log (test runs): files, or stdin when none are given.
    Scan(ScanArgs),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The simulated agent the demo image runs.
    #[command(name = "agent-sim", hide = true)]
    AgentSim(crate::demo::AgentOptions),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run the demo headless instead of opening the TUI.
    #[arg(long)]
    pub no_tui: bool,
    /// Remove everything the demo in the folder created (containers, image, folder) and exit.
    #[arg(long)]
    pub clean: bool,
    /// Replace a previous demo in the folder with a new one (default: resume it).
    #[arg(long, conflicts_with = "clean")]
    pub fresh: bool,
    /// Where the demo keeps its repo, config and data (default: `drover-demo` in the user's
    /// data dir, e.g. ~/.local/share/drover-demo).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Stop after this long (e.g. "2m"); default: until interrupted.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Fleet name of the demo (tests run demos side by side).
    #[arg(long, hide = true, default_value = crate::demo::fleet::DEFAULT_FLEET)]
    pub fleet: String,
    /// Pace of the simulated agents: 1 = demo pace, smaller is faster (tests use 0.3).
    #[arg(long, hide = true, default_value_t = 1.0)]
    pub pace: f64,
    /// Tag of the demo image (tests use their own, so they never touch a user's demo).
    #[arg(long, hide = true, default_value = crate::demo::DEFAULT_IMAGE_TAG)]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Log files to read; none = stdin.
    pub files: Vec<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Under each test run, the log lines (numbers and text) that decided its runner, its
    /// counts and its verdict; with `--json`, an `evidence` array.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// Run headless: log to stderr and the rolling file, control through `drover ctl`.
    #[arg(long)]
    pub no_tui: bool,
    /// On exit, stop every agent container (default: leave them running; the next drover
    /// adopts them).
    #[arg(long)]
    pub stop_agents: bool,
    /// Show the fleet but refuse every action.
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the fully commented default configuration.
    Default,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Events persisted per second with group commit, and commit latency.
    Store {
        /// Number of events to write.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        /// Database file (default: a fresh temporary one).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Print `committed N` after every committed batch (used by the crash test).
        #[arg(long)]
        progress: bool,
    },
    /// The supervisor over N real containers: CPU and RSS idle and under churn, dockerd's
    /// CPU, death → snapshot latency; or a long soak with --soak.
    Fleet {
        /// Fleet sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "10,50,100")]
        agents: Vec<u32>,
        /// Length of each measured window (idle, without drover, churn).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        window: std::time::Duration,
        /// Churn this long at the first fleet size instead, sampling memory, files and tasks.
        #[arg(long, value_parser = humantime::parse_duration)]
        soak: Option<std::time::Duration>,
        /// Sampling interval of --soak.
        #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
        sample_every: std::time::Duration,
        /// With --soak: also draw the resident memory curve as an SVG chart into this file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<std::path::PathBuf>,
        /// Seconds between an agent's log lines.
        #[arg(long, default_value_t = 1.0)]
        pace: f64,
        /// Measure drover (headless and TUI, as their own processes) and this peer TUI (e.g.
        /// `oxker`) side by side over the same containers, at the first fleet size.
        #[arg(long, value_name = "PEER")]
        compare: Option<String>,
    },
}
