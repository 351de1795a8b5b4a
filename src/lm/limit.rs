//! A cap on in-flight requests per model.

use super::{Lm, LmError, Request, Response};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Lets at most `concurrency` requests through at once; the rest wait their
/// turn. Sits inside the retry layer, so a request waiting out its backoff
/// does not hold a slot.
pub struct ConcurrencyCap {
    inner: Arc<dyn Lm>,
    slots: Arc<Semaphore>,
}

impl ConcurrencyCap {
    /// A cap with `concurrency` slots (at least one).
    pub fn new(inner: Arc<dyn Lm>, concurrency: usize) -> Self {
        Self::shared(inner, Arc::new(Semaphore::new(concurrency.max(1))))
    }

    /// A cap over existing slots (so rebuilt layer stacks share one cap).
    pub fn shared(inner: Arc<dyn Lm>, slots: Arc<Semaphore>) -> Self {
        Self { inner, slots }
    }
}

#[async_trait]
impl Lm for ConcurrencyCap {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let _permit = self.slots.acquire().await.map_err(|_| LmError::Fatal {
            model: request.model.clone(),
            message: "the model's request slots were closed".into(),
        })?;
        self.inner.complete(request).await
    }
}
