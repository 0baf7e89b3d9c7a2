//! The `http` readiness probe: `GET <url>` from drover's host, ready on a 2xx status.
//!
//! Only the status line is read (then the connection is dropped), so a probe costs one small
//! request whatever the endpoint returns; everything is bounded by the probe's timeout. Plain
//! `http://` only: config validation refuses `https://` (drover carries no TLS client; an `exec`
//! probe with curl covers that case).

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The parts of an `http://host[:port][/path]` URL a GET needs.
#[derive(Debug, PartialEq, Eq)]
struct Target<'a> {
    host: &'a str,
    port: u16,
    path: &'a str,
}

fn parse(url: &str) -> Result<Target<'_>, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // `[::1]:8080` keeps its brackets out of the host; `host:port` splits at the last colon.
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (
            h,
            p.parse().map_err(|_| format!("bad port `{p}` in {url}"))?,
        ),
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("no host in {url}"));
    }
    Ok(Target { host, port, path })
}

/// Probes `url`; returns whether it is ready and a one-line detail for the operator.
pub async fn check(url: &str, timeout: Duration) -> (bool, String) {
    match tokio::time::timeout(timeout, status_line(url)).await {
        Err(_) => (false, format!("GET {url}: no answer within {timeout:?}")),
        Ok(Err(e)) => (false, format!("GET {url}: {e}")),
        Ok(Ok(line)) => {
            let code = line.split_whitespace().nth(1).unwrap_or("");
            let ok = code.len() == 3 && code.starts_with('2');
            (ok, format!("GET {url}: {}", line.trim_end()))
        }
    }
}

async fn status_line(url: &str) -> Result<String, String> {
    let t = parse(url)?;
    let stream = TcpStream::connect((t.host, t.port))
        .await
        .map_err(|e| e.to_string())?;
    let (rd, mut wr) = stream.into_split();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: drover-probe\r\nConnection: close\r\n\r\n",
        t.path, t.host
    );
    wr.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    // A status line is short; a server sending more without a newline is not HTTP.
    let mut rd = BufReader::new(rd).take(512);
    rd.read_line(&mut line).await.map_err(|e| e.to_string())?;
    if !line.starts_with("HTTP/") {
        return Err(format!("not an HTTP answer: {:?}", line.trim_end()));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn urls_split_into_host_port_and_path() {
        assert_eq!(
            parse("http://127.0.0.1:8080/healthz?x=1"),
            Ok(Target {
                host: "127.0.0.1",
                port: 8080,
                path: "/healthz?x=1"
            })
        );
        assert_eq!(
            parse("http://agent.local"),
            Ok(Target {
                host: "agent.local",
                port: 80,
                path: "/"
            })
        );
        assert_eq!(
            parse("http://[::1]:9/").map(|t| (t.host, t.port)),
            Ok(("::1", 9))
        );
        assert!(parse("https://x/").is_err());
        assert!(parse("http://x:notaport/").is_err());
        assert!(parse("http://:80/").is_err());
    }

    /// A real server on loopback answering each connection with `answer`.
    async fn server(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        format!("http://{addr}/health")
    }

    #[tokio::test]
    async fn two_hundred_is_ready_anything_else_is_not() {
        let ok = server("HTTP/1.1 204 No Content\r\n\r\n").await;
        let (ready, detail) = check(&ok, Duration::from_secs(5)).await;
        assert!(ready, "{detail}");
        assert!(detail.contains("204"));

        let failing = server("HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        let (ready, detail) = check(&failing, Duration::from_secs(5)).await;
        assert!(!ready);
        assert!(detail.contains("503 Service Unavailable"), "{detail}");

        let garbage = server("SSH-2.0-OpenSSH\r\n").await;
        let (ready, detail) = check(&garbage, Duration::from_secs(5)).await;
        assert!(!ready);
        assert!(detail.contains("not an HTTP answer"), "{detail}");
    }

    #[tokio::test]
    async fn nothing_listening_or_silence_is_not_ready() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let (ready, _) = check(&format!("http://{addr}/"), Duration::from_secs(5)).await;
        assert!(!ready);

        // Accepts and never answers: the timeout decides.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let (ready, detail) = check(&format!("http://{addr}/"), Duration::from_millis(200)).await;
        assert!(!ready);
        assert!(detail.contains("no answer within"), "{detail}");
        drop(silent);
    }
}
