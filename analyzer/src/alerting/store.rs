//! Alert history, silences, group state and the notification outbox, in the analyzer's
//! SQLite database (its own tables beside the history, its own connection).
//!
//! # No duplicate, no loss across a restart
//! The engine writes every decision in **one** transaction: the alerts it changed, their
//! state events, the group bookkeeping (what each group last told each channel) and the
//! notifications that decision creates, as `pending` rows. Delivery happens only after
//! that commit and marks each row `sent` or `failed` afterwards. So a restart finds either
//! the decision not taken (it is taken again, once) or taken with its notifications pending
//! (they are delivered, once). The one window left is a crash between a receiver accepting
//! a message and the `sent` mark: that message is sent again (at-least-once, as
//! Alertmanager).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{AlertState, Severity};

#[derive(Debug, thiserror::Error)]
pub enum AlertStoreError {
    #[error("alert database {path}: {error}")]
    Open {
        path: String,
        error: rusqlite::Error,
    },
    #[error("alert database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("alert database: corrupt {what} in row {id}: {message}")]
    Corrupt {
        what: &'static str,
        id: i64,
        message: String,
    },
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    severity TEXT NOT NULL,
    summary TEXT NOT NULL,
    value REAL,
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    resolved_at INTEGER,
    acknowledged_by TEXT,
    acknowledged_at INTEGER,
    silenced_by INTEGER
);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state);
CREATE INDEX IF NOT EXISTS alerts_started ON alerts (started_at);
CREATE TABLE IF NOT EXISTS alert_events (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_alert ON alert_events (alert_id);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_groups (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    group_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    finished_at INTEGER,
    error TEXT
);
CREATE INDEX IF NOT EXISTS notifications_status ON notifications (status);
";

/// One alert: a condition on a thing, from first firing to resolution. A condition that
/// fires again after resolving is a new alert (new `id`, same `fingerprint`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: i64,
    pub fingerprint: String,
    pub source: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub severity: Severity,
    pub summary: String,
    pub value: Option<f64>,
    pub state: AlertState,
    pub started_at: i64,
    pub updated_at: i64,
    pub last_seen: i64,
    pub resolved_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    /// The silence that mutes it now, if any.
    pub silenced_by: Option<i64>,
}

/// Mutes matching alerts (exact label values; `alertname` and `severity` match too) from
/// `starts_at` to `ends_at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    pub id: i64,
    pub matchers: BTreeMap<String, String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
}

impl Silence {
    pub fn is_active(&self, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// What a group last told its channels about each member, and when it speaks next.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, Serialize)]
pub struct GroupState {
    pub route: usize,
    pub labels: BTreeMap<String, String>,
    pub members: BTreeSet<String>,
    /// Fingerprint → what was last sent (`firing:critical`, `resolved`).
    pub notified: BTreeMap<String, String>,
    /// Fingerprints already escalated.
    pub escalated: BTreeSet<String>,
    pub next_flush: Option<i64>,
    pub last_flush: Option<i64>,
}

/// A message for one channel, waiting in (or done with) the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: i64,
    pub channel: String,
    pub group_key: String,
    pub payload: String,
    pub created_at: i64,
    pub status: String,
    pub attempts: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

/// A notification to create, before it has an id.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub channel: String,
    pub group_key: String,
    pub payload: String,
}

/// One engine decision, written atomically by [`AlertStore::commit`].
#[derive(Debug, Default)]
pub struct Batch {
    pub alerts: Vec<Alert>,
    /// (alert id, at, state, severity, actor)
    pub events: Vec<(i64, i64, AlertState, Severity, String)>,
    pub groups: Vec<(String, GroupState)>,
    pub removed_groups: Vec<String>,
    pub notifications: Vec<NewNotification>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.events.is_empty()
            && self.groups.is_empty()
            && self.removed_groups.is_empty()
            && self.notifications.is_empty()
    }
}

/// Which alerts `GET /api/v1/alerts` returns.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub severity: Vec<Severity>,
    pub state: Vec<AlertState>,
    /// Alerts active at some point in [start, end] (ms).
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub limit: usize,
}

pub struct AlertStore {
    conn: Connection,
}

fn corrupt(what: &'static str, id: i64, message: impl ToString) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(AlertStoreError::Corrupt {
            what,
            id,
            message: message.to_string(),
        }),
    )
}

fn alert_row(r: &Row<'_>) -> rusqlite::Result<Alert> {
    let id: i64 = r.get("id")?;
    let labels: String = r.get("labels")?;
    let severity: String = r.get("severity")?;
    let state: String = r.get("state")?;
    Ok(Alert {
        id,
        fingerprint: r.get("fingerprint")?,
        source: r.get("source")?,
        name: r.get("name")?,
        labels: serde_json::from_str(&labels).map_err(|e| corrupt("labels", id, e))?,
        severity: Severity::parse(&severity).ok_or_else(|| corrupt("severity", id, &severity))?,
        summary: r.get("summary")?,
        value: r.get("value")?,
        state: AlertState::parse(&state).ok_or_else(|| corrupt("state", id, &state))?,
        started_at: r.get("started_at")?,
        updated_at: r.get("updated_at")?,
        last_seen: r.get("last_seen")?,
        resolved_at: r.get("resolved_at")?,
        acknowledged_by: r.get("acknowledged_by")?,
        acknowledged_at: r.get("acknowledged_at")?,
        silenced_by: r.get("silenced_by")?,
    })
}

fn silence_row(r: &Row<'_>) -> rusqlite::Result<Silence> {
    let id: i64 = r.get(0)?;
    let matchers: String = r.get(1)?;
    Ok(Silence {
        id,
        matchers: serde_json::from_str(&matchers).map_err(|e| corrupt("matchers", id, e))?,
        starts_at: r.get(2)?,
        ends_at: r.get(3)?,
        created_by: r.get(4)?,
        comment: r.get(5)?,
    })
}

fn notification_row(r: &Row<'_>) -> rusqlite::Result<Notification> {
    Ok(Notification {
        id: r.get(0)?,
        channel: r.get(1)?,
        group_key: r.get(2)?,
        payload: r.get(3)?,
        created_at: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        finished_at: r.get(7)?,
        error: r.get(8)?,
    })
}

const NOTIFICATION_COLUMNS: &str =
    "id, channel, group_key, payload, created_at, status, attempts, finished_at, error";

impl AlertStore {
    pub fn open(path: &Path) -> Result<Self, AlertStoreError> {
        let wrap = |error| AlertStoreError::Open {
            path: path.display().to_string(),
            error,
        };
        let conn = Connection::open(path).map_err(wrap)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        conn.execute_batch(SCHEMA).map_err(wrap)?;
        Ok(Self { conn })
    }

    /// Alerts the engine still tracks: not resolved, or resolved but still a group member
    /// (its resolution not yet told). The caller passes the member fingerprints.
    pub fn load_open(&self, members: &BTreeSet<String>) -> Result<Vec<Alert>, AlertStoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT * FROM alerts WHERE state != 'resolved' ORDER BY id")?;
        let mut alerts: Vec<Alert> = stmt.query_map([], alert_row)?.collect::<Result<_, _>>()?;
        let mut latest = self.conn.prepare(
            "SELECT * FROM alerts WHERE fingerprint = ?1 AND state = 'resolved'
             ORDER BY id DESC LIMIT 1",
        )?;
        for fp in members {
            if alerts.iter().any(|a| &a.fingerprint == fp) {
                continue;
            }
            if let Some(alert) = latest.query_row([fp], alert_row).optional()? {
                alerts.push(alert);
            }
        }
        Ok(alerts)
    }

    pub fn next_alert_id(&self) -> Result<i64, AlertStoreError> {
        let max: Option<i64> = self
            .conn
            .query_row("SELECT max(id) FROM alerts", [], |r| r.get(0))?;
        Ok(max.unwrap_or(0) + 1)
    }

    pub fn load_groups(&self) -> Result<Vec<(String, GroupState)>, AlertStoreError> {
        let mut stmt = self.conn.prepare("SELECT key, state FROM alert_groups")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(key, state)| {
                let state = serde_json::from_str(&state).map_err(|e| AlertStoreError::Corrupt {
                    what: "group state",
                    id: 0,
                    message: format!("{key}: {e}"),
                })?;
                Ok((key, state))
            })
            .collect()
    }

    /// Silences that have not ended by `now`.
    pub fn load_silences(&self, now: i64) -> Result<Vec<Silence>, AlertStoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, matchers, starts_at, ends_at, created_by, comment FROM silences
             WHERE ends_at > ?1 ORDER BY id",
        )?;
        Ok(stmt
            .query_map([now], silence_row)?
            .collect::<Result<_, _>>()?)
    }

    /// All silences, newest first (the API's listing keeps expired ones for the record).
    pub fn all_silences(&self, limit: usize) -> Result<Vec<Silence>, AlertStoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, matchers, starts_at, ends_at, created_by, comment FROM silences
             ORDER BY id DESC LIMIT ?1",
        )?;
        Ok(stmt
            .query_map([limit as i64], silence_row)?
            .collect::<Result<_, _>>()?)
    }

    pub fn insert_silence(&self, silence: &Silence) -> Result<i64, AlertStoreError> {
        self.conn.execute(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                serde_json::to_string(&silence.matchers).unwrap_or_else(|_| "{}".into()),
                silence.starts_at,
                silence.ends_at,
                silence.created_by,
                silence.comment
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ends a silence at `now`; false when there is no such silence still running.
    pub fn expire_silence(&self, id: i64, now: i64) -> Result<bool, AlertStoreError> {
        let changed = self.conn.execute(
            "UPDATE silences SET ends_at = ?2 WHERE id = ?1 AND ends_at > ?2",
            params![id, now],
        )?;
        Ok(changed > 0)
    }

    /// Writes one engine decision atomically; returns the new notifications' ids in order.
    pub fn commit(&mut self, batch: &Batch, now: i64) -> Result<Vec<i64>, AlertStoreError> {
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(batch.notifications.len());
        {
            let mut upsert = tx.prepare_cached(
                "INSERT OR REPLACE INTO alerts (id, fingerprint, source, name, labels, severity,
                 summary, value, state, started_at, updated_at, last_seen, resolved_at,
                 acknowledged_by, acknowledged_at, silenced_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            for a in &batch.alerts {
                upsert.execute(params![
                    a.id,
                    a.fingerprint,
                    a.source,
                    a.name,
                    serde_json::to_string(&a.labels).unwrap_or_else(|_| "{}".into()),
                    a.severity.as_str(),
                    a.summary,
                    a.value.filter(|v| v.is_finite()),
                    a.state.as_str(),
                    a.started_at,
                    a.updated_at,
                    a.last_seen,
                    a.resolved_at,
                    a.acknowledged_by,
                    a.acknowledged_at,
                    a.silenced_by
                ])?;
            }
            let mut event = tx.prepare_cached(
                "INSERT INTO alert_events (alert_id, at, state, severity, actor)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (id, at, state, severity, actor) in &batch.events {
                event.execute(params![id, at, state.as_str(), severity.as_str(), actor])?;
            }
            let mut group = tx.prepare_cached(
                "INSERT OR REPLACE INTO alert_groups (key, state) VALUES (?1, ?2)",
            )?;
            for (key, state) in &batch.groups {
                group.execute(params![
                    key,
                    serde_json::to_string(state).unwrap_or_else(|_| "{}".into())
                ])?;
            }
            let mut remove = tx.prepare_cached("DELETE FROM alert_groups WHERE key = ?1")?;
            for key in &batch.removed_groups {
                remove.execute([key])?;
            }
            let mut notify = tx.prepare_cached(
                "INSERT INTO notifications (channel, group_key, payload, created_at, status)
                 VALUES (?1, ?2, ?3, ?4, 'pending')",
            )?;
            for n in &batch.notifications {
                notify.execute(params![n.channel, n.group_key, n.payload, now])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    pub fn notification(&self, id: i64) -> Result<Option<Notification>, AlertStoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = ?1"),
                [id],
                notification_row,
            )
            .optional()?)
    }

    /// Notifications not yet delivered or given up, oldest first (resumed at start-up).
    pub fn pending_notifications(&self) -> Result<Vec<Notification>, AlertStoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE status = 'pending' ORDER BY id"
        ))?;
        Ok(stmt
            .query_map([], notification_row)?
            .collect::<Result<_, _>>()?)
    }

    pub fn notifications(&self, limit: usize) -> Result<Vec<Notification>, AlertStoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications ORDER BY id DESC LIMIT ?1"
        ))?;
        Ok(stmt
            .query_map([limit as i64], notification_row)?
            .collect::<Result<_, _>>()?)
    }

    /// Records a delivery's outcome: `sent`, or `failed` with the last error.
    pub fn finish_notification(
        &self,
        id: i64,
        now: i64,
        attempts: u32,
        error: Option<&str>,
    ) -> Result<(), AlertStoreError> {
        self.conn.execute(
            "UPDATE notifications SET status = ?2, attempts = ?3, finished_at = ?4, error = ?5
             WHERE id = ?1",
            params![
                id,
                if error.is_some() { "failed" } else { "sent" },
                attempts,
                now,
                error
            ],
        )?;
        Ok(())
    }

    /// Forgets what ended before `cutoff` (ms): resolved alerts and their events, finished
    /// notifications, ended silences. Returns the number of alerts removed.
    pub fn prune(&mut self, cutoff: i64) -> Result<usize, AlertStoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM alert_events WHERE alert_id IN
             (SELECT id FROM alerts WHERE state = 'resolved' AND resolved_at < ?1)",
            [cutoff],
        )?;
        let alerts = tx.execute(
            "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?1",
            [cutoff],
        )?;
        tx.execute(
            "DELETE FROM notifications WHERE status != 'pending' AND finished_at < ?1",
            [cutoff],
        )?;
        tx.execute("DELETE FROM silences WHERE ends_at < ?1", [cutoff])?;
        tx.commit()?;
        Ok(alerts)
    }

    /// Alert history, newest first.
    pub fn alerts(&self, filter: &AlertFilter) -> Result<(Vec<Alert>, bool), AlertStoreError> {
        let mut clauses = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if !filter.severity.is_empty() {
            let marks = vec!["?"; filter.severity.len()].join(",");
            clauses.push(format!("severity IN ({marks})"));
            args.extend(
                filter
                    .severity
                    .iter()
                    .map(|s| rusqlite::types::Value::Text(s.as_str().into())),
            );
        }
        if !filter.state.is_empty() {
            let marks = vec!["?"; filter.state.len()].join(",");
            clauses.push(format!("state IN ({marks})"));
            args.extend(
                filter
                    .state
                    .iter()
                    .map(|s| rusqlite::types::Value::Text(s.as_str().into())),
            );
        }
        if let Some(end) = filter.end {
            clauses.push("started_at <= ?".into());
            args.push(end.into());
        }
        if let Some(start) = filter.start {
            clauses.push("(resolved_at IS NULL OR resolved_at >= ?)".into());
            args.push(start.into());
        }
        let clause = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT * FROM alerts {clause} ORDER BY id DESC LIMIT {}",
            filter.limit + 1
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows: Vec<Alert> = stmt
            .query_map(rusqlite::params_from_iter(args), alert_row)?
            .collect::<Result<_, _>>()?;
        let more = rows.len() > filter.limit;
        rows.truncate(filter.limit);
        Ok((rows, more))
    }

    pub fn alert(&self, id: i64) -> Result<Option<Alert>, AlertStoreError> {
        Ok(self
            .conn
            .query_row("SELECT * FROM alerts WHERE id = ?1", [id], alert_row)
            .optional()?)
    }
}
