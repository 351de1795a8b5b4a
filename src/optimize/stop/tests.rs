//! Stop rules and budgets: convergence verdicts, caps on every request,
//! the reserve, and a budget continued from a checkpoint.

use super::*;
use crate::lm::{Message, ResponseFormat, Usage};

fn request(chars: usize, max_tokens: Option<u32>) -> Request {
    Request {
        model: "m".into(),
        messages: vec![Message::user("x".repeat(chars))],
        temperature: 0.0,
        max_tokens,
        seed: None,
        rollout_id: None,
        response_format: ResponseFormat::Text,
        params: Default::default(),
    }
}

fn rules() -> StopRules {
    StopRules::default()
}

#[test]
fn patience_counts_steps_without_a_large_enough_gain() {
    let mut c = Convergence::new(&StopRules {
        patience: Some(2),
        min_delta: 0.05,
        ..rules()
    });
    assert_eq!(c.after_step(Some(0.5)), None);
    assert_eq!(c.after_step(Some(0.54)), None); // +0.04 <= min_delta: stale 1
    assert_eq!(c.after_step(Some(0.6)), None); // +0.10 over 0.5: improves
    assert_eq!(c.after_step(None), None); // stale 1
    assert_eq!(c.after_step(Some(0.6)), Some(StopReason::Patience));
}

#[test]
fn target_stops_once_reached() {
    let mut c = Convergence::new(&StopRules {
        target: Some(0.8),
        ..rules()
    });
    assert_eq!(c.after_step(Some(0.79)), None);
    assert_eq!(c.after_step(Some(0.8)), Some(StopReason::Target));
}

#[test]
fn no_budget_without_budget_rules() {
    assert!(Budget::from_rules(&rules(), Instant::now(), &IndexMap::new()).is_none());
}

#[test]
fn call_cap_counts_in_flight_requests_and_the_reserve() {
    let b = Budget::from_rules(
        &StopRules {
            max_lm_calls: Some(5),
            ..rules()
        },
        Instant::now(),
        &IndexMap::new(),
    )
    .unwrap();
    b.set_reserve(Reserve {
        calls: 2,
        ..Reserve::default()
    });
    // Three admitted and still in flight: the fourth would eat the reserve.
    let t: Vec<Ticket> = (0..3)
        .map(|_| b.admit(&request(8, Some(4))).unwrap())
        .collect();
    assert!(b.admit(&request(8, Some(4))).is_err());
    assert_eq!(b.tripped(), Some(StopReason::MaxLmCalls));
    for ticket in t {
        b.settle(
            ticket,
            &Err(LmError::Fatal {
                model: "m".into(),
                message: "x".into(),
            }),
        );
    }
    // The final selection may use the reserve, and not one call more.
    b.enter_final();
    assert!(b.admit(&request(8, Some(4))).is_ok());
    assert!(b.admit(&request(8, Some(4))).is_ok());
    assert!(b.admit(&request(8, Some(4))).is_err());
}

#[test]
fn token_cap_bounds_pending_estimates_then_uses_actual_usage() {
    let b = Budget::from_rules(
        &StopRules {
            max_tokens: Some(100),
            ..rules()
        },
        Instant::now(),
        &IndexMap::new(),
    )
    .unwrap();
    // 40 chars = 10 tokens + 30 max_tokens = 40 each.
    assert_eq!(Budget::estimate(&request(40, Some(30))), 40);
    assert_eq!(
        Budget::estimate(&request(41, None)),
        11 + DEFAULT_COMPLETION_ESTIMATE
    );
    let a = b.admit(&request(40, Some(30))).unwrap();
    let _c = b.admit(&request(40, Some(30))).unwrap();
    assert!(
        b.admit(&request(40, Some(30))).is_err(),
        "120 > 100 pending"
    );
    // The first used only 15 tokens: room for another 40.
    let ok = Response {
        text: String::new(),
        usage: Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
        },
        cached: false,
    };
    b.settle(a, &Ok(ok));
    assert!(b.admit(&request(40, Some(30))).is_ok());
}

#[test]
fn cost_cap_prices_estimates_then_actual_usage() {
    let mut prices = IndexMap::new();
    // $1 per million prompt tokens, $2 per million completion tokens.
    prices.insert(
        "m".to_string(),
        Price {
            input: 1.0,
            output: 2.0,
        },
    );
    let b = Budget::from_rules(
        &StopRules {
            max_cost: Some(0.00012),
            ..rules()
        },
        Instant::now(),
        &prices,
    )
    .unwrap();
    // 40 chars -> 10 prompt tokens ($0.00001) + 20 completion ($0.00004).
    let a = b.admit(&request(40, Some(20))).unwrap();
    let _c = b.admit(&request(40, Some(20))).unwrap();
    assert!(
        b.admit(&request(40, Some(20))).is_err(),
        "0.00015 > 0.00012"
    );
    assert_eq!(b.tripped(), Some(StopReason::MaxCost));
    let used = Response {
        text: String::new(),
        usage: Usage {
            prompt_tokens: 10,
            completion_tokens: 0,
        },
        cached: false,
    };
    b.settle(a, &Ok(used));
    let cost = b.spent().cost;
    assert!((cost - 0.00001).abs() < 1e-12);
    // 0.00001 used + 0.00005 pending + 0.00005 = 0.00011 fits.
    assert!(b.admit(&request(40, Some(20))).is_ok());
}

#[test]
fn deadline_refuses_in_the_loop_but_not_in_the_final_selection() {
    let b = Budget::from_rules(
        &StopRules {
            max_duration: Some(Duration::ZERO),
            ..rules()
        },
        Instant::now(),
        &IndexMap::new(),
    )
    .unwrap();
    assert!(b.admit(&request(1, Some(1))).is_err());
    assert_eq!(b.tripped(), Some(StopReason::MaxDuration));
    assert_eq!(
        b.would_pass(Reserve::default()),
        Some(StopReason::MaxDuration)
    );
    b.enter_final();
    assert!(b.admit(&request(1, Some(1))).is_ok());
}

#[test]
fn a_restored_budget_counts_what_was_spent() {
    let b = Budget::new(
        &StopRules {
            max_lm_calls: Some(10),
            ..rules()
        },
        Instant::now(),
        &IndexMap::new(),
    );
    let spent = Spent {
        calls: 9,
        tokens: 5,
        cost: 0.0,
    };
    b.restore(spent, Duration::ZERO).unwrap();
    assert_eq!(b.spent(), spent);
    assert!(b.admit(&request(1, Some(1))).is_ok());
    assert!(b.admit(&request(1, Some(1))).is_err(), "the 11th call");
}

#[test]
fn a_cap_already_reached_is_refused_on_restore() {
    let capped = |rules: StopRules| Budget::new(&rules, Instant::now(), &IndexMap::new());
    let spent = Spent {
        calls: 10,
        tokens: 100,
        cost: 0.5,
    };
    let calls = capped(StopRules {
        max_lm_calls: Some(10),
        ..rules()
    });
    let err = calls.restore(spent, Duration::ZERO).unwrap_err();
    assert!(
        err.contains("max_lm_calls = 10") && err.contains("10 LM calls"),
        "{err}"
    );
    let tokens = capped(StopRules {
        max_tokens: Some(50),
        ..rules()
    });
    assert!(
        tokens
            .restore(spent, Duration::ZERO)
            .unwrap_err()
            .contains("max_tokens")
    );
    let cost = capped(StopRules {
        max_cost: Some(0.5),
        ..rules()
    });
    assert!(
        cost.restore(spent, Duration::ZERO)
            .unwrap_err()
            .contains("max_cost")
    );
    let room = capped(StopRules {
        max_lm_calls: Some(11),
        ..rules()
    });
    assert!(room.restore(spent, Duration::ZERO).is_ok());
}

#[test]
fn counts_near_the_top_compare_as_over_the_cap() {
    let b = Budget::new(
        &StopRules {
            max_lm_calls: Some(1000),
            ..rules()
        },
        Instant::now(),
        &IndexMap::new(),
    );
    // A step estimate at the top does not wrap below the cap.
    let huge = Reserve {
        calls: u64::MAX,
        ..Reserve::default()
    };
    assert_eq!(b.would_pass(huge), Some(StopReason::MaxLmCalls));
    // Nor does a count at the top: refused on restore, and after it.
    let spent = Spent {
        calls: u64::MAX,
        ..Spent::default()
    };
    assert!(b.restore(spent, Duration::ZERO).is_err());
    assert!(b.admit(&request(1, Some(1))).is_err());
}

#[test]
fn an_elapsed_time_beyond_the_clock_leaves_the_deadline_past() {
    let b = Budget::new(
        &StopRules {
            max_duration: Some(Duration::from_secs(3600)),
            ..rules()
        },
        Instant::now(),
        &IndexMap::new(),
    );
    b.restore(Spent::default(), Duration::MAX).unwrap();
    assert_eq!(b.time_left(), Some(Duration::ZERO));
}

#[test]
fn budgets_without_caps_count_but_never_refuse() {
    let b = Budget::new(&rules(), Instant::now(), &IndexMap::new());
    assert!(!b.has_caps());
    assert!(Budget::from_rules(&rules(), Instant::now(), &IndexMap::new()).is_none());
    let t = b.admit(&request(4, Some(1))).unwrap();
    b.settle(
        t,
        &Err(LmError::Fatal {
            model: "m".into(),
            message: "x".into(),
        }),
    );
    assert_eq!(b.spent().calls, 1);
    assert_eq!(
        b.would_pass(Reserve {
            calls: u64::MAX,
            ..Reserve::default()
        }),
        None
    );
}

#[test]
fn convergence_resumed_under_new_rules_keeps_its_progress() {
    let old = StopRules {
        patience: Some(5),
        ..rules()
    };
    let mut c = Convergence::new(&old);
    c.after_step(Some(0.5));
    c.after_step(Some(0.5));
    assert!(c.follows(&old));
    let new = StopRules {
        patience: Some(2),
        ..rules()
    };
    let mut resumed = c.resumed(&new);
    assert!(!resumed.follows(&old) && resumed.follows(&new));
    assert_eq!((resumed.best(), resumed.stale()), (Some(0.5), 1));
    assert_eq!(resumed.after_step(Some(0.5)), Some(StopReason::Patience));
}
