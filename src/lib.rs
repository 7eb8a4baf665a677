//! Sentinel: a monitoring agent for edge routers and gateways.
//!
//! It probes devices, keeps every sample in a write-ahead log on disk, and
//! ships the log over Prometheus remote write.
//!
//! # Layout
//!
//! - `config`: the YAML file → a validated `Config`.
//! - `sample`: `Sample`, `Labels` and the identifier newtypes.
//! - `probe`: the `Probe` actor and one folder per plugin (`ping` with its
//!   shared `pinger` and socket code in `icmp`, `tcp`, `http`, `dns`,
//!   `exec`, `scrape`; `textformat` parses the Prometheus text format,
//!   `net` resolves names for ping, tcp and http).
//!   Each plugin's `config.rs` holds its config keys, reader, `trigger`
//!   arguments and metric declarations; `probe::PLUGINS` lists them.
//! - `proto`: the remote-write protobuf messages, which the WAL stores and
//!   the shipper sends.
//! - `wal`: the `Wal` actor over sled; records, cursors, retention.
//! - `ship`: remote-write encoding and the `Shipper` actor per backend.
//! - `supervisor`: builds the actors from the config, reload, ordered stop.
//! - `logging`: JSON or text log lines.
//! - `time`: civil dates to and from days since 1970-01-01; `random`:
//!   random numbers from std (ICMP identifiers and tokens, DNS ids).
//! - `telemetry`: counters, `/metrics`, `/healthz`, the status page.
//! - `tls`: CA files and basic auth shared by the HTTP clients.
//! - `memory`: how the agent asks glibc's malloc to keep its memory.
//! - `cli`: the command line, one file per command (`trigger`, `check`,
//!   `wal_stats`).

pub mod cli;
pub mod config;
pub mod logging;
pub mod memory;
pub mod probe;
pub mod proto;
pub(crate) mod random;
pub mod sample;
pub mod ship;
pub mod supervisor;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod testutil;
pub(crate) mod time;
pub mod tls;
pub mod wal;
