//! pulse-exporter: a Prometheus exporter for Linux hosts.
//!
//! `main.rs` only parses flags and reports errors; everything else lives here so that tests
//! can build the router ([`server::app`]) without a process.

pub mod cli;
pub mod collectors;
pub mod config;
pub mod exposition;
pub mod logging;
pub mod paths;
pub mod probe;
pub mod self_metrics;
pub mod server;
pub mod tls_client;
pub mod web_config;
