//! The `[metrics]` section: the endpoint has no authentication, so a listen address reachable
//! from other hosts is refused (with its location) unless `allow_remote` says it is intended.

use std::path::Path;

fn parse(metrics: &str) -> Result<drover::config::Config, drover::config::ConfigError> {
    let text = format!(
        "[fleet]\nname = \"m\"\n\n[[roles]]\nname = \"w\"\nimage = \"x:1\"\n\n[metrics]\n{metrics}\n"
    );
    drover::config::parse(&text, Path::new("drover.toml"))
}

#[test]
fn non_loopback_metrics_listen_is_refused_unless_intended() {
    let cfg = parse("listen = \"127.0.0.1:9464\"").expect("loopback is fine");
    assert_eq!(
        cfg.file.metrics.listen,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    parse("listen = \"[::1]:9464\"").expect("IPv6 loopback is fine");

    let err = parse("listen = \"0.0.0.0:9464\"").unwrap_err().to_string();
    assert!(err.contains("drover.toml:9:"), "{err}");
    assert!(err.contains("allow_remote"), "{err}");

    parse("listen = \"0.0.0.0:9464\"\nallow_remote = true").expect("explicitly intended");
    let err = parse("listen = \"not an address\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("drover.toml:9:"), "{err}");
}
