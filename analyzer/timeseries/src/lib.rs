//! Pure time-series algorithms for Pulse: no network, no database, no
//! clock. Everything here takes points in and gives numbers out, so the
//! analyzer can run it live and the test suite and benchmarks can replay
//! recorded series through exactly the same code.
//!
//! - [`anomaly`]: the streaming, causal anomaly detector.
//! - [`csv`]: offline scoring of `timestamp,value` files and directory
//!   trees with that same detector.

pub mod anomaly;
pub mod csv;
mod window;
