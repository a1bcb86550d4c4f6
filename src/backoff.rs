//! Retry delays: exponential from `min`, capped at `max`, with full jitter in the upper half so
//! many gateways (or many controllers) do not retry in lock-step. Shared by dispatch (controller
//! retries) and sources (PMS request retries).

use std::time::Duration;

use rand::Rng;

/// The delay before retry number `attempt` (0 = first retry).
pub fn backoff(attempt: u32, min: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let ceiling = min
        .saturating_mul(2u32.saturating_pow(attempt.min(31)))
        .min(max);
    let half = ceiling / 2;
    half + ceiling.saturating_sub(half).mul_f64(rng.random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn grows_then_caps_and_stays_in_the_upper_half() {
        let mut rng = StdRng::seed_from_u64(7);
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for attempt in 0..40 {
            let ceiling = (min * 2u32.saturating_pow(attempt.min(31))).min(max);
            for _ in 0..50 {
                let d = backoff(attempt, min, max, &mut rng);
                assert!(
                    d >= ceiling / 2 && d <= ceiling,
                    "attempt {attempt}: {d:?} vs {ceiling:?}"
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_retries() {
        let mut rng = StdRng::seed_from_u64(1);
        let a: Vec<_> = (0..20)
            .map(|_| backoff(3, Duration::from_secs(1), Duration::from_secs(60), &mut rng))
            .collect();
        assert!(a.iter().any(|d| *d != a[0]));
    }
}
