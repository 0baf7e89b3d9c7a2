//! The control client never waits unbounded on a misbehaving daemon: a reply over the frame
//! limit fails the call with an error, a daemon of another protocol version is refused, and a
//! peer that accepts but never says welcome fails the handshake within its deadline. The
//! "daemons" here are plain Unix sockets speaking raw frames.

use std::time::{Duration, Instant};

use drover::control::client::{ClientError, Connection, HANDSHAKE_TIMEOUT};
use drover::control::protocol::Request;
use drover::control::transport::MAX_FRAME;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// A one-connection fake daemon: reads the hello, sends `welcome` (if any), then answers the
/// first request with `answer`.
async fn fake_daemon(
    welcome: Option<String>,
    answer: Vec<u8>,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.sock");
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r);
        let mut line = String::new();
        lines.read_line(&mut line).await.unwrap();
        let Some(welcome) = welcome else {
            // Say nothing, keep the connection open.
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        };
        w.write_all(welcome.as_bytes()).await.unwrap();
        line.clear();
        lines.read_line(&mut line).await.unwrap();
        let _ = w.write_all(&answer).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    (dir, path)
}

fn welcome(version: u32) -> String {
    format!("{{\"welcome\":{{\"version\":{version},\"fleet\":\"fake\",\"pid\":1}}}}\n")
}

#[tokio::test]
async fn a_reply_over_the_frame_limit_is_an_error_not_a_wait() {
    let mut big = b"{\"reply\":{\"id\":1,\"body\":{\"events\":[{\"id\":1,\"ts_ms\":0,\"slot\":null,\"kind\":\"x\",\"who\":null,\"payload\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'x', MAX_FRAME + 10));
    big.extend_from_slice(b"\"}]}}}\n");
    let (_dir, path) = fake_daemon(Some(welcome(1)), big).await;
    let (conn, _pushes) = Connection::open(&path, "test").await.expect("greeted");
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(20), conn.call(Request::Status))
        .await
        .expect("the call ends on its own");
    match r {
        Err(ClientError::Refused(e)) => assert!(e.message.contains("frame limit"), "{e:?}"),
        other => panic!("expected an oversized error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_daemon_of_another_protocol_version_is_refused() {
    let (_dir, path) = fake_daemon(Some(welcome(99)), Vec::new()).await;
    match Connection::open(&path, "test").await {
        Err(ClientError::Protocol(m)) => assert!(m.contains("99"), "{m}"),
        Err(other) => panic!("expected a protocol error, got {other:?}"),
        Ok(_) => panic!("a version-99 daemon was accepted"),
    }
}

#[tokio::test]
async fn a_silent_peer_fails_the_handshake_in_time() {
    let (_dir, path) = fake_daemon(None, Vec::new()).await;
    let started = Instant::now();
    let r = tokio::time::timeout(HANDSHAKE_TIMEOUT * 2, Connection::open(&path, "test"))
        .await
        .expect("open ends on its own");
    assert!(matches!(r, Err(ClientError::Timeout(..))), "{:?}", r.err());
    assert!(started.elapsed() >= HANDSHAKE_TIMEOUT);
}
