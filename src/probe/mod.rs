//! Probes: the `Probe` actor (one per enabled task) and one file per plugin.
//!
//! SKELETON: the actor is being written. `ping`/`icmp`/`error` belong to the ping work.

pub mod error;
pub mod icmp;
pub mod ping;

pub use error::ProbeError;
