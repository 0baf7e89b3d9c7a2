//! The `http` readiness probe end to end: a real container supervised by drover, probed through
//! a real HTTP server on loopback whose answer the test switches between 503 and 200. The slot
//! turns Unready with the server's status line after `failure_threshold` failures, and Healthy
//! again once the endpoint answers 2xx.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use drover::core::{Health, Snapshot};
use drover::supervisor::{self, SupervisorHandle, SupervisorOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn wait_for(handle: &SupervisorHandle, what: &str, pred: impl Fn(&Snapshot) -> bool) {
    common::wait_for_snapshot(handle, what, 60, pred).await;
}

fn health(s: &Snapshot) -> Option<&Health> {
    s.slot("web-1").map(|v| &v.health)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probe_marks_unready_and_healthy_again() {
    common::ensure_test_image();
    let ready = Arc::new(AtomicBool::new(false));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    let answer = Arc::clone(&ready);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let reply: &[u8] = if answer.load(Ordering::SeqCst) {
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
            } else {
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
            };
            let _ = s.write_all(reply).await;
        }
    });

    let fleet = common::unique_fleet("probe");
    let _guard = common::FleetGuard(fleet.clone());
    let data = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[[roles]]
name = "web"
image = "{image}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do echo serving; sleep 1; done"]
[roles.crash_loop]
min_uptime = "1s"
[roles.probe]
http = "{url}"
period = "1s"
timeout = "2s"
failure_threshold = 2
action = "alert"
"#,
        data = data.path().display(),
        image = common::TEST_IMAGE
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 3,
        ..Default::default()
    };
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();

    wait_for(
        &handle,
        "web-1 unready with the 503",
        |s| matches!(health(s), Some(Health::Unready { detail, .. }) if detail.contains("503")),
    )
    .await;
    ready.store(true, Ordering::SeqCst);
    wait_for(&handle, "web-1 healthy", |s| {
        health(s) == Some(&Health::Healthy)
    })
    .await;

    handle.shutdown.cancel();
    task.await.unwrap();
}
