//! Shared test helpers.
#![allow(dead_code)]

pub mod agent;
pub mod faults;
/// The same file as the unit tests' `testutil::http_server`.
#[path = "../../src/testutil/http_server.rs"]
pub mod http_server;
pub mod netns;
pub mod prompb;
pub mod servers;
/// The same file as the unit tests' `testutil::tmpfs`.
#[path = "../../src/testutil/tmpfs.rs"]
pub mod tmpfs;
