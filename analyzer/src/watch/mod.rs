//! `watch`: a live view of the hosts for on-call: key metrics per target, active alerts and
//! the busiest process groups, refreshed every `--interval`.
//!
//! It reads the analyzer's history read-only, like `check`, rather than the REST API: it
//! then works on the host whether or not the analyzer's web server is reachable (bound to
//! localhost, TLS, a token for reads), and sees exactly what `check` and `report` see.
//!
//! * [`snapshot`]: one read of the history into rows of display strings.
//! * [`text`]: the same tables as plain text, for pipes and cron (stdout not a terminal).
//! * [`tui`]: the refreshing full-screen view (ratatui over crossterm: plain ANSI, no mouse,
//!   so it works over SSH).

pub mod snapshot;
pub mod text;
pub mod tui;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use crate::storage::{Reader, StoreError};

/// Faster refreshes would only spin: the history changes once per scrape.
const MIN_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("no history database at {} (has the analyzer run yet?)", .0.display())]
    NoHistory(std::path::PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// When a snapshot was taken, to the second: the view is live, so seconds matter.
fn taken_at(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Shows the live view on a terminal, or prints one snapshot when stdout is not one.
pub fn run(db: &Path, interval: Duration, out: &mut impl Write) -> Result<(), WatchError> {
    if !db.exists() {
        return Err(WatchError::NoHistory(db.to_owned()));
    }
    let reader = Reader::open(db)?;
    if std::io::stdout().is_terminal() {
        tui::run(&reader, db, interval.max(MIN_INTERVAL))
    } else {
        let snapshot = snapshot::take(&reader, crate::storage::now_ms())?;
        match text::write(&snapshot, db, out) {
            // `watch | head`: the reader has what it wanted.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }
}
