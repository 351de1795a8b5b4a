//! Help texts that name the spec's own items ("declared signatures: a, b",
//! "did you mean `b`?"), kept cheap when a spec declares thousands of names:
//! a diagnostic lists at most [`LISTED`] of them, and suggestions stop once a
//! compile has spent [`SUGGESTION_BUDGET`] name comparisons. Without these
//! bounds every unknown name costs a pass over all names, so a spec with many
//! of both takes quadratic time (and prints quadratic text).

use crate::syntax::diagnostic::did_you_mean;

/// The most names a help text lists; the rest are counted.
pub const LISTED: usize = 20;

/// Name comparisons a whole compile may spend on "did you mean": some 50 ms
/// in a release build, enough for hundreds of unknown names among a
/// thousand declared (ordinary specs use a few hundred comparisons).
pub const SUGGESTION_BUDGET: usize = 250_000;

/// `a, b, c`, or the first [`LISTED`] names and how many more there are.
pub fn listing<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = names.len();
    let shown: Vec<&str> = names.take(LISTED).collect();
    let mut out = shown.join(", ");
    if total > LISTED {
        out.push_str(&format!(" and {} more", total - LISTED));
    }
    out
}

/// "did you mean" suggestions drawn from a budget shared by one compile.
#[derive(Debug)]
pub struct Suggester {
    /// Comparisons left.
    left: usize,
}

impl Default for Suggester {
    fn default() -> Self {
        Suggester {
            left: SUGGESTION_BUDGET,
        }
    }
}

impl Suggester {
    /// "did you mean `x`?" for the candidate closest to `word`; `None` when
    /// none is close, or when comparing with every candidate would overrun
    /// the budget (smaller lists may still get a suggestion later).
    pub fn did_you_mean<'a, I>(&mut self, word: &str, candidates: I) -> Option<String>
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: ExactSizeIterator,
    {
        let candidates = candidates.into_iter();
        if !self.afford(candidates.len()) {
            return None;
        }
        did_you_mean(word, candidates)
    }

    /// Spends `cost` comparisons if that many are left (for candidate lists
    /// whose iterator does not know its length).
    pub fn afford(&mut self, cost: usize) -> bool {
        if cost > self.left {
            return false;
        }
        self.left -= cost;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lists_are_shown_whole() {
        assert_eq!(listing(["a", "b", "c"].into_iter()), "a, b, c");
        assert_eq!(listing(std::iter::empty()), "");
    }

    #[test]
    fn long_lists_are_cut_and_counted() {
        let names: Vec<String> = (0..25).map(|i| format!("n{i}")).collect();
        let text = listing(names.iter().map(String::as_str));
        assert!(text.starts_with("n0, n1, "), "{text}");
        assert!(text.ends_with("n19 and 5 more"), "{text}");
        assert_eq!(text.matches(", ").count(), LISTED - 1);
    }

    #[test]
    fn suggestions_stop_when_the_budget_is_spent() {
        let names = ["answer", "question"];
        let mut s = Suggester { left: 3 };
        assert_eq!(
            s.did_you_mean("anwser", names).as_deref(),
            Some("did you mean `answer`?")
        );
        assert_eq!(s.left, 1);
        // Two more comparisons would overrun what is left: no suggestion,
        // and nothing spent.
        assert_eq!(s.did_you_mean("anwser", names), None);
        assert_eq!(s.left, 1);
        assert_eq!(
            s.did_you_mean("questoin", ["question"]).as_deref(),
            Some("did you mean `question`?")
        );
        assert_eq!(s.left, 0);
    }
}
