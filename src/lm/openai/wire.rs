//! The chat-completions wire format, written and read without building a
//! JSON tree: the request body is serialized straight from the request's
//! borrowed parts (no copy of the prompt), and the reply is read into the
//! two things kept from it (the first choice's text and the token counts),
//! skipping everything else.

use crate::lm::json_out::{ObjectOut, push_messages, push_str, push_value};
use crate::lm::{Request, ResponseFormat};
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;

mod plain;

/// The body of one `/chat/completions` request.
pub struct ChatBody<'a> {
    /// The provider's model id.
    pub model_id: &'a str,
    /// The request (its rollout id is never sent: it only tells cache
    /// entries apart).
    pub request: &'a Request,
}

impl ChatBody<'_> {
    /// The body's JSON: the fields in a fixed order, then the model's
    /// `params`. A param that names a field replaces it (as `params`
    /// always could), so each key is written once.
    pub fn to_bytes(&self) -> Vec<u8> {
        let r = self.request;
        let params: &IndexMap<String, Value> = &r.params;
        // Sized once for the usual case (the messages plus a little JSON)
        // instead of growing through several copies.
        let text: usize = r.messages.iter().map(|m| m.content.len() + 32).sum();
        let mut out = Vec::with_capacity(text + 256);
        let mut body = ObjectOut::open(&mut out);
        let free = |key: &str| !params.contains_key(key);
        if free("model") {
            push_str(body.key("model"), self.model_id);
        }
        if free("messages") {
            push_messages(body.key("messages"), &r.messages);
        }
        if free("temperature") {
            push_value(body.key("temperature"), &r.temperature);
        }
        if let Some(max_tokens) = r.max_tokens.filter(|_| free("max_tokens")) {
            push_value(body.key("max_tokens"), &max_tokens);
        }
        if let Some(seed) = r.seed.filter(|_| free("seed")) {
            push_value(body.key("seed"), &seed);
        }
        if r.response_format == ResponseFormat::JsonObject && free("response_format") {
            body.key("response_format")
                .extend_from_slice(br#"{"type":"json_object"}"#);
        }
        for (key, value) in params {
            push_value(body.key(key), value);
        }
        body.close();
        out
    }
}

/// What is kept of a successful reply.
#[derive(Debug, Deserialize)]
pub struct Reply<'a> {
    /// The first choice (the others are not read).
    #[serde(borrow)]
    choices: FirstChoice<'a>,
    /// The token counts, when the server sent them.
    #[serde(default)]
    usage: Option<ReplyUsage>,
}

impl<'a> Reply<'a> {
    /// Reads a successful body: the plain shape servers send without serde
    /// (`wire/plain.rs`), anything else through serde, with its errors.
    pub fn read(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        match plain::read(body) {
            Some(reply) => Ok(reply),
            None => serde_json::from_slice(body),
        }
    }

    /// The first choice's text; `None` when it has none (no choices, or a
    /// null content).
    pub fn text(&self) -> Option<&str> {
        self.choices.0.as_ref()?.message.content.as_deref()
    }

    /// Prompt and completion tokens, 0 where the server did not count.
    pub fn tokens(&self) -> (u64, u64) {
        self.usage
            .as_ref()
            .map_or((0, 0), |u| (u.prompt_tokens.0, u.completion_tokens.0))
    }
}

#[derive(Debug, Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    message: ChoiceMessage<'a>,
}

#[derive(Debug, Deserialize)]
struct ChoiceMessage<'a> {
    /// Borrowed from the body unless it holds escapes.
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

/// The first element of `choices`; the rest are skipped unread, whatever
/// they hold.
#[derive(Debug)]
struct FirstChoice<'a>(Option<Choice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct First<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for First<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<Choice<'a>>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        d.deserialize_seq(First(std::marker::PhantomData))
    }
}

/// Token counts; a count that is missing or not a whole number reads as 0.
#[derive(Debug, Default, Deserialize)]
struct ReplyUsage {
    #[serde(default)]
    prompt_tokens: Count,
    #[serde(default)]
    completion_tokens: Count,
}

/// A token count as servers send it: anything but a non-negative integer is 0.
#[derive(Debug, Default)]
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a token count")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_none<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Count(0))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Count(0))
            }
        }
        d.deserialize_any(CountVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::Message;

    fn request(params: serde_json::Value) -> Request {
        Request {
            model: "fast".into(),
            messages: vec![Message::system("be brief"), Message::user("hi \"there\"")],
            temperature: 0.5,
            max_tokens: Some(64),
            seed: Some(7),
            rollout_id: Some(3),
            response_format: ResponseFormat::JsonObject,
            params: serde_json::from_value(params).unwrap(),
        }
    }

    fn body(request: &Request) -> serde_json::Value {
        let bytes = ChatBody {
            model_id: "gpt-x",
            request,
        }
        .to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn the_body_carries_every_setting_but_the_rollout_id() {
        let sent = body(&request(serde_json::json!({"top_p": 0.9})));
        assert_eq!(
            sent,
            serde_json::json!({
                "model": "gpt-x",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi \"there\""}
                ],
                "temperature": 0.5,
                "max_tokens": 64,
                "seed": 7,
                "response_format": {"type": "json_object"},
                "top_p": 0.9
            })
        );
        let mut plain = request(serde_json::json!({}));
        plain.max_tokens = None;
        plain.seed = None;
        plain.response_format = ResponseFormat::Text;
        let keys: Vec<String> = body(&plain).as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["model", "messages", "temperature"]);
    }

    #[test]
    fn a_param_naming_a_field_replaces_it_once() {
        let r = request(serde_json::json!({"temperature": 1.5, "seed": null}));
        let bytes = ChatBody {
            model_id: "gpt-x",
            request: &r,
        }
        .to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.matches("\"temperature\"").count(), 1, "{text}");
        assert_eq!(text.matches("\"seed\"").count(), 1, "{text}");
        let sent = body(&r);
        assert_eq!(sent["temperature"], 1.5);
        assert_eq!(sent["seed"], serde_json::Value::Null);
    }

    fn read(text: &str) -> Result<(Option<String>, (u64, u64)), serde_json::Error> {
        let reply: Reply = serde_json::from_str(text)?;
        Ok((reply.text().map(str::to_string), reply.tokens()))
    }

    #[test]
    fn the_reply_keeps_the_first_text_and_lenient_token_counts() {
        let full = r#"{"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "a\nb"}},
                       {"message": 5}], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}"#;
        assert_eq!(read(full).unwrap(), (Some("a\nb".into()), (12, 3)));
        let odd_usage = r#"{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": "12", "completion_tokens": -1}}"#;
        assert_eq!(read(odd_usage).unwrap(), (Some("x".into()), (0, 0)));
        let no_usage = r#"{"choices": [{"message": {"content": "x"}}], "usage": null}"#;
        assert_eq!(read(no_usage).unwrap(), (Some("x".into()), (0, 0)));
        let null_content = r#"{"choices": [{"message": {"content": null, "tool_calls": []}}]}"#;
        assert_eq!(read(null_content).unwrap().0, None);
        assert_eq!(read(r#"{"choices": []}"#).unwrap().0, None);
        // Shapes that hold no text are data errors, told apart from broken JSON.
        for shape in [
            r#"{"choices": 3}"#,
            r#"[1, 2]"#,
            r#"{"usage": {}}"#,
            r#"{"choices": [{"message": {"content": 4}}]}"#,
        ] {
            assert!(read(shape).unwrap_err().is_data(), "{shape}");
        }
        assert!(read(r#"{"choices": [{"mess"#).unwrap_err().is_eof());
    }
}
