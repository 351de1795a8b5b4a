//! A time limit on each request.

use super::{Lm, LmError, Request, Response};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Abandons a request that takes longer than `limit`, as a transient error
/// (so the retry layer tries again).
pub struct Timeout {
    inner: Arc<dyn Lm>,
    limit: Duration,
}

impl Timeout {
    /// Wraps `inner` so each attempt is cut off after `limit`.
    pub fn new(inner: Arc<dyn Lm>, limit: Duration) -> Self {
        Self { inner, limit }
    }
}

#[async_trait]
impl Lm for Timeout {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        match tokio::time::timeout(self.limit, self.inner.complete(request)).await {
            Ok(result) => result,
            Err(_) => Err(LmError::Transient {
                model: request.model.clone(),
                message: format!("no reply within the timeout of {:?}", self.limit),
                retry_after_ms: None,
            }),
        }
    }
}
