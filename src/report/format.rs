//! How the report shows numbers and values; the tests use these too, so a
//! score is checked in the page exactly as the page formats it.

/// A score: three decimals (`0.700`); `n/a` for NaN.
pub fn score(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else {
        format!("{v:.3}")
    }
}

/// An optional score, `—` when absent.
pub fn opt_score(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), score)
}

/// A signed difference (`+0.233`).
pub fn delta(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else {
        format!("{v:+.3}")
    }
}

/// A duration in milliseconds: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`.
pub fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min {:02} s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{} h {:02} min", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// A count with thousands separators (`356,931`).
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A JSON value as text: strings as they are, everything else as compact JSON.
pub fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(score(0.7), "0.700");
        assert_eq!(score(2.0 / 3.0), "0.667");
        assert_eq!(opt_score(None), "—");
        assert_eq!(delta(0.2333), "+0.233");
        assert_eq!(delta(-0.1), "-0.100");
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_345), "12.3 s");
        assert_eq!(duration_ms(245_000), "4 min 05 s");
        assert_eq!(duration_ms(7_380_000), "2 h 03 min");
        assert_eq!(count(356_931), "356,931");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(999), "999");
        assert_eq!(value(&serde_json::json!("a<b")), "a<b");
        assert_eq!(value(&serde_json::json!([1, "x"])), r#"[1,"x"]"#);
    }
}
