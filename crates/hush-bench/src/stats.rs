//! Latency percentiles.

/// The distribution of one run's latencies, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// How many latencies were recorded.
    pub count: u64,
    /// Median.
    pub p50_us: u32,
    /// 90th percentile.
    pub p90_us: u32,
    /// 99th percentile.
    pub p99_us: u32,
    /// 99.9th percentile.
    pub p999_us: u32,
    /// The slowest request.
    pub max_us: u32,
    /// Arithmetic mean.
    pub mean_us: u32,
}

impl Summary {
    /// Summarizes `latencies` (sorted in place). An empty list gives all zeros.
    pub fn from_latencies(latencies: &mut [u32]) -> Summary {
        latencies.sort_unstable();
        let count = latencies.len() as u64;
        let sum: u64 = latencies.iter().map(|&l| u64::from(l)).sum();
        Summary {
            count,
            p50_us: percentile(latencies, 0.50),
            p90_us: percentile(latencies, 0.90),
            p99_us: percentile(latencies, 0.99),
            p999_us: percentile(latencies, 0.999),
            max_us: latencies.last().copied().unwrap_or(0),
            mean_us: sum
                .checked_div(count)
                .map_or(0, |m| u32::try_from(m).unwrap_or(u32::MAX)),
        }
    }
}

/// The nearest-rank percentile `p` (0 < p <= 1) of `sorted`: the smallest value that at least
/// `p` of the values are less than or equal to. 0 for an empty slice.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    // ceil(p * n) is the 1-based rank; clamp so p = 0 or rounding never leaves the slice.
    let rank = (p * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 0.999), 100);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[7], 0.5), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn summary_sorts_and_averages() {
        let mut v = vec![5, 1, 4, 2, 3];
        let s = Summary::from_latencies(&mut v);
        assert_eq!(s.count, 5);
        assert_eq!(s.p50_us, 3);
        assert_eq!(s.max_us, 5);
        assert_eq!(s.mean_us, 3);
        assert_eq!(Summary::from_latencies(&mut []), Summary::default());
    }
}
