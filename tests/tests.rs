//! The integration tests: one binary (`autotests = false`), one module per area.
//! Tests that need root or a Debian package fail with a message naming it.

// Helpers: temp dirs, network namespaces, real VictoriaMetrics/Prometheus.
mod util;

// `sentinel` command line: exit codes, --help, check, trigger.
mod cli;
// Ping over loopback and through network namespaces with loss and delay.
mod probe;
// The tcp, http, dns, exec and scrape plugins against local servers.
mod plugins;
// gzip servers, down reasons, every plugin on the status page, HELP/TYPE.
mod probe_health;
// The agent end to end against real VictoriaMetrics and Prometheus.
mod pipeline;
// /metrics, /healthz, check, wal stats, SIGHUP reload.
mod operate;
// The local status page in a real browser.
mod status_page;
// The HTTP listener against idle, slowloris and non-reading clients.
mod listener;
// Fault injection: WAL caps, damage, disk full, backend faults, crashes, clocks.
mod faults;
// kill -9 in a loop, both sync modes: nothing accepted is lost.
mod crashloop;
// Thin links (issue 15): the present first after an outage, the bandwidth
// cap at a shaped link, kill -9 in a backfill, Prometheus out of order.
mod thin;
