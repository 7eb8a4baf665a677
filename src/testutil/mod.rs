//! Helpers for the unit tests. Each file stands alone (std and the
//! crate's dependencies only, no `crate::` paths) so that the integration
//! tests include the same file with `#[path]` (`tests/util/mod.rs`):
//! one copy for both.

// Not every test uses every part of them.
pub mod alloc;
#[allow(dead_code)]
pub mod http_server;
#[allow(dead_code)]
pub mod tmpfs;
