//! The values every stage passes around: field records, dataset rows and
//! demos. A leaf module: it imports nothing from the crate, so data loading,
//! the LM layer, the adapter and the optimizer can all share these types
//! without importing each other.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Field values by name: an example, a step's inputs or outputs, a prediction.
/// Values are JSON so every field type of a signature fits.
pub type Record = IndexMap<String, serde_json::Value>;

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

/// A demo attached to a predictor: its input and output fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demo {
    /// The demo's input and output values by field name.
    pub fields: Record,
    /// True for demos made from the program's own trajectories (DSPy's `augmented`).
    pub augmented: bool,
}
