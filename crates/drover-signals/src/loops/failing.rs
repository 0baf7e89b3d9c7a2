//! The failing-test streak: how many consecutive runs of one slot failed with exactly the same
//! set of failing tests. A run that passes, fails differently or names no failing test ends the
//! streak; so does a new commit by the slot (the caller calls [`FailingSetStreak::reset`]).

use crate::normalize::{hash_sequence, line_hash};

/// Names kept as evidence.
const MAX_NAMES: usize = 20;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailingSetStreak {
    signature: Option<u64>,
    count: u32,
    names: Vec<String>,
}

impl FailingSetStreak {
    /// Records one finished run; returns the streak length (0 when this run ends it).
    pub fn observe<'a>(&mut self, failed: bool, names: impl IntoIterator<Item = &'a str>) -> u32 {
        let mut sorted: Vec<&str> = names.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        if !failed || sorted.is_empty() {
            self.reset();
            return 0;
        }
        let sig = hash_sequence(sorted.iter().map(|n| line_hash(n)));
        if self.signature == Some(sig) {
            self.count = self.count.saturating_add(1);
        } else {
            self.signature = Some(sig);
            self.count = 1;
            self.names = sorted
                .iter()
                .take(MAX_NAMES)
                .map(|n| n.to_string())
                .collect();
        }
        self.count
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// The failing tests of the streak (at most 20).
    pub fn names(&self) -> &[String] {
        &self.names
    }
}
