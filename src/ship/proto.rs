//! The remote-write messages live in `crate::proto` (the WAL writes them
//! too); this path stays for the shipper's `proto::` until its
//! `pub mod proto;` becomes `use crate::proto;`.

pub use crate::proto::*;
