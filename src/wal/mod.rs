//! The write-ahead log. SKELETON.

pub mod record;
