//! How drover recognises its own containers: the labels it writes, the deterministic name, and
//! the rule that decides whether a labelled container is this drover's to adopt or remove.
//!
//! Invariants: labels anyone can set; the fleet id only the drover holding the store knows, and
//! the name `drover-<fleet>-<slot>` is unique per engine — a container must match all three
//! (name, fleet id, a generation drover could have written) to be touched.

pub use drover_core::core::container_name;

pub const LABEL_FLEET: &str = "io.drover.fleet";
pub const LABEL_SLOT: &str = "io.drover.slot";
pub const LABEL_ROLE: &str = "io.drover.role";
pub const LABEL_GENERATION: &str = "io.drover.generation";
pub const LABEL_SPEC_HASH: &str = "io.drover.spec-hash";
/// A random id of the fleet kept in its store and written on every container it creates: labels
/// anyone can set, this one only the drover holding that store knows.
pub const LABEL_FLEET_ID: &str = "io.drover.fleet-id";

/// Written on the shared branch's check container instead of [`LABEL_FLEET`] (with the fleet's
/// name as value): drover's own, found and removed by drover, yet never listed with the
/// fleet's agents, so never adopted as a slot's.
pub const LABEL_CHECK: &str = "io.drover.check";

/// Generations above this are not drover's (a forged label): a real slot never gets near it,
/// and the next generation (`+ 1`) of anything accepted cannot wrap.
pub const MAX_GENERATION: u64 = u32::MAX as u64;

/// A generation label's value, if it is one drover could have written.
pub fn parse_generation(label: &str) -> Option<u64> {
    label.parse::<u64>().ok().filter(|g| *g <= MAX_GENERATION)
}

/// Why a container wearing `fleet`'s labels is not this drover's to adopt or remove, or `None`
/// when it is: its name must be `drover-<fleet>-<slot>` for its own slot label, its fleet-id
/// label this store's id, and its generation one drover could have written.
pub fn foreign_reason(
    fleet: &str,
    fleet_id: &str,
    name: &str,
    slot: &str,
    label_fleet_id: Option<&str>,
    generation: Option<&str>,
) -> Option<String> {
    if name != container_name(fleet, slot) {
        return Some(format!(
            "its name is not {} (the name its slot label implies)",
            container_name(fleet, slot)
        ));
    }
    match label_fleet_id {
        None => return Some(format!("it has no {LABEL_FLEET_ID} label")),
        Some(id) if id != fleet_id => {
            return Some(format!(
                "its {LABEL_FLEET_ID} is {id}, not this fleet's {fleet_id}"
            ));
        }
        Some(_) => {}
    }
    match generation {
        Some(g) if parse_generation(g).is_some() => None,
        Some(g) => Some(format!(
            "its generation label {g:?} is not a valid generation"
        )),
        None => Some("it has no generation label".to_string()),
    }
}

/// The label filter selecting every container of `fleet`.
pub fn fleet_filter(fleet: &str) -> String {
    format!("{LABEL_FLEET}={fleet}")
}

/// The label filter selecting the containers created by the drover holding fleet id `id`.
pub fn fleet_id_filter(id: &str) -> String {
    format!("{LABEL_FLEET_ID}={id}")
}

/// The labels of a slot's container.
pub fn labels(
    fleet: &str,
    fleet_id: &str,
    slot: &str,
    role: &str,
    generation: u64,
    spec_hash: &str,
) -> Vec<(&'static str, String)> {
    vec![
        (LABEL_FLEET, fleet.to_string()),
        (LABEL_FLEET_ID, fleet_id.to_string()),
        (LABEL_SLOT, slot.to_string()),
        (LABEL_ROLE, role.to_string()),
        (LABEL_GENERATION, generation.to_string()),
        (LABEL_SPEC_HASH, spec_hash.to_string()),
    ]
}

/// The name of `fleet`'s check container. Slot names end in `-<n>`, so no slot has it.
pub fn check_name(fleet: &str) -> String {
    format!("drover-{fleet}-check")
}

/// The labels of `fleet`'s check container: drover's check label and the fleet id, and none
/// of the labels that make a container a slot's (fleet, slot, generation).
pub fn check_labels(fleet: &str, fleet_id: &str) -> Vec<(&'static str, String)> {
    vec![
        (LABEL_CHECK, fleet.to_string()),
        (LABEL_FLEET_ID, fleet_id.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_container_is_drovers_but_never_a_slots() {
        let labels = check_labels("f", "abc");
        assert!(labels.iter().any(|(k, v)| *k == LABEL_CHECK && v == "f"));
        for slot_label in [LABEL_FLEET, LABEL_SLOT, LABEL_GENERATION] {
            assert!(labels.iter().all(|(k, _)| *k != slot_label), "{slot_label}");
        }
        // No slot name (`<role>-<n>`) gives it: a slot's container never collides with it.
        assert_eq!(check_name("f"), "drover-f-check");
        assert_ne!(check_name("f"), container_name("f", "check-1"));
    }

    #[test]
    fn only_named_identified_containers_with_sane_generations_are_owned() {
        let own = |name: &str, id: Option<&str>, generation: Option<&str>| {
            foreign_reason("f", "abc", name, "w-1", id, generation)
        };
        assert_eq!(own("drover-f-w-1", Some("abc"), Some("3")), None);
        assert!(own("evil", Some("abc"), Some("3")).is_some());
        assert!(own("drover-f-w-2", Some("abc"), Some("3")).is_some());
        assert!(own("drover-f-w-1", None, Some("3")).is_some());
        assert!(own("drover-f-w-1", Some("xyz"), Some("3")).is_some());
        let max = u64::MAX.to_string();
        assert!(own("drover-f-w-1", Some("abc"), Some(&max)).is_some());
        assert!(own("drover-f-w-1", Some("abc"), Some("-1")).is_some());
        assert_eq!(parse_generation(&max), None);
        assert_eq!(parse_generation("4294967295"), Some(u64::from(u32::MAX)));
    }
}
