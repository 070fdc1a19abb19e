//! pulse-analyzer: scrapes pulse-exporter (or reads a Prometheus-compatible API) into a
//! local SQLite history and serves it as JSON and as its own `/metrics`.
//!
//! `main.rs` only parses flags and reports errors; everything else lives here so that tests
//! can drive the pieces without a process.

pub mod alerting;
pub mod analysis;
pub mod anomaly;
pub mod api;
pub mod app;
pub mod capacity;
pub mod cli;
pub mod config;
pub mod console;
pub mod derived;
pub mod fleet;
pub mod health;
pub mod launcher;
pub mod parse;
pub mod recent;
pub mod recommend;
pub mod report;
pub mod report_api;
pub mod schedule;
pub mod scrape;
pub mod storage;
pub mod suggest;
pub mod units;
pub mod watch;
pub mod window;
