//! The last period each schedule delivered to each channel, in the analyzer's SQLite
//! database: a restart then neither sends a period twice nor forgets one it missed.
//!
//! A period is recorded after its delivery to that channel ended (sent, or failed for good
//! after the channel's retries), so a stop in the middle of a delivery sends it again on
//! restart: at-least-once, like the alert outbox.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, thiserror::Error)]
pub enum ScheduleStoreError {
    #[error("report schedule database {path}: {error}")]
    Open {
        path: String,
        error: rusqlite::Error,
    },
    #[error("report schedule database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS report_deliveries (
    schedule TEXT NOT NULL,
    channel TEXT NOT NULL,
    fire_ms INTEGER NOT NULL,
    finished_at INTEGER,
    error TEXT,
    PRIMARY KEY (schedule, channel)
) WITHOUT ROWID;
";

pub struct ScheduleStore {
    conn: Connection,
}

impl ScheduleStore {
    pub fn open(path: &Path) -> Result<Self, ScheduleStoreError> {
        let wrap = |error| ScheduleStoreError::Open {
            path: path.display().to_string(),
            error,
        };
        let conn = Connection::open(path).map_err(wrap)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(wrap)?;
        conn.execute_batch(SCHEMA).map_err(wrap)?;
        Ok(Self { conn })
    }

    /// The fire time last handled for (`schedule`, `channel`); a pair seen for the first
    /// time starts at `baseline`, so a new schedule does not send for periods before it
    /// existed.
    pub fn last_fire(
        &self,
        schedule: &str,
        channel: &str,
        baseline: i64,
    ) -> Result<i64, ScheduleStoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO report_deliveries (schedule, channel, fire_ms) VALUES (?1, ?2, ?3)",
            params![schedule, channel, baseline],
        )?;
        let fire = self
            .conn
            .query_row(
                "SELECT fire_ms FROM report_deliveries WHERE schedule = ?1 AND channel = ?2",
                params![schedule, channel],
                |row| row.get(0),
            )
            .optional()?;
        Ok(fire.unwrap_or(baseline))
    }

    /// Records that the period ending at `fire_ms` is done for this channel.
    pub fn finish(
        &self,
        schedule: &str,
        channel: &str,
        fire_ms: i64,
        finished_at: i64,
        error: Option<&str>,
    ) -> Result<(), ScheduleStoreError> {
        self.conn.execute(
            "INSERT INTO report_deliveries (schedule, channel, fire_ms, finished_at, error)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (schedule, channel) DO UPDATE
             SET fire_ms = excluded.fire_ms, finished_at = excluded.finished_at,
                 error = excluded.error",
            params![schedule, channel, fire_ms, finished_at, error],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_then_finished_periods_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.db");
        let store = ScheduleStore::open(&db).unwrap();
        assert_eq!(store.last_fire("daily", "mail", 100).unwrap(), 100);
        assert_eq!(
            store.last_fire("daily", "mail", 200).unwrap(),
            100,
            "the baseline is set once"
        );
        store.finish("daily", "mail", 300, 301, None).unwrap();
        drop(store);
        let store = ScheduleStore::open(&db).unwrap();
        assert_eq!(store.last_fire("daily", "mail", 999).unwrap(), 300);
        assert_eq!(store.last_fire("daily", "slack", 999).unwrap(), 999);
    }
}
