//! Anomaly events in the history database: one row per event with its series, start, end,
//! peak and root-cause hints.
//!
//! The table lives beside the samples so `status`, backups and retention treat it like the
//! rest of the history. It is created with `IF NOT EXISTS` and its hints are one JSON column,
//! so a database from before anomaly detection opens unchanged and later hint fields need no
//! schema change. The analyzer writes it on its own connection (WAL serialises writers).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::storage::StoreError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS anomaly_events (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    end_ms INTEGER,
    peak_score REAL NOT NULL,
    peak_ms INTEGER NOT NULL,
    correlations TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS anomaly_events_last ON anomaly_events (last_ms);
";

/// One anomaly event: a run of anomalous points on one series, with the series that moved
/// with it. This is also what the alerting engine consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyEvent {
    pub id: i64,
    pub target: String,
    /// Metric name of the anomalous series.
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    /// First anomalous point (ms since the epoch).
    pub start_ms: i64,
    /// Last anomalous point so far.
    pub last_ms: i64,
    /// When the event ended; `None` while it is active.
    pub end_ms: Option<i64>,
    pub peak_score: f64,
    pub peak_ms: i64,
    /// Stored series most correlated with this one around the event, strongest first
    /// (found when the event started, recomputed over the whole event when it ends).
    pub correlations: Vec<Correlation>,
}

/// A series that moved with an event's series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    pub target: String,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    /// Pearson correlation coefficient over the aligned points.
    pub r: f64,
    /// Number of aligned points `r` rests on.
    pub points: usize,
    /// One line for a human, e.g. `pulse:cpu_utilisation:ratio on host correlates with
    /// pulse:process_cpu:rate{groupname="java"} on host, r=0.93`.
    pub hint: String,
}

/// The writer side, owned by the live engine.
pub struct EventStore {
    conn: Connection,
}

fn wrap(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Open {
        path: path.to_owned(),
        source,
    }
}

impl EventStore {
    /// Opens (and if needed creates) the events table in the history database.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(wrap(path))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(wrap(path))?;
        conn.execute_batch(SCHEMA).map_err(wrap(path))?;
        Ok(Self { conn })
    }

    /// Events left open by a previous run that stopped mid-event end at their last
    /// anomalous point: nothing is known about them after that.
    pub fn close_orphans(&self) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE anomaly_events SET end_ms = last_ms WHERE end_ms IS NULL",
            [],
        )?)
    }

    /// Records a new active event with its first correlations and returns its id. It
    /// peaks at its start; `last_ms` is when it was last seen anomalous, later than the
    /// start when the detector confirmed the point some samples after it.
    pub fn start(
        &self,
        target: &str,
        metric: &str,
        labels_json: &str,
        (start_ms, last_ms): (i64, i64),
        score: f64,
        correlations: &[Correlation],
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO anomaly_events
             (target, name, labels, start_ms, last_ms, peak_score, peak_ms, correlations)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?4, ?7)",
            params![
                target,
                metric,
                labels_json,
                start_ms,
                last_ms,
                score,
                correlations_json(correlations)
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Another anomalous point of an active event.
    pub fn extend(
        &self,
        id: i64,
        last_ms: i64,
        peak_score: f64,
        peak_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE anomaly_events SET last_ms = ?2, peak_score = ?3, peak_ms = ?4 WHERE id = ?1",
            params![id, last_ms, peak_score, peak_ms],
        )?;
        Ok(())
    }

    /// Ends an event and attaches its correlations.
    pub fn finish(
        &self,
        id: i64,
        end_ms: i64,
        correlations: &[Correlation],
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE anomaly_events SET end_ms = ?2, correlations = ?3 WHERE id = ?1",
            params![id, end_ms, correlations_json(correlations)],
        )?;
        Ok(())
    }

    /// Drops events that ended before `before_ms` (history retention).
    pub fn prune(&self, before_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM anomaly_events WHERE end_ms IS NOT NULL AND end_ms < ?1",
            [before_ms],
        )?)
    }

    pub fn get(&self, id: i64) -> Result<Option<AnomalyEvent>, StoreError> {
        Ok(self
            .conn
            .query_row(&format!("{SELECT} WHERE id = ?1"), [id], event_row)
            .optional()?)
    }
}

fn correlations_json(correlations: &[Correlation]) -> String {
    serde_json::to_string(correlations).unwrap_or_else(|_| "[]".to_owned())
}

const SELECT: &str = "SELECT id, target, name, labels, start_ms, last_ms, end_ms, peak_score,
                             peak_ms, correlations FROM anomaly_events";

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AnomalyEvent> {
    let labels: String = r.get(3)?;
    let correlations: String = r.get(9)?;
    Ok(AnomalyEvent {
        id: r.get(0)?,
        target: r.get(1)?,
        metric: r.get(2)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        start_ms: r.get(4)?,
        last_ms: r.get(5)?,
        end_ms: r.get(6)?,
        peak_score: r.get(7)?,
        peak_ms: r.get(8)?,
        correlations: serde_json::from_str(&correlations).unwrap_or_default(),
    })
}

/// Events active at or after `since_ms`, newest first, at most `limit` (plus whether there
/// were more). Reads on its own read-only connection; a database without the table (live
/// detection never enabled) has no events.
pub fn list(
    path: &Path,
    since_ms: i64,
    limit: usize,
) -> Result<(Vec<AnomalyEvent>, bool), StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(wrap(path))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(wrap(path))?;
    let exists: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'anomaly_events'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok((Vec::new(), false));
    }
    let mut events: Vec<AnomalyEvent> = conn
        .prepare(&format!(
            "{SELECT} WHERE end_ms IS NULL OR end_ms >= ?1 OR last_ms >= ?1
             ORDER BY start_ms DESC, id DESC LIMIT ?2"
        ))?
        .query_map(params![since_ms, (limit + 1) as i64], event_row)?
        .collect::<Result<_, _>>()?;
    let more = events.len() > limit;
    events.truncate(limit);
    Ok((events, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_listing_and_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        assert_eq!(list(&path.clone(), 0, 10).ok(), None, "no database yet");
        // A history database from before anomaly detection (or with it disabled) lists none.
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE samples (series_id INTEGER)")
            .unwrap();
        assert_eq!(list(&path, 0, 10).unwrap(), (Vec::new(), false));
        let store = EventStore::open(&path).unwrap();
        assert_eq!(list(&path, 0, 10).unwrap(), (Vec::new(), false));

        let old = store
            .start("host", "node_load1", "{}", (1_000, 1_000), 0.4, &[])
            .unwrap();
        store.extend(old, 2_000, 0.6, 2_000).unwrap();
        let hint = Correlation {
            target: "host".into(),
            metric: "pulse:process_cpu:rate".into(),
            labels: BTreeMap::from([("groupname".into(), "java".into())]),
            r: 0.93,
            points: 40,
            hint: "x".into(),
        };
        store
            .finish(old, 3_000, std::slice::from_ref(&hint))
            .unwrap();
        let open = store
            .start(
                "host",
                "pulse:cpu_utilisation:ratio",
                "{\"a\":\"b\"}",
                (10_000, 10_000),
                0.5,
                std::slice::from_ref(&hint),
            )
            .unwrap();

        let (events, more) = list(&path, 0, 10).unwrap();
        assert!(!more);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].id, open, "newest first");
        assert_eq!(events[0].end_ms, None);
        assert_eq!(events[0].labels["a"], "b");
        assert_eq!(events[0].correlations, vec![hint.clone()]);
        assert_eq!(events[1].peak_score, 0.6);
        assert_eq!(events[1].end_ms, Some(3_000));
        assert_eq!(events[1].correlations, vec![hint]);
        // `since` keeps active events and those that ended after it.
        let (events, _) = list(&path, 5_000, 10).unwrap();
        assert_eq!(events.len(), 1);
        let (events, more) = list(&path, 0, 1).unwrap();
        assert!(more && events.len() == 1);

        // A restart closes what the previous run left open.
        drop(store);
        let store = EventStore::open(&path).unwrap();
        assert_eq!(store.close_orphans().unwrap(), 1);
        assert_eq!(store.get(open).unwrap().unwrap().end_ms, Some(10_000));
        assert_eq!(store.prune(5_000).unwrap(), 1);
        assert!(store.get(old).unwrap().is_none());
    }
}
