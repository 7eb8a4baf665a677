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

/// Bytes from hex digits, spaces ignored (`"0a 1b2c"`): packets written as
/// a capture shows them.
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
