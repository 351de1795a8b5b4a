//! Datasets: reading jsonl and csv files into examples, cutting a single
//! file into named splits after a seeded shuffle, and holding a seeded share
//! of a trainset out for `valset = auto`.
//!
//! Value conventions:
//! - jsonl rows keep their JSON values (numbers stay numbers, lists stay lists).
//! - csv values are always strings, exactly as written (no number guessing:
//!   `007` and `1e3` must survive unchanged). Metrics compare values by their
//!   string form and `number_close` parses strings, so this loses nothing.
//!
//! Input values are checked against the programs' declared input types when
//! loading through [`load_split`] (see [`types`]); a value that does not fit
//! is an error naming file and line.
//!
//! Line numbers in errors are 1-based lines of the file (for csv, the line
//! where the record starts; the header is line 1).

mod holdout;
mod read;
mod split;
pub mod types;

use indexmap::IndexMap;
use std::path::{Path, PathBuf};

use crate::ir::{DataFile, DataRef, DatasetDecl, DatasetSource, FieldType, Spec};
use crate::value::Example;

pub use holdout::{HeldOut, held_out_rows, hold_out, hold_out_size};
pub use read::{read_file, read_file_checked};

/// A dataset with every split loaded, in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedDataset {
    /// The dataset's name in the spec.
    pub name: String,
    /// Split name (e.g. `train`, `dev`) to its rows, in declaration order.
    pub splits: IndexMap<String, Vec<Example>>,
}

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds bytes that are not UTF-8.
    #[error("{}:{line}:{column}: not valid UTF-8 (byte 0x{byte:02x}); data files must be UTF-8", path.display())]
    Utf8 {
        /// The data file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
        /// 1-based byte column of that byte within its line.
        column: usize,
        /// The byte.
        byte: u8,
    },
    /// A jsonl line is not valid JSON.
    #[error("{}:{line}: malformed JSON: {message}", path.display())]
    Json {
        /// The jsonl file.
        path: PathBuf,
        /// 1-based line of the bad row.
        line: usize,
        /// The JSON parser's message.
        message: String,
    },
    /// A jsonl line is valid JSON but not an object.
    #[error("{}:{line}: expected a JSON object, found {found}", path.display())]
    NotObject {
        /// The jsonl file.
        path: PathBuf,
        /// 1-based line of the bad row.
        line: usize,
        /// What the line holds instead, e.g. "an array".
        found: &'static str,
    },
    /// A row lacks one of the dataset's declared input fields.
    #[error("{}:{line}: the row has no field `{field}`, which every row must have", path.display())]
    MissingField {
        /// The data file.
        path: PathBuf,
        /// 1-based line of the row.
        line: usize,
        /// The missing input field.
        field: String,
    },
    /// A csv row has a different number of values than the header.
    #[error("{}:{line}: the row has {found} values but the header has {expected}", path.display())]
    Ragged {
        /// The csv file.
        path: PathBuf,
        /// 1-based line where the row starts.
        line: usize,
        /// Number of columns in the header.
        expected: usize,
        /// Number of values in the row.
        found: usize,
    },
    /// The csv reader rejected the file (e.g. bad quoting or encoding).
    #[error("{}:{line}: {message}", path.display())]
    Csv {
        /// The csv file.
        path: PathBuf,
        /// 1-based line of the problem; 0 when the reader could not tell.
        line: usize,
        /// The csv reader's message.
        message: String,
    },
    /// An input value does not fit the type a program declares for it.
    #[error("{}:{line}: field `{field}` should be {expected}, found {found}", path.display())]
    WrongType {
        /// The data file.
        path: PathBuf,
        /// 1-based line of the row.
        line: usize,
        /// The input field.
        field: String,
        /// The declared type, as written in a spec.
        expected: String,
        /// A short description of the value found.
        found: String,
    },
    /// The csv header names a column twice.
    #[error("{}: duplicate column `{column}` in the header", path.display())]
    DuplicateColumn {
        /// The csv file.
        path: PathBuf,
        /// The repeated column name.
        column: String,
    },
    /// A split part asks for more rows than the file has left after the parts before it.
    #[error(
        "dataset `{dataset}`: split part `{part}` wants {wanted} rows but only {available} are left of {total}"
    )]
    SplitTooLarge {
        /// The dataset's name.
        dataset: String,
        /// The part that does not fit.
        part: String,
        /// Rows the part asks for.
        wanted: usize,
        /// Rows left after the parts before it.
        available: usize,
        /// Rows in the whole file.
        total: usize,
    },
    /// The split sizes are invalid (a fraction outside (0, 1], or several `rest` parts).
    #[error("dataset `{dataset}`: {message}")]
    BadSplit {
        /// The dataset's name.
        dataset: String,
        /// What is wrong with the sizes.
        message: String,
    },
    /// A `dataset.split` reference names a split the dataset does not have.
    #[error("dataset `{dataset}` has no split `{split}` (it has: {available})")]
    UnknownSplit {
        /// The dataset's name.
        dataset: String,
        /// The missing split.
        split: String,
        /// The dataset's splits, comma separated, for the message.
        available: String,
    },
    /// `valset = auto` on a trainset too small to cut in two.
    #[error(
        "`valset = auto` needs at least {needed} rows in the trainset `{trainset}` ({} held out, {} to train on), but it has {rows}; remove `valset = auto` or give a `valset = DATASET.SPLIT`",
        crate::ir::defaults::AUTO_VALSET_MIN_ROWS,
        crate::ir::defaults::AUTO_VALSET_MIN_TRAIN
    )]
    TooSmallToHoldOut {
        /// The trainset, as `dataset.split`.
        trainset: String,
        /// Its rows.
        rows: usize,
        /// The fewest rows `valset = auto` can cut.
        needed: usize,
    },
    /// A reference names a dataset the spec does not declare; holds that name.
    #[error("no dataset named `{0}`")]
    UnknownDataset(String),
}

/// Load every split of a dataset.
pub fn load_dataset(decl: &DatasetDecl) -> Result<LoadedDataset, DataError> {
    load_dataset_checked(decl, &[])
}

/// [`load_dataset`], also checking the values of the fields in `types`
/// (see [`types::input_types`]).
pub fn load_dataset_checked(
    decl: &DatasetDecl,
    types: &[(String, FieldType)],
) -> Result<LoadedDataset, DataError> {
    let splits = match &decl.source {
        DatasetSource::Files(files) => files
            .iter()
            .map(|(name, file)| Ok((name.clone(), read_file_checked(file, &decl.inputs, types)?)))
            .collect::<Result<IndexMap<_, _>, DataError>>()?,
        DatasetSource::Split {
            all,
            parts,
            shuffle_seed,
        } => {
            let rows = read_file_checked(all, &decl.inputs, types)?;
            split::cut(&decl.name, rows, parts, *shuffle_seed)?
        }
    };
    Ok(LoadedDataset {
        name: decl.name.clone(),
        splits,
    })
}

/// A spec's dataset by name. Its data paths are used as they are: compile
/// has already resolved them against the spec's folder.
pub fn spec_dataset(spec: &Spec, name: &str) -> Result<DatasetDecl, DataError> {
    spec.datasets
        .get(name)
        .cloned()
        .ok_or_else(|| DataError::UnknownDataset(name.to_string()))
}

/// Load one split (`dataset.split`) of a spec's dataset. For datasets made of one file per split only that
/// file is read. Input values are checked against the input types of the
/// programs the spec optimizes on this dataset.
pub fn load_split(spec: &Spec, r: &DataRef) -> Result<Vec<Example>, DataError> {
    let decl = &spec_dataset(spec, &r.dataset)?;
    let types = types::input_types(spec, &r.dataset);
    let names: Vec<&str> = match &decl.source {
        DatasetSource::Files(files) => files.keys().map(String::as_str).collect(),
        DatasetSource::Split { parts, .. } => parts.iter().map(|(n, _)| n.as_str()).collect(),
    };
    if !names.contains(&r.split.as_str()) {
        return Err(DataError::UnknownSplit {
            dataset: r.dataset.clone(),
            split: r.split.clone(),
            available: names.join(", "),
        });
    }
    if let DatasetSource::Files(files) = &decl.source {
        return read_file_checked(&files[&r.split], &decl.inputs, &types);
    }
    let mut loaded = load_dataset_checked(decl, &types)?;
    Ok(loaded.splits.shift_remove(&r.split).unwrap_or_default())
}

/// Every row of every split of a dataset, splits concatenated in declaration
/// order (what a sim model's `oracle` knows).
pub fn all_rows(decl: &DatasetDecl) -> Result<Vec<Example>, DataError> {
    Ok(load_dataset(decl)?.splits.into_values().flatten().collect())
}

/// The path of a data file.
pub fn file_path(file: &DataFile) -> &Path {
    match file {
        DataFile::Jsonl(p) | DataFile::Csv(p) => p,
    }
}

#[cfg(test)]
mod tests;
