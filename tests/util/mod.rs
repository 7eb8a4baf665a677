//! Shared test helpers.
#![allow(dead_code)]

pub mod netns;
pub mod servers;
