//! The usual reply, read without serde: one pass over the bytes that keeps
//! the first choice's text and the token counts and checks the rest is
//! well-formed JSON.
//!
//! It reads only the plain shape servers send. Anything else (a `\u`
//! escape anywhere, an escaped key, a duplicate kept field, a count that is
//! not a plain whole number, a struct written as a list, nesting past
//! [`MAX_DEPTH`], ...) gives `None`, and serde reads the body instead with
//! its exact errors. So this path never accepts a body serde would refuse
//! or read differently; a differential test holds it to that. Serde spent
//! about 8,000 instructions on a 270-byte reply, an eighth of a call's own
//! work outside the kernel.

use super::{Choice, ChoiceMessage, Count, FirstChoice, Reply, ReplyUsage};
use crate::lm::json_out::find_special;
use std::borrow::Cow;

/// Deeper nesting is left to serde (whose own limit is 128).
const MAX_DEPTH: usize = 64;

/// Reads `body` if it is a plain reply.
pub(super) fn read(body: &[u8]) -> Option<Reply<'_>> {
    // Checked whole once, so every slice below is a whole `str`.
    let text = std::str::from_utf8(body).ok()?;
    let mut scan = Scan { text, at: 0 };
    let mut choices = None;
    let mut usage = None;
    scan.object(|scan, key| {
        match key {
            "choices" if choices.is_none() => choices = Some(scan.choices()?),
            "usage" if usage.is_none() => usage = Some(scan.usage()?),
            // A kept field twice: serde refuses it.
            "choices" | "usage" => return None,
            _ => scan.skip_value(1)?,
        }
        Some(())
    })?;
    scan.whitespace();
    if scan.at != body.len() {
        return None;
    }
    Some(Reply {
        choices: choices?,
        usage: usage.flatten(),
    })
}

/// A position in the body.
struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// Steps over `byte`, or fails.
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// Steps over `word` (a literal), or fails.
    fn expect_word(&mut self, word: &str) -> Option<()> {
        self.text[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// An object (after whitespace): `field` is called on each key with the
    /// scan at its value, and must step over it.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.whitespace();
        self.expect(b'{')?;
        self.whitespace();
        if self.expect(b'}').is_some() {
            return Some(());
        }
        loop {
            self.whitespace();
            let key = self.string()?;
            // An escaped key might spell a kept field: serde's business.
            let Cow::Borrowed(key) = key else { return None };
            self.whitespace();
            self.expect(b':')?;
            self.whitespace();
            field(self, key)?;
            self.whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string (at its opening quote), borrowed unless it holds escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.expect(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            // Plain runs are stepped over sixteen bytes at a time.
            self.at = find_special(bytes, self.at);
            let byte = *bytes.get(self.at)?;
            match byte {
                b'"' => {
                    let last = &self.text[run..self.at];
                    self.at += 1;
                    return Some(match owned {
                        None => Cow::Borrowed(last),
                        Some(mut s) => {
                            s.push_str(last);
                            Cow::Owned(s)
                        }
                    });
                }
                b'\\' => {
                    let unescaped = match *bytes.get(self.at + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        // `\u` (surrogates and all) is left to serde.
                        _ => return None,
                    };
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.text[run..self.at]);
                    s.push(unescaped);
                    self.at += 2;
                    run = self.at;
                }
                // JSON forbids raw control characters in strings.
                _ => return None,
            }
        }
    }

    /// `choices`: the first element read, the others checked and skipped.
    fn choices(&mut self) -> Option<FirstChoice<'a>> {
        self.expect(b'[')?;
        self.whitespace();
        if self.expect(b']').is_some() {
            return Some(FirstChoice(None));
        }
        let first = self.choice()?;
        loop {
            self.whitespace();
            match self.peek()? {
                b',' => {
                    self.at += 1;
                    self.whitespace();
                    self.skip_value(2)?;
                }
                b']' => {
                    self.at += 1;
                    return Some(FirstChoice(Some(first)));
                }
                _ => return None,
            }
        }
    }

    /// One choice: an object with a `message`.
    fn choice(&mut self) -> Option<Choice<'a>> {
        let mut message = None;
        self.object(|scan, key| {
            match key {
                "message" if message.is_none() => message = Some(scan.message()?),
                "message" => return None,
                _ => scan.skip_value(3)?,
            }
            Some(())
        })?;
        Some(Choice { message: message? })
    }

    /// A message: its `content`, a string or null (or absent).
    fn message(&mut self) -> Option<ChoiceMessage<'a>> {
        let mut content = None;
        self.object(|scan, key| {
            match key {
                "content" if content.is_none() => {
                    content = Some(match scan.peek()? {
                        b'"' => Some(scan.string()?),
                        b'n' => {
                            scan.expect_word("null")?;
                            None
                        }
                        _ => return None,
                    });
                }
                "content" => return None,
                _ => scan.skip_value(4)?,
            }
            Some(())
        })?;
        Some(ChoiceMessage {
            content: content.flatten(),
        })
    }

    /// `usage`: null, or an object whose counts are plain whole numbers.
    fn usage(&mut self) -> Option<Option<ReplyUsage>> {
        if self.peek()? == b'n' {
            self.expect_word("null")?;
            return Some(None);
        }
        let (mut prompt, mut completion) = (None, None);
        self.object(|scan, key| {
            match key {
                "prompt_tokens" if prompt.is_none() => prompt = Some(scan.count()?),
                "completion_tokens" if completion.is_none() => completion = Some(scan.count()?),
                "prompt_tokens" | "completion_tokens" => return None,
                _ => scan.skip_value(2)?,
            }
            Some(())
        })?;
        Some(Some(ReplyUsage {
            prompt_tokens: Count(prompt.unwrap_or_default()),
            completion_tokens: Count(completion.unwrap_or_default()),
        }))
    }

    /// A whole number that fits a u64, without sign, fraction or exponent
    /// (serde reads the others as 0, which is left to it).
    fn count(&mut self) -> Option<u64> {
        let digits = self.text.as_bytes()[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let number = &self.text[self.at..self.at + digits];
        if digits == 0 || (digits > 1 && number.starts_with('0')) {
            return None;
        }
        self.at += digits;
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        number.parse().ok()
    }

    /// Steps over any well-formed value at `depth` (the top object is 0).
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|scan, _| scan.skip_value(depth + 1)),
            b'[' => {
                self.at += 1;
                self.whitespace();
                if self.expect(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.whitespace();
                    self.skip_value(depth + 1)?;
                    self.whitespace();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.expect_word("true"),
            b'f' => self.expect_word("false"),
            b'n' => self.expect_word("null"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => None,
        }
    }

    /// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn skip_number(&mut self) -> Option<()> {
        let bytes = self.text.as_bytes();
        let digits_from = |at: usize| {
            bytes[at..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let mut at = self.at;
        if bytes[at] == b'-' {
            at += 1;
        }
        match digits_from(at) {
            0 => return None,
            n if n > 1 && bytes[at] == b'0' => return None,
            n => at += n,
        }
        if bytes.get(at) == Some(&b'.') {
            match digits_from(at + 1) {
                0 => return None,
                n => at += 1 + n,
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            match digits_from(at) {
                0 => return None,
                n => at += n,
            }
        }
        self.at = at;
        Some(())
    }
}

#[cfg(test)]
mod tests;
