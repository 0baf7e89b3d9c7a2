//! `drover report`: the reliability report over a window, read straight from the fleet's
//! SQLite file opened read-only — it needs no daemon and never writes. With `--upstream PATH`
//! it is instead a retrospective of any fleet repo's lock history (no config, no daemon); a
//! configured fleet's report also carries the same lock figures for its upstream.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;

use crate::control::{cost, report};
use crate::core::RunRecord;
use crate::logs::logfile::ReverseLogReader;
use crate::store::Store;
use crate::upstream::report as upstream_report;
use crate::upstream::{board, board_flow, board_text};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The window: back from now ("24h", "7d") or from a time ("2026-02-01T12:00:00Z").
    /// Default: 24h for the fleet report, the whole history with --upstream.
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Since>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Database to read instead of the configured fleet's (`<data_dir>/drover.db`).
    #[arg(long, value_name = "PATH", conflicts_with = "upstream")]
    pub db: Option<PathBuf>,
    /// Report on the lock history of this git repo (bare or clone) instead; needs no config.
    #[arg(long, value_name = "PATH")]
    pub upstream: Option<PathBuf>,
    /// Branch to read with --upstream (default: the one HEAD names).
    #[arg(long, value_name = "B", requires = "upstream")]
    pub branch: Option<String>,
    /// Locks folder with --upstream.
    #[arg(long, value_name = "D", default_value = "current_tasks")]
    pub locks_dir: String,
    /// Show the run that landed this commit (full or short id) and its log lines up to the
    /// commit's time, instead of the report.
    #[arg(long, value_name = "SHA", conflicts_with = "upstream")]
    pub commit: Option<String>,
}

/// Characters of one printed line of agent text.
const SHOWN_CHARS: usize = 2000;

/// Log lines shown before a commit's time (and after it, the few seconds of a push).
const COMMIT_LOG_BEFORE_MS: u64 = 120_000;
const COMMIT_LOG_AFTER_MS: u64 = 5_000;
const COMMIT_LOG_LINES: usize = 60;

/// Where the window starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    Ago(Duration),
    /// Seconds since the epoch.
    At(i64),
}

fn parse_since(s: &str) -> Result<Since, String> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(Since::Ago(d));
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|_| {
            format!("{s:?} is neither a duration (\"24h\") nor a time (\"2026-02-01T12:00:00Z\")")
        })
        .and_then(|t| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .map_err(|_| format!("{s:?} is before 1970"))
        })
        .map(Since::At)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Start of the window in ms since the epoch.
fn from_ms(since: Since, now: i64) -> i64 {
    match since {
        Since::Ago(d) => now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        Since::At(s) => s.saturating_mul(1000),
    }
}

pub async fn report(args: ReportArgs, config: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = &args.upstream {
        return upstream(&args, path).await;
    }
    let db = match &args.db {
        Some(p) => p.clone(),
        None => super::remote::data_dir(config)?.join("drover.db"),
    };
    let store = Store::open_read_only(&db)
        .await
        .with_context(|| format!("opening {} read-only", db.display()))?;
    if let Some(sha) = &args.commit {
        let data_dir = db.parent().map(Path::to_path_buf).unwrap_or_default();
        let found = cost::run_of_commit(&store, sha).await;
        store.close().await;
        return commit_log(sha, found?, &data_dir, &mut std::io::stdout().lock());
    }
    let now = now_ms();
    let since = args
        .since
        .unwrap_or(Since::Ago(Duration::from_secs(24 * 3600)));
    let from = from_ms(since, now);
    let input = report::load(&store, from)
        .await
        .with_context(|| format!("reading {}", db.display()))?;
    let r = report::compute(&input, from, now);
    let costs = cost::compute(&cost::load(&store, from).await.unwrap_or_else(|e| {
        // A database from before the ledger has no runs table.
        tracing::warn!(error = %e, "cost figures left out of the report");
        Vec::new()
    }));
    // A database from before the check has no main_red table: no red-main figures then.
    let checked = has_checks(&store).await;
    let main = crate::control::main_report::load(&store, from)
        .await
        .ok()
        .map(|p| crate::control::main_report::compute(&p, from, now))
        .filter(|m| checked || !m.breaks.is_empty());
    // The fleet's config, found as the store was (also through the running daemon): its
    // prices and its upstream. With `--db` the config is not the database's, so neither.
    let cfg = if args.db.is_none() {
        super::discover::locate(config)
            .ok()
            .and_then(|p| crate::config::load(&p).ok())
    } else {
        None
    };
    // Unknown prices (no config readable): whatever the ledger recorded is all there is.
    let priced = match &cfg {
        Some(c) => !c.file.pricing.0.is_empty(),
        None => costs.fleet.cost_micros > 0,
    };
    // The configured fleet's upstream gets the same lock figures as `--upstream` would give.
    let up = match &cfg {
        Some(c) => configured_upstream(c, from.div_euclid(1000)).await,
        None => Err("no config read (--db)".to_string()),
    };
    if args.json {
        let mut v = serde_json::to_value(&r)?;
        if let Some(obj) = v.as_object_mut() {
            let mut cost = serde_json::to_value(&costs)?;
            if let Some(c) = cost.as_object_mut() {
                c.insert("prices_configured".into(), priced.into());
            }
            obj.insert("cost".into(), cost);
            obj.insert(
                "upstream".into(),
                match &up {
                    Ok(up) => serde_json::to_value(up)?,
                    Err(_) => serde_json::Value::Null,
                },
            );
            if let Err(why) = &up {
                obj.insert("upstream_missing".into(), why.clone().into());
            }
            if let Some(main) = &main {
                obj.insert("main".into(), serde_json::to_value(main)?);
            }
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let window = match since {
            Since::Ago(d) => format!("last {}", humantime::format_duration(d)),
            Since::At(_) => format!("since {}", report::fmt_time_s(from.div_euclid(1000))),
        };
        println!("drover report: {window} ({})", db.display());
        print!("{}", report::to_text(&r));
        println!();
        print!("{}", cost::to_text(&costs, priced));
        if let Some(main) = &main {
            println!();
            print!("{}", crate::control::main_report::to_text(main));
        }
        println!();
        match &up {
            Ok(up) => print!("{}", report::upstream_to_text(up)),
            Err(why) => println!("upstream: {why}"),
        }
    }
    store.close().await;
    Ok(())
}

/// The store has checks of main (`[upstream.check]` ran at some time).
async fn has_checks(store: &Store) -> bool {
    store
        .main_checks_latest(1)
        .await
        .is_ok_and(|c| !c.is_empty())
}

/// The lock figures of `cfg`'s upstream, or why there are none.
async fn configured_upstream(
    cfg: &crate::config::Config,
    since_s: i64,
) -> Result<upstream_report::UpstreamReport, String> {
    let up = cfg
        .file
        .upstream
        .clone()
        .ok_or_else(|| "none configured ([upstream] repo)".to_string())?;
    let repo = cfg.resolve(&up.repo);
    let shown = repo.display().to_string();
    tokio::task::spawn_blocking(move || {
        upstream_report::report(&repo, up.branch.as_deref(), &up.locks_dir, Some(since_s))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("{shown} could not be read: {e}"))
}

async fn upstream(args: &ReportArgs, path: &Path) -> anyhow::Result<()> {
    let (board, flow) = upstream_board(args, path).await?;
    let since_s = args.since.map(|s| from_ms(s, now_ms()).div_euclid(1000));
    let (path, branch, dir) = (path.to_owned(), args.branch.clone(), args.locks_dir.clone());
    let shown = path.display().to_string();
    let r = tokio::task::spawn_blocking(move || {
        upstream_report::report(&path, branch.as_deref(), &dir, since_s)
    })
    .await
    .context("reading the upstream history")?
    .with_context(|| format!("reading {shown}"))?;
    if args.json {
        let mut v = serde_json::to_value(&r)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("board".into(), serde_json::to_value(&board)?);
            obj.insert("flow".into(), serde_json::to_value(&flow)?);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", report::upstream_to_text(&r));
        println!();
        print!("{}", board_text::board_to_text(&board));
        if let Some(flow) = &flow {
            print!("{}", board_text::flow_to_text(flow));
        }
    }
    Ok(())
}

/// The board at the tip and its flow over the whole history (the window does not apply: the
/// board is what is there now).
async fn upstream_board(
    args: &ReportArgs,
    path: &Path,
) -> anyhow::Result<(board::Board, Option<board_flow::Flow>)> {
    let settings = board::BoardSettings {
        locks_dir: args.locks_dir.clone(),
        ..board::BoardSettings::default()
    };
    let (path, branch) = (path.to_owned(), args.branch.clone());
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || board::read(&path, branch.as_deref(), &settings, now_ms()))
        .await
        .context("reading the upstream board")?
        .with_context(|| format!("reading the board of {shown}"))
}

/// The run that landed `sha` and its log lines around the commit's time.
fn commit_log(
    sha: &str,
    found: Option<(RunRecord, String)>,
    data_dir: &Path,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let Some((run, log)) = found else {
        anyhow::bail!("no run in the ledger landed a commit {sha}");
    };
    let Some(c) = run.commits.iter().find(|c| c.commit.starts_with(sha)) else {
        anyhow::bail!("no run in the ledger landed a commit {sha}");
    };
    writeln!(
        out,
        "{} {} · {} run of {} (generation {}, started {}) · {}",
        c.commit.get(..10).unwrap_or(&c.commit),
        crate::secrets::shown_line(&c.summary, SHOWN_CHARS),
        run.end.as_ref().map_or("open".into(), |e| e.describe()),
        run.slot,
        run.generation,
        report::fmt_time_s(i64::try_from(run.started_at / 1000).unwrap_or(0)),
        log
    )?;
    let path = data_dir.join(&log);
    let mut reader = ReverseLogReader::open(&path, 64 * 1024);
    let mut lines = Vec::new();
    while let Some(line) = reader.prev_line()? {
        if line.ts_ms + COMMIT_LOG_BEFORE_MS < c.at {
            break;
        }
        if line.ts_ms <= c.at + COMMIT_LOG_AFTER_MS {
            lines.push(line);
            if lines.len() == COMMIT_LOG_LINES {
                break;
            }
        }
    }
    if lines.is_empty() {
        writeln!(
            out,
            "(no log lines of this run around the commit in {})",
            path.display()
        )?;
    }
    for l in lines.iter().rev() {
        let mark = if l.ts_ms > c.at { '>' } else { ' ' };
        writeln!(
            out,
            "{mark} {} {}",
            report::fmt_time_s(i64::try_from(l.ts_ms / 1000).unwrap_or(0)),
            // Agent output: it may carry OSC 52 (clipboard), OSC 0 (title) or CSI 2J.
            crate::secrets::shown_line(&l.text, SHOWN_CHARS)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::LandedCommit;

    /// An agent line holding OSC 52 (write the clipboard), OSC 0 (retitle) and CSI 2J (clear)
    /// reaches the operator's terminal through `report --commit` without any of them.
    #[test]
    fn report_commit_prints_agent_lines_without_terminal_control() {
        let dir = tempfile::tempdir().unwrap();
        let at = 1_767_225_600_000u64;
        let line = "pwned \u{1b}]52;c;ZWNobyBoaQ==\u{7}\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[H done";
        std::fs::create_dir_all(dir.path().join("logs/w-1")).unwrap();
        std::fs::write(
            dir.path().join("logs/w-1/1.log"),
            format!("2026-01-01T00:00:00.000Z O {line}\n"),
        )
        .unwrap();
        let run = RunRecord {
            slot: "w-1".into(),
            started_at: at - 60_000,
            commits: vec![LandedCommit {
                commit: "abcdef1234".into(),
                at,
                summary: "fix \u{1b}]0;title\u{7}it".into(),
            }],
            ..Default::default()
        };
        let mut out = Vec::new();
        commit_log(
            "abcdef",
            Some((run, "logs/w-1/1.log".into())),
            dir.path(),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("pwned"), "{text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
    }
}
