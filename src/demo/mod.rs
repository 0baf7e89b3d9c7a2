//! `drover demo`'s parts: simulated agents (`drover agent-sim`), the locally built image they
//! run in, and the throwaway fleet (upstream repo, config, data dir) plus its clean-up.
//!
//! Invariant: the demo only provides the agents. They coordinate through a real bare git repo
//! with real compare-and-swap pushes and print real-format runner output, so everything drover
//! shows during a demo is its real behaviour.

pub mod agent;
pub mod clean;
pub mod fleet;
pub mod image;
pub mod runner_output;
pub mod team_repo;

pub use agent::{AgentOptions, Behaviour, run_agent, run_agent_with};
pub use clean::{CleanReport, clean};
pub use fleet::{DemoLayout, DemoOptions, default_dir, find_previous, prepare};
pub use image::{DEFAULT_IMAGE_TAG, DemoImage, ensure_demo_image, ensure_demo_image_from};
