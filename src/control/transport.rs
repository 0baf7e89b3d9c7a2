//! The control socket's transport: a Unix socket only its owner can use, carrying
//! newline-delimited JSON frames of bounded size.
//!
//! Invariants: the socket file is created 0600 inside a 0700 folder, and every accepted
//! connection's peer uid (SO_PEERCRED) must be our effective uid or root — a file mode alone is
//! not trusted. A frame longer than [`MAX_FRAME`] is an error for that connection, never a
//! memory blow-up; no frame is written that the peer would refuse. Every frame written is
//! masked for known secret values.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};

use crate::peer::current_uid;

/// The largest frame either side accepts.
pub const MAX_FRAME: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another drover (pid {pid}) is already supervising this fleet; its control socket is {path}"
    )]
    AlreadyRunning { pid: String, path: PathBuf },
    #[error(
        "another drover answers on {path} (a fleet of the same name with another data dir?) — give this fleet its own [fleet] name"
    )]
    SocketInUse { path: PathBuf },
    #[error("connection closed")]
    Closed,
    #[error("frame larger than {MAX_FRAME} bytes")]
    Oversized,
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("i/o: {0}")]
    Stream(#[from] std::io::Error),
}

/// Where the control socket of `fleet` lives: `$XDG_RUNTIME_DIR/drover/<fleet>.sock`, else the
/// data dir.
pub fn socket_path(fleet: &str, data_dir: &Path) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(run) => Path::new(&run).join("drover").join(format!("{fleet}.sock")),
        None => data_dir.join("control.sock"),
    }
}

/// The socket a running daemon of this data dir recorded in its pid file (second line), so
/// clients whose environment differs from the daemon's (systemd's `XDG_RUNTIME_DIR`, sudo)
/// still find it.
pub fn recorded_socket(data_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(data_dir.join("drover.pid")).ok()?;
    let path = PathBuf::from(text.lines().nth(1)?.trim());
    path.exists().then_some(path)
}

/// Holds the single-daemon lock and the bound socket; dropping it removes the socket file.
#[derive(Debug)]
pub struct ControlListener {
    listener: UnixListener,
    path: PathBuf,
    _lock: std::fs::File,
}

impl ControlListener {
    /// Takes the fleet's daemon lock (`<data_dir>/drover.pid`) and binds the socket at `path`.
    pub fn bind(path: &Path, data_dir: &Path) -> Result<Self, TransportError> {
        let io = |source| TransportError::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let lock_path = data_dir.join("drover.pid");
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io)?;
        if lock.try_lock().is_err() {
            let text = std::fs::read_to_string(&lock_path).unwrap_or_default();
            let pid = text.lines().next().unwrap_or("").trim().to_string();
            return Err(TransportError::AlreadyRunning {
                pid,
                path: recorded_socket(data_dir).unwrap_or_else(|| path.to_path_buf()),
            });
        }
        // A live socket here belongs to a daemon of another data dir (the path depends on the
        // fleet name only): never take it over.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(TransportError::SocketInUse {
                path: path.to_path_buf(),
            });
        }
        lock.set_len(0).map_err(io)?;
        std::fs::write(
            &lock_path,
            format!("{}\n{}\n", std::process::id(), path.display()),
        )
        .map_err(io)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        // We hold the lock and nobody answers on it: a socket file here is a dead daemon's.
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next connection from our own user (or root); others are refused and logged.
    pub async fn accept(&self) -> std::io::Result<UnixStream> {
        loop {
            let (stream, _) = self.listener.accept().await?;
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == current_uid() || cred.uid() == 0 => return Ok(stream),
                Ok(cred) => {
                    tracing::warn!(
                        uid = cred.uid(),
                        "control connection from another user refused"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control connection without credentials refused")
                }
            }
        }
    }
}

impl Drop for ControlListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads newline-delimited JSON frames, refusing oversized ones.
pub struct FrameReader {
    inner: BufReader<OwnedReadHalf>,
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn new(read: OwnedReadHalf) -> Self {
        Self {
            inner: BufReader::new(read),
            buf: Vec::new(),
        }
    }

    /// The next frame's raw bytes (without the newline).
    pub async fn next_raw(&mut self) -> Result<&[u8], TransportError> {
        self.buf.clear();
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                return Err(TransportError::Closed);
            }
            let (take, done) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            if self.buf.len() + take > MAX_FRAME {
                return Err(TransportError::Oversized);
            }
            self.buf.extend_from_slice(&available[..take]);
            self.inner.consume(take);
            if done {
                self.buf.pop();
                return Ok(&self.buf);
            }
        }
    }

    /// The next frame decoded as `T`.
    pub async fn next<T: DeserializeOwned>(&mut self) -> Result<T, TransportError> {
        let raw = self.next_raw().await?;
        serde_json::from_slice(raw).map_err(|e| TransportError::Malformed(e.to_string()))
    }
}

/// One frame's bytes, newline included: serialised, with known secret values masked (see
/// [`crate::secrets`]), and refused when it would exceed [`MAX_FRAME`] — the peer would drop
/// it, so the caller must page, summarise or send an error instead.
pub fn encode_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, TransportError> {
    let bytes = serde_json::to_vec(value).map_err(|e| TransportError::Malformed(e.to_string()))?;
    let mut bytes = match crate::secrets::masker().mask_bytes(&bytes) {
        std::borrow::Cow::Borrowed(_) => bytes,
        std::borrow::Cow::Owned(masked) => masked,
    };
    if bytes.len() >= MAX_FRAME {
        return Err(TransportError::Oversized);
    }
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes one frame.
pub async fn write_frame<T: Serialize>(
    w: &mut OwnedWriteHalf,
    value: &T,
) -> Result<(), TransportError> {
    let bytes = encode_frame(value)?;
    w.write_all(&bytes).await?;
    Ok(())
}
