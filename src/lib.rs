//! simba-run: the SIMBA optimizer for LM programs, driven by `.simba` spec files.
//!
//! The pipeline (see `src/README.md`): spec text -> [`syntax`] (AST) ->
//! [`compile`] ([`ir::Spec`]) -> runtime ([`lm`], [`adapter`], [`retrieve`],
//! [`program`], [`data`], [`metric`]) -> [`optimize`] -> artifacts and [`report`].

pub mod adapter;
pub mod artifacts;
pub mod cli;
pub mod compile;
pub mod config;
pub mod data;
pub mod ir;
pub mod lm;
pub mod local;
pub mod metric;
pub mod models;
pub mod optimize;
pub mod plugin;
pub mod printable;
pub mod program;
pub mod project;
pub mod report;
pub mod retrieve;
pub mod sim;
pub mod syntax;
pub mod value;
