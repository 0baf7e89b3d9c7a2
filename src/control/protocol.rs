//! The control protocol, version [`PROTOCOL_VERSION`]: newline-delimited JSON frames carrying
//! the same `CommandRequest`/`CommandReply`/`Snapshot`/event types the in-process TUI uses.
//!
//! A session is: the client's `hello` → the server's `welcome` (or an `error` and close), then
//! any number of `request`s, each answered by one `reply` (or `error`) echoing its `id`, plus
//! pushed frames (`snapshot`, `progress`, `log`, `event`) for what the client subscribed to.
//! Invariant: the wire types here are the only shapes either side sends; changing one in an
//! incompatible way means bumping [`PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};

use crate::core::{CommandReply, CommandRequest, Snapshot};
use crate::store::StoredEvent;

use super::view::{StatusView, cut_at};

/// The protocol version this build speaks; a different one is refused at the handshake.
pub const PROTOCOL_VERSION: u32 = 1;

/// The audit log's `who` for a command from socket peer `peer` (its user, as the kernel
/// reports it) that claims `claimed`: the peer's user, except that a `drover mcp` server
/// acting for an MCP client names that client (`mcp:<name>`, as [`audit_who`]
/// spells it). Only the daemon's own user or root can connect to the socket.
pub fn audited_who(peer: &str, claimed: &str) -> String {
    match claimed.strip_prefix("mcp:") {
        Some(name) if audit_who(Some(name)) == claimed => claimed.to_string(),
        _ => peer.to_string(),
    }
}

/// The longest MCP client name kept in an audit record.
pub const MAX_CLIENT_NAME: usize = 64;

/// The audit log's `who` for an MCP client: `mcp:` and its name, kept to printable ASCII.
pub fn audit_who(client: Option<&str>) -> String {
    let name: String = client
        .unwrap_or("unknown")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_CLIENT_NAME)
        .collect();
    format!("mcp:{}", if name.is_empty() { "unknown" } else { &name })
}

/// The first frame a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    /// What the client is (`ctl`, `status`, `events`, `attach`, …), for the daemon's log.
    pub client: String,
}

/// A request with the id its reply will echo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestFrame {
    pub id: u64,
    pub body: Request,
}

/// Every frame a client sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientFrame {
    Hello(Hello),
    Request(RequestFrame),
}

/// What a client can ask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// An operator command, exactly as the TUI sends it.
    Command(CommandRequest),
    /// The documented status view (`drover status --json`).
    Status,
    /// The full snapshot.
    Snapshot,
    /// The team's board at the upstream tip, masked (`None` without an upstream or when it
    /// could not be read in time): `board` in `drover status --json`.
    Board,
    /// Persisted events with an id above `after_id` (0: the newest `limit`), oldest first.
    Events {
        after_id: i64,
        #[serde(default)]
        since_ms: Option<i64>,
        #[serde(default)]
        slot: Option<String>,
        limit: u32,
    },
    /// Start pushing frames. Each field turns one stream on; `events_after` pushes every
    /// persisted event with a larger id, and `log_tail` lines per slot are sent first.
    Subscribe(Subscription),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    #[serde(default)]
    pub snapshot: bool,
    #[serde(default)]
    pub progress: bool,
    #[serde(default)]
    pub logs: bool,
    #[serde(default)]
    pub log_tail: u32,
    #[serde(default)]
    pub events_after: Option<i64>,
    /// Only this slot's events.
    #[serde(default)]
    pub events_slot: Option<String>,
}

/// Every frame the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome(Welcome),
    Reply(ReplyFrame),
    Error(ErrorFrame),
    Snapshot(Box<Snapshot>),
    Progress(WireProgress),
    Log(WireLogLine),
    Event(StoredEvent),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub version: u32,
    pub fleet: String,
    pub pid: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplyFrame {
    pub id: u64,
    pub body: Reply,
}

/// The answer to a [`Request`], in the same order of variants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Command(CommandReply),
    Status(Box<StatusView>),
    Snapshot(Box<Snapshot>),
    Board(Option<Box<serde_json::Value>>),
    Events(Vec<StoredEvent>),
    Subscribed,
}

/// Why the server refused a frame. `id` is the request's when it could be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    #[serde(default)]
    pub id: Option<u64>,
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not a known frame.
    Malformed,
    /// Larger than the frame limit; the connection is closed.
    Oversized,
    /// The client speaks another protocol version; the connection is closed.
    Version,
    /// The first frame was not `hello`, or a second `hello` came.
    Handshake,
    /// Too many clients, or the client's queue overflowed.
    Busy,
    /// The daemon could not answer (store error, supervisor stopping).
    Internal,
}

/// PROGRESS.md as pushed to attached faces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireProgress {
    pub text: Option<String>,
    pub truncated: bool,
    pub commit: Option<String>,
    pub changed_at_ms: Option<i64>,
    pub tip: String,
}

/// PROGRESS.md bytes sent to a client: with JSON escaping (at most doubling sanitised text)
/// the frame stays well inside the frame limit.
pub const MAX_WIRE_PROGRESS: usize = 1 << 20;

impl From<&crate::supervisor::ProgressView> for WireProgress {
    fn from(p: &crate::supervisor::ProgressView) -> Self {
        let text = p.text.as_deref().map(|t| cut_at(t, MAX_WIRE_PROGRESS));
        let cut = p.text.as_ref().is_some_and(|t| t.len() > MAX_WIRE_PROGRESS);
        Self {
            text: text.map(str::to_string),
            truncated: p.truncated || cut,
            commit: p.commit.clone(),
            changed_at_ms: p.changed_at_ms,
            tip: p.tip.clone(),
        }
    }
}

impl From<WireProgress> for crate::supervisor::ProgressView {
    fn from(p: WireProgress) -> Self {
        Self {
            text: p.text,
            truncated: p.truncated,
            commit: p.commit,
            changed_at_ms: p.changed_at_ms,
            tip: p.tip,
        }
    }
}

/// One agent log line as pushed to attached faces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLogLine {
    pub slot: String,
    pub ts_ms: u64,
    pub stderr: bool,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_documented_shape() {
        let hello = ClientFrame::Hello(Hello {
            version: 1,
            client: "ctl".into(),
        });
        assert_eq!(
            serde_json::to_string(&hello).unwrap(),
            r#"{"hello":{"version":1,"client":"ctl"}}"#
        );
        let req = ClientFrame::Request(RequestFrame {
            id: 7,
            body: Request::Status,
        });
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"request":{"id":7,"body":"status"}}"#
        );
        let parsed: ClientFrame = serde_json::from_str(
            r#"{"request":{"id":8,"body":{"command":{"command":{"command":"pause","slot":"w-1"},"who":"me","why":null}}}}"#,
        )
        .unwrap();
        assert!(matches!(
            parsed,
            ClientFrame::Request(RequestFrame {
                id: 8,
                body: Request::Command(_)
            })
        ));
    }
}
