//! Integration tests: signals through drover's faces — `drover scan` on the real binary, and
//! usage-limit notices read with the supervisor's time zone. The readers themselves are tested
//! in `crates/drover-signals/tests`.

mod quota_notices;
mod scan_cli;
