//! `drover attach`: the full TUI against a running daemon. A feeder task turns the socket's
//! pushed snapshots, PROGRESS.md and log lines into the same [`FaceChannels`] the in-process
//! TUI reads, and forwards the TUI's commands to the daemon. Lines older than the pushed ones
//! are read from the daemon's log files on this host when the config says where they are.
//!
//! Invariants: quitting the TUI only closes this connection (the daemon keeps running); when
//! the daemon goes away the terminal is restored, the operator is told, and the process exits
//! with the "daemon not running" code instead of showing a frozen screen.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::remote::{self, RemoteFailure};
use crate::control::client::Connection;
use crate::control::protocol::{ErrorCode, Reply, Request, ServerFrame, Subscription};
use crate::logs::ring::LogHub;
use crate::theme::Theme;
use crate::ui::{self, EventSource, UiOptions};

/// Log lines per slot fetched when attaching (then every new line is pushed).
const ATTACH_LOG_TAIL: u32 = 2000;

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The running fleet to talk to, by name (see `drover ls`), whatever config is around.
    #[arg(long, value_name = "NAME")]
    pub fleet: Option<String>,
    /// Show the fleet but refuse every action.
    #[arg(long)]
    pub read_only: bool,
    /// Control socket to use instead of the configured fleet's.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// The events view reads the daemon's store through the socket.
struct RemoteEvents(Arc<Connection>);

impl EventSource for RemoteEvents {
    fn after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ui::feed::StoredEvent>, String>> {
        Box::pin(async move {
            let body = Request::Events {
                after_id,
                since_ms: None,
                slot: None,
                limit: u32::try_from(limit).unwrap_or(u32::MAX),
            };
            match self.0.call(body).await {
                Ok(Reply::Events(rows)) => Ok(rows.into_iter().map(ui::stored_event).collect()),
                Ok(other) => Err(format!("unexpected reply {other:?}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

pub async fn attach(args: AttachArgs, config: Option<&Path>) -> ExitCode {
    match run(args, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drover attach: {e:#}");
            e.code()
        }
    }
}

async fn run(args: AttachArgs, config: Option<&Path>) -> Result<(), RemoteFailure> {
    // Only `[fleet]` is needed to find the daemon; the rest of the config only tunes the UI,
    // so a broken edit waiting for a fix (the daemon kept the old config) does not lock the
    // operator out.
    let path = match &args.socket {
        Some(s) => s.clone(),
        None => remote::socket(config, None)?,
    };
    let cfg = match remote::load_config(config) {
        Ok(cfg) => Some(cfg),
        Err(e) if args.socket.is_none() => {
            eprintln!("drover attach: the config has errors, using default UI settings:\n{e:#}");
            None
        }
        Err(_) => None,
    };
    let opts = match &cfg {
        Some(cfg) => ui::options(cfg, args.read_only).map_err(anyhow::Error::from)?,
        None => {
            let theme =
                Theme::load_respecting_no_color("dark", None).map_err(anyhow::Error::from)?;
            let mut o = UiOptions::plain(theme);
            o.read_only = args.read_only;
            o.who = ui::os_user();
            o
        }
    };
    let ring = cfg.as_ref().map_or((5000, 4 << 20), |c| {
        (
            c.file.logs.ring_lines as usize,
            c.file.logs.ring_bytes.0 as usize,
        )
    });
    let (conn, mut pushes) = remote::connect(&path, "attach").await?;
    let conn = Arc::new(conn);
    conn.call(Request::Subscribe(Subscription {
        snapshot: true,
        progress: true,
        logs: true,
        log_tail: ATTACH_LOG_TAIL,
        ..Subscription::default()
    }))
    .await?;
    let hub = LogHub::new(ring.0, ring.1);
    // The subscription sends the current snapshot first.
    let first = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(frame) = pushes.0.recv().await {
            match frame {
                ServerFrame::Snapshot(s) => return Some(Ok(*s)),
                ServerFrame::Error(e) if e.code == ErrorCode::Oversized => return Some(Err(e)),
                ServerFrame::Log(l) => hub.push(&l.slot, l.ts_ms, l.stderr, l.text),
                _ => {}
            }
        }
        None
    })
    .await;
    let initial = match first {
        Ok(Some(Ok(s))) => s,
        Ok(Some(Err(e))) => {
            return Err(anyhow::anyhow!(
                "the fleet's snapshot is too large to attach: {}",
                e.message
            )
            .into());
        }
        Ok(None) => return Err(RemoteFailure::NotRunning("the daemon is gone".into())),
        Err(_) => return Err(anyhow::anyhow!("the daemon sent no snapshot within 15s").into()),
    };
    let (mut channels, feed) = ui::face_channels(
        initial,
        Arc::new(hub.clone()),
        Arc::new(RemoteEvents(Arc::clone(&conn))),
    );
    // The daemon writes its containers' logs under the config's data dir on this host; with
    // only a socket there is no telling where they are, so older lines stay unavailable.
    channels.log_files = cfg
        .as_ref()
        .map(|c| Arc::new(ui::LogFiles::from_config(c)) as Arc<dyn ui::LogFileSource>);
    let ui::FaceFeed {
        snapshot,
        progress,
        mut commands,
    } = feed;
    let gone = CancellationToken::new();
    let feeder_gone = gone.clone();
    tokio::spawn(async move {
        while let Some(frame) = pushes.0.recv().await {
            match frame {
                ServerFrame::Snapshot(s) => {
                    snapshot.send_replace(Arc::new(*s));
                }
                ServerFrame::Progress(p) => {
                    progress.send_replace(Arc::new(p.into()));
                }
                ServerFrame::Log(l) => hub.push(&l.slot, l.ts_ms, l.stderr, l.text),
                _ => {}
            }
        }
        feeder_gone.cancel();
    });
    let forward_conn = Arc::clone(&conn);
    tokio::spawn(async move {
        while let Some(envelope) = commands.recv().await {
            let conn = Arc::clone(&forward_conn);
            tokio::spawn(async move {
                // A dropped reply sender tells the TUI the command got no answer.
                if let Ok(Reply::Command(r)) = conn.call(Request::Command(envelope.request)).await {
                    let _ = envelope.reply.send(r);
                }
            });
        }
    });
    tokio::select! {
        r = ui::run(channels, opts) => r.map_err(RemoteFailure::Other),
        _ = gone.cancelled() => {
            // The TUI future is dropped mid-frame: give the terminal back before speaking.
            let _ = ratatui::try_restore();
            Err(RemoteFailure::NotRunning(
                "the daemon is gone (connection closed); the fleet's containers keep running — start drover again and re-attach".into(),
            ))
        }
    }
}
