//! `valset = auto`: a seeded share of the trainset held out for the final
//! selection, the rest kept for training (docs/optimizer.md, "Small data,
//! small models").
//!
//! The draw is a function of the rows' count and the run seed only: a
//! ChaCha8 shuffle of the row positions on a stream of its own (so it is
//! unrelated to a dataset's `split { shuffle_seed }` and to the optimizer's
//! streams, even with the same number). Both parts keep the file order of
//! their rows, so the optimizer's own shuffle still decides mini-batches.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::DataError;
use crate::ir::defaults::{AUTO_VALSET_FRACTION, AUTO_VALSET_MIN_ROWS, AUTO_VALSET_MIN_TRAIN};
use crate::value::Example;

/// The ChaCha stream the hold-out shuffle uses (any fixed value other than
/// the 0 a dataset split and the optimizer's choices stream use).
const HOLD_OUT_STREAM: u64 = 0x76_61_6c; // "val"

/// A trainset cut in two by [`hold_out`].
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    /// The rows the loop trains on, in file order.
    pub train: Vec<Example>,
    /// The rows the final selection scores on, in file order.
    pub valset: Vec<Example>,
}

/// How many of `rows` trainset rows `valset = auto` holds out:
/// [`AUTO_VALSET_FRACTION`] of them rounded to the nearest row, at least
/// [`AUTO_VALSET_MIN_ROWS`]; `None` when fewer than
/// [`AUTO_VALSET_MIN_TRAIN`] rows would be left to train on.
pub fn hold_out_size(rows: usize) -> Option<usize> {
    let share = (rows as f64 * AUTO_VALSET_FRACTION).round() as usize;
    let size = share.max(AUTO_VALSET_MIN_ROWS);
    (rows >= size + AUTO_VALSET_MIN_TRAIN).then_some(size)
}

/// Cuts `rows` (the trainset `trainset`, named in errors) into the rows
/// trained on and the held-out valset, drawn from `seed`.
pub fn hold_out(trainset: &str, rows: Vec<Example>, seed: u64) -> Result<HeldOut, DataError> {
    let size = hold_out_size(rows.len()).ok_or_else(|| DataError::TooSmallToHoldOut {
        trainset: trainset.to_string(),
        rows: rows.len(),
        needed: AUTO_VALSET_MIN_ROWS + AUTO_VALSET_MIN_TRAIN,
    })?;
    let mut positions: Vec<usize> = (0..rows.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(HOLD_OUT_STREAM);
    positions.shuffle(&mut rng);
    let mut held = vec![false; rows.len()];
    for &p in &positions[..size] {
        held[p] = true;
    }
    let (mut train, mut valset) = (Vec::new(), Vec::with_capacity(size));
    for (row, held) in rows.into_iter().zip(held) {
        if held {
            valset.push(row);
        } else {
            train.push(row);
        }
    }
    Ok(HeldOut { train, valset })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<Example> {
        (0..n)
            .map(|i| Example {
                fields: [("i".to_string(), serde_json::json!(i))]
                    .into_iter()
                    .collect(),
                input_keys: vec!["i".into()],
            })
            .collect()
    }

    fn ids(rows: &[Example]) -> Vec<u64> {
        rows.iter()
            .map(|e| e.fields["i"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn sizes_are_thirty_percent_with_a_floor_of_ten() {
        assert_eq!(hold_out_size(19), None);
        assert_eq!(hold_out_size(20), Some(10));
        assert_eq!(hold_out_size(33), Some(10));
        // 30% of 35 is 10.5: rounded to the nearest row (half away from 0).
        assert_eq!(hold_out_size(35), Some(11));
        assert_eq!(hold_out_size(48), Some(14));
        assert_eq!(hold_out_size(100), Some(30));
        assert_eq!(hold_out_size(1000), Some(300));
    }

    #[test]
    fn the_parts_cover_the_trainset_in_file_order() {
        let cut = hold_out("d.train", rows(48), 0).unwrap();
        assert_eq!((cut.train.len(), cut.valset.len()), (34, 14));
        let (t, v) = (ids(&cut.train), ids(&cut.valset));
        assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
        assert!(v.windows(2).all(|w| w[0] < w[1]), "{v:?}");
        let mut all: Vec<u64> = t.iter().chain(&v).copied().collect();
        all.sort();
        assert_eq!(all, (0..48).collect::<Vec<u64>>());
    }

    #[test]
    fn the_draw_depends_on_the_seed_only() {
        let a = hold_out("d.train", rows(40), 7).unwrap();
        let b = hold_out("d.train", rows(40), 7).unwrap();
        let c = hold_out("d.train", rows(40), 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(ids(&a.valset), ids(&c.valset));
        // Not simply the first or last rows.
        let v = ids(&a.valset);
        assert_ne!(v, (0..12).collect::<Vec<u64>>());
        assert_ne!(v, (28..40).collect::<Vec<u64>>());
    }

    #[test]
    fn a_small_trainset_is_refused_naming_it() {
        let e = hold_out("reviews.train", rows(15), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`valset = auto` needs at least 20 rows in the trainset `reviews.train` \
             (10 held out, 10 to train on), but it has 15; remove `valset = auto` or give a `valset = DATASET.SPLIT`"
        );
    }
}
