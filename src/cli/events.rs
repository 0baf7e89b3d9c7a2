//! `drover events`: the persisted event log (from the daemon, or straight from the store when
//! no daemon runs), then live with `--follow`, in order and without gaps or repeats.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;

use super::remote::{self, RemoteFailure};
use crate::control::protocol::{Reply, Request, ServerFrame, Subscription};
use crate::store::{EventFilter, Store, StoredEvent};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The running fleet to talk to, by name (see `drover ls`), whatever config is around.
    #[arg(long, value_name = "NAME")]
    pub fleet: Option<String>,
    /// Keep printing new events as they are persisted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// How far back to start (e.g. "1h", "30m", "2d").
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub since: Duration,
    /// Only this slot's events.
    #[arg(long)]
    pub slot: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Control socket to use instead of the configured fleet's.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

const PAGE: u32 = 5_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One event as a line: `time slot kind [who] message`, or its JSON.
pub fn format_event(e: &StoredEvent, json: bool) -> String {
    let payload: serde_json::Value =
        serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null);
    if json {
        return serde_json::json!({
            "id": e.id,
            "ts_ms": e.ts_ms,
            "slot": e.slot,
            "kind": e.kind,
            "who": e.who,
            "payload": payload,
        })
        .to_string();
    }
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(e.ts_ms).unwrap_or(0));
    let message = payload
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("");
    let who = e
        .who
        .as_deref()
        .map(|w| format!(" [{w}]"))
        .unwrap_or_default();
    // Messages, slot names and `who` can carry agent text: shown through the sanitiser.
    let shown = |t: &str| crate::secrets::shown_line(t, 2000);
    format!(
        "{} {:<14} {:<16}{} {}",
        humantime::format_rfc3339_millis(at),
        shown(e.slot.as_deref().unwrap_or("-")),
        shown(&e.kind),
        shown(&who),
        shown(message)
    )
}

pub async fn events(args: EventsArgs, config: Option<&Path>) -> ExitCode {
    match run(&args, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drover events: {e:#}");
            e.code()
        }
    }
}

/// Prints `rows`; `false` when stdout is closed (`| head`): the command then ends quietly,
/// `--follow` included.
fn print(rows: &[StoredEvent], json: bool) -> bool {
    let mut out = std::io::stdout().lock();
    for e in rows {
        if writeln!(out, "{}", format_event(e, json)).is_err() {
            return false;
        }
    }
    out.flush().is_ok()
}

async fn run(args: &EventsArgs, config: Option<&Path>) -> Result<(), RemoteFailure> {
    let since_ms = now_ms() - i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX);
    let path = remote::socket(config, args.socket.as_deref())?;
    let conn = match remote::connect(&path, "events").await {
        Ok(c) => c,
        Err(RemoteFailure::NotRunning(why)) if !args.follow && args.socket.is_none() => {
            // Post-mortem: read the store itself.
            let data_dir = remote::data_dir(config)?;
            let store = Store::open_read_only(&data_dir.join("drover.db"))
                .await
                .map_err(|e| anyhow::anyhow!("{why}; reading the store failed too: {e}"))?;
            let rows = store
                .events(&EventFilter {
                    since_ms: Some(since_ms),
                    slot: args.slot.clone(),
                    ..EventFilter::default()
                })
                .await
                .map_err(anyhow::Error::from)?;
            print(&rows, args.json);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let (conn, mut pushes) = conn;
    let mut after = 0i64;
    loop {
        let body = Request::Events {
            after_id: after,
            since_ms: Some(since_ms),
            slot: args.slot.clone(),
            limit: PAGE,
        };
        let rows = match conn.call(body).await? {
            Reply::Events(rows) => rows,
            other => return Err(anyhow::anyhow!("unexpected reply {other:?}").into()),
        };
        if !print(&rows, args.json) {
            return Ok(());
        }
        // A short page is not the end: the daemon cuts a page that would not fit in a frame.
        match rows.last() {
            Some(last) => after = last.id,
            None => break,
        }
    }
    if !args.follow {
        return Ok(());
    }
    if after == 0 {
        // Nothing in the window yet: follow from the log's current end.
        let newest = match conn
            .call(Request::Events {
                after_id: 0,
                since_ms: None,
                slot: None,
                limit: 1,
            })
            .await?
        {
            Reply::Events(rows) => rows.last().map_or(0, |e| e.id),
            _ => 0,
        };
        after = newest;
    }
    let sub = Subscription {
        events_after: Some(after),
        events_slot: args.slot.clone(),
        ..Subscription::default()
    };
    conn.call(Request::Subscribe(sub)).await?;
    while let Some(frame) = pushes.0.recv().await {
        if let ServerFrame::Event(e) = frame
            && !print(std::slice::from_ref(&e), args.json)
        {
            return Ok(());
        }
    }
    Err(RemoteFailure::NotRunning(
        "the daemon is gone (connection closed)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event whose message quotes agent output (an exit line, a reason) prints without the
    /// escape sequences it carried: no title change, clipboard write or screen clear.
    #[test]
    fn event_lines_carry_no_terminal_control() {
        let e = StoredEvent {
            id: 1,
            ts_ms: 1_767_225_600_000,
            slot: Some("w-1\u{1b}[2J".into()),
            kind: "exited".into(),
            who: None,
            payload: serde_json::json!({
                "message": "exit: \u{1b}]52;c;ZWNobyBoaQ==\u{7}\u{1b}]0;owned\u{7}boom"
            })
            .to_string(),
        };
        let line = format_event(&e, false);
        assert!(line.contains("boom"), "{line}");
        assert!(
            !line.contains('\u{1b}') && !line.contains('\u{7}'),
            "{line:?}"
        );
    }
}
