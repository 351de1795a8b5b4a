use super::*;
use proptest::prelude::*;
use serde_json::{Value, json};

/// What a reader kept: the text and the two counts.
fn kept(reply: &Reply<'_>) -> (Option<String>, (u64, u64)) {
    (reply.text().map(str::to_string), reply.tokens())
}

/// The plain reader either declines or agrees with serde.
fn agrees(body: &[u8]) -> Result<bool, TestCaseError> {
    let Some(plain) = read(body) else {
        return Ok(false);
    };
    let by_serde = serde_json::from_slice::<Reply>(body);
    prop_assert!(
        by_serde.is_ok(),
        "plain read {:?} where serde fails: {:?}",
        String::from_utf8_lossy(body),
        by_serde.err()
    );
    prop_assert_eq!(kept(&plain), kept(&by_serde.unwrap()));
    Ok(true)
}

#[test]
fn the_replies_servers_send_are_read_plainly() {
    let replies = [
        // OpenAI, with the fields it adds.
        json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
               "model": "gpt-4o-mini", "system_fingerprint": null,
               "choices": [{"index": 0, "message": {"role": "assistant",
                   "content": "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]", "refusal": null,
                   "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 138, "completion_tokens": 13, "total_tokens": 151,
                   "prompt_tokens_details": {"cached_tokens": 0}}}),
        // llama.cpp's server: timings and a float in them.
        json!({"choices": [{"finish_reason": "stop", "index": 0,
                   "message": {"role": "assistant", "content": "Tab\there \"quoted\" /"}}],
               "created": 1, "model": "smol", "object": "chat.completion",
               "usage": {"completion_tokens": 5, "prompt_tokens": 40, "total_tokens": 45},
               "timings": {"prompt_n": 40, "prompt_ms": 12.5e-1, "predicted_per_second": -3.25}}),
        // Ollama without usage; vLLM with two choices and a null content.
        json!({"choices": [{"message": {"content": "one"}}, {"message": {"content": "two"}}]}),
        json!({"choices": [{"message": {"role": "assistant", "content": null}}], "usage": null}),
        json!({"choices": []}),
    ];
    for reply in replies {
        for body in [
            reply.to_string(),
            serde_json::to_string_pretty(&reply).unwrap(),
        ] {
            assert!(agrees(body.as_bytes()).unwrap(), "declined {body}");
        }
    }
    let read_plainly =
        read(br#" {"choices":[{"message":{"content":"a\nb"}}],"usage":{"prompt_tokens":7}} "#)
            .map(|r| kept(&r));
    assert_eq!(read_plainly, Some((Some("a\nb".into()), (7, 0))));
}

#[test]
fn what_is_not_plain_is_left_to_serde() {
    let declined = [
        r#"{"choices":[{"message":{"content":"caf\u00e9"}}]}"#,
        r#"{"choices":[{"message":{"content":"x"}}],"choices":[]}"#,
        r#"{"choices":[{"message":{"content":"x","content":"y"}}]}"#,
        r#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":1.0}}"#,
        r#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":-1}}"#,
        r#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":99999999999999999999}}"#,
        r#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":"7"}}"#,
        r#"{"choices":[{"message":["x"]}]}"#,
        r#"{"choices":[{"messages":{"content":"x"}}]}"#,
        r#"{"choices":null}"#,
        r#"{"usage":null}"#,
        r#"{"ch\u006fices":[]}"#,
        r#"{"choices":[{"message":{"content":"x"}}]} trailing"#,
        r#"{"choices":[{"message":{"content":"x"}},]}"#,
        r#"{"choices":[{"message":{"content":"x"}}],"extra":01}"#,
        r#"{"choices":[{"message":{"content":"x"}}],"extra":[1,]}"#,
        "{\"choices\":[{\"message\":{\"content\":\"raw\ttab\"}}]}",
        "\u{feff}{\"choices\":[]}",
        "[]",
        "",
    ];
    for body in declined {
        assert!(read(body.as_bytes()).is_none(), "read {body}");
    }
    let deep = format!(
        r#"{{"choices":[],"x":{}{}}}"#,
        "[".repeat(MAX_DEPTH),
        "]".repeat(MAX_DEPTH)
    );
    assert!(read(deep.as_bytes()).is_some());
    let deeper = deep.replace("[]", "[[]]");
    assert!(read(deeper.as_bytes()).is_none());
    assert!(read(&[b'{', b'"', 0xff, b'"', b':', b'1', b'}']).is_none());
}

/// Any JSON value, with keys that are often the kept ones.
fn value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("choices".to_string()),
        Just("message".to_string()),
        Just("content".to_string()),
        Just("usage".to_string()),
        Just("prompt_tokens".to_string()),
        Just("completion_tokens".to_string()),
        "[a-z\"\\\\\u{e9}]{0,4}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "(?s).{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A reply-like body: often the plain shape, sometimes anything.
fn body() -> impl Strategy<Value = String> {
    let content = prop_oneof![
        Just(Value::Null),
        "(?s).{0,16}".prop_map(Value::String),
        value()
    ];
    let count = prop_oneof![any::<u64>().prop_map(Value::from), value()];
    (content, count, value(), value(), any::<bool>()).prop_map(
        |(content, count, extra, usage_extra, pretty)| {
            let reply = json!({
                "id": extra,
                "choices": [{"message": {"role": "assistant", "content": content}}, usage_extra],
                "usage": {"prompt_tokens": count, "completion_tokens": 3},
            });
            if pretty {
                serde_json::to_string_pretty(&reply).unwrap()
            } else {
                reply.to_string()
            }
        },
    )
}

proptest! {
    #[test]
    fn a_reply_is_declined_or_read_as_serde_reads_it(body in body()) {
        agrees(body.as_bytes())?;
    }

    #[test]
    fn any_value_is_declined_or_read_as_serde_reads_it(value in value()) {
        agrees(value.to_string().as_bytes())?;
    }

    #[test]
    fn a_damaged_reply_is_declined_or_read_as_serde_reads_it(
        body in body(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut bytes = body.into_bytes();
        for (at, byte, how) in cuts {
            let i = at.index(bytes.len() + 1);
            match how {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => { bytes.remove(i); }
                _ if i < bytes.len() => bytes[i] = byte,
                _ => {}
            }
        }
        agrees(&bytes)?;
    }
}
