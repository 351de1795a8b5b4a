//! Where log messages go: plugin `host.log` calls (tracing target
//! [`PLUGIN_TARGET`]), a `command` metric's stderr ([`COMMAND_TARGET`]) and
//! the engine's own tracing events.
//!
//! - stderr, through `tracing_subscriber::fmt`: plugin messages at warn and
//!   above by default (error only with `--quiet`), every level with `-v`;
//!   `RUST_LOG` replaces the default filter entirely;
//! - with `--json`, also one `{"event": "log", ..}` line per message on
//!   stdout beside the engine's events, under the same filter.
//!
//! Plugin text is escaped (control characters) before it is logged, so
//! neither sink can be made to move the cursor or change colours.

use std::io::Write;

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::metric::COMMAND_TARGET;
use crate::optimize::Event;
use crate::plugin::PLUGIN_TARGET;
use crate::printable::escape_controls;

/// How much the user asked to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `--quiet`: errors only.
    Quiet,
    /// The default: warnings and errors.
    Normal,
    /// `-v`: every level.
    Verbose,
}

/// The filter used when `RUST_LOG` is unset.
fn default_filter(v: Verbosity) -> String {
    match v {
        Verbosity::Quiet => format!("{PLUGIN_TARGET}=error"),
        Verbosity::Normal => format!("{PLUGIN_TARGET}=warn"),
        Verbosity::Verbose => {
            format!("{PLUGIN_TARGET}=trace,{COMMAND_TARGET}=trace,simba_run=debug")
        }
    }
}

fn filter(v: Verbosity) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter(v)))
}

/// Installs the process's subscriber (once; later calls do nothing).
pub fn init(verbosity: Verbosity, json: bool) {
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_filter(filter(verbosity));
    let json_layer = json.then(|| JsonLogs.with_filter(filter(verbosity)));
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(json_layer)
        .try_init();
}

/// Writes every event it sees as one JSON `log` event on stdout.
struct JsonLogs;

#[derive(Default)]
struct Fields {
    message: String,
    plugin: Option<String>,
    metric: Option<String>,
    command: Option<String>,
}

impl Fields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            "plugin" => self.plugin = Some(value),
            "metric" => self.metric = Some(value),
            "command" => self.command = Some(value),
            _ => {}
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for JsonLogs {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let event = Event::Log {
            level: meta.level().as_str().to_ascii_lowercase(),
            target: meta.target().to_string(),
            plugin: fields.plugin,
            metric: fields.metric.map(|m| escape_controls(&m).into_owned()),
            command: fields.command.map(|c| escape_controls(&c).into_owned()),
            message: escape_controls(&fields.message).into_owned(),
        };
        if let Ok(line) = serde_json::to_string(&event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_shows_plugin_warnings_and_verbose_shows_everything() {
        assert_eq!(default_filter(Verbosity::Normal), "plugin=warn");
        assert_eq!(default_filter(Verbosity::Quiet), "plugin=error");
        assert_eq!(
            default_filter(Verbosity::Verbose),
            "plugin=trace,command=trace,simba_run=debug"
        );
    }
}
