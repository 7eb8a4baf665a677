//! `ProbeError`: what can go wrong in a probe run.

/// Why a probe run failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0}")]
    Other(String),
}
