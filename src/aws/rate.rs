//! A client-side cap on one account's request rate (`aws.max_requests_per_second`): IAM's
//! limits are per account, unpublished, and shared with everything else the account runs
//! (Terraform, CI, other scanners), so the exporter takes no more than its share. A token
//! bucket holding one second's worth: bursts up to the rate, then the rate.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// The bucket: tokens, and when they were last counted.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket for `rate` requests per second.
    pub(crate) fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        TokenBucket {
            rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    /// Waits until a request may be sent, then takes its token. Callers queue on the lock, so
    /// they are served in order.
    pub(crate) async fn acquire(&self) {
        let mut state = self.state.lock().await;
        loop {
            let now = Instant::now();
            let (tokens, last) = *state;
            let tokens =
                (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.rate);
            if tokens >= 1.0 {
                *state = (tokens - 1.0, now);
                return;
            }
            *state = (tokens, now);
            let wait = Duration::from_secs_f64((1.0 - tokens) / self.rate);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the clock paused, time moves only when every task waits: the count of tokens
    /// handed out by a given instant is exact, not a matter of timing.
    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_bursts_then_holds_the_rate() {
        let bucket = TokenBucket::new(10);
        let start = Instant::now();
        for _ in 0..10 {
            bucket.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        for _ in 0..20 {
            bucket.acquire().await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        assert!(
            (1.99..=2.01).contains(&elapsed),
            "20 more at 10/s take 2 s: {elapsed}"
        );
    }
}
