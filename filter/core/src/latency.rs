//! Each deployment's time to first byte, as a moving average kept in Envoy's shared data
//! (updated by the upstream role once per attempt, read by every worker's router role).
//! Time to first byte, not total time: a streamed answer's length says nothing about the region.

/// Weight of a new sample in the moving average: a region that slows down (or recovers) moves
/// the estimate most of the way within a handful of requests.
pub const EWMA_ALPHA: f64 = 0.3;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencyStats {
    /// Moving average of time to first byte, in milliseconds.
    pub ewma_ms: f64,
    pub samples: u64,
    /// When the last sample was taken.
    pub updated_ms: u64,
}

const ENCODED_LEN: usize = 8 + 8 + 8;

impl LatencyStats {
    pub fn decode(bytes: &[u8]) -> Option<LatencyStats> {
        if bytes.len() != ENCODED_LEN {
            return None;
        }
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            b
        };
        let stats = LatencyStats {
            ewma_ms: f64::from_le_bytes(word(0)),
            samples: u64::from_le_bytes(word(8)),
            updated_ms: u64::from_le_bytes(word(16)),
        };
        (stats.ewma_ms.is_finite() && stats.ewma_ms >= 0.0 && stats.samples > 0).then_some(stats)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_LEN);
        out.extend_from_slice(&self.ewma_ms.to_le_bytes());
        out.extend_from_slice(&self.samples.to_le_bytes());
        out.extend_from_slice(&self.updated_ms.to_le_bytes());
        out
    }

    /// Folds in one time-to-first-byte sample.
    pub fn record(previous: Option<LatencyStats>, sample_ms: f64, now_ms: u64) -> LatencyStats {
        let sample_ms = sample_ms.max(0.0);
        match previous {
            None => LatencyStats { ewma_ms: sample_ms, samples: 1, updated_ms: now_ms },
            Some(p) => LatencyStats {
                ewma_ms: p.ewma_ms + EWMA_ALPHA * (sample_ms - p.ewma_ms),
                samples: p.samples.saturating_add(1),
                updated_ms: now_ms,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_is_the_estimate_and_later_ones_move_it() {
        let s = LatencyStats::record(None, 20.0, 1);
        assert_eq!(s.ewma_ms, 20.0);
        let mut s = s;
        for t in 0..4 {
            s = LatencyStats::record(Some(s), 300.0, 2 + t);
        }
        assert!(s.ewma_ms > 200.0, "a slowed region is noticed within a few samples: {}", s.ewma_ms);
        for t in 0..6 {
            s = LatencyStats::record(Some(s), 20.0, 10 + t);
        }
        assert!(s.ewma_ms < 60.0, "and its recovery too: {}", s.ewma_ms);
        assert_eq!(s.samples, 11);
    }

    #[test]
    fn encoding_round_trips_and_garbage_is_no_data() {
        let s = LatencyStats { ewma_ms: 12.5, samples: 3, updated_ms: 99 };
        assert_eq!(LatencyStats::decode(&s.encode()), Some(s));
        assert_eq!(LatencyStats::decode(b"nope"), None);
        let nan = LatencyStats { ewma_ms: f64::NAN, samples: 1, updated_ms: 0 };
        assert_eq!(LatencyStats::decode(&nan.encode()), None);
    }
}
