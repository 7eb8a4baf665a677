//! Probes. SKELETON (lead is writing the actor).

pub mod error;
pub mod icmp;
pub mod ping;

pub use error::ProbeError;
