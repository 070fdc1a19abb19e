//! Pure time-series algorithms for Pulse: no network, no database, no
//! clock. Everything here takes points in and gives numbers out, so the
//! analyzer can run it live and the test suite and benchmarks can replay
//! recorded series through exactly the same code.
//!
//! - [`anomaly`]: the streaming, causal anomaly detector.
//! - [`csv`]: offline scoring of `timestamp,value` files and directory
//!   trees with that same detector.
//! - [`forecast`]: time to exhaustion from trend + daily profile with a
//!   prediction interval, and Prometheus' `predict_linear` for comparison.
//! - [`patterns`]: daily/weekly rhythm and peak hours of a series.

pub mod anomaly;
pub mod csv;
pub mod forecast;
pub mod patterns;
mod window;
