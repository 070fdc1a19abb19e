//! The alert engine: signals in, state changes and notifications out. Pure logic over a
//! caller-given clock (`now`, ms), so tests drive hours of alerting in microseconds.
//!
//! # Lifecycle
//! A `Firing` signal with a new fingerprint opens an alert (`firing`). People may
//! `acknowledge` it (no repeats, no escalation) or `resolve` it; it also resolves when its
//! source says `Resolved` or stops reporting it for `resolve_timeout`. A later `Firing`
//! signal opens a new alert with the same fingerprint.
//!
//! # Notifications (Alertmanager's model)
//! Routes map an alert (severity, labels) to channels; `group_by` labels make groups, so
//! related alerts travel in one message. A new group waits `group_wait` to collect its
//! siblings; later changes go out at most once per `group_interval`; a group still firing
//! unchanged is repeated after `repeat_interval`. A group remembers what it last said about
//! each member, so an alert that resolves and fires again between two flushes (flapping)
//! sends nothing, and a restart (the memory is in the database) sends nothing twice.
//! Silenced and acknowledged alerts are left out of messages. A critical alert nobody
//! acknowledged within the route's `escalate_after` is sent once more to `escalate_to`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use super::config::{AlertingConfig, Grouping, Route};
use super::dispatch::Queued;
use super::message::{AlertView, Kind, Message};
use super::store::{
    Alert, AlertStore, AlertStoreError, Batch, GroupState, NewNotification, Silence,
};
use super::{AlertState, Severity, Signal, SignalStatus};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] AlertStoreError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

/// The engine's settings, taken from `alerting:`.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub routes: Vec<Route>,
    pub grouping: Grouping,
    pub resolve_timeout: Duration,
    /// Link back put into every message.
    pub link: String,
}

impl EngineConfig {
    /// Without routes, every alert goes to every configured channel: one channel in the
    /// config is enough to get notified.
    pub fn new(config: &AlertingConfig, link: String) -> Self {
        let routes = if config.routes.is_empty() && !config.channels.is_empty() {
            vec![Route {
                severity: Vec::new(),
                labels: BTreeMap::new(),
                channels: config.channels.keys().cloned().collect(),
                group_by: None,
                escalate_after: None,
                escalate_to: Vec::new(),
                send_resolved: true,
                continue_matching: false,
            }]
        } else {
            config.routes.clone()
        };
        Self {
            routes,
            grouping: config.grouping.clone(),
            resolve_timeout: config.resolve_timeout,
            link,
        }
    }
}

/// Groups by key, tracked alerts by fingerprint, running silences.
type Loaded = (
    BTreeMap<String, GroupState>,
    HashMap<String, Alert>,
    Vec<Silence>,
);

/// One change of one alert, for the live stream.
#[derive(Debug, Clone, Serialize)]
pub struct AlertEvent {
    /// `firing`, `severity`, `acknowledged`, `resolved`, `silenced`, `unsilenced`.
    pub change: &'static str,
    pub at: i64,
    pub alert: Alert,
}

pub struct Engine {
    config: EngineConfig,
    store: AlertStore,
    /// Open alerts (and resolved ones a group has yet to report) by fingerprint.
    alerts: HashMap<String, Alert>,
    groups: BTreeMap<String, GroupState>,
    silences: Vec<Silence>,
    next_id: i64,
    events: broadcast::Sender<AlertEvent>,
    // What the current operation changed, written by `commit`.
    dirty_alerts: BTreeSet<String>,
    dirty_groups: BTreeSet<String>,
    removed_groups: BTreeSet<String>,
    history: Vec<(i64, i64, AlertState, Severity, String)>,
    outbox: Vec<NewNotification>,
    changes: Vec<AlertEvent>,
}

/// `true` when every matcher equals the alert's label (`alertname`, `severity` and
/// `source` are matchable as labels too).
fn matches(matchers: &BTreeMap<String, String>, alert: &Alert) -> bool {
    matchers
        .iter()
        .all(|(k, v)| label(alert, k).is_some_and(|x| x == v))
}

fn label<'a>(alert: &'a Alert, name: &str) -> Option<&'a str> {
    match name {
        "alertname" => Some(&alert.name),
        "severity" => Some(alert.severity.as_str()),
        "source" => Some(&alert.source),
        _ => alert.labels.get(name).map(String::as_str),
    }
}

impl Engine {
    /// Opens the alert tables in `path` and resumes where the last run stopped.
    pub fn open(path: &Path, config: EngineConfig, now: i64) -> Result<Self, EngineError> {
        let store = AlertStore::open(path)?;
        let (groups, alerts, silences) = Self::load(&store, now)?;
        let next_id = store.next_alert_id()?;
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            config,
            store,
            alerts,
            groups,
            silences,
            next_id,
            events,
            dirty_alerts: BTreeSet::new(),
            dirty_groups: BTreeSet::new(),
            removed_groups: BTreeSet::new(),
            history: Vec::new(),
            outbox: Vec::new(),
            changes: Vec::new(),
        })
    }

    /// Live alert changes (for `/api/v1/events`).
    pub fn subscribe(&self) -> broadcast::Receiver<AlertEvent> {
        self.events.subscribe()
    }

    pub fn store(&self) -> &AlertStore {
        &self.store
    }

    /// Drops history that ended before `cutoff` (the history's rollup retention).
    pub fn prune(&mut self, cutoff: i64) -> Result<usize, EngineError> {
        Ok(self.store.prune(cutoff)?)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Open alerts (firing or acknowledged).
    pub fn open_alerts(&self) -> Vec<&Alert> {
        let mut open: Vec<&Alert> = self
            .alerts
            .values()
            .filter(|a| a.state.is_active())
            .collect();
        open.sort_by_key(|a| a.id);
        open
    }

    /// Takes in what the sources see now, then runs [`Engine::tick`]. Returns the
    /// notifications created (already committed to the outbox).
    pub fn observe(&mut self, now: i64, signals: &[Signal]) -> Result<Vec<Queued>, EngineError> {
        for signal in signals {
            self.apply(now, signal);
        }
        self.tick(now)
    }

    fn apply(&mut self, now: i64, signal: &Signal) {
        let fp = signal.fingerprint();
        let open = self.alerts.get(&fp).is_some_and(|a| a.state.is_active());
        match (signal.status, open) {
            (SignalStatus::Firing, true) => {
                let Some(alert) = self.alerts.get_mut(&fp) else {
                    return;
                };
                alert.last_seen = now;
                alert.value = signal.value;
                alert.summary.clone_from(&signal.summary);
                self.dirty_alerts.insert(fp.clone());
                if alert.severity != signal.severity {
                    alert.severity = signal.severity;
                    alert.updated_at = now;
                    self.record(&fp, now, "severity", "source");
                    self.touch(&fp, now);
                }
            }
            (SignalStatus::Firing, false) => {
                let alert = Alert {
                    id: self.next_id,
                    fingerprint: fp.clone(),
                    source: signal.source.clone(),
                    name: signal.name.clone(),
                    labels: signal.labels.clone(),
                    severity: signal.severity,
                    summary: signal.summary.clone(),
                    value: signal.value,
                    state: AlertState::Firing,
                    started_at: now,
                    updated_at: now,
                    last_seen: now,
                    resolved_at: None,
                    acknowledged_by: None,
                    acknowledged_at: None,
                    silenced_by: None,
                };
                self.next_id += 1;
                self.alerts.insert(fp.clone(), alert);
                self.dirty_alerts.insert(fp.clone());
                self.record(&fp, now, "firing", "source");
                self.touch(&fp, now);
            }
            (SignalStatus::Resolved, true) => self.resolve_fp(&fp, now, "source"),
            (SignalStatus::Resolved, false) => {}
        }
    }

    /// Timeouts, silences, due group flushes, repeats and escalations at `now`.
    pub fn tick(&mut self, now: i64) -> Result<Vec<Queued>, EngineError> {
        self.silences.retain(|s| s.ends_at > now);
        let fps: Vec<String> = self.alerts.keys().cloned().collect();
        for fp in &fps {
            let Some(alert) = self.alerts.get(fp) else {
                continue;
            };
            if !alert.state.is_active() {
                continue;
            }
            let timeout = self.config.resolve_timeout.as_millis() as i64;
            if now - alert.last_seen >= timeout {
                self.resolve_fp(fp, now, "timeout");
                continue;
            }
            let silence = self
                .silences
                .iter()
                .find(|s| s.is_active(now) && matches(&s.matchers, alert))
                .map(|s| s.id);
            if silence != alert.silenced_by {
                let was_silenced = alert.silenced_by.is_some();
                let Some(alert) = self.alerts.get_mut(fp) else {
                    continue;
                };
                alert.silenced_by = silence;
                let change = if silence.is_some() {
                    "silenced"
                } else {
                    "unsilenced"
                };
                self.changes.push(AlertEvent {
                    change,
                    at: now,
                    alert: alert.clone(),
                });
                self.dirty_alerts.insert(fp.clone());
                if was_silenced && silence.is_none() {
                    self.touch(fp, now);
                }
            }
        }
        let keys: Vec<String> = self.groups.keys().cloned().collect();
        for key in keys {
            let Some(group) = self.groups.get(&key) else {
                continue;
            };
            if group.next_flush.is_some_and(|t| t <= now) {
                self.flush(&key, now, Kind::Notify);
            } else if group.next_flush.is_none()
                && group.last_flush.is_some_and(|t| {
                    now - t >= self.config.grouping.repeat_interval.as_millis() as i64
                })
            {
                self.flush(&key, now, Kind::Repeat);
            }
            self.escalate(&key, now);
        }
        self.commit(now)
    }

    pub fn acknowledge(&mut self, now: i64, id: i64, by: &str) -> Result<Alert, EngineError> {
        let fp = self.open_fingerprint(id)?;
        if let Some(alert) = self.alerts.get_mut(&fp) {
            if alert.state == AlertState::Acknowledged {
                return Ok(alert.clone());
            }
            alert.state = AlertState::Acknowledged;
            alert.acknowledged_by = Some(by.to_owned());
            alert.acknowledged_at = Some(now);
            alert.updated_at = now;
        }
        self.dirty_alerts.insert(fp.clone());
        self.record(&fp, now, "acknowledged", by);
        self.commit(now)?;
        self.tracked(&fp)
    }

    /// Resolves by hand; the groups report it at their next flush.
    pub fn resolve(&mut self, now: i64, id: i64, by: &str) -> Result<Alert, EngineError> {
        let fp = self.open_fingerprint(id)?;
        self.resolve_fp(&fp, now, by);
        // Read before the commit: a resolved alert no group waits for leaves memory there.
        let alert = self.tracked(&fp)?;
        self.commit(now)?;
        Ok(alert)
    }

    fn tracked(&self, fp: &str) -> Result<Alert, EngineError> {
        self.alerts
            .get(fp)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("no open alert {fp}")))
    }

    fn open_fingerprint(&self, id: i64) -> Result<String, EngineError> {
        if let Some(alert) = self.alerts.values().find(|a| a.id == id) {
            if alert.state.is_active() {
                return Ok(alert.fingerprint.clone());
            }
        } else if self.store.alert(id)?.is_none() {
            return Err(EngineError::NotFound(format!("no alert with id {id}")));
        }
        Err(EngineError::Conflict(format!(
            "alert {id} is already resolved"
        )))
    }

    pub fn add_silence(
        &mut self,
        now: i64,
        matchers: BTreeMap<String, String>,
        ends_at: i64,
        created_by: &str,
        comment: &str,
    ) -> Result<(Silence, Vec<Queued>), EngineError> {
        if matchers.is_empty() {
            return Err(EngineError::Invalid(
                "matchers: at least one label matcher (a silence must not mute everything)".into(),
            ));
        }
        if ends_at <= now {
            return Err(EngineError::Invalid(
                "ends_at: must be in the future".into(),
            ));
        }
        let mut silence = Silence {
            id: 0,
            matchers,
            starts_at: now,
            ends_at,
            created_by: created_by.to_owned(),
            comment: comment.to_owned(),
        };
        silence.id = self.store.insert_silence(&silence)?;
        self.silences.push(silence.clone());
        let queued = self.tick(now)?;
        Ok((silence, queued))
    }

    pub fn expire_silence(&mut self, now: i64, id: i64) -> Result<Vec<Queued>, EngineError> {
        if !self.store.expire_silence(id, now)? {
            return Err(EngineError::NotFound(format!(
                "no running silence with id {id}"
            )));
        }
        self.silences.retain(|s| s.id != id);
        self.tick(now)
    }

    fn resolve_fp(&mut self, fp: &str, now: i64, actor: &str) {
        let Some(alert) = self.alerts.get_mut(fp) else {
            return;
        };
        alert.state = AlertState::Resolved;
        alert.resolved_at = Some(now);
        alert.updated_at = now;
        self.dirty_alerts.insert(fp.to_owned());
        self.record(fp, now, "resolved", actor);
        self.touch(fp, now);
    }

    fn record(&mut self, fp: &str, now: i64, change: &'static str, actor: &str) {
        let Some(alert) = self.alerts.get(fp) else {
            return;
        };
        self.history
            .push((alert.id, now, alert.state, alert.severity, actor.to_owned()));
        self.changes.push(AlertEvent {
            change,
            at: now,
            alert: alert.clone(),
        });
    }

    /// The groups an alert belongs to: (key, route index, group labels).
    fn groups_of(&self, alert: &Alert) -> Vec<(String, usize, BTreeMap<String, String>)> {
        let mut out = Vec::new();
        for (i, route) in self.config.routes.iter().enumerate() {
            let severity_ok = route.severity.is_empty() || route.severity.contains(&alert.severity);
            if !severity_ok || !matches(&route.labels, alert) {
                continue;
            }
            let by = route
                .group_by
                .as_ref()
                .unwrap_or(&self.config.grouping.group_by);
            let labels: BTreeMap<String, String> = by
                .iter()
                .filter_map(|l| label(alert, l).map(|v| (l.clone(), v.to_owned())))
                .collect();
            let key = format!("{i}|{}", super::message::labels_text(&labels));
            out.push((key, i, labels));
            if !route.continue_matching {
                break;
            }
        }
        out
    }

    /// Something about the alert changed: its groups speak at their next chance.
    fn touch(&mut self, fp: &str, now: i64) {
        let Some(alert) = self.alerts.get(fp) else {
            return;
        };
        let wait = self.config.grouping.group_wait.as_millis() as i64;
        let interval = self.config.grouping.group_interval.as_millis() as i64;
        for (key, route, labels) in self.groups_of(alert) {
            let group = self
                .groups
                .entry(key.clone())
                .or_insert_with(|| GroupState {
                    route,
                    labels,
                    ..GroupState::default()
                });
            group.members.insert(fp.to_owned());
            if group.next_flush.is_none() {
                group.next_flush = Some(match group.last_flush {
                    None => now + wait,
                    Some(last) => (last + interval).max(now),
                });
            }
            self.removed_groups.remove(&key);
            self.dirty_groups.insert(key);
        }
    }

    /// What a group should have said about an alert, if anything is to be said at all.
    fn desired(alert: &Alert) -> Option<String> {
        match alert.state {
            AlertState::Resolved => Some("resolved".to_owned()),
            AlertState::Firing if alert.silenced_by.is_none() => {
                Some(format!("firing:{}", alert.severity))
            }
            _ => None,
        }
    }

    fn flush(&mut self, key: &str, now: i64, kind: Kind) {
        let Some(mut group) = self.groups.remove(key) else {
            return;
        };
        let Some(route) = self.config.routes.get(group.route).cloned() else {
            // The route is gone from the config: the group has nobody to tell.
            self.removed_groups.insert(key.to_owned());
            return;
        };
        let mut changed_resolved = Vec::new();
        let mut any_change = false;
        let mut firing = Vec::new();
        let members: Vec<String> = group.members.iter().cloned().collect();
        for fp in members {
            let Some(alert) = self.alerts.get(&fp) else {
                group.members.remove(&fp);
                group.notified.remove(&fp);
                continue;
            };
            let desired = Self::desired(alert);
            let said = group.notified.get(&fp);
            if alert.state == AlertState::Firing && alert.silenced_by.is_none() {
                firing.push(AlertView::from(alert));
            }
            match desired {
                Some(d) if d == "resolved" => {
                    if said.is_some_and(|s| s != "resolved") {
                        changed_resolved.push(AlertView::from(alert));
                        any_change = true;
                    }
                    group.members.remove(&fp);
                    group.notified.remove(&fp);
                    group.escalated.remove(&fp);
                }
                Some(d) if said != Some(&d) => {
                    any_change = true;
                    group.notified.insert(fp.clone(), d);
                }
                Some(_) | None => {}
            }
        }
        let send = match kind {
            Kind::Notify if firing.is_empty() => {
                route.send_resolved && !changed_resolved.is_empty()
            }
            Kind::Notify => any_change,
            Kind::Repeat | Kind::Escalation => !firing.is_empty(),
        };
        if send {
            let mut alerts = firing;
            if route.send_resolved || kind != Kind::Notify {
                alerts.extend(changed_resolved);
            }
            self.queue(key, &group, kind, alerts, &route.channels, now);
        }
        group.next_flush = None;
        if send || kind == Kind::Notify {
            group.last_flush = Some(now);
        }
        self.dirty_groups.insert(key.to_owned());
        if group.members.is_empty() {
            self.removed_groups.insert(key.to_owned());
            self.dirty_groups.remove(key);
        } else {
            self.groups.insert(key.to_owned(), group);
        }
    }

    fn escalate(&mut self, key: &str, now: i64) {
        let Some(group) = self.groups.get(key) else {
            return;
        };
        let Some(route) = self.config.routes.get(group.route) else {
            return;
        };
        let Some(after) = route.escalate_after else {
            return;
        };
        if route.escalate_to.is_empty() {
            return;
        }
        let after = after.0.as_millis() as i64;
        let due: Vec<AlertView> = group
            .members
            .iter()
            .filter(|fp| !group.escalated.contains(*fp))
            .filter_map(|fp| self.alerts.get(fp))
            .filter(|a| {
                a.state == AlertState::Firing
                    && a.silenced_by.is_none()
                    && a.severity == Severity::Critical
                    && now - a.started_at >= after
            })
            .map(AlertView::from)
            .collect();
        if due.is_empty() {
            return;
        }
        let channels = route.escalate_to.clone();
        let mut group = group.clone();
        group
            .escalated
            .extend(due.iter().map(|a| a.fingerprint.clone()));
        self.queue(key, &group, Kind::Escalation, due, &channels, now);
        self.groups.insert(key.to_owned(), group);
        self.dirty_groups.insert(key.to_owned());
    }

    fn queue(
        &mut self,
        key: &str,
        group: &GroupState,
        kind: Kind,
        mut alerts: Vec<AlertView>,
        channels: &[String],
        now: i64,
    ) {
        alerts.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
        let status = if alerts.iter().any(|a| a.state.is_active()) {
            AlertState::Firing
        } else {
            AlertState::Resolved
        };
        let message = Message {
            group_key: key.to_owned(),
            group_labels: group.labels.clone(),
            kind,
            status,
            alerts,
            link: self.config.link.clone(),
            created_at: now,
        };
        let Ok(payload) = serde_json::to_string(&message) else {
            return;
        };
        for channel in channels {
            self.outbox.push(NewNotification {
                channel: channel.clone(),
                group_key: key.to_owned(),
                payload: payload.clone(),
            });
        }
    }

    /// Writes what this operation changed in one transaction, then publishes the events.
    /// On a failed write the engine reloads from the database, so memory never runs ahead
    /// of what a restart would see.
    fn commit(&mut self, now: i64) -> Result<Vec<Queued>, EngineError> {
        let batch = Batch {
            alerts: self
                .dirty_alerts
                .iter()
                .filter_map(|fp| self.alerts.get(fp).cloned())
                .collect(),
            events: std::mem::take(&mut self.history),
            groups: self
                .dirty_groups
                .iter()
                .filter_map(|k| self.groups.get(k).map(|g| (k.clone(), g.clone())))
                .collect(),
            removed_groups: self.removed_groups.iter().cloned().collect(),
            notifications: std::mem::take(&mut self.outbox),
        };
        self.dirty_alerts.clear();
        self.dirty_groups.clear();
        self.removed_groups.clear();
        let changes = std::mem::take(&mut self.changes);
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let queued = match self.store.commit(&batch, now) {
            Ok(ids) => ids
                .into_iter()
                .zip(&batch.notifications)
                .map(|(id, n)| Queued {
                    id,
                    channel: n.channel.clone(),
                })
                .collect(),
            Err(e) => {
                self.reload(now)?;
                return Err(e.into());
            }
        };
        // Resolved alerts no group still has to report are done.
        let members: BTreeSet<&String> = self.groups.values().flat_map(|g| &g.members).collect();
        self.alerts
            .retain(|fp, a| a.state.is_active() || members.contains(fp));
        for change in changes {
            let _ = self.events.send(change);
        }
        Ok(queued)
    }

    fn reload(&mut self, now: i64) -> Result<(), EngineError> {
        (self.groups, self.alerts, self.silences) = Self::load(&self.store, now)?;
        self.next_id = self.store.next_alert_id()?;
        Ok(())
    }

    fn load(store: &AlertStore, now: i64) -> Result<Loaded, EngineError> {
        let groups: BTreeMap<String, GroupState> = store.load_groups()?.into_iter().collect();
        let members: BTreeSet<String> = groups
            .values()
            .flat_map(|g| g.members.iter().cloned())
            .collect();
        let alerts = store
            .load_open(&members)?
            .into_iter()
            .map(|a| (a.fingerprint.clone(), a))
            .collect();
        Ok((groups, alerts, store.load_silences(now)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::config::Grouping;
    use crate::alerting::rules::Rules;

    const MIN: i64 = 60_000;

    fn route(channels: &[&str]) -> Route {
        Route {
            severity: Vec::new(),
            labels: BTreeMap::new(),
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            group_by: None,
            escalate_after: None,
            escalate_to: Vec::new(),
            send_resolved: true,
            continue_matching: false,
        }
    }

    fn config(routes: Vec<Route>, wait: i64, interval: i64) -> EngineConfig {
        EngineConfig {
            routes,
            grouping: Grouping {
                group_by: vec!["instance".into()],
                group_wait: Duration::from_millis(wait as u64),
                group_interval: Duration::from_millis(interval as u64),
                repeat_interval: Duration::from_secs(4 * 3600),
            },
            resolve_timeout: Duration::from_secs(300),
            link: "http://pulse/api/v1/alerts".into(),
        }
    }

    fn signal(name: &str, instance: &str, severity: Severity, status: SignalStatus) -> Signal {
        Signal {
            source: "rule".into(),
            name: name.into(),
            labels: [("instance".to_owned(), instance.to_owned())].into(),
            severity,
            summary: format!("{name} on {instance}"),
            value: Some(1.0),
            status,
        }
    }

    fn firing(name: &str, instance: &str) -> Signal {
        signal(name, instance, Severity::Warning, SignalStatus::Firing)
    }

    fn messages(engine: &Engine, queued: &[Queued]) -> Vec<Message> {
        queued
            .iter()
            .map(|q| {
                let row = engine.store().notification(q.id).unwrap().unwrap();
                serde_json::from_str(&row.payload).unwrap()
            })
            .collect()
    }

    fn open(dir: &tempfile::TempDir, config: EngineConfig) -> Engine {
        Engine::open(&dir.path().join("h.db"), config, 0).unwrap()
    }

    #[test]
    fn group_wait_batches_siblings_and_resolution_is_told_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = open(&dir, config(vec![route(&["hook"])], 30_000, 5 * MIN));
        let mut events = e.subscribe();
        assert!(
            e.observe(0, &[firing("CpuHigh", "db1")])
                .unwrap()
                .is_empty()
        );
        assert!(
            e.observe(
                10_000,
                &[firing("CpuHigh", "db1"), firing("MemoryHigh", "db1")]
            )
            .unwrap()
            .is_empty()
        );
        let q = e
            .observe(
                30_000,
                &[firing("CpuHigh", "db1"), firing("MemoryHigh", "db1")],
            )
            .unwrap();
        assert_eq!(q.len(), 1, "one message for the group");
        let m = &messages(&e, &q)[0];
        assert_eq!(m.alerts.len(), 2);
        assert_eq!(m.group_labels["instance"], "db1");
        assert_eq!(events.try_recv().unwrap().change, "firing");

        // Nothing new: nothing sent.
        assert!(
            e.observe(
                60_000,
                &[firing("CpuHigh", "db1"), firing("MemoryHigh", "db1")]
            )
            .unwrap()
            .is_empty()
        );
        // Memory resolves: told at the next group interval, not before.
        let resolved = signal(
            "MemoryHigh",
            "db1",
            Severity::Warning,
            SignalStatus::Resolved,
        );
        assert!(
            e.observe(2 * MIN, &[firing("CpuHigh", "db1"), resolved.clone()])
                .unwrap()
                .is_empty()
        );
        let q = e.tick(30_000 + 5 * MIN).unwrap();
        let m = &messages(&e, &q)[0];
        assert_eq!(m.status, AlertState::Firing);
        let states: Vec<_> = m
            .alerts
            .iter()
            .map(|a| (a.name.as_str(), a.state))
            .collect();
        assert_eq!(
            states,
            [
                ("CpuHigh", AlertState::Firing),
                ("MemoryHigh", AlertState::Resolved)
            ]
        );
        assert!(
            e.observe(6 * MIN, &[firing("CpuHigh", "db1")])
                .unwrap()
                .is_empty()
        );
        let (history, _) = e
            .store()
            .alerts(&crate::alerting::store::AlertFilter {
                state: vec![AlertState::Resolved],
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].name, "MemoryHigh");
        // Retention forgets the resolved alert; the notifications stay while pending (no
        // dispatcher runs here), and the firing alert stays.
        assert_eq!(e.prune(6 * MIN).unwrap(), 1);
        assert_eq!(e.store().notifications(10).unwrap().len(), 2);
        assert_eq!(
            e.store()
                .alerts(&crate::alerting::store::AlertFilter {
                    limit: 10,
                    ..Default::default()
                })
                .unwrap()
                .0
                .len(),
            1
        );
    }

    #[test]
    fn restart_mid_group_sends_once() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = || config(vec![route(&["hook"])], 30_000, 5 * MIN);
        {
            let mut e = open(&dir, cfg());
            assert!(
                e.observe(0, &[firing("CpuHigh", "db1")])
                    .unwrap()
                    .is_empty()
            );
        }
        // Restarted inside the group wait: the alert and the group's timer survive.
        let mut e = open(&dir, cfg());
        assert_eq!(e.open_alerts().len(), 1);
        assert!(
            e.observe(15_000, &[firing("CpuHigh", "db1")])
                .unwrap()
                .is_empty()
        );
        let q = e.observe(30_000, &[firing("CpuHigh", "db1")]).unwrap();
        assert_eq!(q.len(), 1);
        let id = e.open_alerts()[0].id;
        drop(e);
        // Restarted after the flush: nothing is sent again.
        let mut e = open(&dir, cfg());
        assert_eq!(e.open_alerts()[0].id, id, "same alert, not a new one");
        for t in 1..20 {
            assert!(
                e.observe(30_000 + t * MIN, &[firing("CpuHigh", "db1")])
                    .unwrap()
                    .is_empty()
            );
        }
        assert_eq!(e.store().notifications(100).unwrap().len(), 1);
    }

    #[test]
    fn silences_mute_and_their_end_speaks() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = open(&dir, config(vec![route(&["hook"])], 0, MIN));
        let matchers: BTreeMap<String, String> =
            [("alertname".to_owned(), "CpuHigh".to_owned())].into();
        let (silence, _) = e
            .add_silence(0, matchers.clone(), 10 * MIN, "ops", "deploy")
            .unwrap();
        assert!(
            e.observe(1_000, &[firing("CpuHigh", "db1")])
                .unwrap()
                .is_empty()
        );
        assert_eq!(e.open_alerts()[0].silenced_by, Some(silence.id));
        // Other alerts still go out.
        assert_eq!(
            e.observe(2_000, &[firing("CpuHigh", "db1"), firing("Disk", "db2")])
                .unwrap()
                .len(),
            1
        );
        assert!(e.add_silence(0, BTreeMap::new(), MIN, "ops", "").is_err());
        // Expired by hand: the still-firing alert is told at the group's next turn.
        let q = e.expire_silence(3 * MIN, silence.id).unwrap();
        let m = &messages(&e, &q)[0];
        assert_eq!(m.alerts[0].name, "CpuHigh");
        assert!(e.expire_silence(4 * MIN, silence.id).is_err());
    }

    #[test]
    fn acknowledgement_stops_repeats_and_escalation() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = route(&["slack"]);
        r.escalate_after = Some(crate::config::Dur(Duration::from_secs(600)));
        r.escalate_to = vec!["pager".into()];
        let mut cfg = config(vec![r], 0, MIN);
        cfg.grouping.repeat_interval = Duration::from_secs(3600);
        let mut e = open(&dir, cfg);
        let crit = |i| signal("Down", i, Severity::Critical, SignalStatus::Firing);
        let q = e.observe(0, &[crit("a"), crit("b")]).unwrap();
        assert_eq!(q.len(), 2, "one message per instance group");
        let b = e.open_alerts()[1].id;
        e.acknowledge(MIN, b, "alice").unwrap();
        let mut escalated = Vec::new();
        let mut repeats = 0;
        for t in 2..=70 {
            for q in e.observe(t * MIN, &[crit("a"), crit("b")]).unwrap() {
                let m = &messages(&e, std::slice::from_ref(&q))[0];
                match m.kind {
                    Kind::Escalation => {
                        escalated.push((q.channel, m.alerts[0].labels["instance"].clone()))
                    }
                    Kind::Repeat => repeats += 1,
                    Kind::Notify => panic!("unexpected {m:?}"),
                }
            }
        }
        assert_eq!(escalated, [("pager".to_owned(), "a".to_owned())]);
        assert_eq!(
            repeats, 1,
            "only the unacknowledged group repeats, once an hour"
        );
        let acked = e.store().alert(b).unwrap().unwrap();
        assert_eq!(acked.state, AlertState::Acknowledged);
        assert_eq!(acked.acknowledged_by.as_deref(), Some("alice"));
        assert!(matches!(
            e.acknowledge(71 * MIN, 999, "x"),
            Err(EngineError::NotFound(_))
        ));
    }

    #[test]
    fn silent_sources_time_out_and_severity_changes_renotify() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = open(&dir, config(vec![route(&["hook"])], 0, MIN));
        assert_eq!(e.observe(0, &[firing("Anomaly", "a")]).unwrap().len(), 1);
        let worse = signal("Anomaly", "a", Severity::Critical, SignalStatus::Firing);
        let q = e.observe(MIN, &[worse]).unwrap();
        assert_eq!(messages(&e, &q)[0].alerts[0].severity, Severity::Critical);
        assert!(e.tick(5 * MIN).unwrap().is_empty());
        let q = e.tick(6 * MIN).unwrap();
        assert_eq!(messages(&e, &q)[0].status, AlertState::Resolved);
        assert!(e.open_alerts().is_empty());
    }

    #[test]
    fn manual_resolve_is_notified_and_final() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = open(&dir, config(vec![route(&["hook"])], 0, MIN));
        assert_eq!(e.observe(0, &[firing("Disk", "a")]).unwrap().len(), 1);
        let id = e.open_alerts()[0].id;
        let alert = e.resolve(MIN, id, "bob").unwrap();
        assert_eq!(alert.state, AlertState::Resolved);
        assert_eq!(alert.resolved_at, Some(MIN));
        let q = e.tick(MIN).unwrap();
        let m = &messages(&e, &q)[0];
        assert_eq!(m.status, AlertState::Resolved);
        assert_eq!(m.title(), "[RESOLVED] 1 resolved: Disk (instance=a)");
        assert!(matches!(
            e.resolve(2 * MIN, id, "bob"),
            Err(EngineError::Conflict(_))
        ));
    }

    #[test]
    fn routes_match_severity_and_labels_and_may_continue() {
        let dir = tempfile::tempdir().unwrap();
        let mut pager = route(&["pager"]);
        pager.severity = vec![Severity::Critical];
        pager.continue_matching = true;
        let mut db_team = route(&["db-mail"]);
        db_team.labels = [("instance".to_owned(), "db1".to_owned())].into();
        let mut e = open(&dir, config(vec![pager, db_team, route(&["mail"])], 0, MIN));
        let crit = signal("Down", "db1", Severity::Critical, SignalStatus::Firing);
        let warn = firing("Slow", "web1");
        let mut channels: Vec<String> = e
            .observe(0, &[crit, warn])
            .unwrap()
            .into_iter()
            .map(|q| q.channel)
            .collect();
        channels.sort();
        assert_eq!(channels, ["db-mail", "mail", "pager"]);
    }

    /// A metric flapping around its threshold for two hours (scraped every 15 s, over the
    /// fire level at random half of the time), through the rules and the engine: how many
    /// messages reach a channel.
    fn flapping_messages(hysteresis: bool, grouping: bool) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let (wait, interval) = if grouping { (30_000, 5 * MIN) } else { (0, 0) };
        let mut e = open(&dir, config(vec![route(&["hook"])], wait, interval));
        let rule = if hysteresis {
            "{name: CpuHigh, metric: m, consecutive: 2, for: 30s, \
             levels: [{severity: critical, fire: 0.9, clear: 0.8}]}"
        } else {
            "{name: CpuHigh, metric: m, levels: [{severity: critical, fire: 0.9}]}"
        };
        let mut rules = Rules::new(vec![serde_yaml::from_str(rule).unwrap()]);
        let labels: BTreeMap<String, String> = [("instance".to_owned(), "db1".to_owned())].into();
        let mut sent = 0;
        let mut seed: u64 = 42;
        for step in 0..480 {
            let now = step * 15_000;
            // A fixed LCG, so the counts are the same on every run.
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let value = if (seed >> 33).is_multiple_of(2) {
                0.95
            } else {
                0.85
            };
            let signals: Vec<Signal> = rules
                .step(now, 0, labels.clone(), value)
                .into_iter()
                .collect();
            sent += e.observe(now, &signals).unwrap().len();
        }
        sent
    }

    #[test]
    fn hysteresis_and_grouping_prevent_a_storm() {
        let raw = flapping_messages(false, false);
        let grouped = flapping_messages(false, true);
        let hysteresis = flapping_messages(true, false);
        let both = flapping_messages(true, true);
        eprintln!(
            "flapping 2h @15s: no hysteresis/no grouping {raw}, grouping only {grouped}, \
             hysteresis only {hysteresis}, both {both}"
        );
        assert!(raw > 150, "every flip is a message: {raw}");
        assert!(
            grouped <= 25,
            "at most one message per group interval: {grouped}"
        );
        assert_eq!(hysteresis, 1);
        assert_eq!(both, 1);
    }
}
