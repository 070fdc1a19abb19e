//! Local history in SQLite: raw samples, 5-minute rollups, continuous retention.
//!
//! # Durability
//! WAL with `synchronous=NORMAL`: a commit is atomic and survives a process crash (`kill -9`);
//! only a power loss may drop the last few commits, never corrupt the file. Each scrape is
//! written in **one** transaction together with its bookkeeping (the ingested-samples counter,
//! the target's last-scrape row), so after a crash the counters match the rows exactly and at
//! most the in-flight scrape is lost. Rollups record how far they got (`rollup_done_ms`) in the
//! same transaction as the rows they wrote, so a restart resumes where it stopped.
//!
//! # Layout
//! `series(id, target, name, labels)` with labels as canonical JSON (sorted keys) and
//! `samples(series_id, ts, value)` / `rollups(series_id, ts, min, max, avg, last, count)` as
//! `WITHOUT ROWID` tables keyed by `(series_id, ts)`: one B-tree each, and a series' history
//! is a contiguous range. Retention and rollups therefore walk series by series instead of
//! scanning the table by time. `NaN` is stored as `NULL` (SQLite has no NaN).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    UNIQUE (target, name, labels)
);
CREATE INDEX IF NOT EXISTS series_name ON series (name);
CREATE TABLE IF NOT EXISTS samples (
    series_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    value REAL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollups (
    series_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    min REAL, max REAL, avg REAL, last REAL,
    count INTEGER NOT NULL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS targets (
    target TEXT PRIMARY KEY,
    last_scrape_ms INTEGER NOT NULL,
    success INTEGER NOT NULL,
    duration_seconds REAL NOT NULL,
    samples INTEGER NOT NULL,
    error TEXT
) WITHOUT ROWID;
";

/// Retention and rollup settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub raw: Duration,
    pub rollups: Duration,
    pub rollup_step: Duration,
    /// How long after a bucket ends late samples may still arrive (the longest interval).
    pub grace: Duration,
}

#[cfg(test)]
impl TargetStatus {
    /// A successful scrape of `target` at `at_ms` that brought `samples` samples: what tests
    /// that fill a store by hand record with their points.
    pub fn scraped(target: &str, at_ms: i64, samples: u64) -> Self {
        Self {
            target: target.into(),
            last_scrape_ms: at_ms,
            success: true,
            duration_seconds: 0.01,
            samples,
            error: None,
        }
    }
}

/// One sample to store.
pub struct Point<'a> {
    pub name: &'a str,
    pub labels: &'a [(String, String)],
    pub value: f64,
    pub ts_ms: i64,
}

/// The outcome of one scrape, kept per target for `status` and `/api/v1/health`.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub target: String,
    pub last_scrape_ms: i64,
    pub success: bool,
    pub duration_seconds: f64,
    pub samples: u64,
    pub error: Option<String>,
}

/// The single writer. Readers use [`Reader`] on their own connections (WAL lets them run
/// while a write is in progress).
pub struct Store {
    conn: Connection,
    policy: Policy,
    ids: HashMap<String, i64>,
}

fn open_conn(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let wrap = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open_with_flags(path, flags).map_err(wrap)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(wrap)?;
    Ok(conn)
}

fn series_key(target: &str, name: &str, labels: &str) -> String {
    format!("{target}\u{0}{name}\u{0}{labels}")
}

/// Canonical JSON of sorted labels: equal label sets give equal strings.
pub fn labels_json(labels: &[(String, String)]) -> String {
    let map: BTreeMap<&str, &str> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

impl Store {
    pub fn open(path: &Path, policy: Policy) -> Result<Self, StoreError> {
        let conn = open_conn(path, OpenFlags::default())?;
        let wrap = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        conn.execute_batch(SCHEMA).map_err(wrap)?;
        Ok(Self {
            conn,
            policy,
            ids: HashMap::new(),
        })
    }

    /// Writes one scrape (samples and bookkeeping) in one transaction; returns how many
    /// samples were new (a repeated explicit timestamp is not stored twice).
    pub fn ingest<'a>(
        &mut self,
        target: &str,
        points: impl IntoIterator<Item = Point<'a>>,
        status: &TargetStatus,
    ) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let mut inserted = 0u64;
        {
            let mut find = tx.prepare_cached(
                "SELECT id FROM series WHERE target = ?1 AND name = ?2 AND labels = ?3",
            )?;
            let mut create =
                tx.prepare_cached("INSERT INTO series (target, name, labels) VALUES (?1, ?2, ?3)")?;
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO samples (series_id, ts, value) VALUES (?1, ?2, ?3)",
            )?;
            for point in points {
                let labels = labels_json(point.labels);
                let key = series_key(target, point.name, &labels);
                let id = match self.ids.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id = match find
                            .query_row(params![target, point.name, labels], |r| r.get(0))
                            .optional()?
                        {
                            Some(id) => id,
                            None => {
                                create.execute(params![target, point.name, labels])?;
                                tx.last_insert_rowid()
                            }
                        };
                        self.ids.insert(key, id);
                        id
                    }
                };
                inserted += insert.execute(params![id, point.ts_ms, point.value])? as u64;
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('samples_ingested', ?1)
             ON CONFLICT (key) DO UPDATE SET value = value + ?1",
            params![inserted as i64],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO targets
             (target, last_scrape_ms, success, duration_seconds, samples, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                status.target,
                status.last_scrape_ms,
                status.success,
                status.duration_seconds,
                status.samples as i64,
                status.error
            ],
        )?;
        if let Err(e) = tx.commit() {
            // Ids cached during a failed transaction may not exist.
            self.ids.clear();
            return Err(e.into());
        }
        Ok(inserted)
    }

    /// Rolls up finished buckets and applies retention. Called after every scrape; each call
    /// does a bounded amount of work (at most `MAX_BUCKETS_PER_CALL` buckets), so catching up
    /// after downtime never stalls ingestion.
    pub fn maintain(&mut self, now_ms: i64) -> Result<(), StoreError> {
        const MAX_BUCKETS_PER_CALL: i64 = 12;
        let step = self.policy.rollup_step.as_millis().max(1) as i64;
        let grace = self.policy.grace.as_millis() as i64;
        let done: Option<i64> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'rollup_done_ms'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let done = match done {
            Some(done) => done,
            None => {
                let first: Option<i64> =
                    self.conn
                        .query_row("SELECT min(ts) FROM samples", [], |r| r.get(0))?;
                let Some(first) = first else { return Ok(()) };
                first.div_euclid(step) * step
            }
        };
        let mut bucket = done;
        let mut processed = 0;
        while bucket + step + grace <= now_ms && processed < MAX_BUCKETS_PER_CALL {
            self.rollup_bucket(bucket, bucket + step)?;
            bucket += step;
            processed += 1;
        }
        if processed > 0 {
            self.apply_retention(now_ms, bucket)?;
        }
        Ok(())
    }

    fn rollup_bucket(&mut self, start: i64, end: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let ids: Vec<i64> = tx
                .prepare_cached("SELECT id FROM series")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut aggregate = tx.prepare_cached(
                "SELECT min(value), max(value), avg(value), count(*) FROM samples
                 WHERE series_id = ?1 AND ts >= ?2 AND ts < ?3",
            )?;
            let mut last = tx.prepare_cached(
                "SELECT value FROM samples WHERE series_id = ?1 AND ts >= ?2 AND ts < ?3
                 ORDER BY ts DESC LIMIT 1",
            )?;
            let mut write = tx.prepare_cached(
                "INSERT OR REPLACE INTO rollups (series_id, ts, min, max, avg, last, count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for id in ids {
                let (min, max, avg, count): (Option<f64>, Option<f64>, Option<f64>, i64) =
                    aggregate.query_row(params![id, start, end], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?;
                if count == 0 {
                    continue;
                }
                let last: Option<f64> = last
                    .query_row(params![id, start, end], |r| r.get(0))
                    .optional()?
                    .flatten();
                write.execute(params![id, start, min, max, avg, last, count])?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('rollup_done_ms', ?1)",
            params![end],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('rollup_step_ms', ?1)",
            params![end - start],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Drops what is past retention. Raw samples go only once rolled up (`rolled_up_to` is
    /// the start of the first bucket not rolled up yet): after a long stop the rollups catch up
    /// a few buckets per call, and raw data older than the raw window must wait for them.
    /// Raw samples go a whole bucket at a time, so a series' oldest raw sample starts a bucket
    /// and readers stitching rollups to raw samples neither count a sample twice nor skip one.
    fn apply_retention(&mut self, now_ms: i64, rolled_up_to: i64) -> Result<(), StoreError> {
        let step = self.policy.rollup_step.as_millis().max(1) as i64;
        let raw_cutoff = (now_ms - self.policy.raw.as_millis() as i64)
            .div_euclid(step)
            .saturating_mul(step)
            .min(rolled_up_to);
        let rollup_cutoff = now_ms - self.policy.rollups.as_millis() as i64;
        let tx = self.conn.transaction()?;
        let mut dropped = 0;
        {
            let ids: Vec<i64> = tx
                .prepare_cached("SELECT id FROM series")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut raw =
                tx.prepare_cached("DELETE FROM samples WHERE series_id = ?1 AND ts < ?2")?;
            let mut rolled =
                tx.prepare_cached("DELETE FROM rollups WHERE series_id = ?1 AND ts < ?2")?;
            let mut empty = tx.prepare_cached(
                "DELETE FROM series WHERE id = ?1
                 AND NOT EXISTS (SELECT 1 FROM samples WHERE series_id = ?1)
                 AND NOT EXISTS (SELECT 1 FROM rollups WHERE series_id = ?1)",
            )?;
            for id in ids {
                raw.execute(params![id, raw_cutoff])?;
                rolled.execute(params![id, rollup_cutoff])?;
                dropped += empty.execute(params![id])?;
            }
        }
        tx.commit()?;
        if dropped > 0 {
            self.ids.clear();
        }
        Ok(())
    }
}

/// Bytes used on disk: the database plus its WAL.
pub fn db_size_bytes(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(Path::new(&wal))
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesInfo {
    pub id: i64,
    pub target: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// Which table a history query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Raw,
    Rollup,
}

/// One point of a history answer; rollup fields are present only for rollups.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    pub ts: i64,
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatestSample {
    #[serde(flatten)]
    pub series: SeriesInfo,
    pub ts: i64,
    pub value: Option<f64>,
}

/// Facts for `/metrics`, `status` and `/api/v1/health`.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub series: u64,
    pub samples_ingested: u64,
    pub rollup_done_ms: Option<i64>,
    pub db_size_bytes: u64,
    pub targets: Vec<TargetStatus>,
}

/// Filter for series listings, snapshot and export.
#[derive(Debug, Clone, Default)]
pub struct SeriesFilter {
    /// Exact metric names; empty means all.
    pub names: Vec<String>,
    pub target: Option<String>,
}

/// A read-only connection (API, `status`, `export`).
pub struct Reader {
    conn: Connection,
    path: PathBuf,
    /// The rollup width once read: it changes only with the writer's config, which takes a
    /// restart, and every stitched read of every series needs it.
    rollup_step_ms: std::cell::Cell<Option<i64>>,
}

fn series_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SeriesInfo> {
    let labels: String = r.get(3)?;
    Ok(SeriesInfo {
        id: r.get(0)?,
        target: r.get(1)?,
        name: r.get(2)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
    })
}

impl Reader {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open_conn(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Ok(Self {
            conn,
            path: path.to_owned(),
            rollup_step_ms: std::cell::Cell::new(None),
        })
    }

    /// Exclusive bound on the start of the rollup buckets of series `id` that end before its
    /// oldest raw sample in `[start, end]` (`end + 1` when it has none there). A reader
    /// stitching rollups before raw samples takes rollups below it, so a young series' first
    /// bucket, rolled up while its samples are still raw, is not read twice.
    pub fn rollups_before_raw(&self, id: i64, start: i64, end: i64) -> Result<i64, StoreError> {
        let first_raw: Option<i64> = self.conn.query_row(
            "SELECT min(ts) FROM samples WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3",
            params![id, start, end],
            |r| r.get(0),
        )?;
        let Some(first_raw) = first_raw else {
            return Ok(end.saturating_add(1));
        };
        Ok(first_raw - self.rollup_step_ms()?.unwrap_or(0) + 1)
    }

    /// Width of the rollup buckets written last (`None` before the first, asked again
    /// until there is one).
    pub fn rollup_step_ms(&self) -> Result<Option<i64>, StoreError> {
        if let Some(step) = self.rollup_step_ms.get() {
            return Ok(Some(step));
        }
        let step = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'rollup_step_ms'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        self.rollup_step_ms.set(step);
        Ok(step)
    }

    /// The read-only connection, for the analysis modules' own queries (`window`).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    fn filter_sql(filter: &SeriesFilter) -> (String, Vec<String>) {
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        if !filter.names.is_empty() {
            let marks: Vec<String> = filter
                .names
                .iter()
                .map(|n| {
                    args.push(n.clone());
                    format!("?{}", args.len())
                })
                .collect();
            clauses.push(format!("name IN ({})", marks.join(",")));
        }
        if let Some(target) = &filter.target {
            args.push(target.clone());
            clauses.push(format!("target = ?{}", args.len()));
        }
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        (sql, args)
    }

    /// Series matching `filter`, ordered by name, at most `limit` of them (plus whether
    /// there were more).
    pub fn series(
        &self,
        filter: &SeriesFilter,
        limit: usize,
    ) -> Result<(Vec<SeriesInfo>, bool), StoreError> {
        let (clause, args) = Self::filter_sql(filter);
        let sql = format!(
            "SELECT id, target, name, labels FROM series {clause}
             ORDER BY name, target, labels LIMIT {}",
            limit + 1
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows: Vec<SeriesInfo> = stmt
            .query_map(rusqlite::params_from_iter(args), series_row)?
            .collect::<Result<_, _>>()?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, more))
    }

    pub fn series_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM series", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    pub fn series_by_id(&self, id: i64) -> Result<Option<SeriesInfo>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, target, name, labels FROM series WHERE id = ?1",
                [id],
                series_row,
            )
            .optional()?)
    }

    /// Points of one series in `[start, end]`. With `step`, one point per step bucket: the
    /// last raw sample, or the rollups merged (min of min, max of max, count-weighted avg,
    /// last of last). At most `limit` points, plus whether there were more.
    pub fn history(
        &self,
        id: i64,
        start: i64,
        end: i64,
        step: Option<i64>,
        resolution: Resolution,
        limit: usize,
    ) -> Result<(Vec<HistoryPoint>, bool), StoreError> {
        let fetch = (limit + 1) as i64;
        let points: Vec<HistoryPoint> = match (resolution, step) {
            (Resolution::Raw, None) => self
                .conn
                .prepare_cached(
                    "SELECT ts, value FROM samples WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3
                     ORDER BY ts LIMIT ?4",
                )?
                .query_map(params![id, start, end, fetch], |r| {
                    Ok(raw_point(r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<_, _>>()?,
            // SQLite returns the bare `value` from the row holding max(ts).
            (Resolution::Raw, Some(step)) => self
                .conn
                .prepare_cached(
                    "SELECT (ts / ?4) * ?4 AS bucket, value, max(ts) FROM samples
                     WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3
                     GROUP BY bucket ORDER BY bucket LIMIT ?5",
                )?
                .query_map(params![id, start, end, step.max(1), fetch], |r| {
                    Ok(raw_point(r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<_, _>>()?,
            (Resolution::Rollup, step) => self
                .conn
                .prepare_cached(
                    "SELECT (ts / ?4) * ?4 AS bucket, last, max(ts), min(min), max(max),
                            sum(avg * count) / sum(count), sum(count)
                     FROM rollups WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3
                     GROUP BY bucket ORDER BY bucket LIMIT ?5",
                )?
                .query_map(
                    params![id, start, end, step.unwrap_or(1).max(1), fetch],
                    |r| {
                        Ok(HistoryPoint {
                            ts: r.get(0)?,
                            value: r.get(1)?,
                            min: r.get(3)?,
                            max: r.get(4)?,
                            avg: r.get(5)?,
                            count: r.get(6)?,
                        })
                    },
                )?
                .collect::<Result<_, _>>()?,
        };
        let mut points = points;
        let more = points.len() > limit;
        points.truncate(limit);
        Ok((points, more))
    }

    /// The newest sample of each matching series.
    pub fn latest(
        &self,
        filter: &SeriesFilter,
        limit: usize,
    ) -> Result<(Vec<LatestSample>, bool), StoreError> {
        let (clause, args) = Self::filter_sql(filter);
        let sql = format!(
            "SELECT s.id, s.target, s.name, s.labels, x.ts, x.value
             FROM (SELECT * FROM series {clause} ORDER BY name, target, labels LIMIT {}) s
             JOIN samples x ON x.series_id = s.id
              AND x.ts = (SELECT max(ts) FROM samples WHERE series_id = s.id)
             ORDER BY s.name, s.target, s.labels",
            limit + 1
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows: Vec<LatestSample> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(LatestSample {
                    series: series_row(r)?,
                    ts: r.get(4)?,
                    value: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, more))
    }

    pub fn stats(&self) -> Result<Stats, StoreError> {
        let meta = |key: &str| -> Result<Option<i64>, StoreError> {
            Ok(self
                .conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        };
        let series: i64 = self
            .conn
            .query_row("SELECT count(*) FROM series", [], |r| r.get(0))?;
        let targets = self
            .conn
            .prepare_cached(
                "SELECT target, last_scrape_ms, success, duration_seconds, samples, error
                 FROM targets ORDER BY target",
            )?
            .query_map([], |r| {
                Ok(TargetStatus {
                    target: r.get(0)?,
                    last_scrape_ms: r.get(1)?,
                    success: r.get(2)?,
                    duration_seconds: r.get(3)?,
                    samples: r.get::<_, i64>(4)? as u64,
                    error: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Stats {
            series: series as u64,
            samples_ingested: meta("samples_ingested")?.unwrap_or(0) as u64,
            rollup_done_ms: meta("rollup_done_ms")?,
            db_size_bytes: db_size_bytes(&self.path),
            targets,
        })
    }

    /// Calls `each` for every raw sample since `since_ms` of the matching series, ordered by
    /// series then time, without holding the whole export in memory.
    pub fn export(
        &self,
        filter: &SeriesFilter,
        since_ms: i64,
        mut each: impl FnMut(&SeriesInfo, i64, Option<f64>) -> std::io::Result<()>,
    ) -> Result<(), ExportError> {
        let (clause, args) = Self::filter_sql(filter);
        let series: Vec<SeriesInfo> = self
            .conn
            .prepare(&format!(
                "SELECT id, target, name, labels FROM series {clause} ORDER BY name, target, labels"
            ))?
            .query_map(rusqlite::params_from_iter(args), series_row)?
            .collect::<Result<_, _>>()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT ts, value FROM samples WHERE series_id = ?1 AND ts >= ?2 ORDER BY ts",
        )?;
        for info in &series {
            let mut rows = stmt.query(params![info.id, since_ms])?;
            while let Some(row) = rows.next()? {
                each(info, row.get(0)?, row.get(1)?)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rusqlite::Error> for ExportError {
    fn from(e: rusqlite::Error) -> Self {
        ExportError::Store(StoreError::Sqlite(e))
    }
}

fn raw_point(ts: i64, value: Option<f64>) -> HistoryPoint {
    HistoryPoint {
        ts,
        value,
        min: None,
        max: None,
        avg: None,
        count: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            raw: Duration::from_secs(3600),
            rollups: Duration::from_secs(7200),
            rollup_step: Duration::from_secs(60),
            grace: Duration::from_secs(0),
        }
    }

    fn write(store: &mut Store, ts: i64, value: f64) -> u64 {
        let labels = vec![("cpu".to_owned(), "0".to_owned())];
        store
            .ingest(
                "host:9100",
                [Point {
                    name: "m",
                    labels: &labels,
                    value,
                    ts_ms: ts,
                }],
                &TargetStatus::scraped("host:9100", ts, 1),
            )
            .unwrap()
    }

    #[test]
    fn ingest_history_rollups_and_retention() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut store = Store::open(&path, policy()).unwrap();
        let base = 1_000_000_000_000 - 1_000_000_000_000 % 180_000;
        for i in 0..12 {
            assert_eq!(write(&mut store, base + i * 15_000, i as f64), 1);
        }
        // Same timestamp again: not stored twice.
        assert_eq!(write(&mut store, base, 99.0), 0);
        write(&mut store, base + 12 * 15_000, f64::NAN);
        store.maintain(base + 3 * 60_000).unwrap();

        let reader = Reader::open(&path).unwrap();
        let stats = reader.stats().unwrap();
        assert_eq!(stats.series, 1);
        assert_eq!(stats.samples_ingested, 13);
        assert_eq!(stats.rollup_done_ms, Some(base + 3 * 60_000));
        assert!(stats.db_size_bytes > 0);
        assert!(stats.targets[0].success);

        let (series, more) = reader.series(&SeriesFilter::default(), 10).unwrap();
        assert!(!more);
        assert_eq!(series[0].labels["cpu"], "0");
        let id = series[0].id;
        let (raw, more) = reader
            .history(id, base, base + 10 * 60_000, None, Resolution::Raw, 5)
            .unwrap();
        assert!(more);
        assert_eq!(raw.len(), 5);
        let (stepped, _) = reader
            .history(
                id,
                base,
                base + 10 * 60_000,
                Some(60_000),
                Resolution::Raw,
                100,
            )
            .unwrap();
        let lasts: Vec<_> = stepped.iter().map(|p| p.value).collect();
        assert_eq!(lasts, [Some(3.0), Some(7.0), Some(11.0), None]);
        let (rolled, _) = reader
            .history(id, base, base + 10 * 60_000, None, Resolution::Rollup, 100)
            .unwrap();
        assert_eq!(rolled.len(), 3);
        assert_eq!(rolled[1].min, Some(4.0));
        assert_eq!(rolled[1].max, Some(7.0));
        assert_eq!(rolled[1].avg, Some(5.5));
        assert_eq!(rolled[1].value, Some(7.0));
        let (merged, _) = reader
            .history(
                id,
                base,
                base + 10 * 60_000,
                Some(180_000),
                Resolution::Rollup,
                100,
            )
            .unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].avg, Some(5.5));
        assert_eq!(merged[0].count, Some(12));
        let (latest, _) = reader.latest(&SeriesFilter::default(), 10).unwrap();
        assert_eq!(latest[0].ts, base + 12 * 15_000);
        assert_eq!(latest[0].value, None);

        // An hour later raw samples are gone a bucket at a time: the last one (a minute from
        // base + 3 min) only once that whole minute is past the raw window.
        store.maintain(base + 3_800_000).unwrap();
        let (raw, _) = reader
            .history(id, 0, i64::MAX, None, Resolution::Raw, 100)
            .unwrap();
        let kept: Vec<i64> = raw.iter().map(|p| p.ts).collect();
        assert_eq!(kept, [base + 180_000]);
        store.maintain(base + 3_840_000).unwrap();
        let (raw, _) = reader
            .history(id, 0, i64::MAX, None, Resolution::Raw, 100)
            .unwrap();
        assert!(raw.is_empty(), "{raw:?}");
        let (rolled, _) = reader
            .history(id, 0, i64::MAX, None, Resolution::Rollup, 100)
            .unwrap();
        assert_eq!(rolled.len(), 4);
        // Past the rollup retention too, the series itself goes.
        for _ in 0..20 {
            store.maintain(base + 7_300_000 + 12 * 60_000).unwrap();
        }
        assert_eq!(reader.stats().unwrap().series, 0);
    }

    #[test]
    fn catching_up_after_a_long_stop_rolls_up_before_dropping_raw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut store = Store::open(&path, policy()).unwrap();
        let base = 1_000_000_000_000 - 1_000_000_000_000 % 60_000;
        // 30 minutes of samples, then nothing rolled up until 90 minutes later: the raw
        // window (1 h) has passed for all of them, but only 12 buckets roll up per call.
        for i in 0..120 {
            write(&mut store, base + i * 15_000, 1.0);
        }
        for _ in 0..5 {
            store.maintain(base + 90 * 60_000).unwrap();
        }
        let reader = Reader::open(&path).unwrap();
        let id = reader.series(&SeriesFilter::default(), 1).unwrap().0[0].id;
        let (rolled, _) = reader
            .history(id, 0, i64::MAX, None, Resolution::Rollup, 100)
            .unwrap();
        let counted: i64 = rolled.iter().filter_map(|p| p.count).sum();
        assert_eq!((rolled.len(), counted), (30, 120), "{rolled:?}");
        let (raw, _) = reader
            .history(id, 0, i64::MAX, None, Resolution::Raw, 200)
            .unwrap();
        assert!(raw.is_empty(), "rolled up and past the raw window: {raw:?}");
    }

    #[test]
    fn reopening_resumes_bookkeeping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let base = 600_000;
        {
            let mut store = Store::open(&path, policy()).unwrap();
            write(&mut store, base, 1.0);
            store.maintain(base + 60_000).unwrap();
        }
        let mut store = Store::open(&path, policy()).unwrap();
        write(&mut store, base + 60_000, 2.0);
        store.maintain(base + 120_000).unwrap();
        let reader = Reader::open(&path).unwrap();
        let stats = reader.stats().unwrap();
        assert_eq!(stats.series, 1, "the series is found again, not duplicated");
        assert_eq!(stats.samples_ingested, 2);
        assert_eq!(stats.rollup_done_ms, Some(base + 120_000));
    }
}
