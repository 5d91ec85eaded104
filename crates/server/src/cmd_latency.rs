//! Per-command latency histograms (`latency-tracking`, Redis 7.0): the percentiles of INFO
//! latencystats and the cumulative distribution of LATENCY HISTOGRAM.
//!
//! The histograms live in each command's `CallStats` (one lookup per call for both). As in
//! Redis, each command gets an HDR histogram (the `hdrhistogram` crate, the reference
//! implementation's Rust port) of 1 ns to 1 s with two significant digits, created at its
//! first call. A call records its duration in whole microseconds, as nanoseconds: a call
//! under a microsecond counts as 1 ns, one over a second as 1 s.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

const LOWEST_NS: u64 = 1;
const HIGHEST_NS: u64 = 1_000_000_000;
const SIGNIFICANT_DIGITS: u8 = 2;
/// LATENCY HISTOGRAM's first bucket (1,024 ns); each next one is twice as wide.
const FIRST_BUCKET_NS: u64 = 1024;

/// Records one call that took `elapsed` in a command's histogram (`None` until its first
/// tracked call).
pub fn record(histogram: &mut Option<Histogram<u64>>, elapsed: Duration) {
    let ns = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .saturating_mul(1000)
        .clamp(LOWEST_NS, HIGHEST_NS);
    histogram
        .get_or_insert_with(|| {
            Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)
                .expect("valid histogram bounds")
        })
        .saturating_record(ns);
}

/// The commands' histograms by name, equal names merged.
pub fn by_name<'a>(
    histograms: impl Iterator<Item = (&'static str, &'a Histogram<u64>)>,
) -> BTreeMap<&'static str, Histogram<u64>> {
    let mut out: BTreeMap<&'static str, Histogram<u64>> = BTreeMap::new();
    for (name, h) in histograms {
        match out.get_mut(name) {
            Some(merged) => {
                let _ = merged.add(h);
            }
            None => {
                out.insert(name, h.clone());
            }
        }
    }
    out
}

/// A percentile (0-100) of `h` in microseconds, as INFO latencystats prints it.
pub fn percentile_usec(h: &Histogram<u64>, percentile: f64) -> f64 {
    h.value_at_percentile(percentile) as f64 / 1000.0
}

/// LATENCY HISTOGRAM's distribution of `h`: (bucket upper bound in µs, calls at or below
/// it), for the buckets of 1,024 ns, 2,048 ns, ... where the count grows.
pub fn cumulative_usec(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    let total = h.len();
    let mut out = Vec::new();
    let (mut level, mut before) = (FIRST_BUCKET_NS, 0);
    while before < total {
        let upper = h.highest_equivalent(level);
        let count = h.count_between(0, upper);
        if count > before {
            out.push((upper / 1000, count));
        }
        before = count;
        if level > HIGHEST_NS {
            break;
        }
        level *= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(us: &[u64]) -> Histogram<u64> {
        let mut h = None;
        for &u in us {
            record(&mut h, Duration::from_micros(u));
        }
        h.unwrap()
    }

    #[test]
    fn buckets_and_percentiles_as_redis_reports_them() {
        // redis-server 7.0 gave `histogram_usec 16 1` for one 12 µs SET, and 2, 66 for two
        // CONFIG GETs; a call under 1 µs is 1 ns (p50=0.001).
        assert_eq!(cumulative_usec(&histogram(&[12])), vec![(16, 1)]);
        assert_eq!(cumulative_usec(&histogram(&[1, 60])), vec![(1, 1), (66, 2)]);
        let h = histogram(&[0, 0, 0, 12]);
        assert_eq!(percentile_usec(&h, 50.0), 0.001);
        assert_eq!(cumulative_usec(&h), vec![(1, 3), (16, 4)]);
        // Beyond a second: clamped to the histogram's top.
        let h = histogram(&[5_000_000]);
        assert_eq!(h.len(), 1);
        assert!(percentile_usec(&h, 100.0) >= 1_000_000.0);
    }

    #[test]
    fn equal_names_merge() {
        let (a, b) = (histogram(&[1]), histogram(&[12, 60]));
        let merged = by_name([("get", &a), ("set", &a), ("get", &b)].into_iter());
        assert_eq!(merged["get"].len(), 3);
        assert_eq!(merged["set"].len(), 1);
    }
}
