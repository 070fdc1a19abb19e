//! Alert suppression: report an incident once, at its start.
//!
//! Two rules, both about "is this news compared with what was just
//! reported?":
//! - a **decaying peak**: the largest recent surprise, halved every
//!   `half_life` samples. A point is news only above it, so a long
//!   episode is reported at its start and again only if it gets markedly
//!   worse.
//! - a **rest window**: a point is news only if it is also more surprising
//!   than every point of the last `window` samples. The decaying peak alone
//!   reports an episode again when it comes back at a similar strength a
//!   few hours later (a second burst of the same incident, a flapping
//!   value): by then the peak has decayed below it. Each such repeat is
//!   one more alert about something already reported, and on NAB one more
//!   false positive. Holding the peak undecayed for a window of a day and
//!   a half of 5-minute samples reports the episode once, at its worst so far.
//!
//! - an **episode**: for `episode` samples after a point reported as news,
//!   a further point is news only if it is `escalation` times as surprising
//!   as the last one reported, and each such point that would have been news
//!   extends the episode. The first two rules let a *rising* episode through
//!   on every sample (each point a new maximum by a hair): a temperature
//!   climbing for an hour was ten alerts, and on NAB ten false positives
//!   where it fell outside the labelled window. A point that is markedly
//!   worse still gets through at once.
//!
//! Points that are not news keep `fraction` of their surprise, so they
//! still order below real news rather than collapsing to one value.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Suppression state of one series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Suppressor {
    /// Per-sample decay of the peak; 0 when the peak rule is off.
    decay: f64,
    window: usize,
    fraction: f64,
    peak: f64,
    /// Sample count, to age entries out of `recent`.
    seen: u64,
    /// The maxima of the rest window: `(sample, surprise)` with strictly
    /// decreasing surprise, so the front is the window's maximum and the
    /// length never exceeds `window`.
    recent: VecDeque<(u64, f64)>,
    /// Episode length in samples; 0 when the episode rule is off.
    episode: u64,
    escalation: f64,
    /// The latest sample of the current episode and the surprise last
    /// reported in it.
    last_news: Option<(u64, f64)>,
    /// Whether the newest point was news.
    news: bool,
}

impl Suppressor {
    /// `half_life` 0 turns the peak rule off, `window` 0 the rest window,
    /// `episode` 0 the episode rule; with all three off every surprise is
    /// reported as is.
    pub(crate) fn new(
        half_life: f64,
        window: usize,
        episode: u64,
        escalation: f64,
        fraction: f64,
    ) -> Self {
        Self {
            decay: if half_life > 0.0 {
                0.5f64.powf(1.0 / half_life)
            } else {
                0.0
            },
            window,
            fraction,
            peak: 0.0,
            seen: 0,
            recent: VecDeque::new(),
            episode,
            escalation,
            last_news: None,
            news: false,
        }
    }

    /// Whether the newest point was news: reported at its full surprise.
    pub(crate) fn was_news(&self) -> bool {
        self.news
    }

    /// The surprise to report for the newest point.
    pub(crate) fn report(&mut self, surprise: f64) -> f64 {
        let previous = self.peak * self.decay;
        self.peak = previous.max(surprise);

        self.seen += 1;
        let oldest = self.seen.saturating_sub(self.window as u64);
        while self.recent.front().is_some_and(|&(at, _)| at <= oldest) {
            self.recent.pop_front();
        }
        let window_max = self.recent.front().map_or(0.0, |&(_, s)| s);
        if self.window > 0 {
            while self.recent.back().is_some_and(|&(_, s)| s <= surprise) {
                self.recent.pop_back();
            }
            self.recent.push_back((self.seen, surprise));
        }

        let mut news = surprise > previous && surprise > window_max;
        if news && self.episode > 0 {
            let episode = self
                .last_news
                .filter(|&(at, _)| self.seen - at <= self.episode);
            match episode {
                Some((_, reported)) if surprise < reported * self.escalation => {
                    news = false;
                    self.last_news = Some((self.seen, reported));
                }
                _ => self.last_news = Some((self.seen, surprise)),
            }
        }
        self.news = news;
        if news {
            surprise
        } else {
            surprise * self.fraction
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_that_comes_back_within_the_window_is_reported_once() {
        // Bursts of the same strength 100 samples apart, then one after a
        // long quiet spell: the decaying peak reports every one of them,
        // the rest window only the first and the one after the quiet.
        let bursts = [0, 100, 200, 600];
        let count = |mut s: Suppressor| {
            (0..700)
                .filter(|i| {
                    let x = if bursts.contains(i) { 10.0 } else { 1.0 };
                    s.report(x) == x && x == 10.0
                })
                .count()
        };
        assert_eq!(count(Suppressor::new(288.0, 0, 0, 1.0, 0.1)), 4);
        assert_eq!(count(Suppressor::new(288.0, 288, 0, 1.0, 0.1)), 2);
    }

    #[test]
    fn news_again_after_the_window_and_the_decay() {
        let mut s = Suppressor::new(10.0, 50, 0, 1.0, 0.1);
        assert_eq!(s.report(8.0), 8.0);
        assert_eq!(s.report(8.0), 0.8, "a repeat is not news");
        for _ in 0..60 {
            s.report(1.0);
        }
        assert_eq!(s.report(8.0), 8.0, "the first alert has aged out");
    }

    #[test]
    fn a_bigger_surprise_is_always_news() {
        let mut s = Suppressor::new(288.0, 288, 0, 1.0, 0.1);
        s.report(5.0);
        assert_eq!(s.report(6.0), 6.0);
    }

    #[test]
    fn a_rising_episode_is_reported_at_its_start_and_when_markedly_worse() {
        // A ramp creeping up 2 % a sample for 30 samples, then a jump.
        let ramp: Vec<f64> = (0..30).map(|i| 5.0 * 1.02f64.powi(i)).collect();
        let count = |mut s: Suppressor| {
            ramp.iter()
                .chain(&[20.0])
                .filter(|&&x| s.report(x) == x)
                .count()
        };
        assert_eq!(count(Suppressor::new(288.0, 288, 0, 1.3, 0.1)), 31);
        // Every 14th ramp point is 1.3 times the last report: 0, 14, 28, and the jump.
        assert_eq!(count(Suppressor::new(288.0, 288, 12, 1.3, 0.1)), 4);
    }

    #[test]
    fn a_new_episode_starts_once_the_last_has_been_quiet() {
        let mut s = Suppressor::new(0.0, 5, 12, 1.3, 0.1);
        assert_eq!(s.report(5.0), 5.0);
        assert_eq!(s.report(5.5), 0.55, "same episode, not markedly worse");
        for _ in 0..13 {
            s.report(1.0);
        }
        assert_eq!(s.report(5.5), 5.5, "the episode ended 13 samples ago");
    }

    #[test]
    fn off_reports_everything() {
        let mut s = Suppressor::new(0.0, 0, 0, 1.0, 0.1);
        assert!([3.0, 3.0, 2.0, 3.0].iter().all(|&x| s.report(x) == x));
    }

    #[test]
    fn the_default_window_holds_a_repeat_400_samples_on() {
        // The defaults were tuned on shifted copies of NAB's split (see
        // `DetectorConfig::suppression_window`): a burst that comes back at
        // the same strength 400 samples later is the same incident.
        let c = crate::anomaly::DetectorConfig::default();
        let mut s = Suppressor::new(0.0, c.suppression_window, 0, 1.0, 0.1);
        assert_eq!(s.report(10.0), 10.0);
        for _ in 0..399 {
            s.report(1.0);
        }
        assert_eq!(s.report(10.0), 1.0, "within the rest window");
    }

    #[test]
    fn the_default_episode_holds_a_second_rise_14_samples_on() {
        let c = crate::anomaly::DetectorConfig::default();
        let mut s = Suppressor::new(0.0, 0, c.suppression_episode, c.suppression_escalation, 0.1);
        assert_eq!(s.report(5.0), 5.0);
        for _ in 0..13 {
            s.report(0.0);
        }
        assert_eq!(s.report(5.5), 0.55, "same episode, not markedly worse");
    }

    #[test]
    fn the_window_stays_bounded() {
        let mut s = Suppressor::new(0.0, 16, 0, 1.0, 0.1);
        for i in 0..1000 {
            s.report(f64::from(1000 - i));
        }
        assert!(s.recent.len() <= 16);
    }
}
