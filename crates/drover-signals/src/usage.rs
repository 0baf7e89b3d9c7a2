//! Token usage by kind and its cost: what an agent's output says it spent, counted once per
//! message, and an editable price table that turns it into dollars.
//!
//! Counting rules (why: the same usage is printed more than once):
//! - Claude stream-json prints one `assistant` line per content block, each repeating the
//!   message's `usage`; a message is counted once, by its `message.id` (the largest value seen
//!   per kind, since early blocks may carry partial output counts).
//! - The `result` line carries the session's totals: only what the messages did not already
//!   account for is added (never the totals on top of the messages).
//! - Codex `turn.completed` lines carry one turn's usage; `cached_input_tokens` is part of
//!   `input_tokens` there and is counted as cache reads, not twice.
//! - Plain `tokens=N` lines count as input+output of unknown kind (`other`).
//!
//! Pure and bounded: at most [`MAX_MESSAGES`] message ids and [`MAX_SESSIONS`] sessions are
//! remembered (older ones are forgotten, which can only under-count a very late repeat).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::loops::usage_tokens;

/// Message ids remembered for de-duplication.
pub const MAX_MESSAGES: usize = 256;
/// Sessions whose per-message sums are remembered for the `result` reconciliation.
pub const MAX_SESSIONS: usize = 16;
/// JSON lines longer than this are not parsed.
const MAX_JSON_BYTES: usize = 256 * 1024;
/// The largest context window of any model drover prices (1M tokens). One message reads at
/// most a window (input and cache) and writes at most a window, so one line can add at most
/// twice this; more is a forged or broken line, not spend.
pub const MODEL_WINDOW_TOKENS: u64 = 1_000_000;
/// Tokens one usage line may add before it counts as implausible.
pub const MAX_LINE_TOKENS: u64 = 2 * MODEL_WINDOW_TOKENS;
/// Cost one usage line may add before it counts as implausible: $100 (a full 1M-token window
/// in and out at today's dearest prices stays under it).
pub const MAX_LINE_COST_MICROS: u64 = 100_000_000;

/// Tokens by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_write: u64,
    pub cache_read: u64,
    /// Usage of unknown kind (`tokens=N` lines, `total_tokens` only).
    #[serde(default)]
    pub other: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_write)
            .saturating_add(self.cache_read)
            .saturating_add(self.other)
    }

    /// Input and output (what the per-task budget has always counted).
    pub fn io(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.other)
    }

    pub fn add(&mut self, o: &Tokens) {
        self.input = self.input.saturating_add(o.input);
        self.output = self.output.saturating_add(o.output);
        self.cache_write = self.cache_write.saturating_add(o.cache_write);
        self.cache_read = self.cache_read.saturating_add(o.cache_read);
        self.other = self.other.saturating_add(o.other);
    }

    /// Per kind, how much `self` exceeds `seen` (0 where it does not).
    fn excess_over(&self, seen: &Tokens) -> Tokens {
        Tokens {
            input: self.input.saturating_sub(seen.input),
            output: self.output.saturating_sub(seen.output),
            cache_write: self.cache_write.saturating_sub(seen.cache_write),
            cache_read: self.cache_read.saturating_sub(seen.cache_read),
            other: self.other.saturating_sub(seen.other),
        }
    }

    fn max(&self, o: &Tokens) -> Tokens {
        Tokens {
            input: self.input.max(o.input),
            output: self.output.max(o.output),
            cache_write: self.cache_write.max(o.cache_write),
            cache_read: self.cache_read.max(o.cache_read),
            other: self.other.max(o.other),
        }
    }
}

/// Usage newly accounted for by one line, with the model that spent it when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spent {
    pub tokens: Tokens,
    pub model: Option<String>,
}

/// Counts usage once per message across one log stream.
#[derive(Debug, Default)]
pub struct UsageCounter {
    messages: VecDeque<(String, Tokens)>,
    sessions: VecDeque<(String, Tokens)>,
    /// The last model named by an init or assistant line (result lines name none).
    model: Option<String>,
    /// Usage lines ignored as implausible (see [`MAX_LINE_TOKENS`]), and the last of them.
    implausible: u64,
    last_implausible: Option<String>,
}

impl UsageCounter {
    /// What this line adds, if it reports plausible usage. A line adding more than
    /// [`MAX_LINE_TOKENS`] is ignored and counted in [`Self::implausible`]: agent output is
    /// untrusted, and one forged line must not spend the fleet's daily budget.
    pub fn feed(&mut self, text: &str) -> Option<Spent> {
        let spent = self.read(text)?;
        if spent.tokens.total() > MAX_LINE_TOKENS {
            self.ignore(text);
            return None;
        }
        Some(spent)
    }

    /// Records `text` as an implausible usage line (also for callers that price a line and
    /// find its cost above [`MAX_LINE_COST_MICROS`]).
    pub fn ignore(&mut self, text: &str) {
        self.implausible = self.implausible.saturating_add(1);
        let cut = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
        self.last_implausible = Some(text[..cut].to_string());
    }

    /// Usage lines ignored so far as implausible.
    pub fn implausible(&self) -> u64 {
        self.implausible
    }

    /// The last ignored line (at most 200 characters), for the alert that names it.
    pub fn last_implausible(&self) -> Option<&str> {
        self.last_implausible.as_deref()
    }

    fn read(&mut self, text: &str) -> Option<Spent> {
        let t = text.trim_start();
        if !t.starts_with('{') {
            return usage_tokens(t).map(|n| Spent {
                tokens: Tokens {
                    other: n,
                    ..Tokens::default()
                },
                model: self.model.clone(),
            });
        }
        if t.len() > MAX_JSON_BYTES || !(t.contains("usage") || t.contains("\"model\"")) {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        let kind = v.get("type").and_then(|k| k.as_str()).unwrap_or("");
        let session = v
            .get("session_id")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string();
        if let Some(m) = v
            .get("model")
            .or_else(|| v.get("message").and_then(|m| m.get("model")))
            .and_then(|m| m.as_str())
        {
            self.model = Some(m.to_string());
        }
        match kind {
            "result" => {
                let total = claude_tokens(v.get("usage")?)?;
                let seen = self.session_mut(&session);
                let add = total.excess_over(seen);
                *seen = seen.max(&total);
                self.spent(add)
            }
            "assistant" => {
                let msg = v.get("message")?;
                let usage = claude_tokens(msg.get("usage")?)?;
                let id = msg.get("id").and_then(|i| i.as_str()).unwrap_or("");
                let add = if id.is_empty() {
                    usage
                } else {
                    let seen = self.message_mut(id);
                    let add = usage.excess_over(seen);
                    *seen = seen.max(&usage);
                    add
                };
                self.session_mut(&session).add(&add);
                self.spent(add)
            }
            "turn.completed" => {
                let u = v.get("usage")?;
                let n = |k: &str| u.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
                let cached = n("cached_input_tokens");
                self.spent(Tokens {
                    input: n("input_tokens").saturating_sub(cached),
                    output: n("output_tokens"),
                    cache_read: cached,
                    ..Tokens::default()
                })
            }
            _ => {
                // Other JSON with a usage object: the generic reading (one round each).
                let n = usage_tokens(t)?;
                self.spent(Tokens {
                    other: n,
                    ..Tokens::default()
                })
            }
        }
    }

    fn spent(&self, tokens: Tokens) -> Option<Spent> {
        (tokens.total() > 0).then(|| Spent {
            tokens,
            model: self.model.clone(),
        })
    }

    fn message_mut(&mut self, id: &str) -> &mut Tokens {
        bounded_entry(&mut self.messages, id, MAX_MESSAGES)
    }

    fn session_mut(&mut self, id: &str) -> &mut Tokens {
        bounded_entry(&mut self.sessions, id, MAX_SESSIONS)
    }
}

fn bounded_entry<'a>(
    list: &'a mut VecDeque<(String, Tokens)>,
    id: &str,
    max: usize,
) -> &'a mut Tokens {
    let pos = match list.iter().position(|(k, _)| k == id) {
        Some(p) => p,
        None => {
            if list.len() >= max {
                list.pop_front();
            }
            list.push_back((id.to_string(), Tokens::default()));
            list.len() - 1
        }
    };
    // The position exists: it was found or just pushed.
    &mut list[pos].1
}

/// Anthropic usage: `input_tokens`, `output_tokens`, `cache_creation_input_tokens`,
/// `cache_read_input_tokens` (also accepts OpenAI's prompt/completion names).
fn claude_tokens(u: &serde_json::Value) -> Option<Tokens> {
    let n = |k: &str| u.get(k).and_then(serde_json::Value::as_u64);
    let t = Tokens {
        input: n("input_tokens")
            .or_else(|| n("prompt_tokens"))
            .unwrap_or(0),
        output: n("output_tokens")
            .or_else(|| n("completion_tokens"))
            .unwrap_or(0),
        cache_write: n("cache_creation_input_tokens").unwrap_or(0),
        cache_read: n("cache_read_input_tokens").unwrap_or(0),
        other: 0,
    };
    (u.is_object()).then_some(t)
}

/// Dollars per million tokens of each kind, for one model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
    pub cache_write: f64,
    pub cache_read: f64,
}

/// The `[pricing]` table: model name (or prefix) → prices; `default` for unknown models.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable(pub std::collections::BTreeMap<String, Prices>);

impl PriceTable {
    /// Prices of `model`: the longest table key that is a prefix of it ("claude-sonnet-4-5"
    /// matches "claude-sonnet-4-5-20250929"), else `default`.
    pub fn prices(&self, model: Option<&str>) -> Option<&Prices> {
        model
            .and_then(|m| {
                self.0
                    .iter()
                    .filter(|(k, _)| m.starts_with(k.as_str()))
                    .max_by_key(|(k, _)| k.len())
                    .map(|(_, p)| p)
            })
            .or_else(|| self.0.get("default"))
    }

    /// Cost in micro-dollars (tokens of unknown kind are priced as input).
    pub fn cost_micros(&self, spent: &Spent) -> u64 {
        let Some(p) = self.prices(spent.model.as_deref()) else {
            return 0;
        };
        let t = &spent.tokens;
        let micros = (t.input + t.other) as f64 * p.input
            + t.output as f64 * p.output
            + t.cache_write as f64 * p.cache_write
            + t.cache_read as f64 * p.cache_read;
        // $/Mtok × tokens = µ$.
        micros.round().max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assistant(id: &str, out: u64) -> String {
        format!(
            r#"{{"type":"assistant","message":{{"id":"{id}","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":3,"output_tokens":{out},"cache_creation_input_tokens":100,"cache_read_input_tokens":1000}}}},"session_id":"s"}}"#
        )
    }

    #[test]
    fn a_message_repeated_per_content_block_counts_once() {
        let mut c = UsageCounter::default();
        let first = c.feed(&assistant("m1", 5)).unwrap();
        assert_eq!(first.tokens.cache_read, 1000);
        // The same message's next block: only the output grew.
        let second = c.feed(&assistant("m1", 9)).unwrap();
        assert_eq!(
            second.tokens,
            Tokens {
                output: 4,
                ..Tokens::default()
            }
        );
        assert_eq!(c.feed(&assistant("m1", 9)), None);
        let other = c.feed(&assistant("m2", 1)).unwrap();
        assert_eq!(other.tokens.input, 3);
    }

    #[test]
    fn the_result_adds_only_what_messages_missed() {
        let mut c = UsageCounter::default();
        c.feed(&assistant("m1", 9));
        let r = r#"{"type":"result","subtype":"success","session_id":"s","usage":{"input_tokens":3,"output_tokens":50,"cache_creation_input_tokens":100,"cache_read_input_tokens":1000}}"#;
        let add = c.feed(r).unwrap();
        assert_eq!(
            add.tokens,
            Tokens {
                output: 41,
                ..Tokens::default()
            }
        );
        assert_eq!(c.feed(r), None, "a repeated result adds nothing");
    }

    /// One forged line (a trillion output tokens) would stop the fleet at its daily budget:
    /// it is ignored and counted, and plausible lines around it still count.
    #[test]
    fn an_implausible_usage_line_is_ignored_and_counted() {
        let mut c = UsageCounter::default();
        let forged = r#"{"type":"assistant","message":{"id":"m9","model":"claude-sonnet-4-5","usage":{"input_tokens":1,"output_tokens":1000000000000}},"session_id":"s"}"#;
        assert_eq!(c.feed(forged), None);
        assert_eq!(c.feed("tokens=99999999999"), None);
        assert_eq!(c.implausible(), 2);
        assert_eq!(c.last_implausible(), Some("tokens=99999999999"));
        assert!(c.feed(&assistant("m1", 5)).is_some());
        assert_eq!(c.implausible(), 2);
    }

    #[test]
    fn prices_by_longest_prefix_and_default() {
        let mut t = PriceTable::default();
        t.0.insert(
            "claude-sonnet-4".into(),
            Prices {
                input: 3.0,
                output: 15.0,
                cache_write: 3.75,
                cache_read: 0.3,
            },
        );
        t.0.insert(
            "default".into(),
            Prices {
                input: 1.0,
                ..Prices::default()
            },
        );
        let spent = Spent {
            tokens: Tokens {
                input: 1_000_000,
                output: 1_000,
                cache_write: 0,
                cache_read: 10_000,
                other: 0,
            },
            model: Some("claude-sonnet-4-5-20250929".into()),
        };
        assert_eq!(t.cost_micros(&spent), 3_000_000 + 15_000 + 3_000);
        let unknown = Spent {
            model: Some("gpt-5".into()),
            ..spent
        };
        assert_eq!(t.cost_micros(&unknown), 1_000_000);
    }
}
