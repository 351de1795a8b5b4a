//! The values every stage passes around: field records, dataset rows and
//! demos. A leaf module: it imports nothing from the crate, so data loading,
//! the LM layer, the adapter and the optimizer can all share these types
//! without importing each other.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Field values by name: an example, a step's inputs or outputs, a prediction.
/// Values are JSON so every field type of a signature fits.
///
/// Hashed with FxHash: records are built and read on every call, and their
/// keys are a signature's few field names or a dataset's columns (order is
/// insertion order, so the hasher changes nothing a run writes). FxHash is
/// not collision-resistant: a data file crafted against it can only slow
/// down the run that reads it.
pub type Record = IndexMap<String, serde_json::Value, rustc_hash::FxBuildHasher>;

/// One dataset row: all its fields, and which of them the program sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Every field of the row: inputs and gold labels.
    pub fields: Record,
    /// Names of the input fields (in the dataset's `inputs` order).
    pub input_keys: Vec<String>,
}

impl Example {
    /// The fields the program sees.
    pub fn inputs(&self) -> Record {
        self.input_keys
            .iter()
            .filter_map(|k| self.fields.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    }
}

/// Where a program execution reads its input fields: a record holding just
/// them, or a dataset row read in place (its other fields, the gold labels,
/// stay out of reach), so an execution need not copy the row's inputs.
pub trait ProgramInputs: Sync {
    /// The input field `name`, if the program may see one.
    fn input(&self, name: &str) -> Option<&serde_json::Value>;
}

impl ProgramInputs for Record {
    fn input(&self, name: &str) -> Option<&serde_json::Value> {
        self.get(name)
    }
}

/// Exactly the fields of [`Example::inputs`].
impl ProgramInputs for Example {
    fn input(&self, name: &str) -> Option<&serde_json::Value> {
        if self.input_keys.iter().any(|k| k == name) {
            self.fields.get(name)
        } else {
            None
        }
    }
}

/// A demo attached to a predictor: its input and output fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demo {
    /// The demo's input and output values by field name.
    pub fields: Record,
    /// True for demos made from the program's own trajectories (DSPy's `augmented`).
    pub augmented: bool,
}

/// A number written in a string: `42`, ` -3.5 `, `1,234` (thousands commas).
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    // Commas only as thousands separators: "1,234.5" but not "3,4".
    let cleaned: String = if t.contains(',') {
        let int_part = t.split('.').next().unwrap_or("");
        let groups: Vec<&str> = int_part.split(',').collect();
        let thousands = groups[1..]
            .iter()
            .all(|g| g.len() == 3 && g.chars().all(|c| c.is_ascii_digit()));
        if !thousands {
            return None;
        }
        t.chars().filter(|c| *c != ',').collect()
    } else {
        t.to_string()
    };
    cleaned.parse::<f64>().ok().filter(|f| f.is_finite())
}
