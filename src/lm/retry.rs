//! Retries with exponential backoff and jitter on transient failures.

use super::{Lm, LmError, Request, Response};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The wait before the first retry (before jitter); doubles each retry.
    pub base: Duration,
    /// The longest backoff wait.
    pub max: Duration,
    /// The longest wait a server's `Retry-After` can impose; a longer one is
    /// cut to this, so a confused server cannot stall a run for hours.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// Environment variable that sets [`Backoff::base`] in milliseconds.
pub const RETRY_BASE_ENV: &str = "SIMBA_RETRY_BASE_MS";
/// Environment variable that caps the backoff wait and a server's
/// `Retry-After` in milliseconds.
pub const RETRY_MAX_ENV: &str = "SIMBA_RETRY_MAX_MS";

impl Backoff {
    /// The default waits with `SIMBA_RETRY_BASE_MS` / `SIMBA_RETRY_MAX_MS`
    /// applied (tests and local servers want short waits); `Ok(None)` when
    /// neither is set. A value that is not a whole number of milliseconds is
    /// an error naming the variable.
    pub fn from_env() -> Result<Option<Backoff>, String> {
        Self::from_values(
            std::env::var(RETRY_BASE_ENV).ok().as_deref(),
            std::env::var(RETRY_MAX_ENV).ok().as_deref(),
        )
    }

    /// [`Backoff::from_env`] on given values.
    pub fn from_values(base: Option<&str>, max: Option<&str>) -> Result<Option<Backoff>, String> {
        let parse = |name: &str, v: &str| {
            v.trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{name}={v:?} is not a whole number of milliseconds"))
        };
        if base.is_none() && max.is_none() {
            return Ok(None);
        }
        let mut b = Backoff::default();
        if let Some(v) = base {
            b.base = parse(RETRY_BASE_ENV, v)?;
        }
        if let Some(v) = max {
            let m = parse(RETRY_MAX_ENV, v)?;
            b.max = m;
            b.max_retry_after = m;
        }
        Ok(Some(b))
    }

    /// The wait before retry number `retry` (0 for the first): "equal
    /// jitter", half the exponential delay plus a random part of the other
    /// half, so clients that failed together do not retry together. A
    /// server's `Retry-After` is a floor.
    pub fn delay(&self, retry: u32, retry_after_ms: Option<u64>) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.min(31)))
            .min(self.max);
        let half = exp / 2;
        let jitter_ns = half.as_nanos().min(u64::MAX as u128) as u64;
        let jitter = Duration::from_nanos(if jitter_ns == 0 {
            0
        } else {
            rand::random_range(0..=jitter_ns)
        });
        let backoff = half + jitter;
        match retry_after_ms {
            Some(ms) => backoff.max(Duration::from_millis(ms).min(self.max_retry_after)),
            None => backoff,
        }
    }
}

/// Retries [`LmError::Transient`] failures up to `retries` times; fatal
/// errors and the last transient one are returned as they are.
pub struct Retry {
    inner: Arc<dyn Lm>,
    retries: u32,
    backoff: Backoff,
}

impl Retry {
    /// Wraps `inner`: at most `retries` extra attempts, waiting as `backoff` says.
    pub fn new(inner: Arc<dyn Lm>, retries: u32, backoff: Backoff) -> Self {
        Self {
            inner,
            retries,
            backoff,
        }
    }
}

#[async_trait]
impl Lm for Retry {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let mut retry = 0;
        loop {
            match self.inner.complete(request).await {
                Err(LmError::Transient {
                    model,
                    message,
                    retry_after_ms,
                }) if retry < self.retries => {
                    let wait = self.backoff.delay(retry, retry_after_ms);
                    tracing::warn!(
                        model = %model,
                        attempt = retry + 1,
                        wait_ms = wait.as_millis() as u64,
                        "{message}; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                Err(LmError::Transient {
                    model,
                    message,
                    retry_after_ms,
                }) if self.retries > 0 => {
                    return Err(LmError::Transient {
                        model,
                        message: format!(
                            "{message} (gave up after {} {})",
                            self.retries,
                            if self.retries == 1 {
                                "retry"
                            } else {
                                "retries"
                            }
                        ),
                        retry_after_ms,
                    });
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_caps_and_honours_retry_after() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
        };
        for _ in 0..50 {
            let d0 = b.delay(0, None);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d2 = b.delay(2, None);
            assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400));
            let d9 = b.delay(9, None);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000));
            assert!(b.delay(40, None) <= Duration::from_millis(1000));
        }
        assert!(b.delay(0, Some(3000)) == Duration::from_millis(3000));
        assert!(b.delay(0, Some(60_000)) == Duration::from_secs(5));
    }
}
