//! Several engines in one fleet: where a slot runs ([`place`]) and how a host's outage is
//! described. What the fleet does when a host is lost or regained is in `outages`.
//!
//! Invariant: placement is a pure function of the role's host list and the slot's replica
//! number, so a slot keeps its host across restarts of its container and of drover.

use serde::{Deserialize, Serialize};

use super::model::Millis;

/// The host a role's `n`-th replica runs on: replicas go round the role's hosts in order
/// (`n` = 1 on the first), so the choice depends on nothing that changes while the config
/// does not. `None` when the role names no host (the fleet has one engine).
pub fn place(hosts: &[String], n: u32) -> Option<&str> {
    if hosts.is_empty() {
        return None;
    }
    let i = (n.max(1) as usize - 1) % hosts.len();
    hosts.get(i).map(String::as_str)
}

/// A host the core knows to be unreachable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOutage {
    pub error: String,
    pub since: Millis,
}

/// One host of the fleet as faces show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostView {
    pub name: String,
    /// `None` while reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<HostOutage>,
}

#[cfg(test)]
mod tests {
    use super::place;

    #[test]
    fn replicas_go_round_the_hosts_and_keep_their_place() {
        let hosts = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let placed: Vec<_> = (1..=7).map(|n| place(&hosts, n)).collect();
        assert_eq!(
            placed,
            [
                Some("a"),
                Some("b"),
                Some("c"),
                Some("a"),
                Some("b"),
                Some("c"),
                Some("a")
            ]
        );
        assert_eq!(place(&hosts, 5), place(&hosts, 5));
        assert_eq!(place(&[], 1), None);
        assert_eq!(place(&hosts, 0), Some("a"));
    }
}
