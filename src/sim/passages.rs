//! How the sim model reads passages (docs/sim.md, "Passages"): the values
//! of a request's `list<string>` inputs, which is what a `search` step
//! returns. A passage holding the gold answer makes a correct answer more
//! likely; a query-writing step that is "on form" follows the passage it
//! read to the entity the question does not name.

use std::collections::HashSet;

use super::{mentions, norm_answer};
use crate::adapter::PromptView;
use crate::ir::FieldType;

/// Words this short never pick the passage a question is about ("was",
/// "who", "the"): they are in every passage.
const MIN_TOPIC_WORD: usize = 4;

/// Every passage of the request: each element of each `list<string>` input.
pub(super) fn passages(view: &PromptView) -> Vec<String> {
    let list_of_strings = FieldType::List(Box::new(FieldType::String));
    view.inputs
        .iter()
        .filter(|(_, ty)| *ty == list_of_strings)
        .filter_map(|(name, _)| view.query_value(name))
        .filter_map(|text| serde_json::from_str::<Vec<String>>(text).ok())
        .flatten()
        .collect()
}

/// Whether some passage holds `gold` as whole words, both normalised as
/// answers are (lower case, no punctuation, no articles).
pub(super) fn holds(passages: &[String], gold: &str) -> bool {
    let gold = norm_answer(gold);
    !gold.is_empty() && passages.iter().any(|p| mentions(&norm_answer(p), &gold))
}

/// Whether output `name` is a search query a step writes (`query`,
/// `search_query`, ...).
pub(super) fn is_query(name: &str, ty: &FieldType) -> bool {
    *ty == FieldType::String && (name == "query" || name.ends_with("_query"))
}

/// The follow-up query of a model that read `passages` for a row whose
/// inputs are `inputs`: the names the passage about the inputs adds to
/// them. That passage is the one sharing the most words of
/// [`MIN_TOPIC_WORD`]+ letters with the inputs (the first on a tie); its
/// names are its capitalised words that no input has, in order, once each.
/// `None` when no passage shares such a word or it adds no name.
pub(super) fn follow_up(passages: &[String], inputs: &[String]) -> Option<String> {
    let known: HashSet<String> = inputs
        .iter()
        .flat_map(|i| {
            norm_answer(i)
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut best: Option<(usize, &String)> = None;
    for p in passages {
        let normalised = norm_answer(p);
        let shared: HashSet<&str> = normalised
            .split_whitespace()
            .filter(|w| w.chars().count() >= MIN_TOPIC_WORD && known.contains(*w))
            .collect();
        if !shared.is_empty() && best.is_none_or(|(n, _)| shared.len() > n) {
            best = Some((shared.len(), p));
        }
    }
    let (_, passage) = best?;
    let mut seen: HashSet<String> = HashSet::new();
    let names: Vec<&str> = passage
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
        .filter(|w| {
            let lower = w.to_lowercase();
            // Articles are not names (inputs are normalised without them).
            !matches!(lower.as_str(), "a" | "an" | "the")
                && !known.contains(&lower)
                && seen.insert(lower)
        })
        .collect();
    (!names.is_empty()).then(|| names.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_string_outputs_named_like_a_query_are_queries() {
        assert!(is_query("query", &FieldType::String));
        assert!(is_query("search_query", &FieldType::String));
        assert!(!is_query("queries", &FieldType::String));
        assert!(!is_query(
            "query",
            &FieldType::List(Box::new(FieldType::String))
        ));
    }

    #[test]
    fn the_answer_must_be_whole_words_of_a_passage() {
        let p = vec!["Kelmoor | Born in Kelmoor, 1830.".to_string()];
        assert!(holds(&p, "kelmoor"));
        assert!(holds(&p, "The Kelmoor"));
        assert!(!holds(&p, "Kel"));
        assert!(!holds(&p, ""));
    }

    #[test]
    fn the_follow_up_comes_from_the_passage_about_the_inputs() {
        let inputs = vec!["in which town was the founder of brightwater mills born?".to_string()];
        let passages = vec![
            "Oak Mills | Oak Mills was founded by Ada Moor.".to_string(),
            "Brightwater Mills | Brightwater Mills was founded in 1871 by Edda Varn.".to_string(),
        ];
        assert_eq!(follow_up(&passages, &inputs).as_deref(), Some("Edda Varn"));
        // Nothing shares a word with the inputs, or nothing new is named.
        assert_eq!(follow_up(&passages[..0], &inputs), None);
        let same = vec!["Brightwater Mills | the mills of brightwater.".to_string()];
        assert_eq!(follow_up(&same, &inputs), None);
    }
}
