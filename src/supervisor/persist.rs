//! Between the core's records and the store: effects become [`StoreOp`]s, and stored rows become
//! the [`ResumeState`] a restarted drover rebuilds the core from.

use crate::core::{Alert, FleetEvent, Incident, ResumeState, RunRecord, ScaleOverride, SlotRecord};
use crate::store::{EventRecord, RunRow, Store, StoreError, StoreOp};

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub fn event_op(e: &FleetEvent) -> StoreOp {
    let mut payload = e.detail.clone();
    if let serde_json::Value::Object(map) = &mut payload {
        map.insert(
            "message".into(),
            serde_json::Value::String(e.message.clone()),
        );
    } else {
        payload = serde_json::json!({ "message": e.message, "detail": payload });
    }
    StoreOp::Event(EventRecord {
        ts_ms: ms(e.at),
        slot: e.slot.clone(),
        kind: e.kind.as_str().to_string(),
        who: e.who.clone(),
        payload,
    })
}

pub fn slot_op(r: &SlotRecord) -> Result<StoreOp, StoreError> {
    Ok(StoreOp::SlotState {
        slot: r.slot.clone(),
        updated_ms: ms(r.updated_at),
        record: serde_json::to_value(r)?,
    })
}

pub fn alert_op(a: &Alert) -> Result<StoreOp, StoreError> {
    Ok(StoreOp::Alert {
        id: ms(a.id),
        slot: a.key.slot.clone(),
        kind: a.key.kind.name().to_string(),
        first_ms: ms(a.first_seen),
        cleared_ms: a.cleared_at.map(ms),
        record: serde_json::to_value(a)?,
    })
}

pub fn incident_op(i: &Incident) -> Result<StoreOp, StoreError> {
    Ok(StoreOp::Incident {
        id: ms(i.id),
        slot: i.slot.clone(),
        opened_ms: ms(i.opened_at),
        closed_ms: i.closed_at.map(ms),
        record: serde_json::to_value(i)?,
    })
}

/// Finished runs per slot read back at start (the ledger keeps as many).
const RUNS_PER_SLOT: i64 = 10;

/// The run's row; its log file is `logs/<slot>/<generation>.log` under the data dir.
pub fn run_op(r: &RunRecord) -> Result<StoreOp, StoreError> {
    Ok(StoreOp::Run(RunRow {
        slot: r.slot.clone(),
        started_ms: ms(r.started_at),
        role: r.role.clone(),
        generation: ms(r.generation),
        container: r.container.clone(),
        ended_ms: r.ended_at.map(ms),
        end_kind: r.end.as_ref().map(|e| e.label().to_string()),
        cost_micros: ms(r.cost_micros),
        commits: ms(r.commit_count),
        tasks_done: r.locks_released.len() as i64,
        log_file: format!("logs/{}/{}.log", r.slot, r.generation),
        record: serde_json::to_value(r)?,
    }))
}

pub fn spend_op(day: u64, micros: u64) -> StoreOp {
    StoreOp::SpendDay {
        day: ms(day),
        micros: ms(micros),
    }
}

pub fn scale_op(o: &ScaleOverride) -> StoreOp {
    StoreOp::ScaleOverride {
        role: o.role.clone(),
        replicas: i64::from(o.replicas),
        configured: i64::from(o.configured),
    }
}

/// Reads everything needed to resume. Unreadable records are skipped with a warning rather than
/// refusing to start: losing one counter is better than not supervising at all.
pub async fn load_resume(store: &Store) -> Result<ResumeState, StoreError> {
    let mut resume = ResumeState::default();
    for (slot, record) in store.slot_states().await? {
        match serde_json::from_value::<SlotRecord>(record) {
            Ok(r) => resume.slots.push(r),
            Err(e) => tracing::warn!(slot, error = %e, "ignoring unreadable stored slot state"),
        }
    }
    for record in store.incidents(500).await? {
        match serde_json::from_value::<Incident>(record) {
            Ok(i) if i.closed_at.is_none() => resume.open_incidents.push(i),
            Ok(i) => resume.closed_incidents.push(i),
            Err(e) => tracing::warn!(error = %e, "ignoring unreadable stored incident"),
        }
    }
    for record in store.active_alerts().await? {
        match serde_json::from_value::<Alert>(record) {
            Ok(a) => resume.active_alerts.push(a),
            Err(e) => tracing::warn!(error = %e, "ignoring unreadable stored alert"),
        }
    }
    for run in store.runs_to_resume(RUNS_PER_SLOT).await? {
        match serde_json::from_value::<RunRecord>(run.record) {
            Ok(r) => resume.runs.push(r),
            Err(e) => tracing::warn!(error = %e, "ignoring unreadable stored run"),
        }
    }
    resume.spend_day = store
        .latest_spend_day()
        .await?
        .map(|(d, m)| (u64::try_from(d).unwrap_or(0), u64::try_from(m).unwrap_or(0)));
    for (slot, ts, record) in store.latest_test_runs().await? {
        match serde_json::from_value::<crate::signals::TestRun>(record) {
            Ok(run) => resume.last_tests.push((
                slot,
                u64::try_from(ts).unwrap_or(0),
                super::output::summarise(&run),
            )),
            Err(e) => tracing::warn!(slot, error = %e, "ignoring unreadable stored test run"),
        }
    }
    for (role, replicas, configured) in store.scale_overrides().await? {
        let (Ok(replicas), Ok(configured)) = (u32::try_from(replicas), u32::try_from(configured))
        else {
            tracing::warn!(role, "ignoring unreadable stored scale override");
            continue;
        };
        resume.scale_overrides.push(ScaleOverride {
            role,
            replicas,
            configured,
        });
    }
    Ok(resume)
}
