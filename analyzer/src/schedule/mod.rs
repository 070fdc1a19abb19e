//! Scheduled reports: the `report` mailed daily or weekly through the alerting channels.
//!
//! * [`config`]: the `reports.schedules` section.
//! * [`clock`]: when a schedule fires (UTC only, so no DST gaps or repeats).
//! * [`store`]: the last period each schedule delivered to each channel, so a restart
//!   neither repeats a period nor skips the one it missed while down.
//! * [`mail`]: a built report as a message: summary text plus the rendered file.
//! * [`service`]: one task per schedule inside `run`, and the delivery shared with
//!   `report --send`.
//!
//! Reports go through the same [`Channel`](crate::alerting::channels::Channel) code as
//! alerts (same retries and backoff, same sent/failed counters) but on their own tasks, so a
//! slow report or a dead mail server never holds up an alert.

pub mod clock;
pub mod config;
pub mod mail;
pub mod service;
pub mod store;
