//! drover-runtime: the container engines behind one port. `port` says what the supervisor asks
//! of an engine in drover's terms (`ContainerRuntime`, `Connector`); `identity` and `spec` say
//! which containers are drover's and what they look like; `docker` is the Engine API adapter
//! and `fake` (feature `fake`) an in-memory engine for tests; `hosts` fans one fleet out over
//! several engines, each behind its own connector.
//!
//! Invariants: bollard types never leave `docker` and `spec`'s create body; the port names no
//! adapter's type; modules import downwards only (identity → spec → port → preflight, docker,
//! fake, hosts), never their importer.

pub mod docker;
#[cfg(feature = "fake")]
pub mod fake;
pub mod hosts;
pub mod identity;
pub mod port;
pub mod preflight;
pub mod spec;

pub use port::*;
