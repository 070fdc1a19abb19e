//! The full-screen view: three tables redrawn every interval until q, Esc or Ctrl-C.
//!
//! `ratatui::try_init` enters raw mode and the alternate screen and installs a panic hook
//! that restores the terminal first; `Restore` restores it on every other way out, so a
//! shell is never left in raw mode. SIGTERM, SIGHUP and SIGINT only set a flag the loop
//! checks, so `kill` ends the view the same clean way as q.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Row, Table};

use super::WatchError;
use super::snapshot::{self, Snapshot};
use crate::storage::{Reader, now_ms};

/// Leaves raw mode and the alternate screen when dropped.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// How often a pending signal is noticed while waiting for a key.
const SIGNAL_CHECK: Duration = Duration::from_millis(200);

pub fn run(reader: &Reader, db: &Path, interval: Duration) -> Result<(), WatchError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    // The guard first: if entering the alternate screen fails after raw mode is on, raw
    // mode is still switched off.
    let _restore = Restore;
    let mut terminal = ratatui::try_init()?;
    let mut last = None;
    loop {
        // On an error (e.g. the database is busy) the last picture stays, with the reason
        // in the title line; the next interval tries again.
        let error = match snapshot::take(reader, now_ms()) {
            Ok(snapshot) => {
                last = Some(snapshot);
                None
            }
            Err(e) => Some(e.to_string()),
        };
        terminal.draw(|frame| draw(frame, last.as_ref(), db, error.as_deref()))?;
        let deadline = Instant::now() + interval;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            match event::poll(left.min(SIGNAL_CHECK)) {
                Ok(true) => {}
                Ok(false) => continue,
                // A signal arrived during the wait: the flag check above sees it.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            if let Event::Key(key) = event::read()?
                && key.kind == KeyEventKind::Press
            {
                let ctrl_c =
                    key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
                if ctrl_c || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) {
                    return Ok(());
                }
            }
        }
    }
}

fn table<'a>(t: &'a snapshot::Table) -> Table<'a> {
    let widths: Vec<Constraint> = t
        .header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let widest = t
                .rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0);
            Constraint::Length(widest as u16)
        })
        .collect();
    let rows: Vec<Row> = if t.rows.is_empty() {
        vec![Row::new(["(none)"])]
    } else {
        t.rows
            .iter()
            .map(|r| Row::new(r.iter().map(String::as_str)))
            .collect()
    };
    Table::new(rows, widths)
        .header(Row::new(t.header.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD)))
        .column_spacing(2)
        .block(Block::bordered().title(t.title))
}

fn draw(frame: &mut Frame, snapshot: Option<&Snapshot>, db: &Path, error: Option<&str>) {
    let [title, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(frame.area());
    let status = match (snapshot, error) {
        (_, Some(e)) => format!(
            "pulse watch  {}  history {}  error: {e}",
            super::taken_at(now_ms()),
            db.display()
        ),
        (Some(s), None) => format!(
            "pulse watch  {}  history {}  (q to quit)",
            super::taken_at(s.taken_at_ms),
            db.display()
        ),
        (None, None) => "pulse watch".to_owned(),
    };
    frame.render_widget(Line::from(status), title);
    let Some(snapshot) = snapshot else {
        return;
    };
    let heights = [&snapshot.targets, &snapshot.alerts, &snapshot.processes]
        .map(|t| Constraint::Length(t.rows.len().max(1) as u16 + 3));
    let [targets, alerts, processes] = Layout::vertical(heights).areas(body);
    frame.render_widget(table(&snapshot.targets), targets);
    frame.render_widget(table(&snapshot.alerts), alerts);
    frame.render_widget(table(&snapshot.processes), processes);
}
