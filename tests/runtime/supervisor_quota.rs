//! Usage limits end to end: real containers print each usage-limit format and exit, as agents
//! do when their account is out of quota. Each slot is throttled — not failed — until the
//! time its notice states (±5 s), starts once at that time, and then runs; no incident, no
//! Blocked, no restart storm. The clock-time notices use a named zone (Asia/Kolkata, read from
//! the host's zone database) and no zone (UTC).

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use drover::core::{SlotState, SlotView};
use drover::supervisor::{self, SupervisorOptions};

/// First run: think for a moment (as agents do before their first API call), print the notice
/// and exit 1. Later runs (same container, /tmp kept): work on.
fn agent(notice: &str) -> String {
    format!(
        "trap 'exit 0' TERM; if [ -f /tmp/limited ]; then echo 'back at work'; \
         while true; do sleep 1; done; fi; touch /tmp/limited; echo 'thinking…'; sleep 2; \
         now=$(date +%s); {notice}; exit 1"
    )
}

/// (role, agent script, how the test computes the stated reset from the notice)
fn cases() -> Vec<(&'static str, String)> {
    vec![
        (
            "epoch",
            agent(r#"echo "Claude AI usage limit reached|$((now + 25))""#),
        ),
        (
            "zoned",
            // 90 s ahead in India Standard Time (+05:30), as "resets 5:21pm (Asia/Kolkata)".
            agent(
                r#"echo "You've hit your session limit · resets $(date -u -d @$((now + 90 + 19800)) +%-I:%M%P) (Asia/Kolkata)""#,
            ),
        ),
        (
            "codex-at",
            agent(
                r#"echo "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at $(date -u -d @$((now + 90)) '+%-I:%M %p')." "#,
            ),
        ),
        (
            "codex-in",
            agent(
                r#"echo "■ You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing) or try again in 0 days 0 hours 1 minutes." "#,
            ),
        ),
        (
            "http429",
            agent(
                r#"echo 'Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account'"'"'s rate limit. Please try again later."}}' >&2"#,
            ),
        ),
    ]
}

/// The reset the notice states, computed here independently of drover's recogniser.
fn stated_reset(role: &str, line: &str, since_ms: u64) -> u64 {
    let clock = |text: &str, offset_s: i64| -> u64 {
        let digits: String = text
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit() || *c == ':')
            .collect();
        let (h, m) = digits.split_once(':').expect("H:MM");
        let (h, m): (i64, i64) = (h.parse().unwrap(), m.parse().unwrap());
        let pm = text.to_lowercase().contains("pm");
        let h24 = h % 12 + if pm { 12 } else { 0 };
        let since = since_ms as i64 / 1000;
        let day = (since + offset_s).div_euclid(86_400);
        let mut t = day * 86_400 + h24 * 3600 + m * 60 - offset_s;
        if t < since {
            t += 86_400;
        }
        t as u64 * 1000
    };
    match role {
        "epoch" => {
            let n: u64 = line.rsplit('|').next().unwrap().trim().parse().unwrap();
            n * 1000
        }
        "zoned" => clock(line.split("resets ").nth(1).unwrap(), 19_800),
        "codex-at" => clock(line.split("try again at ").nth(1).unwrap(), 0),
        "codex-in" => since_ms + 60_000,
        "http429" => since_ms + 20_000,
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_format_throttles_until_the_stated_time_then_the_agent_runs() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("quota");
    let _guard = common::FleetGuard(fleet.clone());
    let data = tempfile::tempdir().unwrap();
    let mut text = format!(
        "[fleet]\nname = \"{fleet}\"\ndata_dir = \"{}\"\n",
        data.path().display()
    );
    for (role, script) in cases() {
        let cmd = toml::Value::Array(vec!["sh".into(), "-c".into(), script.into()]);
        text.push_str(&format!(
            "\n[[roles]]\nname = \"{role}\"\nimage = \"{}\"\ncommand = {cmd}\n\
             [roles.quota]\ncooldown = \"20s\"\njitter = \"1s\"\n",
            common::TEST_IMAGE
        ));
    }
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 9,
        ..Default::default()
    };
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();
    let slots: Vec<String> = cases().iter().map(|(r, _)| format!("{r}-1")).collect();

    // Every slot throttled (each at its own time): remember what it waits for.
    let seen: Arc<Mutex<BTreeMap<String, SlotView>>> = Arc::default();
    let names = slots.clone();
    let record = seen.clone();
    common::wait_for_snapshot(&handle, "every slot throttled", 90, move |s| {
        let mut seen = record.lock().unwrap();
        for n in &names {
            if let Some(v) = s
                .slot(n)
                .filter(|v| matches!(v.state, SlotState::Throttled { .. }))
            {
                seen.entry(n.clone()).or_insert_with(|| v.clone());
            }
        }
        seen.len() == names.len()
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    let mut expected = BTreeMap::new();
    for (slot, (role, _)) in slots.iter().zip(cases()) {
        let v = &seen[slot];
        let t = v.throttle.clone().expect("throttle details");
        let until = v.throttled_until.expect("throttled_until");
        let want = stated_reset(role, &t.reason, t.since);
        let diff = until as i64 - want as i64;
        assert!(
            (-5_000..=5_000).contains(&diff),
            "{slot}: throttled until {until}, notice says {want} ({diff} ms): {}",
            t.reason
        );
        assert_eq!(v.starts, 1, "{slot}");
        eprintln!("{slot}: throttled until {until}, stated {want} ({diff:+} ms)");
        expected.insert(slot.clone(), want);
    }

    // Each starts once at its reset and then keeps running.
    let names = slots.clone();
    common::wait_for_snapshot(&handle, "every slot running again", 150, move |s| {
        names.iter().all(|n| {
            s.slot(n)
                .is_some_and(|v| v.state == SlotState::Running && v.starts == 2)
        })
    })
    .await;
    let snap = handle.snapshot.borrow().clone();
    for slot in &slots {
        let v = snap.slot(slot).unwrap();
        let started = v.started_at.expect("running");
        let want = expected[slot];
        let diff = started as i64 - want as i64;
        assert!(
            (-5_000..=5_000).contains(&diff),
            "{slot}: started again at {started}, reset was {want} ({diff} ms)"
        );
        assert_eq!(v.starts, 2, "{slot}: at most one start in between");
        eprintln!("{slot}: started again {diff:+} ms from the stated reset");
        assert!(v.throttle.is_none(), "{slot}");
        assert!(!v.crash_looping, "{slot}");
    }
    assert!(snap.open_incidents.is_empty(), "{:?}", snap.open_incidents);
    assert!(
        !snap
            .slots
            .iter()
            .any(|v| matches!(v.state, SlotState::Blocked { .. })),
        "no Blocked"
    );
    assert_eq!(
        snap.metrics.service.incidents_open + snap.metrics.service.incidents_closed,
        0,
        "no MTTR impact: {:?}",
        snap.metrics.service
    );

    handle.shutdown.cancel();
    task.await.unwrap();
}
