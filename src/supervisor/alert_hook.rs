//! The notification hook: for every alert that needs a human (see [`NotifyGate`]), the
//! configured command runs with the alert as one JSON object on stdin.
//!
//! Invariants: a hook never blocks the supervisor loop (it runs in its own task), is killed
//! after `hook_timeout`, and its failure is logged, never fatal. At most [`MAX_RUNNING`] hooks
//! run at once; alerts beyond that are logged as not delivered rather than queued without
//! bound.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use crate::config::NotifySection;
use crate::core::{Alert, NotifyGate};

pub const MAX_RUNNING: usize = 4;

pub struct AlertHook {
    command: Vec<String>,
    timeout: Duration,
    fleet: String,
    gate: NotifyGate,
    running: Arc<Semaphore>,
}

impl AlertHook {
    /// `None` when no hook is configured.
    pub fn from_config(cfg: &NotifySection, fleet: &str) -> Option<Self> {
        let command = cfg.hook.clone().filter(|c| !c.is_empty())?;
        Some(Self {
            command,
            timeout: Duration::from_millis(cfg.hook_timeout.as_millis_u64()),
            fleet: fleet.to_string(),
            gate: NotifyGate::default(),
            running: Arc::new(Semaphore::new(MAX_RUNNING)),
        })
    }

    /// Sees an alert record (raised, updated or cleared); runs the hook when it needs a human.
    pub fn observe(&mut self, alert: &Alert) {
        if !self.gate.admit(alert) {
            return;
        }
        let Ok(permit) = Arc::clone(&self.running).try_acquire_owned() else {
            tracing::warn!(
                alert = alert.id,
                "notification hook not run: {MAX_RUNNING} hooks are still running"
            );
            return;
        };
        let payload = serde_json::json!({ "fleet": self.fleet, "alert": alert });
        let command = self.command.clone();
        let timeout = self.timeout;
        let id = alert.id;
        tokio::spawn(async move {
            let _permit = permit;
            match run_hook(&command, payload.to_string(), timeout).await {
                Ok(()) => tracing::debug!(alert = id, "notification hook ran"),
                Err(e) => {
                    tracing::warn!(alert = id, hook = ?command, "notification hook failed: {e}")
                }
            }
        });
    }
}

async fn run_hook(command: &[String], payload: String, timeout: Duration) -> Result<(), String> {
    let (program, args) = command.split_first().ok_or("empty hook command")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let work = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A hook that ignores its input may close stdin early; that is its choice.
            let _ = stdin.write_all(payload.as_bytes()).await;
            let _ = stdin.write_all(b"\n").await;
        }
        child.wait_with_output().await
    };
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Err(format!("timed out after {timeout:?} (killed)")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let first = stderr.lines().next().unwrap_or("").chars().take(200);
            Err(format!("{}: {}", out.status, first.collect::<String>()))
        }
    }
}
