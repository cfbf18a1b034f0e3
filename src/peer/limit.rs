//! How often a peer answers: token buckets per source and in total, so a
//! flood of probes (or challenges), from one address or many spoofed ones,
//! costs the flooder's victims and this peer a bounded rate of answers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use super::lock;

/// Sources tracked at once. When full the table starts afresh: a spoofed
/// flood from many addresses resets per-source state, and the total
/// bucket still bounds the answers.
pub const MAX_SOURCES: usize = 1024;

/// A rate with a burst: `per_second` tokens a second, at most `burst` saved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Answers a second, on average.
    pub per_second: f64,
    /// Answers at once, after a quiet spell.
    pub burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket { tokens: rate.burst, at: now }
    }

    fn take(&mut self, rate: Rate, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * rate.per_second;
        self.tokens = (self.tokens + earned).min(rate.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
pub(crate) struct Limiter {
    per_source: Rate,
    total: Rate,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    sources: HashMap<SocketAddr, Bucket>,
    total: Bucket,
}

impl Limiter {
    pub fn new(per_source: Rate, total: Rate) -> Limiter {
        let now = Instant::now();
        let state = State { sources: HashMap::new(), total: Bucket::full(total, now) };
        Limiter { per_source, total, state: Mutex::new(state) }
    }

    /// Whether one more answer to `src` is allowed at `now`. The source's
    /// own bucket is asked first, so one flooder cannot drain the total.
    pub fn allow(&self, src: SocketAddr, now: Instant) -> bool {
        let mut state = lock(&self.state);
        if !state.sources.contains_key(&src) && state.sources.len() >= MAX_SOURCES {
            state.sources.clear();
        }
        let rate = self.per_source;
        let own = state.sources.entry(src).or_insert_with(|| Bucket::full(rate, now));
        own.take(rate, now) && state.total.take(self.total, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn a_flooder_gets_its_burst_then_its_rate_and_others_still_get_answers() {
        let per = Rate { per_second: 100.0, burst: 10.0 };
        let limiter = Limiter::new(per, Rate { per_second: 1000.0, burst: 100.0 });
        let t0 = Instant::now();
        let answered = (0..1000).filter(|_| limiter.allow(addr(1), t0)).count();
        assert_eq!(answered, 10, "the burst");
        let later = t0 + Duration::from_millis(100);
        let answered = (0..1000).filter(|_| limiter.allow(addr(1), later)).count();
        assert_eq!(answered, 10, "100 a second for 100 ms");
        assert!(limiter.allow(addr(2), later), "another source is still answered");
    }

    #[test]
    fn many_sources_are_bounded_by_the_total() {
        let per = Rate { per_second: 100.0, burst: 10.0 };
        let limiter = Limiter::new(per, Rate { per_second: 1000.0, burst: 50.0 });
        let t0 = Instant::now();
        let answered = (0..5000).filter(|&p| limiter.allow(addr(p), t0)).count();
        assert_eq!(answered, 50);
        assert!(lock(&limiter.state).sources.len() <= MAX_SOURCES);
    }
}
