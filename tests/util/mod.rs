//! Shared test helpers.
#![allow(dead_code)]

pub mod agent;
pub mod faults;
pub mod netns;
pub mod prompb;
pub mod servers;
