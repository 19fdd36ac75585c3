//! A token bucket on the engine clock, for punts (per worker, spec §3.2) and
//! ICMP errors (RFC 1812 §4.3.2.8). Integer arithmetic in nano-tokens so the
//! same packet times give the same decisions on every machine.

/// Allows `rate` events per second with bursts of up to `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst_nt: u64,
    tokens_nt: u64,
    last_ns: u64,
    /// Events refused.
    pub refused: u64,
}

const NANO: u64 = 1_000_000_000;

impl TokenBucket {
    /// A full bucket. `rate` 0 refuses everything.
    pub fn new(rate: u64, burst: u64) -> TokenBucket {
        let burst_nt = burst.max(1).saturating_mul(NANO);
        TokenBucket {
            rate,
            burst_nt,
            tokens_nt: burst_nt,
            last_ns: 0,
            refused: 0,
        }
    }

    /// Take one token at time `now_ns`, if there is one.
    #[inline]
    pub fn allow(&mut self, now_ns: u64) -> bool {
        let dt = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        self.tokens_nt = self
            .tokens_nt
            .saturating_add(dt.saturating_mul(self.rate))
            .min(self.burst_nt);
        if self.rate > 0 && self.tokens_nt >= NANO {
            self.tokens_nt -= NANO;
            true
        } else {
            self.refused += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(10, 3);
        let t0 = 5 * NANO;
        assert!((0..3).all(|_| b.allow(t0)));
        assert!(!b.allow(t0));
        assert!(!b.allow(t0 + NANO / 20), "half a token");
        assert!(b.allow(t0 + NANO / 10));
        assert!(!b.allow(t0 + NANO / 10));
        // A long pause refills only up to the burst.
        assert_eq!((0..10).filter(|_| b.allow(t0 + 100 * NANO)).count(), 3);
        assert_eq!(b.refused, 2 + 1 + 7);
        let mut none = TokenBucket::new(0, 5);
        assert!(!none.allow(1));
    }
}
