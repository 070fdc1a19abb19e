//! Delivery: one queue and one worker per channel, fed from the outbox.
//!
//! A channel's worker delivers its notifications in order, with retries; a dead or slow
//! receiver therefore holds up only its own queue, never another channel and never the
//! engine (which only writes rows and hands over ids). At start-up every notification
//! still `pending` in the database is queued again, so a restart loses nothing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::channels::{Channel, DeliveryMetrics};
use super::message::Message;
use super::store::{AlertStore, AlertStoreError, Notification};
use crate::storage::now_ms;

/// A notification committed to the outbox, ready to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub channel: String,
}

pub struct Dispatcher {
    queues: HashMap<String, mpsc::UnboundedSender<i64>>,
    store: Arc<Mutex<AlertStore>>,
}

impl Dispatcher {
    /// Starts one worker per channel; returns the dispatcher and the workers' handles.
    pub fn start(
        channels: Vec<Channel>,
        db_path: &Path,
        metrics: Arc<DeliveryMetrics>,
        stop: watch::Receiver<bool>,
    ) -> Result<(Self, Vec<JoinHandle<()>>), AlertStoreError> {
        let store = Arc::new(Mutex::new(AlertStore::open(db_path)?));
        let mut queues = HashMap::new();
        let mut workers = Vec::new();
        for channel in channels {
            metrics.register(&channel.name);
            let (tx, rx) = mpsc::unbounded_channel();
            queues.insert(channel.name.clone(), tx);
            workers.push(tokio::spawn(worker(
                Arc::new(channel),
                rx,
                store.clone(),
                metrics.clone(),
                stop.clone(),
            )));
        }
        let dispatcher = Self { queues, store };
        let pending = dispatcher
            .store
            .lock()
            .map_err(|_| poisoned())?
            .pending_notifications()?;
        for notification in pending {
            dispatcher.enqueue(&Queued {
                id: notification.id,
                channel: notification.channel,
            });
        }
        Ok((dispatcher, workers))
    }

    pub fn enqueue(&self, queued: &Queued) {
        match self.queues.get(&queued.channel) {
            Some(queue) => {
                let _ = queue.send(queued.id);
            }
            None => {
                // The config no longer has this channel: record why it never went out.
                let message = format!("channel {} is not configured", queued.channel);
                tracing::warn!(notification = queued.id, "{message}");
                if let Ok(store) = self.store.lock()
                    && let Err(e) =
                        store.finish_notification(queued.id, now_ms(), 0, Some(&message))
                {
                    tracing::error!("alert outbox: {e}");
                }
            }
        }
    }
}

fn poisoned() -> AlertStoreError {
    AlertStoreError::Corrupt {
        what: "outbox lock",
        id: 0,
        message: "poisoned".into(),
    }
}

async fn with_store<T: Send + 'static>(
    store: &Arc<Mutex<AlertStore>>,
    f: impl FnOnce(&AlertStore) -> Result<T, AlertStoreError> + Send + 'static,
) -> Result<T, AlertStoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&*store.lock().map_err(|_| poisoned())?))
        .await
        .map_err(|e| AlertStoreError::Corrupt {
            what: "outbox task",
            id: 0,
            message: e.to_string(),
        })?
}

async fn worker(
    channel: Arc<Channel>,
    mut queue: mpsc::UnboundedReceiver<i64>,
    store: Arc<Mutex<AlertStore>>,
    metrics: Arc<DeliveryMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let id = tokio::select! {
            id = queue.recv() => match id { Some(id) => id, None => break },
            _ = stop.changed() => break,
        };
        let row: Option<Notification> = match with_store(&store, move |s| s.notification(id)).await
        {
            Ok(row) => row,
            Err(e) => {
                tracing::error!(channel = %channel.name, "alert outbox: {e}");
                continue;
            }
        };
        // Queued twice (start-up resume racing a fresh commit) or already done: skip.
        let Some(row) = row.filter(|r| r.status == "pending") else {
            continue;
        };
        let (attempts, error) = match serde_json::from_str::<Message>(&row.payload) {
            Ok(message) => {
                let delivery = channel.deliver(&message, &metrics);
                let (attempts, result) = tokio::select! {
                    outcome = delivery => outcome,
                    _ = stop.changed() => break,
                };
                (attempts, result.err().map(|e| e.to_string()))
            }
            Err(e) => (0, Some(format!("unreadable payload: {e}"))),
        };
        match &error {
            None => tracing::info!(
                channel = %channel.name,
                notification = id,
                attempts,
                "notification delivered"
            ),
            Some(e) => tracing::error!(
                channel = %channel.name,
                notification = id,
                attempts,
                "notification failed for good: {e}"
            ),
        }
        if let Err(e) = with_store(&store, move |s| {
            s.finish_notification(id, now_ms(), attempts, error.as_deref())
        })
        .await
        {
            tracing::error!(channel = %channel.name, "alert outbox: {e}");
        }
    }
}
