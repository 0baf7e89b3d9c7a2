//! The control socket's transport: owner-only permissions, one daemon per fleet, peer-uid
//! checks against a real client running as another user, bounded frames.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use drover::control::transport::{
    ControlListener, FrameReader, MAX_FRAME, TransportError, write_frame,
};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

#[tokio::test]
async fn socket_is_owner_only_and_single_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("run/fleet.sock");
    let listener = ControlListener::bind(&sock, dir.path()).unwrap();
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(sock.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    match ControlListener::bind(&sock, dir.path()) {
        Err(TransportError::AlreadyRunning { pid, .. }) => {
            assert_eq!(pid, std::process::id().to_string())
        }
        other => panic!("a second daemon must be refused, got {other:?}"),
    }
    drop(listener);
    assert!(!sock.exists(), "socket removed on shutdown");
    ControlListener::bind(&sock, dir.path())
        .expect("a new daemon can start after the first is gone");
}

/// Clients find a daemon whose environment put its socket elsewhere through the pid file; a
/// daemon of another data dir never takes over a live socket of the same path.
#[tokio::test]
async fn the_socket_is_recorded_and_a_live_one_is_never_taken_over() {
    use drover::control::transport::recorded_socket;
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    let sock = run.path().join("drover/same-name.sock");
    let first = ControlListener::bind(&sock, a.path()).unwrap();
    assert_eq!(recorded_socket(a.path()), Some(sock.clone()));
    assert_eq!(recorded_socket(b.path()), None);
    match ControlListener::bind(&sock, b.path()) {
        Err(TransportError::SocketInUse { path }) => assert_eq!(path, sock),
        other => panic!("the live socket must be kept, got {other:?}"),
    }
    // The first daemon still answers.
    let accept = tokio::spawn(async move {
        first
            .accept()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(first)
    });
    UnixStream::connect(&sock)
        .await
        .expect("first daemon still bound");
    drop(accept.await.unwrap().unwrap());
    assert_eq!(recorded_socket(a.path()), None, "gone with its daemon");
}

#[tokio::test]
async fn frames_roundtrip_and_oversized_frames_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("c.sock");
    let listener = ControlListener::bind(&sock, dir.path()).unwrap();
    let server = tokio::spawn(async move {
        let stream = listener.accept().await.unwrap();
        let (r, mut w) = stream.into_split();
        let mut reader = FrameReader::new(r);
        let first: serde_json::Value = reader.next().await.unwrap();
        write_frame(&mut w, &first).await.unwrap();
        let second = reader.next::<serde_json::Value>().await;
        (listener, second)
    });
    let client = UnixStream::connect(&sock).await.unwrap();
    let (r, mut w) = client.into_split();
    write_frame(&mut w, &serde_json::json!({"hello": 1}))
        .await
        .unwrap();
    let mut reader = FrameReader::new(r);
    let echoed: serde_json::Value = reader.next().await.unwrap();
    assert_eq!(echoed, serde_json::json!({"hello": 1}));
    // A frame with no newline larger than the cap: the server stops reading at the cap.
    let big = vec![b'x'; MAX_FRAME + 10];
    let _ = w.write_all(&big).await;
    let (_listener, second) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(second, Err(TransportError::Oversized)),
        "{second:?}"
    );
}

#[tokio::test]
async fn another_user_is_refused_even_if_file_modes_allow_it() {
    assert_eq!(
        std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap(),
        0,
        "this test switches to uid 65534 with setpriv and must run as root"
    );
    let dir = tempfile::Builder::new()
        .prefix("drover-peer")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.path().join("run/c.sock");
    let listener = ControlListener::bind(&sock, &dir.path().join("data")).unwrap();
    // Open the file modes up so that only the peer-credential check stands in the way.
    std::fs::set_permissions(
        sock.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
    let accepted = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({:?})\ntry:\n    s.sendall(b'{{}}\\n')\n    print(len(s.recv(100)))\nexcept (BrokenPipeError, ConnectionResetError):\n    print(0)",
        sock.display().to_string()
    );
    let out = tokio::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            &script,
        ])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("the refused client must see the connection closed")
        .expect("run a client as nobody");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server closed the connection without a byte: recv returned 0.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    // ... and accept() is still waiting for an acceptable peer.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), accepted)
            .await
            .is_err()
    );
}
