//! Word diff of a predictor's instructions against the original, rendered as
//! `<del>`/`<ins>` runs (the `similar` crate computes the diff).

use similar::{ChangeTag, TextDiff};

use super::escape::escape_html;

/// The diff as HTML (every piece escaped), plus how many words were added
/// and removed.
pub struct WordDiff {
    pub html: String,
    pub added: usize,
    pub removed: usize,
}

/// Diff `new` against `old` word by word; whitespace (newlines included) is
/// kept, so the result reads like `new` with changes marked.
pub fn word_diff(old: &str, new: &str) -> WordDiff {
    let diff = TextDiff::from_words(old, new);
    let mut html = String::with_capacity(new.len() * 2);
    let (mut added, mut removed) = (0, 0);
    // Merge consecutive tokens with the same tag into one element.
    let mut run: Option<(ChangeTag, String)> = None;
    let flush = |html: &mut String, run: &mut Option<(ChangeTag, String)>| {
        if let Some((tag, text)) = run.take() {
            let text = escape_html(&text);
            match tag {
                ChangeTag::Equal => html.push_str(&text),
                ChangeTag::Insert => {
                    html.push_str("<ins>");
                    html.push_str(&text);
                    html.push_str("</ins>");
                }
                ChangeTag::Delete => {
                    html.push_str("<del>");
                    html.push_str(&text);
                    html.push_str("</del>");
                }
            }
        }
    };
    for change in diff.iter_all_changes() {
        let tag = change.tag();
        let value = change.value();
        if !value.trim().is_empty() {
            match tag {
                ChangeTag::Insert => added += 1,
                ChangeTag::Delete => removed += 1,
                ChangeTag::Equal => {}
            }
        }
        match &mut run {
            Some((t, text)) if *t == tag => text.push_str(value),
            _ => {
                flush(&mut html, &mut run);
                run = Some((tag, value.to_string()));
            }
        }
    }
    flush(&mut html, &mut run);
    WordDiff {
        html,
        added,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_appended_words_and_escapes() {
        let d = word_diff("Answer briefly.", "Answer briefly.\n\nUse <b> & names.");
        assert_eq!(
            d.html,
            "Answer briefly.<ins>\n\nUse &lt;b&gt; &amp; names.</ins>"
        );
        assert_eq!((d.added, d.removed), (4, 0));
    }

    #[test]
    fn marks_replaced_words() {
        let d = word_diff("a b c", "a x c");
        assert_eq!(d.html, "a <del>b</del><ins>x</ins> c");
        assert_eq!((d.added, d.removed), (1, 1));
    }

    #[test]
    fn identical_text_has_no_marks() {
        let d = word_diff("same text", "same text");
        assert_eq!(d.html, "same text");
        assert_eq!((d.added, d.removed), (0, 0));
    }
}
