//! [`Cached`]: the layer that answers from the cache when it can.

use super::key::{CacheKey, CacheScope};
use super::store::ResponseCache;
use crate::lm::{Lm, LmError, Request, Response};
use async_trait::async_trait;
use std::sync::Arc;

/// Answers from the cache when it can; otherwise asks the inner model and
/// stores a success (failures are never stored).
pub struct Cached {
    inner: Arc<dyn Lm>,
    cache: Arc<ResponseCache>,
    scope: Arc<CacheScope>,
}

impl Cached {
    /// `inner` behind `cache`, its entries keyed with `scope`.
    pub fn new(inner: Arc<dyn Lm>, cache: Arc<ResponseCache>, scope: CacheScope) -> Self {
        Self {
            inner,
            cache,
            scope: Arc::new(scope),
        }
    }
}

#[async_trait]
impl Lm for Cached {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        // Hashed once; the lookup is a short indexed read done in place,
        // and the store is handed to the writer thread without waiting.
        let key = CacheKey::of(&self.scope, request);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let response = self.inner.complete(request).await?;
        self.cache.put(key, &self.scope, &response);
        Ok(response)
    }
}
