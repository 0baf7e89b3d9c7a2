//! The client side of the control socket: connects, says hello, then multiplexes requests
//! (matched to replies by id) and pushed frames over one connection.
//!
//! Invariants: one task reads the socket and routes every frame — replies to their waiting
//! caller, pushes to the subscriber's channel; when the daemon goes away every pending and
//! future call fails with [`ClientError::Gone`] and the push channel closes, so callers can say
//! so and exit instead of hanging. Nothing waits unbounded: connecting, the handshake and each
//! reply have a deadline ([`CONNECT_TIMEOUT`], [`HANDSHAKE_TIMEOUT`], [`REPLY_TIMEOUT`]), a
//! daemon of another protocol version is refused, and a frame over the limit fails the calls
//! waiting on that connection with an error instead of leaving them waiting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use super::protocol::{
    ClientFrame, ErrorCode, ErrorFrame, Hello, PROTOCOL_VERSION, Reply, RequestFrame, ServerFrame,
    Welcome,
};

/// Connecting to the socket (a listening daemon accepts at once).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// From connecting to the daemon's welcome.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// One request to its reply: longer than the daemon's own 30 s command deadline, so its
/// answer (or its error) arrives first.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(45);
use super::transport::{FrameReader, TransportError, write_frame};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no drover daemon is running for this fleet (nothing listens on {path}): {source}")]
    NotRunning {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the daemon closed the connection (it stopped or dropped this client)")]
    Gone,
    #[error("the daemon refused: {} ({:?})", .0.message, .0.code)]
    Refused(ErrorFrame),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("the daemon did not answer within {0:?} ({1})")]
    Timeout(Duration, &'static str),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// A pushed frame (snapshot, progress, log line or event).
pub type Push = ServerFrame;

/// Callers waiting for replies, by request id; `None` once the connection is gone.
type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Result<Reply, ErrorFrame>>>>>>;

/// One open, greeted connection to a daemon.
pub struct Connection {
    pub welcome: Welcome,
    writes: mpsc::Sender<ClientFrame>,
    pending: Pending,
    next_id: std::sync::atomic::AtomicU64,
}

/// Frames pushed to this client; closes when the daemon goes away.
pub struct Pushes(pub mpsc::Receiver<Push>);

impl Connection {
    /// Connects to the socket at `path` as a client of kind `client`.
    pub async fn open(path: &Path, client: &str) -> Result<(Self, Pushes), ClientError> {
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(path))
            .await
            .map_err(|_| ClientError::Timeout(CONNECT_TIMEOUT, "connecting"))?;
        let stream = connected.map_err(|source| ClientError::NotRunning {
            path: path.to_path_buf(),
            source,
        })?;
        tokio::time::timeout(HANDSHAKE_TIMEOUT, Self::greet(stream, client))
            .await
            .map_err(|_| ClientError::Timeout(HANDSHAKE_TIMEOUT, "handshake"))?
    }

    async fn greet(stream: UnixStream, client: &str) -> Result<(Self, Pushes), ClientError> {
        let (r, mut w) = stream.into_split();
        let mut reader = FrameReader::new(r);
        let hello = ClientFrame::Hello(Hello {
            version: PROTOCOL_VERSION,
            client: client.to_string(),
        });
        write_frame(&mut w, &hello).await?;
        let welcome = match reader.next::<ServerFrame>().await {
            Ok(ServerFrame::Welcome(w)) if w.version == PROTOCOL_VERSION => w,
            Ok(ServerFrame::Welcome(w)) => {
                return Err(ClientError::Protocol(format!(
                    "the daemon speaks protocol version {}, this client {PROTOCOL_VERSION}; use the same drover build for both",
                    w.version
                )));
            }
            Ok(ServerFrame::Error(e)) => return Err(ClientError::Refused(e)),
            Ok(other) => {
                return Err(ClientError::Protocol(format!(
                    "expected welcome, got {other:?}"
                )));
            }
            Err(TransportError::Closed) => return Err(ClientError::Gone),
            Err(e) => return Err(e.into()),
        };
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let (push_tx, push_rx) = mpsc::channel(4096);
        let (write_tx, mut write_rx) = mpsc::channel::<ClientFrame>(64);
        tokio::spawn(async move {
            while let Some(f) = write_rx.recv().await {
                if write_frame(&mut w, &f).await.is_err() {
                    break;
                }
            }
        });
        let routes = Arc::clone(&pending);
        tokio::spawn(async move {
            loop {
                let frame = match reader.next::<ServerFrame>().await {
                    Ok(f) => f,
                    Err(TransportError::Malformed(e)) => {
                        tracing::warn!(error = e, "unreadable frame from the daemon");
                        continue;
                    }
                    Err(TransportError::Oversized) => {
                        // The stream cannot be resynchronised: fail every waiting call now.
                        let waiters = routes.lock().unwrap_or_else(|e| e.into_inner()).take();
                        for (id, tx) in waiters.into_iter().flatten() {
                            let _ = tx.send(Err(ErrorFrame {
                                id: Some(id),
                                code: ErrorCode::Oversized,
                                message: "a frame from the daemon exceeds the frame limit".into(),
                            }));
                        }
                        break;
                    }
                    Err(_) => break,
                };
                let (id, result) = match frame {
                    ServerFrame::Reply(r) => (r.id, Ok(r.body)),
                    ServerFrame::Error(e) => match e.id {
                        Some(id) => (id, Err(e)),
                        None => {
                            tracing::warn!(message = e.message, "the daemon reported an error");
                            // A face waiting for a push learns why it did not come.
                            let _ = push_tx.send(ServerFrame::Error(e)).await;
                            continue;
                        }
                    },
                    push => {
                        if push_tx.send(push).await.is_err() {
                            // Nobody listens to pushes; replies still matter.
                        }
                        continue;
                    }
                };
                let waiter = routes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_mut()
                    .and_then(|m| m.remove(&id));
                if let Some(tx) = waiter {
                    let _ = tx.send(result);
                }
            }
            // Dropping the waiters fails every pending call with `Gone`.
            routes.lock().unwrap_or_else(|e| e.into_inner()).take();
        });
        Ok((
            Self {
                welcome,
                writes: write_tx,
                pending,
                next_id: std::sync::atomic::AtomicU64::new(1),
            },
            Pushes(push_rx),
        ))
    }

    /// Sends `body` and waits for its reply.
    pub async fn call(&self, body: super::protocol::Request) -> Result<Reply, ClientError> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        match self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            Some(m) => m.insert(id, tx),
            None => return Err(ClientError::Gone),
        };
        let frame = ClientFrame::Request(RequestFrame { id, body });
        if self.writes.send(frame).await.is_err() {
            return Err(ClientError::Gone);
        }
        let answer = tokio::time::timeout(REPLY_TIMEOUT, rx).await;
        match answer {
            Ok(Ok(Ok(reply))) => Ok(reply),
            Ok(Ok(Err(e))) => Err(ClientError::Refused(e)),
            Ok(Err(_)) => Err(ClientError::Gone),
            Err(_) => {
                if let Some(m) = self
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_mut()
                {
                    m.remove(&id);
                }
                Err(ClientError::Timeout(REPLY_TIMEOUT, "reply"))
            }
        }
    }
}
