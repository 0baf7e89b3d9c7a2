//! A counting proxy in front of the Docker socket: drover pointed at it talks to the real
//! daemon, while the proxy counts API requests (the fleet benchmark's "requests per minute")
//! and can cut every connection and refuse new ones for a while (the connection-cut test).
//!
//! Invariants: bytes pass through unchanged in both directions; after [`DockerProxy::cut`]
//! returns, no connection through the proxy is open and its socket file is gone, so a client
//! sees exactly what it would see if the daemon went away.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Every HTTP/1.x request line ends with this; counting it counts requests (Docker's API is
/// HTTP/1.1 over the socket, keep-alive included).
const REQUEST_LINE_END: &[u8] = b" HTTP/1.1\r\n";

pub struct DockerProxy {
    listen: PathBuf,
    upstream: PathBuf,
    requests: Arc<AtomicU64>,
    running: Option<(CancellationToken, JoinHandle<()>)>,
}

impl DockerProxy {
    /// Listens on `listen` and forwards every connection to the daemon socket `upstream`.
    pub fn start(listen: &Path, upstream: &Path) -> std::io::Result<Self> {
        let mut proxy = Self {
            listen: listen.to_path_buf(),
            upstream: upstream.to_path_buf(),
            requests: Arc::new(AtomicU64::new(0)),
            running: None,
        };
        proxy.resume()?;
        Ok(proxy)
    }

    /// `unix://…` address of the proxy, for drover's `[docker] host`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.listen.display())
    }

    /// API requests forwarded so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Closes every open connection and stops listening (the socket file is removed).
    pub async fn cut(&mut self) {
        if let Some((token, task)) = self.running.take() {
            token.cancel();
            let _ = task.await;
        }
        let _ = std::fs::remove_file(&self.listen);
    }

    /// Listens again after a [`cut`](Self::cut).
    pub fn resume(&mut self) -> std::io::Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let _ = std::fs::remove_file(&self.listen);
        let listener = UnixListener::bind(&self.listen)?;
        let token = CancellationToken::new();
        let task = tokio::spawn(accept_loop(
            listener,
            self.upstream.clone(),
            Arc::clone(&self.requests),
            token.clone(),
        ));
        self.running = Some((token, task));
        Ok(())
    }
}

impl Drop for DockerProxy {
    fn drop(&mut self) {
        if let Some((token, _)) = self.running.take() {
            token.cancel();
        }
        let _ = std::fs::remove_file(&self.listen);
    }
}

async fn accept_loop(
    listener: UnixListener,
    upstream: PathBuf,
    requests: Arc<AtomicU64>,
    token: CancellationToken,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            // A finished connection stays in the set until joined: reap them as they end, or
            // every request of a long soak would keep its task's memory (the bench's, counted
            // in the soak's RSS) until the end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                let upstream = upstream.clone();
                let requests = Arc::clone(&requests);
                connections.spawn(async move {
                    if let Ok(daemon) = UnixStream::connect(&upstream).await {
                        forward(client, daemon, requests).await;
                    }
                });
            }
        }
    }
    // Dropping the set aborts every connection task, which closes both of its streams.
    connections.shutdown().await;
}

async fn forward(client: UnixStream, daemon: UnixStream, requests: Arc<AtomicU64>) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut daemon_rd, mut daemon_wr) = daemon.into_split();
    let upward = async {
        let mut buf = vec![0u8; 64 * 1024];
        // The end of the previous chunk, so a request line split across reads is counted once.
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let n = match client_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            carry.extend_from_slice(&buf[..n]);
            let found = carry
                .windows(REQUEST_LINE_END.len())
                .filter(|w| *w == REQUEST_LINE_END)
                .count();
            requests.fetch_add(found as u64, Ordering::Relaxed);
            let keep = carry.len().min(REQUEST_LINE_END.len() - 1);
            carry.drain(..carry.len() - keep);
            if daemon_wr.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = daemon_wr.shutdown().await;
    };
    let downward = async {
        let _ = tokio::io::copy(&mut daemon_rd, &mut client_wr).await;
        let _ = client_wr.shutdown().await;
    };
    tokio::join!(upward, downward);
}
