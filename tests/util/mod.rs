//! Shared test helpers.
#![allow(dead_code)]

pub mod agent;
pub mod netns;
pub mod servers;
pub mod faults;
