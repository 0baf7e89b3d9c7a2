//! drover: a terminal supervisor for fleets of AI coding-agent containers.
pub mod signals;
