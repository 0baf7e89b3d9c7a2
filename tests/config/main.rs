//! Integration tests: configuration files and their diagnostics.
//! One binary per group keeps link time down; the support modules are shared with the
//! other groups through `#[path]`.

mod config_check;
mod config_docker_socket;
mod config_example;
