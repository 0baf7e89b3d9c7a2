//! The control socket of a real daemon under abuse: wrong protocol version, no hello,
//! malformed and oversized frames, 1 000 random garbage frames, a client that never reads, and
//! a client running as another user. Each gets an error reply or is cut off — and the daemon
//! keeps answering everyone else.

use crate::common;
use crate::control_support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use control_support::Fleet;
use drover::control::transport::MAX_FRAME;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

const ROLES: &str = r#"
[[roles]]
name = "worker"
image = "drover-test-image-that-does-not-exist:0"
"#;

struct Raw {
    lines: BufReader<tokio::net::unix::OwnedReadHalf>,
    w: tokio::net::unix::OwnedWriteHalf,
}

impl Raw {
    async fn open(fleet: &Fleet) -> Self {
        let s = UnixStream::connect(fleet.socket()).await.expect("connect");
        let (r, w) = s.into_split();
        Self {
            lines: BufReader::new(r),
            w,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.unwrap();
    }

    /// The next frame, or `None` at end of stream.
    async fn next(&mut self) -> Option<serde_json::Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), self.lines.read_line(&mut line))
            .await
            .expect("the daemon answers within 10s")
            .ok()?;
        (n > 0).then(|| serde_json::from_str(&line).expect("server frames are JSON"))
    }

    async fn hello(fleet: &Fleet) -> Self {
        let mut c = Self::open(fleet).await;
        c.send(b"{\"hello\":{\"version\":1,\"client\":\"test\"}}\n")
            .await;
        let w = c.next().await.expect("welcome");
        assert_eq!(w["welcome"]["version"], 1, "{w}");
        c
    }
}

fn status_ok(fleet: &Fleet) {
    let out = fleet.run(&["status", "--json"]);
    assert!(
        out.status.success(),
        "the daemon must keep answering: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_clients_get_errors_and_the_daemon_stays_up() {
    common::require_docker();
    let name = common::unique_fleet("proto");
    let _guard = common::FleetGuard(name.clone());
    let fleet = Fleet::new(&name, ROLES);
    let mut daemon = fleet.start_daemon();

    // Wrong version: an error naming the versions, then the connection closes.
    let mut c = Raw::open(&fleet).await;
    c.send(b"{\"hello\":{\"version\":99,\"client\":\"future\"}}\n")
        .await;
    let e = c.next().await.expect("an error frame");
    assert_eq!(e["error"]["code"], "version", "{e}");
    assert!(c.next().await.is_none(), "closed after a version error");

    // A request before hello: handshake error, closed.
    let mut c = Raw::open(&fleet).await;
    c.send(b"{\"request\":{\"id\":1,\"body\":\"status\"}}\n")
        .await;
    assert_eq!(c.next().await.unwrap()["error"]["code"], "handshake");
    assert!(c.next().await.is_none());

    // Malformed frames after hello: an error each (echoing the id when readable), and the
    // connection keeps working.
    let mut c = Raw::hello(&fleet).await;
    c.send(b"this is not json\n").await;
    assert_eq!(c.next().await.unwrap()["error"]["code"], "malformed");
    c.send(b"{\"request\":{\"id\":42,\"body\":\"reboot_the_world\"}}\n")
        .await;
    let e = c.next().await.unwrap();
    assert_eq!(e["error"]["code"], "malformed");
    assert_eq!(e["error"]["id"], 42);
    c.send(b"{\"hello\":{\"version\":1,\"client\":\"again\"}}\n")
        .await;
    assert_eq!(c.next().await.unwrap()["error"]["code"], "handshake");
    c.send(b"{\"request\":{\"id\":43,\"body\":\"status\"}}\n")
        .await;
    let r = c.next().await.unwrap();
    assert_eq!(r["reply"]["id"], 43);
    assert_eq!(r["reply"]["body"]["status"]["fleet"], name);

    // Oversized: an error, then closed; nothing buffered without bound.
    let mut c = Raw::hello(&fleet).await;
    let big = vec![b'x'; MAX_FRAME + 1024];
    let _ = c.w.write_all(&big).await;
    let e = c.next().await.expect("an oversized error");
    assert_eq!(e["error"]["code"], "oversized", "{e}");
    assert!(c.next().await.is_none());
    status_ok(&fleet);

    // 1 000 random garbage frames on one greeted connection, replies drained concurrently.
    let mut rng = fastrand::Rng::with_seed(7);
    let c = Raw::hello(&fleet).await;
    let Raw { mut lines, mut w } = c;
    let reader = tokio::spawn(async move {
        let mut errors = 0;
        let mut buf = String::new();
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(10), lines.read_line(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            if buf.contains("\"error\"") {
                errors += 1;
            }
            buf.clear();
            if errors == 1000 {
                break;
            }
        }
        errors
    });
    for _ in 0..1000 {
        let len = rng.usize(1..300);
        let mut frame: Vec<u8> = (0..len)
            .map(|_| rng.u8(..))
            .filter(|b| *b != b'\n')
            .collect();
        frame.push(b'\n');
        w.write_all(&frame).await.unwrap();
    }
    let errors = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("garbage answered")
        .unwrap();
    assert_eq!(errors, 1000, "one error reply per garbage frame");
    drop(w);
    // Garbage before any hello, on fresh connections.
    for _ in 0..20 {
        let mut c = Raw::open(&fleet).await;
        let len = rng.usize(1..2000);
        let junk: Vec<u8> = (0..len)
            .map(|_| rng.u8(..))
            .chain(std::iter::once(b'\n'))
            .collect();
        let _ = c.w.write_all(&junk).await;
        let _ = c.next().await;
    }
    status_ok(&fleet);

    // A client that subscribes and never reads does not slow anyone else down.
    let mut lazy = Raw::hello(&fleet).await;
    lazy.send(b"{\"request\":{\"id\":1,\"body\":{\"subscribe\":{\"snapshot\":true,\"logs\":true,\"log_tail\":5000,\"events_after\":0}}}}\n")
        .await;
    for i in 0..3000 {
        let req = format!(
            "{{\"request\":{{\"id\":{},\"body\":\"snapshot\"}}}}\n",
            i + 2
        );
        // Once dropped, the daemon stops reading: later writes may fail, which is the point.
        if lazy.w.write_all(req.as_bytes()).await.is_err() {
            break;
        }
    }
    let started = Instant::now();
    status_ok(&fleet);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "status took {:?} beside a stuck client",
        started.elapsed()
    );
    // The stuck client is dropped: its connection ends even though it never read.
    let mut sink = Vec::new();
    let drained =
        tokio::time::timeout(Duration::from_secs(30), lazy.lines.read_to_end(&mut sink)).await;
    assert!(
        drained.is_ok(),
        "a client that overflowed its queue is disconnected"
    );

    // Another user: refused without a byte, even with the file modes opened up.
    for dir in [
        fleet.runtime(),
        fleet.socket().parent().unwrap().to_path_buf(),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(fleet.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(fleet.socket(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({:?})\ntry:\n    s.sendall(b'{{\"hello\":{{\"version\":1,\"client\":\"x\"}}}}\\n')\n    print(len(s.recv(100)))\nexcept (BrokenPipeError, ConnectionResetError):\n    print(0)",
        fleet.socket().display().to_string()
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
        .expect("the refused client sees the connection closed")
        .expect("run a client as nobody");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");

    status_ok(&fleet);
    assert!(daemon.alive());
    daemon.stop();
}

/// `MAX_CLIENTS` connections that say hello and then nothing: the next client is refused and
/// reads `busy` (not a reset), and once the idle ones time out the operator's commands are
/// served again (before, idle clients held every slot for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_time_out_and_a_refused_client_reads_busy() {
    use drover::control::server::{IDLE_TIMEOUT, MAX_CLIENTS};
    common::require_docker();
    let name = common::unique_fleet("idle");
    let _guard = common::FleetGuard(name.clone());
    let fleet = Fleet::new(&name, ROLES);
    let mut daemon = fleet.start_daemon();
    let mut idle = Vec::new();
    for _ in 0..MAX_CLIENTS {
        idle.push(Raw::hello(&fleet).await);
    }
    let mut refused = Raw::open(&fleet).await;
    refused
        .send(b"{\"hello\":{\"version\":1,\"client\":\"test\"}}\n")
        .await;
    let reply = refused.next().await.expect("a frame before the close");
    assert_eq!(reply["error"]["code"], "busy", "{reply}");

    let since = Instant::now();
    let deadline = since + IDLE_TIMEOUT + Duration::from_secs(20);
    loop {
        let out = fleet.run(&["status", "--json"]);
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "idle clients still hold every slot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("served again {:?} after the slots filled", since.elapsed());
    // The idle ones were told why they were closed.
    let why = idle[0].next().await.expect("a frame before the close");
    assert_eq!(why["error"]["code"], "busy", "{why}");
    daemon.stop();
}
