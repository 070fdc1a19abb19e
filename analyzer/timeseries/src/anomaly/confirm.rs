//! Confirmation: news is reported once it has lasted a few samples.
//!
//! The suppressor decides whether a point is news; this stage holds each
//! such point back for `samples` samples and reports it then only if the
//! series stayed off normal meanwhile: the ensemble's mean unsuppressed
//! score over those samples at least `ratio` times its score at the news
//! point. It is the detector's version of a Prometheus rule's `for:`
//! clause. What it drops are surprises that collapse at once: a point
//! that only the single-sample members (spike, step, rhythm) found odd and
//! the windowed ones (level, novelty) did not follow, and ART's alarm for
//! a block that ends after the ensemble has already calmed down (ART sees
//! a blip when its 7-sample block closes, a few samples after the
//! ensemble reported it). An incident keeps the series off normal and is
//! reported `samples` samples late, which on windows of hours costs
//! almost nothing.
//!
//! News that comes while earlier news is still held is the same incident
//! getting worse within minutes (the suppressor lets a markedly bigger
//! surprise through even within an episode): once the earlier point is
//! confirmed, the one alert it releases carries the largest score held,
//! and the later points are not released on their own. Released one by
//! one they were two or three alerts a sample apart, and on NAB each one
//! outside a labelled window a false positive. If the earlier point is
//! not confirmed, the later ones are still judged on their own.
//!
//! News can also be judged from a point before the newest
//! ([`Confirmer::report_seen`]): ART reads the series in blocks and speaks
//! when a block closes, up to a block after the ensemble's own peak, so
//! its alarm is judged by what the ensemble did after that peak, some of
//! which has already been seen.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// One held-back news point.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    /// Timestamp of the news point.
    at: i64,
    /// Samples still to wait.
    left: usize,
    /// Score to report if confirmed.
    score: f64,
    /// Mean unsuppressed score the samples after the news point must
    /// reach.
    need: f64,
    /// Sum of the unsuppressed scores since.
    since: f64,
}

/// Confirmation state of one series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Confirmer {
    samples: usize,
    ratio: f64,
    pending: VecDeque<Pending>,
    /// Timestamp of the held-back point the latest report released.
    released: Option<i64>,
}

impl Confirmer {
    /// `samples` 0 reports news at once, unconfirmed.
    pub(crate) fn new(samples: usize, ratio: f64) -> Self {
        Self {
            samples,
            ratio,
            pending: VecDeque::new(),
            released: None,
        }
    }

    /// When the latest report released a held-back point, that point's
    /// timestamp: the report is about it, not about the newest point.
    pub(crate) fn released(&self) -> Option<i64> {
        self.released
    }

    /// Returns the score to report for the newest point, taken at `at`.
    /// `reported` is its score after suppression, `news` whether the
    /// suppressor took it for news, `held` what to report instead while
    /// news waits for confirmation, and `unsuppressed` its score before
    /// suppression.
    pub(crate) fn report(
        &mut self,
        at: i64,
        reported: f64,
        news: bool,
        held: f64,
        unsuppressed: f64,
    ) -> f64 {
        self.released = None;
        if self.samples == 0 {
            return reported;
        }
        let score = self.advance(if news { held } else { reported }, unsuppressed);
        if news {
            self.pending.push_back(Pending {
                at,
                left: self.samples,
                score: reported,
                need: self.ratio * unsuppressed,
                since: 0.0,
            });
        }
        score
    }

    /// Counts the newest point's `unsuppressed` score toward every held
    /// point and judges those it completes; returns `score`, or what a
    /// confirmed point releases if larger.
    fn advance(&mut self, mut score: f64, unsuppressed: f64) -> f64 {
        for pending in &mut self.pending {
            pending.left -= 1;
            pending.since += unsuppressed;
        }
        // In arrival order; news judged from an earlier point
        // ([`Confirmer::report_seen`]) may come due before news held
        // longer.
        while let Some(due) = self.pending.iter().position(|p| p.left == 0) {
            let Some(pending) = self.pending.remove(due) else {
                break;
            };
            if pending.since / self.samples as f64 >= pending.need {
                let worst = self
                    .pending
                    .drain(due..)
                    .fold(pending.score, |a, p| a.max(p.score));
                if worst > score {
                    score = worst;
                    self.released = Some(pending.at);
                }
            }
        }
        score
    }

    /// Like [`Confirmer::report`] for a detector whose news, if any, is
    /// about an earlier point than the newest (`news`: what is known of
    /// the samples after that point). The newest point itself reports
    /// nothing but what confirmation releases.
    pub(crate) fn report_seen(&mut self, news: Option<Seen>, unsuppressed: f64) -> f64 {
        self.released = None;
        let score = self.advance(0.0, unsuppressed);
        let Some(news) = news else {
            return score;
        };
        if news.count < self.samples {
            self.pending.push_back(Pending {
                at: news.at,
                left: self.samples - news.count,
                score: news.score,
                need: news.need,
                since: news.sum,
            });
            return score;
        }
        let confirmed = self.samples == 0 || news.sum / self.samples as f64 >= news.need;
        if confirmed && news.score > score {
            self.released = Some(news.at);
            return news.score;
        }
        score
    }
}

/// News about a point before the newest, for [`Confirmer::report_seen`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    /// Timestamp of the point the news is about.
    pub(crate) at: i64,
    /// Score to report if confirmed.
    pub(crate) score: f64,
    /// Mean unsuppressed score the samples after the point must reach.
    pub(crate) need: f64,
    /// Sum of the unsuppressed scores of the samples after the point seen
    /// so far (at most the confirmation's samples).
    pub(crate) sum: f64,
    /// How many samples that is.
    pub(crate) count: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(unsuppressed, news)` pairs, news reported at its
    /// unsuppressed score and held at a tenth of it.
    fn run(c: &mut Confirmer, points: &[(f64, bool)]) -> Vec<f64> {
        points
            .iter()
            .zip(0..)
            .map(|(&(u, news), at)| c.report(at, if news { u } else { 0.1 * u }, news, 0.1 * u, u))
            .collect()
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        assert!(
            got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-12),
            "{got:?} vs {want:?}"
        );
    }

    #[test]
    fn lasting_news_is_reported_late_and_a_blip_not_at_all() {
        let mut c = Confirmer::new(2, 0.7);
        let lasting = run(&mut c, &[(0.5, true), (0.4, false), (0.4, false)]);
        assert_close(&lasting, &[0.05, 0.04, 0.5]);
        assert_eq!(c.released(), Some(0), "the report is about the first point");
        let mut c = Confirmer::new(2, 0.7);
        let blip = run(&mut c, &[(0.5, true), (0.1, false), (0.1, false)]);
        assert!(blip.iter().all(|&s| s < 0.1), "{blip:?}");
        assert_eq!(c.released(), None);
    }

    #[test]
    fn news_that_comes_while_news_is_held_is_the_same_alert() {
        // A surprise, then a markedly bigger one a sample later, both
        // lasting: one alert, about the first point, as strong as the
        // second. Released one by one they were two alerts a sample apart.
        let mut c = Confirmer::new(2, 0.7);
        let got = run(
            &mut c,
            &[
                (0.5, true),
                (0.8, true),
                (0.7, false),
                (0.7, false),
                (0.7, false),
            ],
        );
        assert_close(&got, &[0.05, 0.08, 0.8, 0.07, 0.07]);
        assert_eq!(c.released(), None);
        let mut c = Confirmer::new(2, 0.7);
        run(&mut c, &[(0.5, true), (0.8, true), (0.7, false)]);
        assert_eq!(c.released(), Some(0), "dated from the first point");
    }

    #[test]
    fn later_news_survives_an_earlier_blip() {
        // The first point collapses at once and is not confirmed; the
        // one after it lasts and is reported on its own.
        let mut c = Confirmer::new(2, 0.7);
        let got = run(
            &mut c,
            &[(0.9, true), (0.5, true), (0.4, false), (0.4, false)],
        );
        assert_close(&got, &[0.09, 0.05, 0.04, 0.5]);
        assert_eq!(c.released(), Some(1));
    }

    #[test]
    fn off_reports_news_at_once() {
        let mut c = Confirmer::new(0, 0.7);
        assert_close(&run(&mut c, &[(0.5, true), (0.1, false)]), &[0.5, 0.01]);
    }
}
