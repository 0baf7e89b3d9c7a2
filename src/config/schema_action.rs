//! The action a `[loops]` detector takes when it fires, as the config spells it. A leaf of
//! the schema, so every detector section (in `schema.rs` and beside it) can name it.

use serde::{Deserialize, Serialize};

/// What a detector does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetectorAction {
    Alert,
    Pause,
    Block,
    Restart,
}
