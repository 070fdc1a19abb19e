//! Adaptive Resonance Theory (ART) detector of *new kinds* of behaviour,
//! in the style of ARTime (the best published detector on NAB).
//!
//! # Why
//! The statistical members judge each point against a distribution of
//! recent points, so every series produces its quota of surprises. ART
//! instead keeps a memory of the shapes the series has shown (categories of
//! short downsampled windows, see the `encoder` and `dvfa` modules) and
//! speaks only when a window resembles *nothing* it has seen: a series that
//! keeps repeating itself, however noisily, stops producing alerts.
//!
//! # How
//! - The first `probation` samples are buffered. Their range fixes the
//!   encoder's grid, and their feature vectors, presented from the least to
//!   the most typical, fix the initial vigilance `ρ`: the mean match of the
//!   typical half against what the atypical ones taught. They are then
//!   replayed through the detector, silently.
//! - After that, every `step` samples (`step = probation / 104`, so the
//!   warm-up spans 13 feature windows) one feature vector is matched. A new
//!   cluster (match below `ρ_lb`) is reported with a confidence that grows
//!   with how far below both vigilances it fell and how far from the
//!   category's level it is; every other sample scores 0.
//! - Vigilances adapt: `ρ_ub` follows the mean match (capped at 0.97), `ρ_lb`
//!   rises towards the lowest recent match and falls by the recent shortfall
//!   below `ρ_ub` (never below the mean match of past anomalies), every half
//!   warm-up and after each anomaly's mask.
//! - Masks: for 1.5 feature windows after an anomaly, and after a new
//!   category until 1.5 windows pass without one, only a match clearly
//!   below the last anomaly's is reported, so one episode is one alert.
//!
//! ARTime's constants (the confidence's weights, the vigilances'
//! adaptation rates and cap, the mask, the initial `ρ`) and the step were
//! re-measured on 13 copies of NAB's shared split started 1–13 rows later,
//! one at a time against the current detector, mean standard score
//! against the defaults: the energy weight 1.0 / 2.0: −0.29 / −0.23;
//! weights on `ρ_ub` / `ρ_lb` of 0 / 1: −2.65, of 0.7 / 0.3: −1.13;
//! `ρ_lb`'s rise 0.1 / 0.3 of the way: −2.10 / −0.24; its fall by 0.35 /
//! 0.7 of the shortfall instead of half: −0.07 / −1.21; shortfalls counted
//! above 0.03 / 0.08: −0.06 / +0.05 (the split −1.81); capped at 0.25 /
//! 0.5: −0.07 / 0.00; `ρ_ub` capped at 0.95 / 0.99: −0.92 / +0.01; masks of
//! 8 / 10 / 16 blocks instead of 12 (1.5 windows): −0.61 / −0.29 / −1.63;
//! initial `ρ` measured at 0.75 / 0.85: −0.03 / −0.30; steps of 6 / 8 at a
//! 750-sample warm-up: −1.08 / −4.18 (hourly rows −9.0 at 8); warm-ups of
//! 300 / 400 / 500 at step 7: −3.8 / −4.2 / −3.8 (1,500-row segments −0.2
//! / +0.7 / +1.8). Every one sits at or next to a local optimum, so
//! ARTime's values stay. Demoting the alarms of a series whose ART has
//! alarmed often (above 0.6–1.2 alarms per 1,000 samples so far) scored
//! −0.03 to −0.28, although on the unshifted split the ART alarms of
//! series with 1.2 or more per 1,000 samples had 17 rows inside windows to
//! 24 outside, against 24 to 9 on the other series. Two changes to the
//! blocks themselves lost too: a second ART whose blocks start 3 or 4
//! samples later, its alarms OR-ed with the first's, −0.54 / −0.67 (more
//! windows caught at some phases, more false positives everywhere); and
//! blocks whose extreme also covers the previous block's last 2 or 3
//! samples, so that a spike on a boundary shows in both, −2.47 / −2.37
//! (hourly rows −2.7 / −9.3).
//!
//! # Range
//! ARTime as published for NAB is handed each file's minimum, maximum and
//! length (its warm-up is 15 % of the file). This implementation, given
//! the same, scores as published on NAB's shared split: 67.9 / 57.9 /
//! 73.7 (standard / low FP / low FN). A live detector knows neither, so
//! the warm-up is a fixed 750 samples and the range is the warm-up's.
//! Measured one at a time on the split: the fixed warm-up alone costs 8
//! points (59.5 standard), the warm-up's range alone 20 (47.8): the true
//! range usually contains the anomaly itself, so the usual values sit in
//! a small part of the grid and only large moves change level. Padding the
//! warm-up's range by one span on each side ([`ArtConfig::range_margin`])
//! puts the usual values in the middle third of the grid, much as the true
//! range did, and recovers most of it: 60.9 / 55.9 / 64.8 with both causal
//! inputs. A value outside the padded range is clipped ([`RangeRule`]).
//!
//! # Young ART
//! ARTime's warm-up is 15 % of a file, at most 750 samples; the fixed 750
//! here is 62.5 hours of 5-minute samples but 8 days of 15-minute ones
//! and a month of hourly ones, and a series that is only a few months
//! long (NAB's hourly ad-exchange files: ~1,600 rows) would spend half of
//! itself unwatched by ART. So once the sampling interval is known (from
//! the first 32 gaps), a series sampled coarsely enough that an ART warmed
//! up on 62.5 hours of samples ([`ArtConfig::young_warmup_secs`]) reads it
//! in blocks at most half as long as the main one's (sampled more coarsely
//! than every 9 minutes) also gets such a *young* ART: the same detector,
//! warmed up on 62.5 hours of samples (at least 208, blocks of 2), which
//! speaks instead of the main one for the series' first
//! [`ArtConfig::young_samples`] samples (1,500) and is then dropped. By
//! then the main ART has warmed up on its 750 samples and learned from 750
//! more, which a long series needs: the main ART's warm-up set by time
//! instead, with no young one, cost the split's two long coarse files
//! (`nyc_taxi`, 30-minute, and `ambient_temperature`, hourly) 2.3 points
//! in false positives. A 5-minute series (or one jittered around 5
//! minutes) has no young ART, so NAB's shared split (whose two coarse
//! files have one, without a score moving), its shifted copies, irregular
//! sampling and counts score as before.
//!
//! Measured (standard / low FP) on the split rolled up to coarser rows
//! (`tests/nab/resample.py`), without → with: 15-minute rows 55.5 / 53.2
//! → 65.7 / 63.1 (the same roll-up started 1 and 2 rows later 52.0 /
//! 53.2 → 58.7 / 65.3 standard; with the maximum of each 3 rows instead
//! of the mean 48.7 → 63.2; with irregular sampling on top, `gappy.py`
//! seed 1, 51.0 → 57.8), 10-minute rows 62.8 → 67.8, 20-minute rows 52.3
//! → 63.7, 30-minute rows 50.6 → 52.5; hourly rows (4 long files) 84.0 →
//! 83.6; 1,500-row segments 53.7 → 52.9 and 2,500-row 68.6 → 68.3 (the
//! segments of the hourly and 30-minute files: more false positives
//! there). Generated healthy hourly series (20 × 3,000 rows each): white
//! noise 0 → 3 points at or above the live threshold, log-normal 17 → 16,
//! a daily wave with noise 0 → 0. Swept: warm-ups of 62.5 / 72 / 96
//! hours scored 63.2 / 64.7 / 63.3 on the mean of the three 15-minute
//! roll-ups and 67.8 / 66.2 / 66.8 on 10-minute rows (48 hours, before a
//! young ART needed blocks half as long, gave 5-minute series one too and
//! cost the split 0.7); handing over at 1,000 / 1,500 / 2,000 / 2,500
//! samples scored 61.9 / 64.7 / 64.7 / 64.7 there (at 72 hours), the
//! later two losing 1.5 on hourly rows and 0.4–2.0 on 2,500-row
//! segments; a floor of 300 samples instead of 208 lost 2.8 on the
//! 15-minute roll-ups, one of 104 (blocks of 1) 0.9 on 1,500-row
//! segments. Handing over as soon as the main ART is warm (750 samples)
//! kept about half of the gain on the 15-minute roll-ups.
//!
//! # Noise
//! On white noise a random shape of 8 blocks is new now and then however
//! long ART has learned: unchecked, ART alone reported one every ~1 500
//! samples. The fixed snap (0.075 of the grid) is smaller than the noise
//! of a series whose warm-up range *is* its noise. So the warm-up also
//! measures the noise: the spread of block-to-block differences (a slow
//! pattern cancels in them) against the blocks' overall spread. When the
//! two are alike ([`ArtConfig::noise_ratio`]) the series is mostly noise,
//! and levels within [`ArtConfig::noise_snap`] noise spreads of the
//! running median are snapped to it; a patterned series keeps the fixed
//! snap. On 5 × 50,000 samples of white noise, points of the whole
//! detector at or above the live threshold fell from 33 to 1 (Gaussian
//! noise 35 to 4, log-normal 106 to 34), and NAB's split rose from 69.4 /
//! 62.2 / 74.2 to 69.8 / 62.5 / 74.4. Measured and not kept: the wide
//! snap on every series, without the ratio test (66.3 standard at 4 noise
//! spreads: nyc_taxi's daily swing between blocks reads as noise); a floor
//! on the level term of the confidence (low FP 58.5 to 59.1); gating on
//! the ensemble's mean or median score over the block instead of the
//! sample's (65.3 to 68.6 standard, and more noise alerts at equal score).
//!
//! Heavy-tailed noise escaped that snap. Log-normal noise (request
//! latencies) passes the noise test, but on its raw scale each block's
//! extreme is often far up the tail, and ART kept finding "new" shapes
//! in chance pairs of such peaks within its window of 8 blocks: on
//! 5 × 50,000 samples of log-normal(0, 1) noise the detector had 87
//! points at or above the live threshold, 22 with ART off. So when the
//! warm-up is positive, lopsided on its raw scale and symmetric on a log
//! scale ([`ArtConfig::log_tolerance`]), and is noise on either scale, ART
//! reads the series on the log scale (the `scale` module), where the tail
//! is short and snaps like Gaussian noise: 87 fell to 30 (log spread 0.5:
//! 32 to 26, ART off 23; 0.8: 65 to 33, off 30; 1.5: 133 to 28, off 26),
//! uniform and Gaussian noise stayed at 0 and 4 (ART off: 0 and 1), and
//! NAB's split stayed
//! 71.1 / 65.6 / 75.3 (1,500-row segments 46.5 / 34.2 / 53.7 to 46.6 /
//! 34.3 / 53.7, 2,500-row 58.6 / 45.4 / 68.5). Measured and not kept:
//! the log for any warm-up skewed beyond a threshold (1.5 to 3 on the
//! measure of [`ArtConfig::log_tolerance`]: 68.2 to 69.6 standard, as
//! spiky CPU series such as `ec2_cpu_utilization_fe7f93` lost their
//! spikes to it); only when noise on the raw scale (1 in 5 log-normal
//! warm-ups of log spread 1.5 failed that test, 49 rather than 28); only
//! when noise on the log scale (69.6 / 63.5 / 74.9: the network series
//! `ec2_network_in_5abac7`, whose blocks mostly sit at one level on the
//! log scale, passed the noise test there and went from 2 to 7
//! false-positive rows; such a warm-up is no longer taken for noise, see
//! `noise_snap`).
//!
//! Counts escaped that rule, the tweets of a third of NAB's held-out
//! files among them: a count can be zero, which has no logarithm, and a
//! busy count with a daily rhythm is not noise on either scale, yet its
//! noise is overdispersed Poisson, larger at the peaks, with bursts of a
//! few samples. On 30 generated series of 15,000 tweet-like 5-minute
//! counts (3 seeds; levels 2 to 200 a sample, daily rhythm, weekly on
//! half, negative-binomial noise of size 1.5 to 8, a burst of 1 to 6
//! samples at 2 to 3 times the rate about once a day) the detector had
//! 4.1 / 4.1 / 4.6 points at or above the live threshold per 10,000
//! samples (0.9 / 1.2 / 1.3 at or above 0.5), 1.3 / 1.4 / 1.9 with ART
//! off (none at 0.5); the same series with 2 or 3 surges each (5 to 20
//! times the rate for 10 to 60 samples, NAB-style windows) scored 73.6 /
//! 77.0 / 71.5 standard, and 78.8 / 84.1 / 78.9 with ART off. So a
//! warm-up of whole numbers at or above zero that is less lopsided on
//! `ln(1 + x)` than raw, and within [`ArtConfig::log_tolerance`], is read
//! on `ln(1 + x)` (the `scale` module), noise or not: 1.7 / 1.7 / 2.6
//! points per 10,000 (0.1 / 0.1 / 0.4 at 0.5), 78.6 / 82.9 / 77.9
//! standard and 73.0 / 72.6 / 69.6 low FP (58.8 / 64.9 / 56.6 before,
//! 68.8 / 74.9 / 71.7 with ART off). NAB's split is unchanged (71.4 /
//! 66.2 / 75.5, 1,500-row segments 47.3 / 35.6 / 54.3, 2,500-row 59.7 /
//! 47.0 / 69.3); only one 1,500-row segment of `elb_request_count_8c0756`
//! is read as counts, and none of its scores crosses a threshold.
//! `ln(s+x)` with shifts `s` of 0.5 / 2 / 3 gave 1.5–2.9 points per
//! 10,000 and 77.9–83.1 standard over the seeds (at 1: 1.7–2.6 and
//! 77.9–82.9), differing by a window here and there: a plateau, and 1 is
//! the usual choice rather than a tuned one. Measured and not kept:
//! Anscombe's square root for counts it makes more symmetric than the log
//! does (small counts near Poisson, which `ln(1 + x)` over-corrects and
//! so leaves linear: 1.7 points per 10,000 either way, 1,500-row segments
//! 47.2 / 35.4); the log for every count, whatever its shape (NAB's split
//! 73.1 / 68.1 / 77.2, 1,500-row 48.7 / 36.9, 2,500-row 60.0 / 48.8 with
//! 4 windows fewer, all from `nyc_taxi` and its segments, whose warm-up
//! is lopsided 2.0 raw and 4.6 on `ln(1 + x)`: a gain that rests on one
//! series' shape); the log without the noise test for any skewed series
//! (69.9 / 64.2 / 75.1: `ec2_network_in_5abac7` again); the ensemble's
//! members on `ln(1 + x)` too (chosen at the end of their warm-up and
//! replayed), which halved the remaining points (0.9 / 0.4 / 1.7 per
//! 10,000) and raised the surge sets' best scores to 79.7 / 88.0 / 85.3,
//! but lowered the surges' own: windows reaching 0.3 fell from 21 / 17 /
//! 21 to 15 / 12 / 19 (of 25 / 24 / 26), and at NAB's split threshold
//! (0.25) it scored 77.7 / 78.7 / 84.9 against 78.4 / 82.2 / 77.1. Likely
//! (not checked) because on `ln(1 + x)` a quiet night's drop lies as far
//! from the level as a surge, which widens the members' calibrated tails.

mod dvfa;
mod encoder;
mod scale;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use dvfa::{Dvfa, Outcome};
pub use encoder::RangeRule;
use encoder::{Encoder, Features, WINDOW};
use scale::Scale;

/// Feature windows the warm-up spans; sets the downsampling step.
const WINDOWS_PER_PROBATION: usize = 13;
/// Vigilance the initial `ρ` is measured with.
const INITIAL_RHO: f64 = 0.8;
/// Shortest warm-up of a young ART: blocks of at least 2 samples, like
/// the main ART's, which reads the extreme of each block.
const MIN_YOUNG_PROBATION: usize = 2 * WINDOW * WINDOWS_PER_PROBATION;
/// Cap on the adapted upper vigilance.
const MAX_RHO_UB: f64 = 0.97;
/// Feature windows masked after an anomaly (1.5 windows).
const MASK: u64 = (WINDOW + WINDOW / 2) as u64;

/// Within an anomaly's mask, a new cluster is reported again only if it
/// matches below this fraction of that anomaly's match.
///
/// Why not ARTime's 0.9: the first block of an incident often catches only
/// its onset and matches just under `ρ_lb`, so ART reports it with a low
/// confidence; the next block, which holds the incident itself, matches
/// lower still, but not 10 % lower, and the mask hid it. Whether the onset
/// fell in a block of its own depends on the row the series started at
/// (`ec2_cpu_utilization_fe7f93`'s second window at 2 of 13 shifted copies:
/// match 0.681, confidence 0.42, then 0.62 masked). Measured against 0.9
/// (standard / low FP): the mean over 13 copies of NAB's split started 1
/// to 13 rows later 69.22 / 62.78 → 70.23 / 63.70 (+1.26 / +0.72 on the
/// halves, 10 of 13 up), the mean of the 7 block alignments 70.35 / 64.01
/// → 71.58 / 65.11, 2,500-row segments +0.67; the split −0.19, 1,500-row
/// segments −0.37 (started 1 to 7 rows later −0.28 to −0.46, mean −0.33:
/// short series lose a little), stuck sensors −0.22, 15-minute rows
/// −0.08, counts −0.06, irregular sampling −0.04, healthy counts 1.87 →
/// 1.93 points ≥ 0.3 per 10,000. 0.85 / 0.93 / 0.95 / 1 gained −0.61 /
/// +0.24 / +0.66 / +0.82 on the copies.
const RE_REPORT_AFTER_ANOMALY: f64 = 0.97;

/// Within the mask after a new category, the fraction of the last
/// anomaly's match a new cluster must fall below to be reported (ARTime's
/// 0.7; 0.6 and 0.8 gained 0 and +0.12 on the shifted copies).
const RE_REPORT_AFTER_CATEGORY: f64 = 0.7;

/// Whether a new cluster met while masked matches enough worse than the
/// last anomaly to be reported again.
fn worse_than_last(matched: f64, last_anomaly_match: f64, after_anomaly: bool) -> bool {
    let fraction = if after_anomaly {
        RE_REPORT_AFTER_ANOMALY
    } else {
        RE_REPORT_AFTER_CATEGORY
    };
    matched < last_anomaly_match * fraction
}

/// Parameters of the ART detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArtConfig {
    /// Runs the ART detector beside the ensemble.
    pub enabled: bool,
    /// How much of an ART score counts: the reported score is
    /// `1 − (1 − ensemble) · (1 − weight · art)`, either detector's
    /// evidence raising it. On NAB's shared split, with the ensemble's
    /// suppression rules, weights 0.5 to 0.7 and gates 0.07 to 0.12 all
    /// scored 67.6 to 69.4 standard and 58.5 to 62.2 low FP; 0.6 is the
    /// middle (0.8 scored 68.5 / 59.5, 1.0 67.9 / 58.3, 0.4 68.1 / 56.9).
    /// Taken in `[0, 0.999]`, so scores stay below 1.
    pub weight: f64,
    /// The ensemble's own (unsuppressed) score, at its peak within the
    /// block ART read, at or above which an ART score counts at all: a
    /// real change nearly always moves the ensemble a little too (see
    /// `Detector::art_news` for why the peak). 0.1 is a surprise of 2.2 nats (p ≈ 0.11). On NAB's
    /// shared split at weight 0.6, gates 0 / 0.05 / 0.08 / 0.1 / 0.12
    /// scored 68.8 / 69.2 / 69.7 / 69.8 / 68.6 standard and 59.0 / 59.8 /
    /// 61.5 / 62.5 / 61.7 low FP. The gate was first needed against
    /// alarms on noise (without the noise snap, points at or above the
    /// live threshold 0.3 on 5 × 50,000 samples of white noise were 33 at
    /// this gate); with [`ArtConfig::noise_snap`] every gate from 0 to 0.12
    /// gives 1, the ensemble alone 0.
    pub corroboration: f64,
    /// Samples after an alarm of either detector within which an ART
    /// alarm is the same incident: it counts only if it raises the score
    /// to the ensemble's `suppression_escalation` (1.3) times that alarm's.
    /// ART sees an incident when its 7-sample block closes, often a few
    /// samples after the ensemble reported it, or again a block or two
    /// later. Four hours of 5-minute samples. On NAB's shared split
    /// (standard / low FP) this took 71.1 / 65.6 to 71.4 / 66.2, 1,500-row
    /// segments 46.6 / 34.3 to 47.3 / 35.6 and 2,500-row segments 58.6 /
    /// 45.4 to 59.7 / 47.0; 24 to 84 samples all scored 71.3–71.5 /
    /// 66.0–66.4 on the split. At 96 the split's best threshold drops to
    /// catch one more window at the price of 33 more false-positive rows
    /// (70.3 / 64.6; the segments stay at their 84-sample scores). 0
    /// turns the rule off.
    pub episode: u64,
    /// An ART alarm the ensemble does not share: released by ART alone
    /// while the ensemble's combined surprise, when the alarm is released
    /// (after confirmation), is below this many nats (2.75 is a score of
    /// 0.12; ART counts at all only from 0.1, see
    /// [`ArtConfig::corroboration`]). Its score is multiplied by
    /// [`ArtConfig::lone_factor`], which says why and what was measured.
    pub lone_surprise: f64,
    /// Factor on the score of a lone ART alarm (see
    /// [`ArtConfig::lone_surprise`]); 1 turns the rule off.
    ///
    /// Why: NAB picks one threshold for the whole corpus, so what costs is
    /// every false alarm ranked above a true one. Looked at as a
    /// population (every alarm released on the split and on 13 copies of
    /// it started 1 to 13 rows later, labelled by NAB's windows), the
    /// alarms ART released alone with the ensemble barely moved were about
    /// three false-positive rows to one first detection of a window at
    /// each run's own threshold (219 to 70 over the 14 runs, at a surprise
    /// under 3), against two to one for all alarms: mostly ART's "new
    /// shape" at the end of an incident or in a routine burst. Ranked a
    /// little lower, they fall under the corpus threshold unless ART was
    /// sure of them. Hidden (factor 0.5 or lower), they take real windows
    /// with them: ART alone finds the load-balancer spikes that the
    /// ensemble reads as routine.
    ///
    /// At 2.75 nats and 0.8, the mean over the 13 shifted copies went
    /// from 66.68 / 59.69 / 72.70 to 67.02 / 60.41 / 72.89 (standard /
    /// low FP / low FN; every copy up, +0.34 on each half), the mean of
    /// the 7 block alignments 67.55 → 67.86, the split 73.90 / 68.33 →
    /// 74.10 / 68.84, 1,500-row segments 54.42 → 54.57, 2,500-row 66.85 →
    /// 67.36, irregular sampling (5 seeds) 64.84 → 64.99, generated counts
    /// (4 seeds) 83.16 → 83.33, stuck sensors (3 seeds) 72.15 → 72.71;
    /// 15-minute and hourly rows and the healthy counts' rate of points
    /// ≥ 0.3 unchanged. On the copies, surprise 2.5 / 2.75 / 3 with factor
    /// 0.8 gained +0.25 / +0.34 / +0.17, and 0.85 at 2.5 / 3 / 4 gained
    /// +0.21 / +0.17 / +0.19, each without losing more than 0.1 on any
    /// other set; factor 0.7 gained +0.40 / +0.29 / +0.11 at 2.5 / 3 / 4,
    /// but irregular sampling lost 0.43 / 0.23 / 0.74 (a seed's
    /// load-balancer window). Chosen by leave-files-out cross-validation
    /// (5 folds of 7 files, surprise and factor picked on the other 28
    /// files from 2.25–3.5 × 0.6–0.9), the held-out files' mean over the
    /// copies gained +0.16 (+0.35 / −0.49 / +0.24 / −0.10 / +0.80 by
    /// fold): a small, not a sure, gain. Measured again once ART was
    /// judged at the ensemble's peak (`Detector::art_news`), which moves
    /// when its alarms are released: factor 1 then lost 0.39 on the copies
    /// (12 of 13 lower) and 0.30 on the 7 block alignments; 2.5 / 3 nats
    /// lost 0.05 / 0.17 there, and a factor of 0.75 gained 0.16 (no set
    /// lower), too close to 0.7, which hides a window of the irregular
    /// sampling set, to move to. Swept again once ART's categories learned
    /// half-way ([`ArtConfig::learning_rate`]), which moves which of its
    /// alarms are lone: that window no longer hangs on it, and against
    /// 0.8 the factors 0.75 / 0.7 / 0.65 / 0.6 gained +0.11 / +0.19 /
    /// +0.24 / +0.38 on the copies (0.7: 12 of 13 up, +0.20 / +0.19 on
    /// the halves, the 7 alignments 70.17 → 70.35, 2,500-row segments
    /// +0.20, counts +0.11, stuck sensors +0.15, no set lower by more than
    /// 0.05), but 0.5 / 0.4 lost 0.74 / 1.28, and 2.5 / 3 nats at 0.7
    /// lost 0.02 / 0.79. So 0.7: on the plateau, 0.2 above the cliff that
    /// hides the load-balancer spikes.
    pub lone_factor: f64,
    /// Samples of warm-up; also sets the downsampling step
    /// (`probation / 104`, at least 1).
    pub probation: usize,
    /// Categories remembered per series (least recently matched dropped):
    /// 272 bytes each, so with the rest of its state about 72 kB per
    /// series at the default 256 (plus 6 kB of buffered samples during
    /// the warm-up). On NAB's shared split, alone, caps 128 to 1024 scored
    /// the same and 64 lost 0.9 standard.
    pub max_categories: usize,
    /// What a value outside the (widened) warm-up range does: clipping
    /// scored 60.9 / 55.9 on the split, widening 58.5 / 53.2.
    pub range_rule: RangeRule,
    /// Head-room added to each side of the warm-up's range, as a fraction
    /// of its span (see "Range" in the module docs): margins 0.75 to 1.5
    /// scored 60.2 to 61.0 standard (low FP 52.6 to 55.9) on NAB's
    /// shared split, 0 scored 47.7, 0.5 58.4 and 2 47.3.
    pub range_margin: f64,
    /// On a series that is mostly noise, a level closer to the running
    /// median than this many noise spreads is snapped to it (see "Noise"
    /// in the module docs); 0 keeps only the fixed snap. On NAB's shared
    /// split, 3 / 3.5 / 4 / 5 / 6 scored 69.1 / 69.1 / 69.8 / 69.4 / 68.9
    /// standard and 61.9 / 61.7 / 62.5 / 62.3 / 61.9 low FP, with 3 / 1 /
    /// 1 / 1 / 1 points at or above the live threshold on 250,000 samples
    /// of white noise (33 without).
    pub noise_snap: f64,
    /// How noisy the warm-up must be for [`ArtConfig::noise_snap`] to
    /// apply: its block-to-block noise spread at least this fraction of
    /// its overall spread: about 1 for white noise (give or take the
    /// sampling error of ~100 blocks), well below for a pattern. On NAB's
    /// split ratios 0.7 / 0.8 / 0.9 scored 69.8 standard (62.3 / 62.5 /
    /// 62.5 low FP) with 1 white-noise alert; 0.6 scored 66.4 / 58.5 (it
    /// takes patterned series for noise) and 1.0 let 17 noise alerts
    /// through (it misses noise whose sample spread came out low).
    pub noise_ratio: f64,
    /// ART reads a series on a log scale when its warm-up is positive,
    /// more lopsided than this on the raw scale and no more on the log
    /// scale, and is noise (see [`ArtConfig::noise_ratio`]) on either
    /// (see "Noise" in the module docs). Lopsidedness is the larger ratio
    /// of the distances from the median to the upper and to the lower
    /// decile: 1 for symmetric noise, `e^(1.28 σ)` for log-normal noise of
    /// log spread `σ` (3.6 at σ = 1). 1.2 / 1.5 / 2 scored 71.1 / 65.6 /
    /// 75.3 on NAB's split (as without the log) with 30 points at or above
    /// the live threshold on 250,000 samples of log-normal(0, 1) noise (87
    /// without); 2.4 scored 69.7 / 64.1 / 74.4 (it puts the spiky
    /// `ec2_cpu_utilization_53ea38`, 2.5 raw and 2.3 logged, on the log
    /// scale). At most 1 keeps the raw scale.
    ///
    /// Counts are read on `ln(1 + x)` when that makes them less lopsided
    /// and leaves them within this tolerance, noise or not (see "Noise"
    /// in the module docs). On 30 generated tweet-like count series,
    /// points at or above the live threshold per 10,000 samples were
    /// 1.7 / 1.7 / 2.6 (3 seeds) at 1.5, 2 and 2.4, and 2.9 / 2.3 / 4.0 at
    /// 1.2, where counts lopsided by 1.2 to 1.35 on `ln(1 + x)` stay raw
    /// (4.1 / 4.1 / 4.6 before counts had a scale).
    pub log_tolerance: f64,
    /// Fraction of the way a category's box grows towards a window it
    /// absorbs: `w ← rate · min(w, x) + (1 − rate) · w` ("slow recode";
    /// new categories are still committed whole). Taken in `[0, 1]`; 1 is
    /// the fast learning of ARTime.
    ///
    /// Why: any window inside a box matches it at exactly 1, and with
    /// fast learning one odd window widens a box for good. Boxes that had
    /// absorbed many windows held an anomaly's window at some block
    /// alignments and not at others, so whether ART saw it depended on
    /// the row the series started at. `nyc_taxi`'s third window met a
    /// new cluster at 3 of the 7 block alignments and at the others
    /// matched old boxes at 0.97–1 (mostly exactly 1); at 0.5 it meets one
    /// at 6 of 7 (above a 0.22 threshold at 3 rather than 2, the rest
    /// gated by the calm ensemble). Near the end of `machine_temperature`'s
    /// last window ART fired at 5 of 7 alignments, at 0.5 at 6.
    ///
    /// Measured against fast learning (standard / low FP), the mean over
    /// 13 copies of NAB's split started 1 to 13 rows later went 67.74 /
    /// 60.78 → 69.03 / 62.38 (+1.60 on copies 1–7, +0.93 on 8–13, 12 of
    /// 13 up), the mean of the 7 block alignments 68.68 / 61.64 → 70.17 /
    /// 63.64, the split 73.39 → 73.43, hourly rows 77.27 → 84.01
    /// (`ambient_temperature`'s window no longer needs a threshold of
    /// 0.13 and its 16 false-positive rows),
    /// 15-minute rows +0.18, 2,500-row segments +0.12, 1,500-row segments
    /// unchanged; generated counts (4 seeds) −0.22, stuck sensors (3
    /// seeds) −0.16, and irregular sampling −0.57 on the usual 5 seeds
    /// but +0.06 on 8 more (−0.18 over all 13, a window here and there:
    /// ART sees a slow incident a few blocks earlier, before the ensemble
    /// corroborates it). Healthy counts 1.93 → 1.87 points ≥ 0.3 per
    /// 10,000; noise sets unchanged. The gain is the copies' best
    /// thresholds rising towards the split's (0.19–0.24 → 0.22–0.25, false
    /// positive rows 64–153 → 61–101), as their windows' peaks no longer
    /// depend on the alignment. Rates 0.3 / 0.4 / 0.45 / 0.55 / 0.6 / 0.7
    /// gained +2.09 / +1.81 / +1.83 / +1.29 / +1.10 / +0.74 on the copies
    /// and +2.69 / +1.95 / +1.69 / +1.08 / +1.12 / +0.76 on the
    /// alignments, with irregular sampling (13 seeds) −0.69 / −0.32 /
    /// −0.47 / −0.03 / +0.12 / +0.29; from 0.55 up the split lost 1.7
    /// (`machine_temperature`'s third window peaks at 0.23, not 0.46, and
    /// the threshold follows it down). ART alone is a
    /// little less quiet on noise: on 5 × 50,000 samples of log-normal
    /// noise read on the log scale it made 35 alarms of confidence ≥ 0.5
    /// (24 with fast learning; 65 on the raw scale either way), and on
    /// healthy counts it fired at 2.6 rather than 1.8 blocks per 1,000
    /// (the warm-up's `ρ` 0.86 rather than 0.91 on average, new clusters
    /// 5.5 rather than 4.4 per 1,000 blocks), but the ensemble's gate
    /// holds them: the whole detector's points
    /// ≥ 0.3 per 10,000 stayed 0 / 0.16 / 1.04 on white / Gaussian /
    /// log-normal noise (5 × 50,000 samples each). Measured and
    /// not kept: learning into the best category only (standard Fuzzy
    /// ART; copies +1.23, irregular sampling −0.95), that at rate 0.5
    /// (+2.17, but stuck sensors −1.31 and irregular −1.47), a cap on a
    /// box's width per dimension (0.2: copies +0.70, split −1.98), and a
    /// match that divides by part of the box's size too (+0.45 to +0.90,
    /// split −1.8, irregular sampling −0.5 to −1.7).
    ///
    /// Rates below 0.5 cost healthy counts through the confidence of
    /// ART's alarms, not their number: at 0.3 ART fired 50 times on the
    /// 150,000 healthy rows (53 at 0.5), but 26 of them at confidence ≥ 0.5
    /// (20), as smaller boxes leave a noise window further below `ρ`.
    /// Against 0.5 (copies / alignments / split / irregular sampling 5
    /// seeds / healthy), 0.35 scored +0.63 / +0.60 / −0.43 / −0.19 / 2.00
    /// and 0.4 +0.52 / +0.45 / −0.33 / −0.25 (−0.14 over 13 seeds) / 1.93:
    /// the split's threshold falls from 0.250 to 0.242 for 4 more
    /// false-positive rows. Measured and not kept: the warm-up's `ρ`
    /// measured at rate 1 while live learning is slower (0.3: healthy
    /// 2.33 → 2.07 but split −0.42 and irregular sampling −0.44; 0.35 / 0.4
    /// / 0.45: copies +0.32 / +0.47 / +0.39, the first half of them
    /// −0.02 at 0.35, irregular sampling −0.61 at 0.45), and full-rate
    /// learning for a category's first absorptions, slow after ("mature"
    /// boxes only; 0.3 with 5 / 20: copies +0.18 / −0.13, split −0.47 /
    /// −0.27; 0.4 with 20: copies −0.37, hourly −1.71).
    pub learning_rate: f64,
    /// Span of time, in seconds, a young ART's warm-up covers (see "Young
    /// ART" in the module docs): 62.5 hours, what the 750 samples of
    /// [`ArtConfig::probation`] span at 5-minute samples; a series sampled
    /// more coarsely than every 9 minutes gets one (its blocks are then at
    /// most half as long as the main ART's). 0: never.
    pub young_warmup_secs: i64,
    /// Samples of a series for which its young ART, if it has one, speaks
    /// instead of the main ART (see "Young ART" in the module docs).
    pub young_samples: u64,
}

impl Default for ArtConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            weight: 0.6,
            corroboration: 0.1,
            episode: 48,
            lone_surprise: 2.75,
            lone_factor: 0.7,
            probation: 750,
            max_categories: 256,
            range_rule: RangeRule::Clip,
            range_margin: 1.0,
            noise_snap: 4.0,
            noise_ratio: 0.8,
            log_tolerance: 1.5,
            learning_rate: dvfa::LEARNING_RATE,
            young_warmup_secs: 225_000,
            young_samples: 1_500,
        }
    }
}

/// Streaming ART anomaly detector for one series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Art {
    step: usize,
    /// Feature vectors in the warm-up (`probation / step`).
    trend: u64,
    max_categories: usize,
    #[serde(default = "dvfa::default_learning_rate")]
    learning_rate: f64,
    rule: RangeRule,
    margin: f64,
    noise_snap: f64,
    noise_ratio: f64,
    log_tolerance: f64,
    /// What the encoder reads: the series, or its logarithm (fixed when
    /// the warm-up ends).
    scale: Scale,
    /// Raw samples of the warm-up; emptied once it ends.
    warmup: Vec<f64>,
    encoder: Option<Encoder>,
    state: Option<State>,
}

impl Art {
    pub fn new(config: &ArtConfig) -> Self {
        let (step, trend) = blocks(config.probation);
        Self {
            step,
            trend,
            max_categories: config.max_categories,
            learning_rate: config.learning_rate,
            rule: config.range_rule,
            margin: config.range_margin,
            noise_snap: config.noise_snap,
            noise_ratio: config.noise_ratio,
            log_tolerance: config.log_tolerance,
            scale: Scale::Linear,
            warmup: Vec::new(),
            encoder: None,
            state: None,
        }
    }

    /// A copy of this ART, still in its warm-up, whose warm-up spans
    /// [`ArtConfig::young_warmup_secs`] of a series sampled every
    /// `interval_secs` (see "Young ART" in the module docs); `None` unless
    /// its blocks are at most half as long as this one's: a series sampled
    /// a little more coarsely than every 5 minutes, or jittered around
    /// that, is left to the main ART.
    pub fn young(&self, config: &ArtConfig, interval_secs: i64) -> Option<Self> {
        if self.encoder.is_some() || config.young_warmup_secs <= 0 || interval_secs <= 0 {
            return None;
        }
        let samples =
            usize::try_from(config.young_warmup_secs / interval_secs).unwrap_or(usize::MAX);
        let (step, trend) = blocks(samples.max(MIN_YOUNG_PROBATION));
        (2 * step <= self.step).then(|| Self {
            step,
            trend,
            ..self.clone()
        })
    }

    /// Samples per block: ART reads the series, and may alarm, once per
    /// block, when the block closes.
    pub fn step(&self) -> usize {
        self.step
    }

    #[cfg(test)]
    fn categories(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.art.len())
    }

    /// Scores one sample in `[0, 1]`, then learns from it.
    pub fn update(&mut self, value: f64) -> f64 {
        if let (Some(encoder), Some(state)) = (self.encoder.as_mut(), self.state.as_mut()) {
            return match encoder.push(self.scale.apply(value)) {
                Some(features) => state.detect(&features),
                None => 0.0,
            };
        }
        self.warmup.push(value);
        if self.warmup.len() as u64 >= self.trend * self.step as u64 {
            self.start();
        }
        0.0
    }

    /// Ends the warm-up: fixes the scale, the range and `ρ` from it and
    /// replays it.
    fn start(&mut self) {
        let (mut encoder, mut snap) = self.grid(&self.warmup);
        let scale = Scale::for_warmup(&self.warmup, self.log_tolerance);
        if scale != Scale::Linear {
            let logged: Vec<f64> = self.warmup.iter().map(|&v| scale.apply(v)).collect();
            let (log_encoder, log_snap) = self.grid(&logged);
            // A skewed series is taken for log-normal noise only when it
            // is noise on either scale; a count's noise grows with its
            // rate whatever its rhythm, so it is logged either way.
            if scale.is_counts() || snap > 0.0 || log_snap > 0.0 {
                self.scale = scale;
                self.warmup = logged;
                (encoder, snap) = (log_encoder, log_snap);
            }
        }
        let mut encoder = encoder.with_snap(snap);
        let features: Vec<Features> = self
            .warmup
            .iter()
            .filter_map(|&v| encoder.push(v))
            .collect();
        let rho = initial_rho(
            features.get(WINDOW - 1..).unwrap_or_default(),
            self.trend,
            self.learning_rate,
        );
        let art = Dvfa::new(self.max_categories, rho, self.learning_rate);
        let mut state = State::new(self.trend, art);
        for f in &features {
            state.detect(f);
        }
        self.warmup = Vec::new();
        self.encoder = Some(encoder);
        self.state = Some(state);
    }

    /// The encoder for the (padded) range of `warmup`, and the noise snap
    /// its block levels call for.
    fn grid(&self, warmup: &[f64]) -> (Encoder, f64) {
        let (lo, hi) = warmup
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let pad = (hi - lo) * self.margin;
        let encoder = Encoder::new(self.step, lo - pad, hi + pad, self.rule);
        let snap = noise_snap(
            &encoder.block_levels(warmup),
            self.noise_snap,
            self.noise_ratio,
        );
        (encoder, snap)
    }
}

/// Samples per block and feature vectors in a warm-up of `probation`
/// samples (ARTime's: the warm-up spans [`WINDOWS_PER_PROBATION`] feature
/// windows).
fn blocks(probation: usize) -> (usize, u64) {
    let probation = probation - probation % 2;
    let step = (probation / (WINDOW * WINDOWS_PER_PROBATION)).max(1);
    (step, (probation / step).max(2 * WINDOW) as u64)
}

/// The adaptive part: vigilances, masks and the anomaly decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    art: Dvfa,
    trend: u64,
    /// Feature vectors seen (1-based index of the current one).
    i: u64,
    last_anomaly: u64,
    last_anomaly_match: f64,
    /// Lowest match within the latest anomaly's mask.
    anomaly_low: f64,
    last_rho_update: u64,
    mask_after_category: bool,
    without_new_cluster: u64,
    /// Matches over the last half warm-up (their minimum lifts `ρ_lb`).
    recent: VecDeque<f64>,
    /// `ρ_ub − match` over the last warm-up (their shortfall lowers `ρ_lb`).
    shortfall: VecDeque<f64>,
    match_sum: f64,
    match_count: u64,
    anomaly_match_sum: f64,
    anomaly_count: u64,
}

impl State {
    fn new(trend: u64, art: Dvfa) -> Self {
        let recent_len = (trend / 2 + 1) as usize;
        let shortfall_len = (trend + 1) as usize;
        Self {
            art,
            trend,
            i: 0,
            last_anomaly: 0,
            last_anomaly_match: 0.0,
            anomaly_low: 0.0,
            last_rho_update: 0,
            mask_after_category: false,
            without_new_cluster: 0,
            recent: std::iter::repeat_n(1.0, recent_len).collect(),
            shortfall: std::iter::repeat_n(0.0, shortfall_len).collect(),
            match_sum: 0.0,
            match_count: 0,
            anomaly_match_sum: 0.0,
            anomaly_count: 0,
        }
    }

    fn detect(&mut self, features: &Features) -> f64 {
        self.i += 1;
        let i = self.i;
        let since_anomaly = i - self.last_anomaly;
        let rho_after_anomaly = since_anomaly == MASK;
        let rho_for_trend = i - self.last_rho_update >= self.trend / 2;
        let mask_after_anomaly = since_anomaly <= MASK;
        if i > self.trend + MASK && self.mask_after_category && self.without_new_cluster >= MASK {
            self.mask_after_category = false;
        }
        // Before a full window the features are zeros: match, never learn.
        let learn = i >= WINDOW as u64;
        let Outcome {
            matched,
            energy,
            new_cluster,
        } = if i == 1 {
            // The very first vector only seeds the memory.
            Outcome {
                matched: 0.0,
                energy: 0.0,
                new_cluster: false,
            }
        } else {
            self.art.train(features, learn)
        };
        let new_cluster = new_cluster || !learn;
        self.without_new_cluster = if new_cluster {
            0
        } else {
            self.without_new_cluster + 1
        };
        self.match_sum += matched;
        self.match_count += 1;
        push_bounded(&mut self.recent, matched);
        push_bounded(&mut self.shortfall, self.art.rho_ub - matched);
        if since_anomaly < MASK && self.anomaly_count > 0 && matched < self.anomaly_low {
            // An anomaly counts with the lowest match within its mask.
            self.anomaly_match_sum += matched - self.anomaly_low;
            self.anomaly_low = matched;
        }
        let masking = self.mask_after_category || mask_after_anomaly;
        let below_last = worse_than_last(matched, self.last_anomaly_match, mask_after_anomaly);
        let mut score = 0.0;
        if i > self.trend && new_cluster && (!masking || below_last) {
            score = self.confidence(matched, energy);
            self.anomaly_match_sum += matched;
            self.anomaly_count += 1;
            self.last_anomaly_match = matched;
            self.anomaly_low = matched;
            self.last_anomaly = i;
        }
        self.mask_after_category |= new_cluster;
        if i > self.trend && (rho_after_anomaly || rho_for_trend) {
            self.adapt_rho();
        }
        score
    }

    fn adapt_rho(&mut self) {
        let lowest = self.recent.iter().copied().fold(f64::INFINITY, f64::min);
        let rho_ub = (self.match_sum / self.match_count.max(1) as f64).min(MAX_RHO_UB);
        let prev = self.art.rho_lb;
        let mut rho_lb = if prev <= lowest {
            prev + (lowest - prev) * 0.19
        } else {
            let mut decrease = 0.0;
            if self.i > 2 * self.trend {
                let (sum, n) = self
                    .shortfall
                    .iter()
                    .filter(|&&d| d > 0.05)
                    .fold((0.0, 0u32), |(s, n), &d| (s + d.min(0.37), n + 1));
                if n > 0 {
                    decrease = sum / f64::from(n);
                }
            }
            let mut lb = prev - decrease.max(0.01) / 2.0;
            if self.anomaly_count > 0 {
                lb = lb.max(self.anomaly_match_sum / self.anomaly_count as f64);
            }
            lb
        };
        rho_lb = rho_lb.min(rho_ub);
        self.art.rho_lb = rho_lb;
        self.art.rho_ub = rho_ub;
        self.last_rho_update = self.i;
        self.mask_after_category = true;
    }

    /// How sure the detector is: how far the match fell below both
    /// vigilances (relative to its distance from a perfect match), plus how
    /// far the level is from the best category's.
    fn confidence(&self, matched: f64, energy: f64) -> f64 {
        let m = matched.min(0.999);
        let miss = 1.0 - m;
        let ub = (miss - (1.0 - self.art.rho_ub)) / miss;
        let lb = (miss - (1.0 - self.art.rho_lb)) / miss;
        let s = 0.35 * ub + 0.65 * lb + 1.5 * (1.0 - energy);
        if s.is_finite() {
            s.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// The snap (a fraction of the grid) for a warm-up with these block
/// levels: `multiple` noise spreads when the noise is at least `ratio` of
/// the levels' overall spread (the series is mostly noise), else 0. Most
/// blocks at one level (no overall spread) is a quiet series with
/// excursions, not noise, however its differences vary.
fn noise_snap(levels: &[f64], multiple: f64, ratio: f64) -> f64 {
    let noise = noise_spread(levels);
    let spread = robust_spread(levels.to_vec());
    if noise > 0.0 && spread > 0.0 && noise >= ratio * spread {
        multiple * noise
    } else {
        0.0
    }
}

/// Robust spread of the block-to-block noise: the spread of successive
/// differences divided by √2 (a difference holds two blocks' noise).
/// Differences cancel a slow pattern, so on a patterned series this is
/// much smaller than the levels' own spread, and on noise it is the same.
fn noise_spread(levels: &[f64]) -> f64 {
    let diffs = levels.windows(2).map(|w| w[1] - w[0]).collect();
    robust_spread(diffs) / std::f64::consts::SQRT_2
}

/// The scaled median absolute deviation (a standard deviation for normal
/// data, unmoved by a few outliers); 0 when empty.
fn robust_spread(mut xs: Vec<f64>) -> f64 {
    let Some(center) = median(&mut xs) else {
        return 0.0;
    };
    let mut deviations: Vec<f64> = xs.iter().map(|x| (x - center).abs()).collect();
    1.4826 * median(&mut deviations).unwrap_or(0.0)
}

/// Upper median, reordering `xs`.
fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mid = xs.len() / 2;
    Some(*xs.select_nth_unstable_by(mid, f64::total_cmp).1)
}

fn push_bounded(window: &mut VecDeque<f64>, x: f64) {
    window.pop_front();
    window.push_back(x);
}

/// The vigilance at which the warm-up's typical windows resonate with what
/// its atypical ones taught: present the windows from the least to the
/// most typical (by summed similarity to the others) to a fresh ART at
/// [`INITIAL_RHO`] and average the matches of the second half. The ART
/// learns at `learning_rate`, as the live one will.
///
/// When more than half of the warm-up's windows are identical (a flat
/// baseline that the snap reduces to one window, with a few spikes: 14 of
/// the 35 files of NAB's shared split, `ec2_cpu_utilization_fe7f93` among them)
/// this is exactly 1. That is not a defect: `ρ` = 1 holds only during the
/// silent replay, where it commits each distinct window as its own
/// category; the first adaptation after the warm-up sets `ρ_ub` to the
/// mean match so far (below [`MAX_RHO_UB`]; 0.87 on `fe7f93`) and `ρ_lb`
/// no higher. Capping this at 0.97 or 0.99 changed no score on any judged
/// set; at 0.95 (which also lowers warm-ups of 0.95–1) one shifted copy of
/// the split rose and irregular sampling +0.13, nothing else moved.
fn initial_rho(features: &[Features], trend: u64, learning_rate: f64) -> f64 {
    let n = features.len();
    let mut typicality = vec![0.0; n];
    for a in 0..n {
        for b in 0..n {
            typicality[a] += if a == b {
                1.0
            } else {
                similarity(&features[a], &features[b])
            };
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| typicality[a].total_cmp(&typicality[b]));
    let mut art = Dvfa::new(usize::MAX, INITIAL_RHO, learning_rate);
    // The first window only seeds the empty memory, as in the live path.
    let matches: Vec<f64> = order
        .iter()
        .enumerate()
        .map(|(k, &j)| {
            if k == 0 {
                0.0
            } else {
                art.train(&features[j], true).matched
            }
        })
        .collect();
    let from = (trend / 2).saturating_sub(1) as usize;
    let tail = matches.get(from..).unwrap_or_default();
    if tail.is_empty() {
        INITIAL_RHO
    } else {
        tail.iter().sum::<f64>() / tail.len() as f64
    }
}

/// Cosine similarity, with a zero vector as similar as the other is short.
fn similarity(a: &Features, b: &Features) -> f64 {
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 {
        1.0 - nb
    } else if nb == 0.0 {
        1.0 - na
    } else {
        a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (na * nb)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Deterministic noise in [-0.5, 0.5).
    pub(in crate::anomaly) fn noise(i: usize) -> f64 {
        let x = (i as u64)
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    }

    /// White noise in [0, 1): the SplitMix64 finaliser of `i`, whose
    /// successive values are independent (those of [`noise`] step by a
    /// constant, a pattern to the noise snap).
    fn white(i: usize) -> f64 {
        let mut z = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A daily-like pattern of 140 samples: a ramp up and a plateau.
    fn pattern(i: usize) -> f64 {
        let phase = i % 140;
        (if phase < 70 { phase as f64 } else { 70.0 }) + 0.2 * noise(i)
    }

    fn run(art: &mut Art, values: impl IntoIterator<Item = f64>) -> Vec<f64> {
        values.into_iter().map(|v| art.update(v)).collect()
    }

    #[test]
    fn a_block_clearly_worse_than_the_last_anomaly_is_reported_within_its_mask() {
        // The onset's block matched 0.68; the incident's own block, at 0.62,
        // is 9 % worse: reported again (ARTime's 0.9 hid it).
        assert!(worse_than_last(0.62, 0.68, true));
        assert!(!worse_than_last(0.67, 0.68, true), "a repeat is not news");
        // After a new category the bar stays far lower.
        assert!(!worse_than_last(0.62, 0.68, false));
        assert!(worse_than_last(0.45, 0.68, false));
    }

    #[test]
    fn a_learned_repeating_pattern_scores_nothing() {
        let mut art = Art::new(&ArtConfig::default());
        let scores = run(&mut art, (0..8_000).map(pattern));
        assert!(scores[..750].iter().all(|&s| s == 0.0), "silent warm-up");
        let late = &scores[4_000..];
        assert!(
            late.iter().all(|&s| s == 0.0),
            "{:?}",
            late.iter().find(|&&s| s > 0.0)
        );
    }

    #[test]
    fn a_novel_shape_after_warm_up_scores() {
        let mut art = Art::new(&ArtConfig::default());
        run(&mut art, (0..6_000).map(pattern));
        // The ramp now drops to the bottom halfway, something never seen.
        let scores = run(
            &mut art,
            (6_000..6_140).map(|i| if i % 140 < 35 { pattern(i) } else { 0.0 }),
        );
        let max = scores.iter().copied().fold(0.0, f64::max);
        assert!(max > 0.3, "{max}");
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    }

    #[test]
    fn a_coarsely_sampled_series_gets_a_young_art_that_speaks_sooner() {
        let config = ArtConfig::default();
        let main = Art::new(&config);
        assert_eq!(main.step(), 7);
        // 5-minute samples, or a little more coarsely: the main ART's own.
        assert!(main.young(&config, 300).is_none());
        assert!(main.young(&config, 330).is_none());
        // 15-minute samples: 62.5 hours are 250 samples, blocks of 2.
        let mut young = main.young(&config, 900).expect("15-minute samples");
        assert_eq!(young.step(), 2);
        // Hourly: 62.5 samples, raised to the 208 of blocks of 2.
        assert_eq!(main.young(&config, 3_600).map(|a| a.step()), Some(2));
        let off = ArtConfig {
            young_warmup_secs: 0,
            ..config.clone()
        };
        assert!(main.young(&off, 3_600).is_none());

        // The young ART has learned the pattern and sees a novel shape by
        // sample 560, when the main ART is still warming up.
        let mut main = main;
        let series: Vec<f64> = (0..700)
            .map(|i| match i {
                560..600 => 0.0,
                _ => pattern(i),
            })
            .collect();
        let young_scores = run(&mut young, series.iter().copied());
        let main_scores = run(&mut main, series.iter().copied());
        assert!(young_scores[..250].iter().all(|&s| s == 0.0), "warm-up");
        assert!(young_scores[250..560].iter().all(|&s| s == 0.0));
        let max = young_scores[560..].iter().copied().fold(0.0, f64::max);
        assert!(max > 0.3, "{max}");
        assert!(main_scores.iter().all(|&s| s == 0.0));
        assert!(young.young(&config, 900).is_none(), "warmed up");
    }

    #[test]
    fn deterministic_and_resumable_from_its_serialized_state() {
        let series: Vec<f64> = (0..5_000)
            .map(|i| pattern(i) + if i % 1_000 == 500 { 200.0 } else { 0.0 })
            .collect();
        let mut a = Art::new(&ArtConfig::default());
        let first = run(&mut a, series.iter().copied());
        let mut b = Art::new(&ArtConfig::default());
        let mut second = run(&mut b, series[..2_000].iter().copied());
        let json = serde_json::to_string(&b).expect("serializes");
        let mut restored: Art = serde_json::from_str(&json).expect("deserializes");
        second.extend(run(&mut restored, series[2_000..].iter().copied()));
        assert_eq!(first, second);
        assert!(
            first.iter().any(|&s| s > 0.0),
            "the noisy series must score somewhere"
        );
    }

    #[test]
    fn memory_stays_within_the_category_cap() {
        let config = ArtConfig {
            max_categories: 32,
            ..ArtConfig::default()
        };
        let mut art = Art::new(&config);
        run(&mut art, (0..20_000).map(|i| 100.0 * noise(i)));
        assert_eq!(art.categories(), 32);
    }

    #[test]
    fn white_noise_widens_the_snap_and_a_pattern_does_not() {
        let noise_levels: Vec<f64> = (0..400)
            .map(|i| 0.5 + 0.05 * ((0..4).map(|k| white(4 * i + k)).sum::<f64>() - 2.0))
            .collect();
        let snap = noise_snap(&noise_levels, 4.0, 0.8);
        // Wider than the fixed snap of 0.075.
        assert!(snap > 0.075, "{snap}");
        // A slow ramp with the same noise on top: differences see only the
        // noise, the levels' spread the ramp, so the series is not noise.
        let ramp: Vec<f64> = noise_levels
            .iter()
            .enumerate()
            .map(|(i, x)| x + 0.005 * i as f64)
            .collect();
        assert_eq!(noise_snap(&ramp, 4.0, 0.8), 0.0);
        assert_eq!(noise_snap(&[0.5; 50], 4.0, 0.8), 0.0, "no noise, no snap");
        // Mostly one level with scattered excursions: the differences
        // vary, the levels' spread is 0; a quiet series, not noise.
        let mostly_flat: Vec<f64> = (0..400)
            .map(|i| if i % 3 == 0 { white(i) } else { 0.5 })
            .collect();
        assert_eq!(noise_snap(&mostly_flat, 4.0, 0.8), 0.0);
    }

    #[test]
    fn white_noise_stops_being_news() {
        let count = |config: &ArtConfig| {
            let mut art = Art::new(config);
            run(&mut art, (0..50_000).map(|i| 0.6 + 0.01 * white(i)))
                .iter()
                .filter(|&&s| s > 0.0)
                .count()
        };
        let with_snap = count(&ArtConfig::default());
        let without = count(&ArtConfig {
            noise_snap: 0.0,
            ..ArtConfig::default()
        });
        assert!(
            without > 10 && with_snap * 5 <= without,
            "{with_snap} alarms with the noise snap, {without} without"
        );
    }

    /// Log-normal noise of log spread 1, like healthy request latencies.
    fn log_normal(i: usize) -> f64 {
        let (u, v) = (1.0 - white(2 * i), white(2 * i + 1));
        let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        z.exp()
    }

    #[test]
    fn log_normal_noise_is_read_on_a_log_scale_and_stops_being_news() {
        // Alarms of confidence 0.5 or more: at the default weight 0.6 such
        // an alarm alone lifts a calm ensemble over the live threshold 0.3.
        // With fast learning, as the log rule was measured (see
        // `ArtConfig::learning_rate` for what slow learning does here).
        let fast = ArtConfig {
            learning_rate: 1.0,
            ..ArtConfig::default()
        };
        let strong = |config: &ArtConfig| {
            let mut count = 0;
            let mut logged = 0;
            for start in [3_000, 5_000, 7_000, 100_000, 200_000] {
                let mut art = Art::new(config);
                let scores = run(&mut art, (start..start + 50_000).map(log_normal));
                count += scores.iter().filter(|&&s| s >= 0.5).count();
                logged += usize::from(art.scale != Scale::Linear);
            }
            (count, logged)
        };
        let (with_log, logged) = strong(&fast);
        let (without, none) = strong(&ArtConfig {
            log_tolerance: 0.0,
            ..fast
        });
        assert_eq!((logged, none), (5, 0));
        assert!(
            without > 20 && with_log * 2 <= without,
            "{with_log} strong alarms on the log scale, {without} on the raw one"
        );
    }

    /// Overdispersed counts with a daily rhythm, like tweets about a
    /// company every 5 minutes: Poisson at a rate of `base` times a daily
    /// cycle (peaks 3.3 times the troughs) times log-normal noise of log
    /// spread 0.5.
    fn daily_counts(base: f64, i: usize) -> f64 {
        let day = (std::f64::consts::TAU * i as f64 / 288.0).cos();
        let rate = base * (0.6 * day).exp() * log_normal(i + 1_000_000).powf(0.5);
        if rate > 100.0 {
            // Poisson is as good as normal this far up, and `exp(-rate)`
            // would underflow.
            return (rate + rate.sqrt() * log_normal(i + 2_000_000).ln())
                .round()
                .max(0.0);
        }
        let u = white(3 * i + 7);
        let (mut k, mut p) = (0.0, (-rate).exp());
        let mut cdf = p;
        while u > cdf && k < 1_000.0 {
            k += 1.0;
            p *= rate / k;
            cdf += p;
        }
        k
    }

    #[test]
    fn daily_counts_are_read_on_a_log_scale_and_stop_being_news() {
        // The log-normal rule alone leaves all three on the raw scale: the
        // quiet ones have zeros, and the busy one's warm-up is a rhythm,
        // noise on neither scale (18 strong alarms, as on the raw scale;
        // 2 on `ln(1 + x)`). Alarms of confidence 0.5 or more, as in the
        // log-normal test.
        let mut strong = [0; 2];
        for base in [1.0, 10.0, 100.0] {
            for (count, log_tolerance) in strong.iter_mut().zip([1.5, 0.0]) {
                let mut art = Art::new(&ArtConfig {
                    log_tolerance,
                    ..ArtConfig::default()
                });
                let scores = run(&mut art, (0..15_000).map(|i| daily_counts(base, i)));
                *count += scores.iter().filter(|&&s| s >= 0.5).count();
                assert_eq!(
                    art.scale.is_counts(),
                    log_tolerance > 1.0,
                    "base {base}: {:?}",
                    art.scale
                );
            }
        }
        let [on_counts, raw] = strong;
        assert!(
            raw >= 10 && on_counts * 3 <= raw,
            "{on_counts} strong alarms on ln(1 + x), {raw} on the raw scale"
        );
    }

    #[test]
    fn a_patterned_skewed_series_keeps_its_raw_scale() {
        // Positive and right-skewed, but a pattern, not noise.
        let mut art = Art::new(&ArtConfig::default());
        run(&mut art, (0..2_000).map(|i| (pattern(i) / 10.0).exp()));
        assert_eq!(art.scale, Scale::Linear);
    }

    #[test]
    fn a_constant_series_is_not_news() {
        let mut art = Art::new(&ArtConfig::default());
        let scores = run(&mut art, (0..3_000).map(|_| 42.0));
        assert!(scores.iter().all(|&s| s == 0.0));
    }
}
