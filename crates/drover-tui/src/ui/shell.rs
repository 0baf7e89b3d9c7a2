//! The take-over shell: `docker exec -it` into the slot's container, either in place (the TUI
//! suspends: event reader dropped, terminal restored, child with inherited stdio, a fresh
//! terminal afterwards) or in a new tmux window while the dashboard stays live.
//!
//! Invariants: while the child runs nothing else reads stdin; after it the terminal is rebuilt
//! without `Terminal::clear()` (its cursor-position query times out after a suspend).

use std::io::Stdout;
use std::process::Stdio;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{EnterAlternateScreen, enable_raw_mode};

/// The shell started inside the container: bash when the image has it, else sh.
const SHELL: &str = "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi";

/// The docker CLI arguments for an interactive shell in `container`.
pub fn docker_exec_args(docker_host: Option<&str>, container: &str) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(h) = docker_host {
        args.push("-H".to_string());
        args.push(h.to_string());
    }
    args.extend(
        ["exec", "-it", container, "sh", "-c", SHELL]
            .iter()
            .map(|s| s.to_string()),
    );
    args
}

/// The tmux arguments that open the shell in a new window named after the slot.
pub fn tmux_args(docker_host: Option<&str>, slot: &str, container: &str) -> Vec<String> {
    let mut args = vec![
        "new-window".to_string(),
        "-n".to_string(),
        format!("drover:{slot}"),
        "docker".to_string(),
    ];
    args.extend(docker_exec_args(docker_host, container));
    args
}

/// Runs the shell with the terminal handed over; the caller has restored the terminal. When
/// it ends badly (docker refused, the container is gone, a non-zero exit) the message stays on
/// screen until the operator presses Enter, so the reason is not wiped by the dashboard.
pub async fn run_in_place(docker_host: Option<&str>, container: &str) -> Result<(), String> {
    let status = tokio::process::Command::new("docker")
        .args(docker_exec_args(docker_host, container))
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .await;
    let outcome = match status {
        Err(e) => Err(format!("cannot run docker: {e}")),
        // 130: the shell's own exit after ctrl-c.
        Ok(s) if matches!(s.code(), Some(0 | 130)) => Ok(()),
        Ok(s) => Err(match s.code() {
            Some(c) => format!("the shell ended with status {c}"),
            None => "the shell was killed by a signal".to_string(),
        }),
    };
    if let Err(e) = &outcome {
        println!("\r\n[drover] {e} — press Enter to return to drover");
        // A blocking line read ends with the Enter it waits for, so no reader is left behind
        // to swallow the dashboard's next key.
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)
        })
        .await;
    }
    outcome
}

/// Opens the shell in a new tmux window; returns once tmux has created it.
pub async fn open_tmux_window(
    docker_host: Option<&str>,
    slot: &str,
    container: &str,
) -> Result<(), String> {
    let out = tokio::process::Command::new("tmux")
        .args(tmux_args(docker_host, slot, container))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| format!("cannot run tmux: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tmux new-window failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A terminal in raw mode on the alternate screen, built without `ratatui::init` (which
/// would wrap the panic hook once more on every resume).
pub fn fresh_terminal() -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
    enable_raw_mode()?;
    let mut out = std::io::stdout();
    execute!(out, EnterAlternateScreen)?;
    Terminal::new(CrosstermBackend::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_and_tmux_commands() {
        assert_eq!(
            docker_exec_args(None, "abc123")[..4],
            ["exec", "-it", "abc123", "sh"]
        );
        let a = docker_exec_args(Some("unix:///run/d.sock"), "abc");
        assert_eq!(a[..3], ["-H", "unix:///run/d.sock", "exec"]);
        let t = tmux_args(None, "implementer-2", "abc");
        assert_eq!(
            t[..5],
            ["new-window", "-n", "drover:implementer-2", "docker", "exec"]
        );
    }

    #[test]
    fn shell_fallback_works_where_bash_is_missing() {
        // The same script under a plain POSIX sh: `exec bash || exec sh` would exit when bash
        // is missing, this one falls back.
        let script = SHELL
            .replace("exec sh", "echo fallback")
            .replace("exec bash", "echo bash");
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &script])
            .env("PATH", "/nonexistent")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "fallback");
    }
}
