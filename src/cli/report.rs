//! `drover report`: the reliability report over a window, read straight from the fleet's
//! SQLite file opened read-only — it needs no daemon and never writes.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;

use crate::control::report;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The window, back from now (e.g. "24h", "7d").
    #[arg(long, value_parser = humantime::parse_duration, default_value = "24h")]
    pub since: Duration,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Database to read instead of the configured fleet's (`<data_dir>/drover.db`).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

pub async fn report(args: ReportArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let db = match &args.db {
        Some(p) => p.clone(),
        None => super::remote::data_dir(config)?.join("drover.db"),
    };
    let store = Store::open_read_only(&db)
        .await
        .with_context(|| format!("opening {} read-only", db.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let from = now - i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX);
    let input = report::load(&store, from)
        .await
        .with_context(|| format!("reading {}", db.display()))?;
    let r = report::compute(&input, from, now);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "drover report: last {} ({})",
            humantime::format_duration(args.since),
            db.display()
        );
        print!("{}", report::to_text(&r));
    }
    store.close().await;
    Ok(())
}
