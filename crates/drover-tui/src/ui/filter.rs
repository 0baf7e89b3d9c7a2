//! Filter queries typed after `/`: space-separated terms, all of which must match. A term is
//! either `field:value` (`state:blocked`, `role:impl`, `health:stalled`, `task:parser`,
//! `slot:…`, `kind:…`) matching when the field starts with the value, or free text matched
//! fuzzily (as a subsequence) against the row's searchable texts. `!` negates a term.
//!
//! Invariants: parsing never fails (an unknown field is kept and matches nothing, and the UI
//! reports it); matching is case-insensitive.

/// One parsed term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    Field {
        field: String,
        value: String,
        negate: bool,
    },
    Fuzzy {
        text: String,
        negate: bool,
    },
}

/// A parsed filter; the empty query matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterQuery {
    pub raw: String,
    pub terms: Vec<Term>,
}

/// What a row offers to the filter: named fields and texts for fuzzy matching.
pub trait Filterable {
    /// The value of `field` (lower-case name), or `None` when the row has no such field.
    fn field(&self, field: &str) -> Option<&str>;
    /// Texts that free terms match against.
    fn fuzzy_texts(&self) -> Vec<&str>;
}

impl FilterQuery {
    pub fn parse(raw: &str) -> Self {
        let terms = raw
            .split_whitespace()
            .filter_map(|t| {
                let (negate, t) = match t.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, t),
                };
                if t.is_empty() {
                    return None;
                }
                Some(match t.split_once(':') {
                    Some((f, v)) if !f.is_empty() => Term::Field {
                        field: f.to_lowercase(),
                        value: v.to_lowercase(),
                        negate,
                    },
                    _ => Term::Fuzzy {
                        text: t.to_string(),
                        negate,
                    },
                })
            })
            .collect();
        Self {
            raw: raw.to_string(),
            terms,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, row: &dyn Filterable) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Field {
                field,
                value,
                negate,
            } => {
                let hit = row
                    .field(field)
                    .is_some_and(|v| v.to_lowercase().starts_with(value.as_str()));
                hit != *negate
            }
            Term::Fuzzy { text, negate } => {
                let hit = row
                    .fuzzy_texts()
                    .iter()
                    .any(|h| super::text::fuzzy_match(h, text));
                hit != *negate
            }
        })
    }

    /// Field names in the query that `known` does not list (for a hint under the input).
    pub fn unknown_fields<'q>(&'q self, known: &[&str]) -> Vec<&'q str> {
        self.terms
            .iter()
            .filter_map(|t| match t {
                Term::Field { field, .. } if !known.contains(&field.as_str()) => {
                    Some(field.as_str())
                }
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        slot: &'static str,
        role: &'static str,
        state: &'static str,
        health: &'static str,
        task: &'static str,
    }

    impl Filterable for Row {
        fn field(&self, field: &str) -> Option<&str> {
            match field {
                "slot" => Some(self.slot),
                "role" => Some(self.role),
                "state" => Some(self.state),
                "health" => Some(self.health),
                "task" => Some(self.task),
                _ => None,
            }
        }
        fn fuzzy_texts(&self) -> Vec<&str> {
            vec![self.slot, self.role, self.task]
        }
    }

    const ROWS: [Row; 3] = [
        Row {
            slot: "implementer-1",
            role: "implementer",
            state: "running",
            health: "healthy",
            task: "parser",
        },
        Row {
            slot: "implementer-2",
            role: "implementer",
            state: "blocked",
            health: "unknown",
            task: "",
        },
        Row {
            slot: "reviewer-1",
            role: "reviewer",
            state: "running",
            health: "stalled",
            task: "lexer-rewrite",
        },
    ];

    fn hits(q: &str) -> Vec<&'static str> {
        let q = FilterQuery::parse(q);
        ROWS.iter()
            .filter(|r| q.matches(*r))
            .map(|r| r.slot)
            .collect()
    }

    #[test]
    fn empty_query_matches_all() {
        assert_eq!(hits("  ").len(), 3);
        assert!(FilterQuery::parse("").is_empty());
    }

    #[test]
    fn field_terms_match_by_prefix() {
        assert_eq!(hits("state:blocked"), ["implementer-2"]);
        assert_eq!(hits("state:block"), ["implementer-2"]);
        assert_eq!(hits("STATE:Blocked"), ["implementer-2"]);
        assert_eq!(hits("role:rev"), ["reviewer-1"]);
        assert_eq!(hits("health:stalled"), ["reviewer-1"]);
        assert_eq!(hits("!state:running"), ["implementer-2"]);
    }

    #[test]
    fn free_text_is_fuzzy_and_terms_combine() {
        assert_eq!(hits("impl2"), ["implementer-2"]);
        assert_eq!(hits("lexer"), ["reviewer-1"]);
        assert_eq!(hits("impl state:running"), ["implementer-1"]);
        assert_eq!(hits("!impl"), ["reviewer-1"]);
        assert!(hits("zzz").is_empty());
    }

    #[test]
    fn unknown_fields_match_nothing_and_are_reported() {
        let q = FilterQuery::parse("colour:red impl");
        assert!(ROWS.iter().all(|r| !q.matches(r)));
        assert_eq!(q.unknown_fields(&["slot", "role"]), ["colour"]);
        // A bare colon is text, not a field.
        assert_eq!(FilterQuery::parse(":x").terms.len(), 1);
    }
}
