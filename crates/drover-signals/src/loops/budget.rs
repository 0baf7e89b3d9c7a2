//! Token budget: usage printed by the agent, summed per task (the caller resets the meter when
//! the slot's task changes) and judged against warn/alert thresholds and a round cap.
//!
//! Recognised usage lines: stream-JSON objects with a `usage` object (top level or inside
//! `message`) counting `input_tokens` + `output_tokens` (or `prompt_tokens` +
//! `completion_tokens`, or `total_tokens`); `type: "result"` lines are skipped because they
//! repeat the session total already counted per message. Plain text: `tokens=N` or
//! `tokens: N` (digits may be grouped with `,` or `_`). Each usage line is one round.

/// JSON lines longer than this are not parsed.
const MAX_JSON_BYTES: usize = 64 * 1024;

/// Tokens in one usage line, if it is one.
pub fn usage_tokens(text: &str) -> Option<u64> {
    let t = text.trim_start();
    if t.starts_with('{') {
        return json_usage(t);
    }
    text_marker(t)
}

fn json_usage(line: &str) -> Option<u64> {
    if line.len() > MAX_JSON_BYTES || !line.contains("usage") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v.get("type").and_then(|t| t.as_str()) == Some("result") {
        return None;
    }
    let usage = v
        .get("usage")
        .or_else(|| v.get("message").and_then(|m| m.get("usage")))?;
    let n = |k: &str| usage.get(k).and_then(serde_json::Value::as_u64);
    match (n("input_tokens"), n("output_tokens")) {
        (None, None) => match (n("prompt_tokens"), n("completion_tokens")) {
            (None, None) => n("total_tokens"),
            (p, c) => Some(p.unwrap_or(0).saturating_add(c.unwrap_or(0))),
        },
        (i, o) => Some(i.unwrap_or(0).saturating_add(o.unwrap_or(0))),
    }
}

fn text_marker(line: &str) -> Option<u64> {
    let lower_at = |i: usize| line.as_bytes().get(i).map(u8::to_ascii_lowercase);
    let mut from = 0;
    while let Some(pos) = line.get(from..)?.find("tokens") {
        let start = from + pos;
        let word_start =
            start == 0 || !lower_at(start - 1).is_some_and(|b| b.is_ascii_alphabetic());
        let mut i = start + "tokens".len();
        from = i;
        if !word_start || !matches!(lower_at(i), Some(b'=' | b':')) {
            continue;
        }
        i += 1;
        while lower_at(i) == Some(b' ') {
            i += 1;
        }
        let mut value: u64 = 0;
        let mut digits = 0;
        while let Some(b) = lower_at(i) {
            match b {
                b'0'..=b'9' => {
                    value = value.saturating_mul(10).saturating_add(u64::from(b - b'0'));
                    digits += 1;
                }
                b',' | b'_' if digits > 0 => {}
                _ => break,
            }
            i += 1;
        }
        if digits > 0 {
            return Some(value);
        }
    }
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BudgetLimits {
    pub warn_tokens: u64,
    pub alert_tokens: u64,
    pub max_rounds: u32,
}

impl Default for BudgetLimits {
    fn default() -> Self {
        Self {
            warn_tokens: 20_000,
            alert_tokens: 50_000,
            max_rounds: 50,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BudgetLevel {
    Ok,
    Warn,
    /// Over the alert threshold or the round cap.
    Alert,
}

/// Running totals of one task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BudgetMeter {
    pub tokens: u64,
    pub rounds: u32,
    level: Option<BudgetLevel>,
}

impl BudgetMeter {
    /// Adds usage; returns the new level when it went up.
    pub fn add(&mut self, limits: &BudgetLimits, tokens: u64, rounds: u32) -> Option<BudgetLevel> {
        self.tokens = self.tokens.saturating_add(tokens);
        self.rounds = self.rounds.saturating_add(rounds);
        let level = self.level_for(limits);
        let before = self.level.unwrap_or(BudgetLevel::Ok);
        self.level = Some(level);
        (level > before).then_some(level)
    }

    pub fn level(&self) -> BudgetLevel {
        self.level.unwrap_or(BudgetLevel::Ok)
    }

    fn level_for(&self, limits: &BudgetLimits) -> BudgetLevel {
        if self.tokens >= limits.alert_tokens || self.rounds >= limits.max_rounds {
            BudgetLevel::Alert
        } else if self.tokens >= limits.warn_tokens {
            BudgetLevel::Warn
        } else {
            BudgetLevel::Ok
        }
    }

    /// One line for alerts and `drover scan`.
    pub fn describe(&self, limits: &BudgetLimits) -> String {
        format!(
            "{} tokens in {} rounds on this task (warn at {}, alert at {}, at most {} rounds)",
            self.tokens, self.rounds, limits.warn_tokens, limits.alert_tokens, limits.max_rounds
        )
    }
}
