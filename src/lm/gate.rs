//! The hook for budgets: a check before every request sent.

use super::{Lm, LmError, Request, Response};
use async_trait::async_trait;
use std::sync::Arc;

/// Decides whether a request may be sent. Refusing with
/// [`LmError::Fatal`] stops the call without retries (a spent budget).
pub trait Gate: Send + Sync {
    /// `Ok` lets `request` go out; an error is returned to the caller instead.
    fn check(&self, request: &Request) -> Result<(), LmError>;
}

/// Asks the gate before each attempt (it sits inside the retry layer, so
/// retries are checked too).
pub struct Gated {
    inner: Arc<dyn Lm>,
    gate: Arc<dyn Gate>,
}

impl Gated {
    /// Wraps `inner` so every request passes `gate` first.
    pub fn new(inner: Arc<dyn Lm>, gate: Arc<dyn Gate>) -> Self {
        Self { inner, gate }
    }
}

#[async_trait]
impl Lm for Gated {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        self.gate.check(request)?;
        self.inner.complete(request).await
    }
}
