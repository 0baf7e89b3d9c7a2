//! Who holds a lock: naming the slot behind a lock file from what the file and its commit say.
//!
//! Real fleets commit as one shared git identity and write who they are inside the lock file,
//! so the commit author alone names nobody. The rule, in order (the first that names a slot of
//! this fleet wins):
//! 1. a `Slot:` / `Agent:` / `Owner:` / `Locked by:` line naming a slot;
//! 2. a `Container:` / `Host:` / `Hostname:` line, or any word of the file, equal to a slot's
//!    container id (full, or its 12-character short form) or hostname — containers of earlier
//!    generations included, as long as the directory was told about them;
//! 3. the commit author, when it is a slot name;
//! 4. otherwise nobody ("unknown"): a wrong slot would be worse than none.
//!
//! Invariant: the result is always a slot the directory knows, or `None`. Pure: no I/O.

use std::collections::{BTreeSet, HashMap};

/// What a lock file and the commit that added it say about the holder (adapter output).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HolderEvidence {
    /// Values of `Slot:`/`Agent:`/`Owner:`/`Locked by:` lines (and their kin), in file order.
    pub named: Vec<String>,
    /// Values of `Container:`/`Host:`/`Hostname:` lines, in file order.
    pub machines: Vec<String>,
    /// Every word of the file's beginning (bounded), in file order.
    pub tokens: Vec<String>,
    /// Author name of the claiming commit.
    pub author: Option<String>,
}

/// Length of Docker's short container id.
pub const SHORT_ID_LEN: usize = 12;

/// The fleet's slots and every container id and hostname known to have been theirs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotDirectory {
    slots: BTreeSet<String>,
    /// Container ids (full and short) and hostnames → slot.
    machines: HashMap<String, String>,
}

/// Bound on remembered machines (container ids of many generations); the map is cleared and
/// rebuilt from current slots beyond it rather than grown forever.
const MAX_MACHINES: usize = 100_000;

impl SlotDirectory {
    /// Adds a slot and its container hostname; true when anything was new.
    pub fn add_slot(&mut self, slot: &str, hostname: &str) -> bool {
        let mut new = !self.slots.contains(slot);
        if new {
            self.slots.insert(slot.to_owned());
        }
        if !hostname.is_empty() {
            new |= self.insert_machine(hostname, slot);
        }
        new
    }

    /// Records that `container_id` belonged to `slot` (any generation); true when new.
    pub fn add_container(&mut self, slot: &str, container_id: &str) -> bool {
        if container_id.is_empty() {
            return false;
        }
        let mut new = self.insert_machine(container_id, slot);
        if let Some(short) = container_id.get(..SHORT_ID_LEN)
            && short.len() < container_id.len()
        {
            new |= self.insert_machine(short, slot);
        }
        new
    }

    /// Cheap when already known (called for every slot of every snapshot).
    fn insert_machine(&mut self, key: &str, slot: &str) -> bool {
        if self.machines.get(key).is_some_and(|s| s == slot) {
            return false;
        }
        if self.machines.len() >= MAX_MACHINES && !self.machines.contains_key(key) {
            self.machines.clear();
        }
        self.machines.insert(key.to_owned(), slot.to_owned());
        true
    }

    pub fn is_slot(&self, name: &str) -> bool {
        self.slots.contains(name)
    }

    /// Number of container ids and hostnames known.
    pub fn machines(&self) -> usize {
        self.machines.len()
    }

    /// The holding slot, by the module's rule; `None` when nothing names one.
    pub fn attribute(&self, ev: &HolderEvidence) -> Option<String> {
        if let Some(slot) = ev.named.iter().find(|n| self.is_slot(n)) {
            return Some(slot.clone());
        }
        let machine = |v: &String| self.machines.get(v.as_str()).cloned();
        if let Some(slot) = ev.machines.iter().find_map(machine) {
            return Some(slot);
        }
        if let Some(slot) = ev.tokens.iter().find_map(machine) {
            return Some(slot);
        }
        ev.author.as_ref().filter(|a| self.is_slot(a)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> SlotDirectory {
        let mut d = SlotDirectory::default();
        d.add_slot("implementer-1", "implementer-1");
        d.add_slot("implementer-2", "implementer-2");
        d.add_container("implementer-2", &"ab".repeat(32));
        d
    }

    fn ev(named: &[&str], machines: &[&str], tokens: &[&str], author: &str) -> HolderEvidence {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        HolderEvidence {
            named: v(named),
            machines: v(machines),
            tokens: v(tokens),
            author: Some(author.to_owned()),
        }
    }

    #[test]
    fn the_documented_order_holds() {
        let d = dir();
        // A named slot beats a machine naming another slot.
        let e = ev(&["implementer-1"], &["implementer-2"], &[], "Claude");
        assert_eq!(d.attribute(&e).as_deref(), Some("implementer-1"));
        // A name that is no slot falls through to the machine line.
        let e = ev(&["claude-7"], &["abababababab"], &[], "Claude");
        assert_eq!(d.attribute(&e).as_deref(), Some("implementer-2"));
        // Any word equal to a full container id.
        let id = "ab".repeat(32);
        let e = ev(&[], &[], &["working", &id], "Claude");
        assert_eq!(d.attribute(&e).as_deref(), Some("implementer-2"));
        // The author only when it is a slot.
        assert_eq!(
            d.attribute(&ev(&[], &[], &[], "implementer-1")).as_deref(),
            Some("implementer-1")
        );
        // Shared identity and nothing else: unknown, never a wrong slot.
        assert_eq!(
            d.attribute(&ev(&["agent"], &[], &["parser"], "Claude Opus 4.6")),
            None
        );
    }
}
