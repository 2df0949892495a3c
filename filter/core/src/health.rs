//! Each deployment's health as the filter sees it: LiteLLM's `allowed_fails` per minute and
//! `cooldown_time`. The state is a few bytes kept in Envoy's shared data, so every worker
//! reads and updates the same view; these functions are the whole state machine.

/// LiteLLM counts failures per minute.
pub const FAILURE_WINDOW_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeploymentHealth {
    /// Start of the current failure-counting window.
    pub window_start_ms: u64,
    /// Failures since `window_start_ms`.
    pub fails_in_window: u32,
    /// The deployment is skipped until this time (0 = not cooling down).
    pub cooldown_until_ms: u64,
    /// Times the deployment entered cooldown (for /health).
    pub cooldowns: u32,
}

/// What one attempt at a deployment came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// 5xx, 429, timeout, reset or connect failure: a region failure.
    Failure,
}

const ENCODED_LEN: usize = 8 + 4 + 8 + 4;

impl DeploymentHealth {
    /// Decodes shared data; anything unreadable counts as healthy (never as a reason to
    /// refuse traffic).
    pub fn decode(bytes: &[u8]) -> DeploymentHealth {
        if bytes.len() != ENCODED_LEN {
            return DeploymentHealth::default();
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let u32_at = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[i..i + 4]);
            u32::from_le_bytes(b)
        };
        DeploymentHealth {
            window_start_ms: u64_at(0),
            fails_in_window: u32_at(8),
            cooldown_until_ms: u64_at(12),
            cooldowns: u32_at(20),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_LEN);
        out.extend_from_slice(&self.window_start_ms.to_le_bytes());
        out.extend_from_slice(&self.fails_in_window.to_le_bytes());
        out.extend_from_slice(&self.cooldown_until_ms.to_le_bytes());
        out.extend_from_slice(&self.cooldowns.to_le_bytes());
        out
    }

    pub fn is_cooling_down(&self, now_ms: u64) -> bool {
        now_ms < self.cooldown_until_ms
    }

    /// Applies one attempt's outcome. Returns true when this failure started a cooldown.
    ///
    /// A deployment enters cooldown when its failures within one minute reach
    /// `allowed_fails` (at least 1), and leaves it by itself after `cooldown_ms`. A group's
    /// only deployment is never cooled down (LiteLLM's rule: there is nowhere else to go).
    pub fn record(
        &mut self,
        outcome: Outcome,
        now_ms: u64,
        allowed_fails: u32,
        cooldown_ms: u64,
        sole_deployment: bool,
    ) -> bool {
        if outcome == Outcome::Success || sole_deployment || cooldown_ms == 0 {
            return false;
        }
        if self.is_cooling_down(now_ms) {
            // Attempts already in flight when the cooldown began; they change nothing.
            return false;
        }
        if now_ms.saturating_sub(self.window_start_ms) >= FAILURE_WINDOW_MS || self.fails_in_window == 0 {
            self.window_start_ms = now_ms;
            self.fails_in_window = 0;
        }
        self.fails_in_window += 1;
        if self.fails_in_window >= allowed_fails.max(1) {
            self.cooldown_until_ms = now_ms + cooldown_ms;
            self.fails_in_window = 0;
            self.cooldowns = self.cooldowns.wrapping_add(1);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_after_allowed_fails_within_a_minute() {
        let mut h = DeploymentHealth::default();
        assert!(!h.record(Outcome::Failure, 1_000, 3, 5_000, false));
        assert!(!h.record(Outcome::Failure, 2_000, 3, 5_000, false));
        assert!(h.record(Outcome::Failure, 3_000, 3, 5_000, false));
        assert!(h.is_cooling_down(3_001));
        assert!(h.is_cooling_down(7_999));
        assert!(!h.is_cooling_down(8_000), "returns by itself after cooldown_time");
    }

    #[test]
    fn failures_spread_over_minutes_do_not_cool_down() {
        let mut h = DeploymentHealth::default();
        for minute in 0..10u64 {
            assert!(!h.record(Outcome::Failure, minute * 61_000, 2, 5_000, false));
        }
        assert!(!h.is_cooling_down(610_000));
    }

    #[test]
    fn successes_do_not_cool_down_and_sole_deployment_never_does() {
        let mut h = DeploymentHealth::default();
        for t in 0..100 {
            assert!(!h.record(Outcome::Success, t, 1, 5_000, false));
            assert!(!h.record(Outcome::Failure, t, 1, 5_000, true));
        }
        assert!(!h.is_cooling_down(50));
    }

    #[test]
    fn failures_during_cooldown_do_not_extend_it() {
        let mut h = DeploymentHealth::default();
        assert!(h.record(Outcome::Failure, 0, 1, 1_000, false));
        assert!(!h.record(Outcome::Failure, 500, 1, 1_000, false));
        assert_eq!(h.cooldown_until_ms, 1_000);
    }

    #[test]
    fn encoding_round_trips_and_garbage_is_healthy() {
        let h = DeploymentHealth { window_start_ms: 1, fails_in_window: 2, cooldown_until_ms: 3, cooldowns: 4 };
        assert_eq!(DeploymentHealth::decode(&h.encode()), h);
        assert_eq!(DeploymentHealth::decode(b"junk"), DeploymentHealth::default());
    }
}
