//! How client commands (`status`, `events`, `ctl`, `attach`) find a fleet when no config file
//! is given or found: every supervising drover (run, headless, demo) registers itself in a
//! per-user folder while it runs, and a client with nothing else to go on uses the single live
//! registration.
//!
//! Invariants: the registry folder is created 0700 and an entry is trusted only when the file
//! belongs to the user running the client; an entry counts as live only while its control
//! socket accepts a connection, and entries whose process is gone are deleted by whoever sees
//! them. With several live daemons nothing is guessed: the error lists them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::{self, ConfigError};

/// One running daemon, as it registered itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    pub pid: u32,
    pub fleet: String,
    /// Its config file (absolute).
    pub config: PathBuf,
    pub socket: PathBuf,
}

/// `$XDG_RUNTIME_DIR/drover/running`, else `drover/running` in the user's data dir.
pub fn registry_dir() -> Option<PathBuf> {
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return Some(Path::new(&run).join("drover").join("running"));
    }
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy()
        .ok()
        .map(|s| s.data_dir().join("drover").join("running"))
}

/// A registration; dropping it removes the entry.
#[derive(Debug)]
pub struct Registration {
    path: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Registers this process as the daemon of `config` answering on `socket`. Best effort: a
/// failure only costs the discovery, so it is logged and supervision goes on.
pub fn register(config: &Path, fleet: &str, socket: &Path) -> Option<Registration> {
    match try_register(config, fleet, socket) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot register for client discovery; clients need --config");
            None
        }
    }
}

fn try_register(config: &Path, fleet: &str, socket: &Path) -> anyhow::Result<Registration> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = registry_dir().context("no per-user folder for the registry")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let entry = Running {
        pid: std::process::id(),
        fleet: fleet.to_string(),
        config: std::path::absolute(config)?,
        socket: std::path::absolute(socket)?,
    };
    let path = dir.join(format!("{}.json", entry.pid));
    // Written aside then renamed, so a client never reads half an entry.
    let tmp = dir.join(format!(".{}.tmp", entry.pid));
    std::fs::write(&tmp, serde_json::to_vec(&entry)?)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, &path)?;
    Ok(Registration { path })
}

/// The live registered daemons of this user, oldest pid first; stale entries are removed.
pub fn running() -> Vec<Running> {
    registry_dir().map(|d| running_in(&d)).unwrap_or_default()
}

/// [`running`] for the registry folder `dir`.
pub fn running_in(dir: &Path) -> Vec<Running> {
    use std::os::unix::fs::MetadataExt;
    let Ok(me) = crate::demo::fleet::euid() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut live = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() || meta.uid() != me {
            continue;
        }
        let Some(entry) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Running>(&b).ok())
        else {
            continue;
        };
        if std::os::unix::net::UnixStream::connect(&entry.socket).is_ok() {
            live.push(entry);
        } else if !Path::new(&format!("/proc/{}", entry.pid)).exists() {
            let _ = std::fs::remove_file(&path);
        }
    }
    live.sort_by_key(|r| r.pid);
    live
}

/// The config file a client command uses: `--config`, `$DROVER_CONFIG`, `./drover.toml`, the
/// user's config — else the config of the single running daemon of this user (said on stderr,
/// so the operator knows which fleet answered).
pub fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if explicit.is_none()
        && let Some(name) = CHOSEN.get()
    {
        return by_name(&running(), name);
    }
    match config::locate(explicit) {
        Ok(p) => Ok(p),
        Err(e @ ConfigError::NotFound { .. }) => choose(&running(), e),
        Err(e) => Err(e.into()),
    }
}

/// `--fleet NAME` of a client command: the running fleet it talks to (set once, at start).
static CHOSEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Records a client command's `--fleet NAME` for [`locate`].
pub fn choose_fleet(name: Option<&str>) {
    if let Some(n) = name {
        let _ = CHOSEN.set(n.to_string());
    }
}

/// The config of the running fleet named `name`, else an error listing the running ones.
pub fn by_name(live: &[Running], name: &str) -> anyhow::Result<PathBuf> {
    if let Some(r) = live.iter().find(|r| r.fleet == name) {
        return Ok(r.config.clone());
    }
    if live.is_empty() {
        anyhow::bail!("no fleet `{name}` is running (no drover daemon of yours runs)");
    }
    anyhow::bail!(
        "no fleet `{name}` is running; running fleets:\n{}",
        listing(live).join("\n")
    )
}

/// One line per running fleet: its name, pid and config.
pub fn listing(live: &[Running]) -> Vec<String> {
    live.iter()
        .map(|r| format!("  {}  (pid {}, {})", r.fleet, r.pid, r.config.display()))
        .collect()
}

/// The config of the single live daemon, else an error: `not_found` when none runs (it
/// carries the "new here?" hint), the list when several do.
pub fn choose(live: &[Running], not_found: ConfigError) -> anyhow::Result<PathBuf> {
    match live {
        [] => Err(not_found.into()),
        [one] => {
            // Said once per process (attach locates twice).
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!(
                    "drover: no config here; using the running fleet `{}` ({})",
                    one.fleet,
                    one.config.display()
                )
            });
            Ok(one.config.clone())
        }
        many => {
            anyhow::bail!(
                "no config here and {} drover daemons are running; choose one with --fleet NAME (or --config PATH):\n{}",
                many.len(),
                listing(many).join("\n")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dir: &Path, pid: u32, fleet: &str, socket: &Path) {
        let r = Running {
            pid,
            fleet: fleet.into(),
            config: dir.join(format!("{fleet}.toml")),
            socket: socket.to_path_buf(),
        };
        std::fs::write(
            dir.join(format!("{pid}.json")),
            serde_json::to_vec(&r).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn only_entries_whose_socket_answers_count_and_dead_ones_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let sock = dir.join("live.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        entry(dir, std::process::id(), "demo", &sock);
        // A pid that cannot exist (above pid_max) with no socket: a crashed daemon.
        entry(dir, 4_000_000_000, "gone", &dir.join("gone.sock"));
        std::fs::write(dir.join("notes.txt"), "not an entry").unwrap();
        std::fs::write(dir.join("9.json"), "{ broken").unwrap();
        let live = running_in(dir);
        assert_eq!(live.len(), 1, "{live:?}");
        assert_eq!(live[0].fleet, "demo");
        assert!(!dir.join("4000000000.json").exists(), "stale entry removed");
        assert!(dir.join("notes.txt").exists());
    }

    #[test]
    fn one_daemon_is_used_none_keeps_the_hint_several_are_listed() {
        let not_found = || ConfigError::NotFound {
            searched: vec!["drover.toml".into()],
        };
        let e = choose(&[], not_found()).unwrap_err().to_string();
        assert!(e.contains("new here? try `drover demo`"), "{e}");
        let r = |pid, fleet: &str| Running {
            pid,
            fleet: fleet.into(),
            config: format!("/f/{fleet}.toml").into(),
            socket: "/s".into(),
        };
        assert_eq!(
            choose(&[r(1, "demo")], not_found()).unwrap(),
            PathBuf::from("/f/demo.toml")
        );
        let e = choose(&[r(1, "demo"), r(2, "prod")], not_found())
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 drover daemons are running"), "{e}");
        assert!(e.contains("--fleet NAME"), "{e}");
        assert!(e.contains("prod  (pid 2, /f/prod.toml)"), "{e}");
        let live = [r(1, "demo"), r(2, "prod")];
        assert_eq!(
            by_name(&live, "prod").unwrap(),
            PathBuf::from("/f/prod.toml")
        );
        let e = by_name(&live, "nope").unwrap_err().to_string();
        assert!(
            e.contains("no fleet `nope` is running") && e.contains("  demo  (pid 1"),
            "{e}"
        );
    }
}
