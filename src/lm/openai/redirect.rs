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

/// Why a hop from `first`'s origin to `next` is not followed. The other
/// origin is named only when its host is the first's (another scheme or
/// port): the server picks the host it redirects to and could spell the
/// key there, where the redactor would miss it (hosts are lowercased).
pub fn refusal(first: &Url, next: &Url) -> String {
    let target = if next.host_str() == first.host_str() {
        shown_origin(next)
    } else {
        "another host (not shown: the server chose it)".to_string()
    };
    format!(
        "redirected to another origin, {target}: not followed, so the API key never leaves {}",
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

    #[test]
    fn another_host_is_not_named() {
        let first = Url::parse("http://127.0.0.1:8081/v1/chat/completions").unwrap();
        // A host spelling the key, upper-cased so no redactor would find it
        // once the URL parser lowercases it.
        let next = Url::parse("http://SK-SECRET-0123456789.evil.test/x").unwrap();
        let text = refusal(&first, &next);
        assert!(!text.to_lowercase().contains("secret-0123"), "{text}");
        assert!(text.contains("another host"), "{text}");
        assert!(
            text.ends_with("never leaves http://127.0.0.1:8081"),
            "{text}"
        );
        let other_port = Url::parse("http://127.0.0.1:9999/x").unwrap();
        assert!(refusal(&first, &other_port).contains("http://127.0.0.1:9999"));
    }
}
