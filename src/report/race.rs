//! The report's account of a raced final selection (`final = race`): how
//! the race went, and per candidate how long it raced, its estimate, its
//! interval against the program it was compared with, and why it left.

use std::fmt::Write as _;

use crate::artifacts::{CandidatesJson, RaceEnd, RaceResult};

use super::escape::escape_html as e;
use super::format;

/// The race's paragraph and table; nothing for a full selection.
pub fn race_section(h: &mut String, c: &CandidatesJson) {
    let Some(race) = &c.race else {
        return;
    };
    let end = match race.end {
        RaceEnd::OneLeft => "one candidate was left",
        RaceEnd::Exhausted => "every example was read",
        RaceEnd::Budget => "the next round would have passed a budget (end: budget)",
    };
    let saved = race.full_executions.saturating_sub(race.executions);
    let _ = writeln!(
        h,
        "<h3>Race</h3>\n<p id=\"race-summary\">The candidates were raced on the {} ({} examples) \
         in rounds of {}: {} round(s), ended because {}. {} executions ran ({} scores reused \
         from the loop) instead of {}: {} fewer. A candidate was dropped once the upper end of \
         the interval of its mean minus the leader's fell below 0 (error rate {} in all, {:.4} per \
         comparison). Scores of a raced candidate are means over the examples it was scored on.</p>",
        e(&race.on),
        race.set_size,
        race.round_size,
        race.rounds,
        end,
        format::count(race.executions as u64),
        format::count(race.reused as u64),
        format::count(race.full_executions as u64),
        format::count(saved as u64),
        race.delta,
        race.alpha,
    );
    h.push_str(
        "<div class=\"wide\"><table id=\"race-table\">\n<thead><tr><th>#</th><th>Result</th>\
         <th class=\"num\">Examples</th><th class=\"num\">Reused</th><th class=\"num\">Estimate</th>\
         <th>Against</th><th class=\"num\">Interval of the difference</th></tr></thead>\n<tbody>\n",
    );
    for (i, cand) in c.candidates.iter().enumerate() {
        let Some(r) = &cand.race else { continue };
        let result = match (r.result, r.dropped_after_round) {
            (RaceResult::Returned, _) => "returned".to_string(),
            (RaceResult::Survived, _) if race.end == RaceEnd::Budget => {
                "racing at budget end".to_string()
            }
            (RaceResult::Survived, _) => "raced to the end".to_string(),
            (RaceResult::Dropped, Some(round)) => format!("dropped after round {round}"),
            (RaceResult::Dropped, None) => "dropped".to_string(),
        };
        let against = r
            .compared_with
            .map_or_else(|| "—".into(), |w| format!("#{w}"));
        let interval = r.interval.map_or_else(
            || "—".into(),
            |[lo, hi]| format!("[{}, {}]", format::delta(lo), format::delta(hi)),
        );
        let _ = writeln!(
            h,
            "<tr class=\"race-row\"><td>{i}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            e(&result),
            r.examples,
            r.reused,
            e(&format::opt_score(r.estimate)),
            e(&against),
            e(&interval),
        );
    }
    h.push_str("</tbody>\n</table></div>\n");
}
