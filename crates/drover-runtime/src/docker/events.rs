//! Docker's event stream, filtered to one fleet's containers and turned into plain
//! [`ContainerEvent`]s. The caller resumes a dropped stream with `since` = the last event's time,
//! and reconciles with a full listing after every reconnect, so no transition is missed.

use std::collections::HashMap;

use bollard::models::EventMessageTypeEnum;
use bollard::query_parameters::EventsOptionsBuilder;
use futures::{Stream, StreamExt};

use super::{Docker, RuntimeError, classify};
use crate::identity::{self as spec, LABEL_GENERATION, LABEL_SLOT};

pub use crate::port::{ContainerAction, ContainerEvent};

impl Docker {
    /// Events of `fleet`'s containers from `since` (Unix seconds) on; `None` = from now.
    pub fn fleet_events(
        &self,
        fleet: &str,
        since: Option<i64>,
    ) -> impl Stream<Item = Result<ContainerEvent, RuntimeError>> + Send + 'static {
        let label = spec::fleet_filter(fleet);
        let filters = HashMap::from([
            ("type", vec!["container"]),
            ("label", vec![label.as_str()]),
            (
                "event",
                vec![
                    "create", "start", "die", "oom", "pause", "unpause", "destroy",
                ],
            ),
        ]);
        let mut b = EventsOptionsBuilder::default().filters(&filters);
        if let Some(s) = since {
            b = b.since(&s.to_string());
        }
        let host = self.host().to_string();
        self.api().events(Some(b.build())).filter_map(move |item| {
            let out = match item {
                Err(e) => Some(Err(classify(&host, e))),
                Ok(msg) if msg.typ == Some(EventMessageTypeEnum::CONTAINER) => {
                    let actor = msg.actor.unwrap_or_default();
                    let attrs = actor.attributes.unwrap_or_default();
                    let action = match msg.action.as_deref().unwrap_or("") {
                        "create" => Some(ContainerAction::Create),
                        "start" => Some(ContainerAction::Start),
                        "die" => Some(ContainerAction::Die {
                            exit_code: attrs.get("exitCode").and_then(|c| c.parse().ok()),
                        }),
                        "oom" => Some(ContainerAction::Oom),
                        "pause" => Some(ContainerAction::Pause),
                        "unpause" => Some(ContainerAction::Unpause),
                        "destroy" => Some(ContainerAction::Destroy),
                        _ => None,
                    };
                    match (action, actor.id, attrs.get(LABEL_SLOT)) {
                        (Some(action), Some(id), Some(slot)) => Some(Ok(ContainerEvent {
                            id,
                            slot: slot.clone(),
                            generation: attrs
                                .get(LABEL_GENERATION)
                                .and_then(|g| spec::parse_generation(g))
                                .unwrap_or(0),
                            name: attrs.get("name").cloned().unwrap_or_default(),
                            fleet_id: attrs.get(spec::LABEL_FLEET_ID).cloned(),
                            generation_label: attrs.get(LABEL_GENERATION).cloned(),
                            action,
                            time_nano: msg
                                .time_nano
                                .unwrap_or_else(|| msg.time.unwrap_or(0) * 1_000_000_000),
                        })),
                        _ => None,
                    }
                }
                Ok(_) => None,
            };
            futures::future::ready(out)
        })
    }
}
