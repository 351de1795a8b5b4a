//! `split { train = 200, dev = rest, shuffle_seed = 1 }`: one file cut into
//! named parts, in order, after a seeded shuffle.

use indexmap::IndexMap;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::DataError;
use crate::ir::SplitSize;
use crate::value::Example;

/// Shuffle `rows` with `seed` and cut them into `parts` in order. Fractions
/// are of all rows, rounded down; `rest` (at most one) takes what the others
/// leave, wherever it stands in the list.
pub fn cut(
    dataset: &str,
    mut rows: Vec<Example>,
    parts: &[(String, SplitSize)],
    seed: u64,
) -> Result<IndexMap<String, Vec<Example>>, DataError> {
    let total = rows.len();
    let bad = |message: String| DataError::BadSplit {
        dataset: dataset.to_string(),
        message,
    };
    let mut fixed = Vec::with_capacity(parts.len());
    let mut rest_at = None;
    for (i, (name, size)) in parts.iter().enumerate() {
        let n = match size {
            SplitSize::Count(n) => Some(*n),
            SplitSize::Fraction(f) => {
                if !(*f > 0.0 && *f <= 1.0) {
                    return Err(bad(format!("part `{name}`: fraction {f} is not in (0, 1]")));
                }
                Some((f * total as f64).floor() as usize)
            }
            SplitSize::Rest => {
                if rest_at.is_some() {
                    return Err(bad("more than one part is `rest`".into()));
                }
                rest_at = Some(i);
                None
            }
        };
        fixed.push(n);
    }
    // Sizes are checked in order so the error names the first part that
    // does not fit.
    let mut used = 0usize;
    for ((name, _), n) in parts.iter().zip(&fixed) {
        if let Some(n) = n {
            if used + n > total {
                return Err(DataError::SplitTooLarge {
                    dataset: dataset.to_string(),
                    part: name.clone(),
                    wanted: *n,
                    available: total - used,
                    total,
                });
            }
            used += n;
        }
    }
    let rest = total - used;

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rows.shuffle(&mut rng);

    let mut out = IndexMap::with_capacity(parts.len());
    let mut iter = rows.into_iter();
    for ((name, _), n) in parts.iter().zip(&fixed) {
        let take = n.unwrap_or(rest);
        out.insert(name.clone(), iter.by_ref().take(take).collect());
    }
    Ok(out)
}
