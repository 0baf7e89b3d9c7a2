//! The control plane: a versioned protocol over an owner-only Unix socket, so `drover ctl`,
//! `drover status`, `drover events` and `drover attach` reach a running daemon with the same
//! commands and snapshots the in-process TUI uses.

pub mod transport;
