//! What the client commands (`ctl`, `status`, `events`, `attach`) share: finding the fleet's
//! control socket (the config's, else the single running daemon's — see [`super::discover`]),
//! connecting, and the documented exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::config::{self, Config};

use crate::control::client::{ClientError, Connection, Pushes};

/// Success (also for a command that changed nothing because it was already so).
pub const EXIT_OK: u8 = 0;
/// Any other failure (bad config, protocol error, …).
pub const EXIT_FAILURE: u8 = 1;
/// Bad command line (clap's own code).
pub const EXIT_USAGE: u8 = 2;
/// No daemon is running for the fleet, or it went away.
pub const EXIT_NOT_RUNNING: u8 = 3;
/// No such slot, role, task or alert.
pub const EXIT_NOT_FOUND: u8 = 4;
/// The daemon refused the command.
pub const EXIT_REFUSED: u8 = 5;

/// How a client command ended when it could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum RemoteFailure {
    #[error("{0}")]
    NotRunning(String),
    /// The command line is incomplete (exit code 2, like clap's own usage errors).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl RemoteFailure {
    pub fn code(&self) -> ExitCode {
        ExitCode::from(match self {
            RemoteFailure::NotRunning(_) => EXIT_NOT_RUNNING,
            RemoteFailure::Usage(_) => EXIT_USAGE,
            RemoteFailure::Other(_) => EXIT_FAILURE,
        })
    }
}

impl From<ClientError> for RemoteFailure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::NotRunning { .. } | ClientError::Gone => {
                RemoteFailure::NotRunning(e.to_string())
            }
            other => RemoteFailure::Other(other.into()),
        }
    }
}

/// The config, when one can be found (client commands work with `--socket` alone).
pub fn load_config(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let path = super::discover::locate(explicit)?;
    Ok(config::load(&path)?)
}

/// The fleet's data folder (only `[fleet]` is read, so a broken file elsewhere does not stop
/// post-mortem reads of the store).
pub fn data_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = super::discover::locate(explicit)?;
    Ok(config::fleet_location(&path)?.1)
}

/// The socket to use: `--socket`, else the configured fleet's.
pub fn socket(config: Option<&Path>, socket: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(s) = socket {
        return Ok(s.to_path_buf());
    }
    let path = super::discover::locate(config).context("finding the fleet's control socket")?;
    let (fleet, data_dir) =
        config::fleet_location(&path).context("finding the fleet's control socket")?;
    // The daemon's own record wins: its environment may place the socket elsewhere.
    Ok(crate::control::transport::recorded_socket(&data_dir)
        .unwrap_or_else(|| crate::control::transport::socket_path(&fleet, &data_dir)))
}

/// Connects and greets the daemon at `path`.
pub async fn connect(path: &Path, client: &str) -> Result<(Connection, Pushes), RemoteFailure> {
    Ok(Connection::open(path, client).await?)
}
