//! Command-line interface (clap derive): global options and subcommands.

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
    /// Validate the config and print the resolved fleet (secrets redacted).
    CheckConfig,
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(BenchCommand),
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
}
