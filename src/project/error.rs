//! The library's one error type: every command's failure, with the process
//! exit code it maps to (as `just`'s `Error::code`), so the CLI prints and
//! exits without matching on message text.

use std::path::PathBuf;

use crate::artifacts::WriteError;
use crate::compile::LoadError;
use crate::config::ConfigError;
use crate::data::DataError;
use crate::optimize::OptimizeError;
use crate::optimize::checkpoint::CheckpointError;
use crate::plugin::{PluginError, SetupError};

/// Exit codes (docs/language.md, "Command line").
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// A spec, data or other input error.
    pub const INPUT: i32 = 1;
    /// A usage error (bad flags); clap uses 2 too.
    pub const USAGE: i32 = 2;
    /// The run failed (for example every LM call failing).
    pub const RUN_FAILED: i32 = 3;
    /// Interrupted by SIGINT or SIGTERM; the checkpoint holds the last finished step.
    pub const INTERRUPTED: i32 = 130;
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line asks for something impossible (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The spec cannot be read or has errors (the diagnostics, rendered).
    #[error(transparent)]
    Spec(#[from] LoadError),
    /// The project's simba.toml cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A dataset cannot be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A plugin or model cannot be set up.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// A plugin strategy cannot be resolved.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The checkpoint cannot be resumed from.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The optimizer refused its configuration or failed.
    #[error(transparent)]
    Optimize(#[from] OptimizeError),
    /// The artifacts could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Another problem with the user's input; the message names the item.
    #[error("{0}")]
    Input(String),
    /// The run failed for a reason outside the input (exit 3).
    #[error("{0}")]
    Run(String),
    /// SIGINT or SIGTERM stopped the run.
    #[error("interrupted ({signal}); {}", resume_hint(checkpoint.as_deref()))]
    Interrupted {
        /// "SIGINT" or "SIGTERM".
        signal: String,
        /// The checkpoint holding the last finished step; `None` when the
        /// run stopped before its first step finished.
        checkpoint: Option<PathBuf>,
    },
}

fn resume_hint(checkpoint: Option<&std::path::Path>) -> String {
    match checkpoint {
        Some(path) => format!(
            "the state after the last finished step is in {}; continue with --resume",
            path.display()
        ),
        None => {
            "no step had finished, so there is nothing to resume; run again to start over".into()
        }
    }
}

impl Error {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Optimize(e) if !e.is_input_error() => exit::RUN_FAILED,
            Error::Write(_) | Error::Run(_) => exit::RUN_FAILED,
            Error::Interrupted { .. } => exit::INTERRUPTED,
            _ => exit::INPUT,
        }
    }

    /// True when the message is already rendered diagnostics (which carry
    /// their own `error:` lines) rather than one sentence.
    pub fn is_rendered(&self) -> bool {
        matches!(self, Error::Spec(LoadError::Invalid { .. }))
    }
}
