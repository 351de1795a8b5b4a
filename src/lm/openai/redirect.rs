//! The redirect rule of every HTTP client that may carry an API key: follow
//! a redirect only to the origin (scheme, host, port) the request was first
//! sent to, and stop with an error naming the other origin otherwise.
//!
//! reqwest's own rule drops the `Authorization` header on a hop to another
//! host, but it judges each hop against the one before: a foreign server
//! that redirects to itself gets the key back on the second hop. Comparing
//! every hop with the *first* URL closes that, whatever the chain.

use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};

/// Hops followed before giving up, as reqwest's default policy does.
pub const MAX_HOPS: usize = 10;

/// Why a redirect was not followed. The origin is shown without path or
/// query: a query string may hold a token.
#[derive(Debug)]
pub struct RedirectRefused(String);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// The policy: same-origin hops only, at most [`MAX_HOPS`].
pub fn same_origin_only() -> Policy {
    Policy::custom(decide)
}

fn decide(attempt: Attempt) -> reqwest::redirect::Action {
    let first = attempt.previous().first().cloned();
    let next = attempt.url().clone();
    let hops = attempt.previous().len();
    match first {
        Some(first) if first.origin() != next.origin() => {
            attempt.error(RedirectRefused(refusal(&first, &next)))
        }
        _ if hops > MAX_HOPS => {
            attempt.error(RedirectRefused(format!("more than {MAX_HOPS} redirects")))
        }
        _ => attempt.follow(),
    }
}

/// Why a hop from `first`'s origin to `next` is not followed.
pub fn refusal(first: &Url, next: &Url) -> String {
    format!(
        "redirected to another origin, {}: not followed, so the API key never leaves {}",
        shown_origin(next),
        shown_origin(first)
    )
}

/// `scheme://host:port` of `url`, nothing else.
pub fn shown_origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_shown_without_path_query_or_credentials() {
        let url = Url::parse("https://user:pw@evil.example/steal?token=abc#x").unwrap();
        assert_eq!(shown_origin(&url), "https://evil.example:443");
        let url = Url::parse("http://127.0.0.1:18083/v1/chat").unwrap();
        assert_eq!(shown_origin(&url), "http://127.0.0.1:18083");
    }
}
