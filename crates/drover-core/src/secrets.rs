//! Recognises secret-bearing environment keys so their values are never printed, rendered,
//! logged or stored. Matching is by name only: drover never inspects the value to decide.

/// Shown in place of a secret value.
pub const REDACTED: &str = "<redacted>";

/// True for keys like `OPENAI_API_KEY`, `GH_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `DB_PASSWORD`.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    k.ends_with("_KEY")
        || k == "KEY"
        || k.ends_with("_TOKEN")
        || k == "TOKEN"
        || k.ends_with("_SECRET")
        || k.contains("SECRET")
        || k.contains("PASSWORD")
        || k.contains("PASSWD")
        || k.contains("CREDENTIAL")
        || k.ends_with("_PAT")
}

/// The value to show for `key`: itself, or [`REDACTED`] for secrets.
pub fn display_value<'v>(key: &str, value: &'v str) -> &'v str {
    if is_secret_key(key) { REDACTED } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_common_secret_names() {
        for k in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GH_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
            "client_secret",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "PATH",
            "HOME",
            "RUST_LOG",
            "KEYBOARD_LAYOUT",
            "TOKENIZERS_PARALLELISM",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
        assert_eq!(display_value("GH_TOKEN", "abc"), REDACTED);
        assert_eq!(display_value("MODE", "fast"), "fast");
    }
}
