//! The `drover` binary: parses the command line and wires config, logging and subsystems.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser};

use drover::cli::run::FaceChoice;
use drover::cli::{BenchCommand, Cli, Command, ConfigCommand, RunArgs};
use drover::config::{self, ConfigError};
use drover::logging::{self, LogSink};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Config diagnostics are already complete sentences with locations.
            if let Some(ce) = e.downcast_ref::<ConfigError>() {
                eprintln!("{ce}");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let level = logging::level_for(cli.verbose, cli.quiet);
    match cli.command.unwrap_or(Command::Run(RunArgs::default())) {
        Command::CheckConfig { show_values } => {
            let path = config::locate(cli.config.as_deref())?;
            let cfg = config::load(&path)?;
            print!("{}", cfg.describe(show_values));
            println!("\nok: {} is valid", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Default) => {
            print!("{}", config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "drover", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Store {
            events,
            db,
            progress,
        }) => {
            let _log = logging::init(None, LogSink::StderrOnly(cli.log_format), level)?;
            let tmp;
            let db = match db {
                Some(p) => p,
                None => {
                    tmp = tempdir()?;
                    tmp.join("bench.db")
                }
            };
            let rt = tokio::runtime::Runtime::new()?;
            let f = rt.block_on(drover::bench::store(&db, events, progress))?;
            if !progress {
                println!(
                    "store: {} events in {:.2?} = {:.0} events/s ({} batches); commit latency p50 {:.1?} p99 {:.1?}",
                    f.events,
                    f.elapsed,
                    f.events_per_sec(),
                    f.batches,
                    f.latency_p50,
                    f.latency_p99
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Fleet {
            agents,
            window,
            soak,
            sample_every,
            chart,
            pace,
            compare,
        }) => {
            // Warnings only: the supervisor's transition lines would bury the figures.
            let _log = logging::init(None, LogSink::StderrOnly(cli.log_format), "warn")?;
            let opts = drover::bench::fleet::FleetBenchOptions {
                agents,
                window,
                soak,
                sample_every,
                chart,
                pace,
                compare,
            };
            tokio::runtime::Runtime::new()?.block_on(drover::bench::fleet::run(opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            // Before the runtime starts threads: everything drover creates is private.
            drover::store::private::restrict_umask();
            let path = config::locate(cli.config.as_deref())?;
            let cfg = config::load(&path)?;
            let face = if args.no_tui {
                FaceChoice::Headless
            } else {
                FaceChoice::Tui {
                    read_only: args.read_only,
                }
            };
            let _log = drover::cli::run::init_logging(&cfg, face, cli.log_format, level)?;
            let opts = drover::supervisor::SupervisorOptions {
                stop_agents: args.stop_agents,
                ..Default::default()
            };
            let left = tokio::runtime::Runtime::new()?
                .block_on(drover::cli::run::supervise(cfg, face, opts, None))?;
            eprint!("{}", left.summary(&drover::cli::hint::command()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            tokio::runtime::Runtime::new()?.block_on(drover::cli::demo::demo(
                args,
                cli.log_format,
                level,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ctl(args) => {
            let _log = logging::init(None, LogSink::StderrOnly(cli.log_format), level)?;
            let rt = tokio::runtime::Runtime::new()?;
            drover::cli::discover::choose_fleet(args.fleet.as_deref());
            Ok(rt.block_on(drover::cli::ctl::ctl(args, cli.config.as_deref())))
        }
        Command::Mcp(args) => {
            // Stdout carries the protocol: logs go to stderr only.
            let _log = logging::init(None, LogSink::StderrOnly(cli.log_format), level)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(drover::cli::mcp::mcp(args, cli.config.as_deref()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let _log = logging::init(None, LogSink::StderrOnly(cli.log_format), level)?;
            let rt = tokio::runtime::Runtime::new()?;
            drover::cli::discover::choose_fleet(args.fleet.as_deref());
            Ok(rt.block_on(drover::cli::status::status(args, cli.config.as_deref())))
        }
        Command::Events(args) => {
            let _log = logging::init(None, LogSink::StderrOnly(cli.log_format), level)?;
            let rt = tokio::runtime::Runtime::new()?;
            drover::cli::discover::choose_fleet(args.fleet.as_deref());
            Ok(rt.block_on(drover::cli::events::events(args, cli.config.as_deref())))
        }
        Command::Ls => {
            let live = drover::cli::discover::running();
            if live.is_empty() {
                println!("no running fleets");
            }
            for line in drover::cli::discover::listing(&live) {
                println!("{}", line.trim_start());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Down(args) => {
            let _log = logging::init(None, LogSink::StderrOnly(cli.log_format), level)?;
            tokio::runtime::Runtime::new()?
                .block_on(drover::cli::down::down(args, cli.config.as_deref()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(args) => {
            let _log = logging::init(None, LogSink::StderrOnly(cli.log_format), level)?;
            tokio::runtime::Runtime::new()?
                .block_on(drover::cli::report::report(args, cli.config.as_deref()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Attach(args) => {
            // No log subscriber: the TUI owns the terminal.
            let rt = tokio::runtime::Runtime::new()?;
            drover::cli::discover::choose_fleet(args.fleet.as_deref());
            Ok(rt.block_on(drover::cli::attach::attach(args, cli.config.as_deref())))
        }
        Command::Scan(args) => {
            let mut out = std::io::stdout().lock();
            let limits = drover::cli::scan::limits(cli.config.as_deref())?;
            let output = drover::cli::scan::ScanOutput {
                json: args.json,
                explain: args.explain,
            };
            drover::cli::scan::scan(&args.files, output, limits, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::AgentSim(opts) => {
            let code = drover::demo::run_agent(opts)?;
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
    }
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("drover-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
