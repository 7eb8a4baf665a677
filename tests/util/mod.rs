//! Shared test helpers.
#![allow(dead_code)]

pub mod agent;
pub mod faults;
pub mod netns;
pub mod prompb;
pub mod servers;
/// The same file as the unit tests' `testutil::tmpfs`.
#[path = "../../src/testutil/tmpfs.rs"]
pub mod tmpfs;
