//! Integration tests: the terminal UI: rendering, keys, older logs, a real tmux session.
//! One binary per group keeps link time down; the support modules are shared with the
//! other groups through `#[path]`.

#[path = "../common/mod.rs"]
mod common;

mod tui_keys;
mod tui_main;
mod tui_older_logs;
mod tui_render;
mod tui_tmux;
