//! Frames fitted to the frame limit before they are written: what a client is sent never
//! exceeds [`MAX_FRAME`], whatever agents made the fleet's tables hold.
//!
//! Invariant: a client is never left waiting for a frame that was dropped silently: a reply
//! that cannot fit becomes an error echoing its id, and a snapshot is cut (with a notice)
//! rather than withheld.

use super::protocol::{ErrorCode, ErrorFrame, Reply, ReplyFrame, ServerFrame};
use super::transport::{MAX_FRAME, TransportError, encode_frame};

/// A frame's bytes within [`MAX_FRAME`]: an events page too large is cut (the client pages on
/// from its last id), PROGRESS.md is cut (flagged truncated), any other reply too large
/// becomes an error echoing its id, so a client never waits for a reply that was never sent.
pub(super) fn encode_fitted(frame: ServerFrame) -> Option<Vec<u8>> {
    let err = match encode_frame(&frame) {
        Ok(bytes) => return Some(bytes),
        Err(e) => e,
    };
    if !matches!(err, TransportError::Oversized) {
        tracing::error!(error = %err, "could not encode a frame");
        return None;
    }
    let replacement = match frame {
        ServerFrame::Reply(ReplyFrame {
            id,
            body: Reply::Events(mut rows),
        }) if rows.len() > 1 => {
            rows.truncate(rows.len() / 2);
            return encode_fitted(ServerFrame::Reply(ReplyFrame {
                id,
                body: Reply::Events(rows),
            }));
        }
        ServerFrame::Progress(mut p) => {
            let text = p.text.take().unwrap_or_default();
            let half = super::view::cut_at(&text, text.len() / 2);
            if half.is_empty() {
                return None;
            }
            p.text = Some(half.to_string());
            p.truncated = true;
            return encode_fitted(ServerFrame::Progress(p));
        }
        ServerFrame::Snapshot(s) if !s.locks.is_empty() || !s.alerts.is_empty() => {
            return fit_snapshot(*s);
        }
        ServerFrame::Reply(r) => error(
            Some(r.id),
            ErrorCode::Oversized,
            format!("the reply exceeds the {MAX_FRAME}-byte frame limit"),
        ),
        ServerFrame::Snapshot(_) => error(
            None,
            ErrorCode::Oversized,
            format!("a snapshot exceeds the {MAX_FRAME}-byte frame limit and was not sent"),
        ),
        _ => {
            tracing::warn!("a frame for a control client exceeds the limit; skipped");
            return None;
        }
    };
    tracing::warn!("a frame for a control client exceeds the limit; an error was sent instead");
    encode_frame(&replacement).ok()
}

/// An oversized snapshot made to fit by halving the larger of its agent-grown tables (locks,
/// alerts) until it does, so an attached face gets a smaller snapshot instead of none; a
/// fleet-wide `locks_truncated` alert at the top says how many locks this client does not see.
fn fit_snapshot(mut s: crate::core::Snapshot) -> Option<Vec<u8>> {
    use crate::core::{Alert, AlertKey, AlertKind, Severity};
    let total = s.locks.len();
    let key = AlertKey::fleet(AlertKind::LocksTruncated);
    while !s.locks.is_empty() || !s.alerts.is_empty() {
        if s.locks.len() >= s.alerts.len() {
            s.locks.truncate(s.locks.len() / 2);
            let message = format!(
                "lock table cut for this client: the snapshot exceeds the {MAX_FRAME}-byte frame limit; {} of {total} locks shown",
                s.locks.len()
            );
            s.alerts.retain(|a| a.key != key);
            s.alerts.insert(
                0,
                Alert {
                    id: 0,
                    key: key.clone(),
                    severity: Severity::Warning,
                    message,
                    first_seen: s.at,
                    last_seen: s.at,
                    count: 1,
                    evidence: Vec::new(),
                    acked: None,
                    cleared_at: None,
                },
            );
        } else {
            // Keep the first half (the notice, when there is one, is first).
            let keep = s.alerts.len() / 2;
            s.alerts.truncate(keep);
        }
        let frame = ServerFrame::Snapshot(Box::new(s));
        match encode_frame(&frame) {
            Ok(bytes) => return Some(bytes),
            Err(TransportError::Oversized) => match frame {
                ServerFrame::Snapshot(back) => s = *back,
                _ => return None,
            },
            Err(e) => {
                tracing::error!(error = %e, "could not encode a snapshot");
                return None;
            }
        }
    }
    tracing::warn!("a snapshot exceeds the frame limit even without locks and alerts; not sent");
    encode_frame(&error(
        None,
        ErrorCode::Oversized,
        format!("a snapshot exceeds the {MAX_FRAME}-byte frame limit and was not sent"),
    ))
    .ok()
}

/// An error frame answering request `id` (or none).
pub(super) fn error(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> ServerFrame {
    ServerFrame::Error(ErrorFrame {
        id,
        code,
        message: message.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::WireProgress;
    use crate::store::StoredEvent;

    fn event(id: i64, payload_bytes: usize) -> StoredEvent {
        StoredEvent {
            id,
            ts_ms: 0,
            slot: Some("w-1".into()),
            kind: "exited".into(),
            who: None,
            payload: "x".repeat(payload_bytes),
        }
    }

    fn decode(bytes: &[u8]) -> ServerFrame {
        assert!(bytes.len() <= MAX_FRAME, "{}", bytes.len());
        serde_json::from_slice(bytes).expect("a frame")
    }

    #[test]
    fn an_events_page_too_large_is_cut_oldest_first() {
        let rows: Vec<StoredEvent> = (1..=5_000).map(|i| event(i, 2_000)).collect();
        let frame = ServerFrame::Reply(ReplyFrame {
            id: 9,
            body: Reply::Events(rows),
        });
        let bytes = encode_fitted(frame).expect("a frame is sent");
        match decode(&bytes) {
            ServerFrame::Reply(ReplyFrame {
                id: 9,
                body: Reply::Events(rows),
            }) => {
                assert!(!rows.is_empty() && rows.len() < 5_000, "{}", rows.len());
                assert_eq!(rows.first().map(|r| r.id), Some(1));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reply_that_cannot_fit_becomes_an_error_with_its_id() {
        let frame = ServerFrame::Reply(ReplyFrame {
            id: 4,
            body: Reply::Events(vec![event(1, MAX_FRAME + 1)]),
        });
        let bytes = encode_fitted(frame).expect("an error is sent instead");
        match decode(&bytes) {
            ServerFrame::Error(e) => {
                assert_eq!(e.id, Some(4));
                assert_eq!(e.code, ErrorCode::Oversized);
            }
            other => panic!("{other:?}"),
        }
    }

    /// 10 000 lock files with quote-heavy names: an attached face still gets a snapshot (cut,
    /// with a notice) rather than an error and a blank screen.
    #[test]
    fn a_snapshot_with_ten_thousand_quote_heavy_locks_is_cut_to_fit() {
        let mut snap = crate::ui::sample::snapshot(Vec::new());
        snap.locks = (0..10_000)
            .map(|i| crate::core::LockView {
                task: format!("{i:05}{}", "\"".repeat(195)),
                holder: Some("\"".repeat(64)),
                claimed_at: 0,
                holder_is_slot: false,
                overdue: true,
                stale: false,
                release_requested: false,
                claims: 1,
                claim_commit: Some("a".repeat(40)),
            })
            .collect();
        let bytes = encode_fitted(ServerFrame::Snapshot(Box::new(snap))).expect("a frame is sent");
        match decode(&bytes) {
            ServerFrame::Snapshot(s) => {
                assert!(
                    !s.locks.is_empty() && s.locks.len() < 10_000,
                    "{}",
                    s.locks.len()
                );
                assert!(
                    s.alerts[0].message.contains("of 10000 locks shown"),
                    "{}",
                    s.alerts[0].message
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn progress_frames_fit_whatever_the_file() {
        // Quotes double in JSON: the worst case for sanitised text.
        let view = crate::supervisor::ProgressView {
            text: Some("\"".repeat(4 << 20)),
            ..Default::default()
        };
        let bytes = encode_fitted(ServerFrame::Progress(WireProgress::from(&view)))
            .expect("progress is sent");
        match decode(&bytes) {
            ServerFrame::Progress(p) => {
                assert!(p.truncated);
                assert!(p.text.is_some_and(|t| !t.is_empty()));
            }
            other => panic!("{other:?}"),
        }
    }
}
