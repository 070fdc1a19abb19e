//! `node_timex_*` from `adjtimex(2)`: the kernel's clock discipline (whether NTP or PTP keeps
//! the clock synchronised, its offset, frequency correction and error bounds), as
//! node_exporter 1.5's `timex` collector.
//!
//! node-mixin's `NodeClockNotSynchronising` (`node_timex_sync_status` 0 with
//! `node_timex_maxerror_seconds` ≥ 16) and `NodeClockSkewDetected` (`node_timex_offset_seconds`
//! beyond ±0.05) read these; a clock that drifts breaks TLS validity checks, distributed
//! locks and the order of logs, quietly.
//!
//! This is the workspace's one `unsafe` call: no maintained crate wraps `adjtimex` (neither
//! rustix nor nix does), and with `modes = 0` the call only reads.

use std::io;

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "timex",
    default_enabled: true,
    help: "Clock synchronisation state, offset, frequency and error bounds from adjtimex(2).",
    build,
};

fn build(_: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(TimexCollector))
}

struct TimexCollector;

/// `TIME_ERROR`, the clock state `adjtimex` returns while the clock is not synchronised.
const TIME_ERROR: i32 = 5;
/// `STA_UNSYNC` in `status`: set by whoever disciplines the clock when it lost its source.
#[cfg(test)]
const STA_UNSYNC: i64 = 0x0040;
/// `STA_NANO` in `status`: `offset` and `jitter` are in nanoseconds, else microseconds.
const STA_NANO: i64 = 0x2000;
/// Frequencies are in parts per million with a 16-bit binary fraction (see adjtimex(2)).
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;
const MICROS: f64 = 1e6;

/// What `adjtimex` returned: the clock state and the fields this collector exports.
#[derive(Debug, Default, Clone, Copy)]
struct KernelClock {
    state: i32,
    offset: i64,
    freq: i64,
    maxerror: i64,
    esterror: i64,
    status: i64,
    constant: i64,
    tick: i64,
    ppsfreq: i64,
    jitter: i64,
    shift: i64,
    stabil: i64,
    jitcnt: i64,
    calcnt: i64,
    errcnt: i64,
    stbcnt: i64,
    tai: i64,
}

impl Collector for TimexCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let clock = match read_kernel_clock() {
            Ok(clock) => clock,
            // A seccomp profile may refuse the call; node_exporter treats that as no data too.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(CollectorError::NoData(format!("adjtimex: {e}")));
            }
            Err(e) => return Err(CollectorError::Other(format!("adjtimex: {e}"))),
        };
        for (name, help, kind, value) in readings(&clock) {
            out.family(name, help, kind).sample(&[], value);
        }
        Ok(())
    }
}

/// `adjtimex(2)` with `modes = 0`: a query that changes nothing.
#[allow(unsafe_code)]
// The fields are `c_long` (`i32` on 32-bit targets) or `c_int`; `into` widens them all.
#[allow(clippy::useless_conversion)]
fn read_kernel_clock() -> io::Result<KernelClock> {
    // SAFETY: `timex` holds only integers and a `timeval`, for which all-zero bits are valid
    // values; zero `modes` is the documented read-only query.
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live, writable `timex` of the layout libc declares for this
    // target; the kernel writes only inside it.
    let state = unsafe { libc::adjtimex(&mut timex) };
    if state == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(KernelClock {
        state,
        offset: timex.offset.into(),
        freq: timex.freq.into(),
        maxerror: timex.maxerror.into(),
        esterror: timex.esterror.into(),
        status: timex.status.into(),
        constant: timex.constant.into(),
        tick: timex.tick.into(),
        ppsfreq: timex.ppsfreq.into(),
        jitter: timex.jitter.into(),
        shift: timex.shift.into(),
        stabil: timex.stabil.into(),
        jitcnt: timex.jitcnt.into(),
        calcnt: timex.calcnt.into(),
        errcnt: timex.errcnt.into(),
        stbcnt: timex.stbcnt.into(),
        tai: timex.tai.into(),
    })
}

/// The exported series, in node_exporter's units: seconds, ratios and hertz.
fn readings(clock: &KernelClock) -> [(&'static str, &'static str, Kind, f64); 17] {
    let fine = if clock.status & STA_NANO != 0 {
        1e9
    } else {
        MICROS
    };
    let synced = if clock.state == TIME_ERROR { 0.0 } else { 1.0 };
    [
        (
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            Kind::Gauge,
            synced,
        ),
        (
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            Kind::Gauge,
            clock.offset as f64 / fine,
        ),
        (
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            Kind::Gauge,
            1.0 + clock.freq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            Kind::Gauge,
            clock.maxerror as f64 / MICROS,
        ),
        (
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            Kind::Gauge,
            clock.esterror as f64 / MICROS,
        ),
        (
            "node_timex_status",
            "Value of the status array bits.",
            Kind::Gauge,
            clock.status as f64,
        ),
        (
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            Kind::Gauge,
            clock.constant as f64,
        ),
        (
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            Kind::Gauge,
            clock.tick as f64 / MICROS,
        ),
        (
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            Kind::Gauge,
            clock.ppsfreq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            Kind::Gauge,
            clock.jitter as f64 / fine,
        ),
        (
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            Kind::Gauge,
            clock.shift as f64,
        ),
        (
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            Kind::Gauge,
            clock.stabil as f64 / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            Kind::Counter,
            clock.jitcnt as f64,
        ),
        (
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            Kind::Counter,
            clock.calcnt as f64,
        ),
        (
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            Kind::Counter,
            clock.errcnt as f64,
        ),
        (
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            Kind::Counter,
            clock.stbcnt as f64,
        ),
        (
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            Kind::Gauge,
            clock.tai as f64,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(clock: &KernelClock, name: &str) -> f64 {
        readings(clock)
            .into_iter()
            .find(|(n, ..)| *n == name)
            .map(|(.., v)| v)
            .unwrap()
    }

    #[test]
    fn converts_to_node_exporters_units() {
        let clock = KernelClock {
            state: 0, // TIME_OK
            offset: -250,
            freq: 65536 * 12, // +12 ppm
            maxerror: 16_000,
            esterror: 1_500,
            tick: 10_000,
            stabil: 65536,
            jitter: 40,
            ..KernelClock::default()
        };
        assert_eq!(value(&clock, "node_timex_sync_status"), 1.0);
        assert_eq!(value(&clock, "node_timex_offset_seconds"), -250e-6);
        assert_eq!(
            value(&clock, "node_timex_frequency_adjustment_ratio"),
            1.000012
        );
        assert_eq!(value(&clock, "node_timex_maxerror_seconds"), 0.016);
        assert_eq!(value(&clock, "node_timex_estimated_error_seconds"), 0.0015);
        assert_eq!(value(&clock, "node_timex_tick_seconds"), 0.01);
        assert_eq!(value(&clock, "node_timex_pps_stability_hertz"), 1e-6);
        assert_eq!(value(&clock, "node_timex_pps_jitter_seconds"), 40e-6);
    }

    #[test]
    fn nanosecond_mode_and_time_error() {
        let clock = KernelClock {
            state: TIME_ERROR,
            status: STA_NANO | STA_UNSYNC,
            offset: 3_000_000,
            jitter: 500,
            ..KernelClock::default()
        };
        assert_eq!(value(&clock, "node_timex_sync_status"), 0.0);
        assert_eq!(value(&clock, "node_timex_offset_seconds"), 0.003);
        assert_eq!(value(&clock, "node_timex_pps_jitter_seconds"), 500e-9);
        assert_eq!(value(&clock, "node_timex_status"), (0x2000 | 0x40) as f64);
    }

    /// The live kernel: the query succeeds, the tick is a plausible clock tick, and an
    /// unsynchronised status comes with the TIME_ERROR state (the kernel's own rule).
    #[test]
    fn reads_this_kernels_clock() {
        let clock = read_kernel_clock().unwrap();
        let tick = value(&clock, "node_timex_tick_seconds");
        assert!(tick > 0.0 && tick <= 0.1, "tick {tick}");
        if clock.status & STA_UNSYNC != 0 {
            assert_eq!(clock.state, TIME_ERROR, "{clock:?}");
        }
        let mut out = MetricSet::default();
        TimexCollector.collect(&mut out).unwrap();
        assert_eq!(out.families.len(), 17);
    }
}
