//! The daemon's side of the control socket: accepts owner-only connections, runs the
//! handshake, answers requests from the supervisor's handle and pushes subscribed streams.
//!
//! Invariants: nothing here ever makes the supervisor wait for a client. Snapshots and
//! PROGRESS.md are read from `watch` channels (latest wins, so a slow client skips
//! intermediate versions); replies go through a bounded per-client queue (a full queue only
//! pauses reading that client's requests), and a client whose socket stops draining for
//! [`WRITE_TIMEOUT`] is dropped. A bad frame
//! gets an error reply; only an oversized frame or a failed handshake closes the connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::fit::error;
use super::protocol::{
    ClientFrame, ErrorCode, PROTOCOL_VERSION, Reply, ReplyFrame, Request, ServerFrame,
    Subscription, Welcome, WireLogLine, WireProgress,
};
use super::transport::{ControlListener, FrameReader, TransportError, write_frame};
use super::view::StatusView;
use crate::peer::user_name;
use crate::store::EventFilter;
use crate::supervisor::SupervisorHandle;

/// Frames queued for one client before it counts as too slow and is dropped.
pub const CLIENT_QUEUE: usize = 256;
/// A client that does not drain its socket for this long is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Clients served at once; more are told `busy` and closed.
pub const MAX_CLIENTS: usize = 64;
/// Time a new connection has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// A client with no subscription that sends nothing for this long is closed, so idle
/// connections cannot hold every client slot and lock the operator out.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused client's hello is awaited, so the `busy` reply is read rather than
/// lost to a reset (closing a socket with unread input resets it).
const REFUSAL_DRAIN: Duration = Duration::from_millis(500);
/// How often subscribed log lines and persisted events are collected for a client.
const PUSH_POLL: Duration = Duration::from_millis(150);
/// Most events in one reply or push round.
const EVENTS_PAGE: u32 = 5_000;
/// How long a command may take before the client is told the supervisor did not answer.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

struct Ctx {
    handle: SupervisorHandle,
    fleet: String,
    slots: Arc<Semaphore>,
    /// One board read at a time (see `control::board`).
    board_reads: Arc<Semaphore>,
}

/// Serves `listener` until `stop` fires; dropping the listener on return removes the socket.
pub async fn serve(listener: ControlListener, handle: SupervisorHandle, stop: CancellationToken) {
    let ctx = Arc::new(Ctx {
        fleet: handle.config.file.fleet.name.clone(),
        handle,
        slots: Arc::new(Semaphore::new(MAX_CLIENTS)),
        board_reads: Arc::new(Semaphore::new(1)),
    });
    tracing::info!(socket = %listener.path().display(), "control socket listening");
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let ctx = Arc::clone(&ctx);
        let stop = stop.child_token();
        tokio::spawn(async move { connection(stream, ctx, stop).await });
    }
    drop(listener);
}

async fn send_now(w: &mut OwnedWriteHalf, frame: &ServerFrame) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, write_frame(w, frame)).await,
        Ok(Ok(()))
    )
}

/// The request id of a frame that did not decode, when it has one (so the error can echo it).
fn salvage_id(raw: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    v.get("request")?.get("id")?.as_u64()
}

async fn connection(stream: UnixStream, ctx: Arc<Ctx>, stop: CancellationToken) {
    // The audit log's `who`: the peer's uid as the kernel reports it, never what the client
    // claims (its `$USER`).
    let peer = match stream.peer_cred() {
        Ok(cred) => user_name(cred.uid()),
        Err(_) => "unknown".to_string(),
    };
    let (r, mut w) = stream.into_split();
    let mut reader = FrameReader::new(r);
    let Ok(_permit) = Arc::clone(&ctx.slots).try_acquire_owned() else {
        tracing::warn!("control socket: too many clients, refusing one");
        let _ = tokio::time::timeout(REFUSAL_DRAIN, reader.next_raw()).await;
        let _ = send_now(&mut w, &error(None, ErrorCode::Busy, "too many clients")).await;
        return;
    };
    let client = match tokio::time::timeout(HELLO_TIMEOUT, reader.next_raw()).await {
        Err(_) => {
            let _ = send_now(&mut w, &error(None, ErrorCode::Handshake, "no hello")).await;
            return;
        }
        Ok(Err(TransportError::Oversized)) => {
            let _ = send_now(
                &mut w,
                &error(None, ErrorCode::Oversized, "frame too large"),
            )
            .await;
            return;
        }
        Ok(Err(_)) => return,
        Ok(Ok(raw)) => match serde_json::from_slice::<ClientFrame>(raw) {
            Ok(ClientFrame::Hello(h)) if h.version == PROTOCOL_VERSION => h.client,
            Ok(ClientFrame::Hello(h)) => {
                let msg = format!(
                    "protocol version {} is not supported; this daemon speaks {PROTOCOL_VERSION}",
                    h.version
                );
                let _ = send_now(&mut w, &error(None, ErrorCode::Version, msg)).await;
                return;
            }
            Ok(_) => {
                let msg = "the first frame must be {\"hello\":{\"version\":1,\"client\":..}}";
                let _ = send_now(&mut w, &error(None, ErrorCode::Handshake, msg)).await;
                return;
            }
            Err(e) => {
                let _ = send_now(&mut w, &error(None, ErrorCode::Malformed, e.to_string())).await;
                return;
            }
        },
    };
    let welcome = ServerFrame::Welcome(Welcome {
        version: PROTOCOL_VERSION,
        fleet: ctx.fleet.clone(),
        pid: std::process::id(),
    });
    if !send_now(&mut w, &welcome).await {
        return;
    }
    tracing::debug!(client, "control client connected");
    let (out_tx, out_rx) = mpsc::channel::<ServerFrame>(CLIENT_QUEUE);
    let (sub_tx, sub_rx) = mpsc::channel::<(u64, Subscription)>(4);
    let dropped = stop.child_token();
    let writer = tokio::spawn(write_loop(
        w,
        out_rx,
        sub_rx,
        Arc::clone(&ctx),
        dropped.clone(),
    ));
    // A full queue holds back only this client's reads (backpressure on its own socket);
    // if it stays full for WRITE_TIMEOUT the client is not reading at all and is dropped.
    let queue = |frame: ServerFrame| {
        let (out_tx, dropped, client) = (&out_tx, &dropped, &client);
        async move {
            tokio::select! {
                _ = dropped.cancelled() => false,
                r = tokio::time::timeout(WRITE_TIMEOUT, out_tx.send(frame)) => match r {
                    Ok(Ok(())) => true,
                    _ => {
                        tracing::warn!(client, "control client is not reading its replies; dropped");
                        dropped.cancel();
                        false
                    }
                },
            }
        }
    };
    let mut subscribed = false;
    loop {
        // Subscribed faces (attach, events --follow) only listen; anyone else must speak.
        let idle = if subscribed {
            Duration::MAX
        } else {
            IDLE_TIMEOUT
        };
        let raw = tokio::select! {
            _ = dropped.cancelled() => break,
            r = tokio::time::timeout(idle, reader.next_raw()) => match r {
                Ok(r) => r,
                Err(_) => {
                    tracing::debug!(client, "control client idle; closed");
                    let _ = out_tx.try_send(error(None, ErrorCode::Busy, "idle for too long; closed"));
                    break;
                }
            },
        };
        let frame = match raw {
            Ok(raw) => match serde_json::from_slice::<ClientFrame>(raw) {
                Ok(f) => f,
                Err(e) => {
                    let id = salvage_id(raw);
                    if !queue(error(id, ErrorCode::Malformed, e.to_string())).await {
                        break;
                    }
                    continue;
                }
            },
            Err(TransportError::Oversized) => {
                let _ = out_tx.try_send(error(None, ErrorCode::Oversized, "frame too large"));
                break;
            }
            Err(_) => break,
        };
        let reply = match frame {
            ClientFrame::Hello(_) => error(None, ErrorCode::Handshake, "already said hello"),
            ClientFrame::Request(req) => match req.body {
                Request::Subscribe(sub) => {
                    subscribed = true;
                    if sub_tx.try_send((req.id, sub)).is_err() {
                        error(Some(req.id), ErrorCode::Busy, "subscription change pending")
                    } else {
                        continue;
                    }
                }
                body => answer(&ctx, req.id, body, &peer).await,
            },
        };
        if !queue(reply).await {
            break;
        }
    }
    // Let the writer flush what is queued (an error reply, say) before closing.
    drop(out_tx);
    let _ = tokio::time::timeout(WRITE_TIMEOUT, writer).await;
    dropped.cancel();
    tracing::debug!(client, "control client disconnected");
}

async fn answer(ctx: &Ctx, id: u64, body: Request, peer: &str) -> ServerFrame {
    let ok = |body| ServerFrame::Reply(ReplyFrame { id, body });
    match body {
        Request::Command(mut req) => {
            req.who = super::protocol::audited_who(peer, &req.who);
            match tokio::time::timeout(COMMAND_TIMEOUT, ctx.handle.command(req)).await {
                Ok(Some(r)) => ok(Reply::Command(r)),
                Ok(None) => error(Some(id), ErrorCode::Internal, "the supervisor is stopping"),
                Err(_) => error(
                    Some(id),
                    ErrorCode::Internal,
                    "the supervisor did not answer in time",
                ),
            }
        }
        Request::Status => {
            let snap = ctx.handle.snapshot.borrow().clone();
            ok(Reply::Status(Box::new(StatusView::from_snapshot(&snap))))
        }
        Request::Snapshot => {
            let snap = ctx.handle.snapshot.borrow().clone();
            ok(Reply::Snapshot(Box::new((*snap).clone())))
        }
        Request::Board => {
            let board = super::board::read_masked(&ctx.handle.config, &ctx.board_reads).await;
            ok(Reply::Board(board.map(Box::new)))
        }
        Request::Events {
            after_id,
            since_ms,
            slot,
            limit,
        } => {
            let limit = limit.clamp(1, EVENTS_PAGE);
            let rows = if after_id == 0 && since_ms.is_none() && slot.is_none() {
                ctx.handle
                    .store
                    .events_after(0, limit as usize)
                    .await
                    .map_err(|e| e.to_string())
            } else {
                ctx.handle
                    .store
                    .events(&EventFilter {
                        after_id: Some(after_id),
                        since_ms,
                        slot,
                        limit: Some(i64::from(limit)),
                    })
                    .await
                    .map_err(|e| e.to_string())
            };
            match rows {
                Ok(rows) => ok(Reply::Events(rows)),
                Err(e) => error(Some(id), ErrorCode::Internal, e),
            }
        }
        Request::Subscribe(_) => ok(Reply::Subscribed),
    }
}

/// Pushes what the client subscribed to, and its queued replies, until it is dropped.
async fn write_loop(
    mut w: OwnedWriteHalf,
    mut out: mpsc::Receiver<ServerFrame>,
    mut subs_rx: mpsc::Receiver<(u64, Subscription)>,
    ctx: Arc<Ctx>,
    dropped: CancellationToken,
) {
    let mut snapshots = ctx.handle.snapshot.clone();
    let mut progress = ctx.handle.progress.clone();
    let mut sub = Subscription::default();
    let mut log_next: HashMap<String, u64> = HashMap::new();
    let mut poll = tokio::time::interval(PUSH_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut supervisor_open = true;
    loop {
        let polling = sub.logs || sub.events_after.is_some();
        let frames: Vec<ServerFrame> = tokio::select! {
            _ = dropped.cancelled() => break,
            f = out.recv() => match f {
                Some(f) => vec![f],
                None => break,
            },
            Some((id, new)) = subs_rx.recv() => {
                let mut frames = vec![ServerFrame::Reply(ReplyFrame { id, body: Reply::Subscribed })];
                if new.snapshot {
                    let s = snapshots.borrow_and_update().clone();
                    frames.push(ServerFrame::Snapshot(Box::new((*s).clone())));
                }
                if new.progress {
                    let p = progress.borrow_and_update().clone();
                    frames.push(ServerFrame::Progress(WireProgress::from(&*p)));
                }
                if new.logs && !sub.logs {
                    let s = snapshots.borrow().clone();
                    for slot in &s.slots {
                        let lines = ctx.handle.hub.tail(&slot.slot, new.log_tail as usize);
                        let next = lines.last().map_or(0, |l| l.seq + 1);
                        log_next.insert(slot.slot.clone(), next);
                        frames.extend(lines.into_iter().map(|l| wire_line(&slot.slot, l)));
                    }
                }
                sub = new;
                frames
            },
            r = snapshots.changed(), if sub.snapshot && supervisor_open => match r {
                Ok(()) => {
                    let s = snapshots.borrow_and_update().clone();
                    vec![ServerFrame::Snapshot(Box::new((*s).clone()))]
                }
                Err(_) => {
                    // The supervisor stopped: the daemon is going away, and so is this client.
                    supervisor_open = false;
                    dropped.cancel();
                    Vec::new()
                }
            },
            r = progress.changed(), if sub.progress => match r {
                Ok(()) => {
                    let p = progress.borrow_and_update().clone();
                    vec![ServerFrame::Progress(WireProgress::from(&*p))]
                }
                Err(_) => {
                    sub.progress = false;
                    Vec::new()
                }
            },
            _ = poll.tick(), if polling => {
                let mut frames = Vec::new();
                if sub.logs {
                    let s = snapshots.borrow().clone();
                    for slot in &s.slots {
                        let next = log_next.entry(slot.slot.clone()).or_insert(0);
                        for l in ctx.handle.hub.since(&slot.slot, *next) {
                            *next = l.seq + 1;
                            frames.push(wire_line(&slot.slot, l));
                        }
                    }
                }
                if let Some(after) = sub.events_after {
                    let filter = EventFilter {
                        after_id: Some(after),
                        slot: sub.events_slot.clone(),
                        limit: Some(i64::from(EVENTS_PAGE)),
                        ..EventFilter::default()
                    };
                    match ctx.handle.store.events(&filter).await {
                        Ok(rows) => {
                            if let Some(last) = rows.last() {
                                sub.events_after = Some(last.id);
                            }
                            frames.extend(rows.into_iter().map(ServerFrame::Event));
                        }
                        Err(e) => tracing::warn!(error = %e, "reading events for a control client"),
                    }
                }
                frames
            },
        };
        // One write per round: a log burst or an initial tail is thousands of small frames.
        let mut batch = Vec::new();
        for f in frames {
            if let Some(bytes) = super::fit::encode_fitted(f) {
                batch.extend_from_slice(&bytes);
            }
        }
        if batch.is_empty() {
            continue;
        }
        let written = tokio::time::timeout(WRITE_TIMEOUT, w.write_all(&batch)).await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::warn!("control client stopped reading; dropped");
            dropped.cancel();
            return;
        }
    }
}

fn wire_line(slot: &str, l: crate::logs::ring::RingLine) -> ServerFrame {
    ServerFrame::Log(WireLogLine {
        slot: slot.to_string(),
        ts_ms: l.ts_ms,
        stderr: l.stderr,
        text: l.text,
    })
}
