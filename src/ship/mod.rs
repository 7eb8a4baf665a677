//! Remote write and the shipper. SKELETON.

pub mod backoff;
pub mod proto;
pub mod remote_write;
