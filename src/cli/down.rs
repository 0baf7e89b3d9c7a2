//! `drover down`: takes a fleet down — stops and removes its containers — and with `--purge`
//! also deletes its data folder (event log, ledger, container logs, drover's own log).
//!
//! Invariants: only drover's own containers are touched: named `drover-<fleet>-<slot>` for
//! their slot label and carrying this data folder's fleet id (a look-alike is named and left
//! alone); nothing is done while a drover supervises the fleet (it would start them again);
//! what is removed is named before it goes; a second run finds nothing and says so.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use drover_runtime::Connector as _;
use drover_runtime::docker::DockerConnector;

use crate::store::Store;

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also delete the fleet's data folder (its database and logs), after naming it.
    #[arg(long)]
    pub purge: bool,
}

/// Seconds a container gets to stop before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub async fn down(args: DownArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let path = crate::config::locate(config)?;
    let cfg = crate::config::load(&path)?;
    let fleet = cfg.file.fleet.name.clone();
    let data = cfg.data_dir.clone();
    if let Some(socket) = crate::control::transport::recorded_socket(&data)
        && std::os::unix::net::UnixStream::connect(&socket).is_ok()
    {
        bail!(
            "a drover is supervising fleet `{fleet}` right now and would start its containers again — quit it first (q in its TUI, or SIGTERM), then run this again"
        );
    }
    let fleet_id = known_fleet_id(&data, &fleet).await;
    let docker = DockerConnector {
        host: cfg.file.fleet.docker_host.clone(),
    }
    .connect()
    .await
    .context("connecting to Docker")?;
    let listed = docker
        .list_fleet(&fleet)
        .await
        .context("listing the fleet's containers")?;
    let (mut ours, foreign): (Vec<_>, Vec<_>) = listed.into_iter().partition(|c| {
        fleet_id
            .as_deref()
            .is_some_and(|id| c.foreign_reason(&fleet, id).is_none())
    });
    ours.sort_by(|a, b| a.name.cmp(&b.name));
    if ours.is_empty() {
        println!("fleet `{fleet}`: no container of drover's to remove");
    } else {
        println!(
            "fleet `{fleet}`: stopping and removing {} container{}: {}",
            ours.len(),
            if ours.len() == 1 { "" } else { "s" },
            ours.iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut failed = Vec::new();
    for c in &ours {
        // A paused container cannot be stopped.
        let _ = docker.unpause(&c.id).await;
        let _ = docker.stop(&c.id, STOP_GRACE).await;
        if let Err(e) = docker.remove(&c.id).await {
            failed.push(format!("{}: {e}", c.name));
        }
    }
    for c in &foreign {
        let why = match &fleet_id {
            Some(id) => c
                .foreign_reason(&fleet, id)
                .unwrap_or_else(|| "not drover's".into()),
            None => format!("no fleet id in {} to prove it is drover's", data.display()),
        };
        println!("left alone: {} ({why})", c.name);
    }
    if !failed.is_empty() {
        bail!("could not remove: {}", failed.join("; "));
    }
    if args.purge {
        purge(&data)?;
    } else if data.exists() {
        println!(
            "kept the data folder {} (event log, run ledger, logs); `--purge` deletes it",
            data.display()
        );
    }
    Ok(())
}

/// The fleet id this data folder's store gave the fleet, if it has one (read-only).
async fn known_fleet_id(data: &Path, fleet: &str) -> Option<String> {
    let db = data.join("drover.db");
    if !db.is_file() {
        return None;
    }
    let store = Store::open_read_only(&db).await.ok()?;
    let id = store.known_fleet_id(fleet).await.ok().flatten();
    store.close().await;
    id
}

/// Deletes the data folder after naming it and what it holds; only a real folder of the user
/// running drover.
fn purge(data: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(data) else {
        println!("no data folder at {}: nothing to purge", data.display());
        return Ok(());
    };
    if !meta.is_dir() {
        bail!(
            "{} is not a folder (a symlink or a file): not deleting it",
            data.display()
        );
    }
    if meta.uid() != crate::demo::fleet::euid()? {
        bail!(
            "{} belongs to another user: not deleting it",
            data.display()
        );
    }
    let (files, bytes) = size_of(data);
    println!(
        "deleting the data folder {} ({files} files, {}: drover.db, logs/)",
        data.display(),
        human_bytes(bytes)
    );
    std::fs::remove_dir_all(data).with_context(|| format!("deleting {}", data.display()))?;
    Ok(())
}

fn size_of(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    for e in entries.flatten() {
        let Ok(meta) = e.path().symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            let (f, b) = size_of(&e.path());
            files += f;
            bytes += b;
        } else {
            files += 1;
            bytes += meta.len();
        }
    }
    (files, bytes)
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
