//! The score plot: scores per step, drawn by plotters' SVG backend.
//!
//! Series: the mini-batch baseline (mean score of the step's sampled runs),
//! every candidate's mini-batch score as a point, the best candidate of each
//! step, the running best, and the final candidates' scores on the split
//! that decided.
//! Candidate points are the only circles of radius [`CANDIDATE_RADIUS`] filled
//! with [`CANDIDATE_FILL`], so they can be counted in the SVG.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::ReportError;
use super::decided::Decision;
use super::load::ReportInputs;

/// Fill colour of candidate points (as plotters writes it into the SVG).
pub const CANDIDATE_FILL: &str = "#D1495B";
/// Radius of candidate points; the legend's sample uses a larger one.
pub const CANDIDATE_RADIUS: u32 = 4;

const WIDTH: u32 = 1180;
const HEIGHT: u32 = 460;

const BASELINE: RGBColor = RGBColor(0x4C, 0x78, 0xA8);
const CANDIDATE: RGBColor = RGBColor(0xD1, 0x49, 0x5B);
const STEP_BEST: RGBColor = RGBColor(0xED, 0xAE, 0x49);
const RUNNING_BEST: RGBColor = RGBColor(0x2E, 0x8B, 0x57);
const FINAL: RGBColor = RGBColor(0x30, 0x30, 0x30);
const GRID_LIGHT: RGBColor = RGBColor(0xF0, 0xF0, 0xF0);
const GRID_BOLD: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);

/// The points of every series, in data coordinates.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PlotSeries {
    /// (step, mean score of the step's whole sampling batch), one per step.
    pub baseline: Vec<(f64, f64)>,
    /// One per candidate built (a bucket with a registered program), spread
    /// a little around its step so candidates with equal scores stay visible.
    pub candidates: Vec<(f64, f64)>,
    /// (step, best candidate's mini-batch score), for steps that built one.
    pub step_best: Vec<(f64, f64)>,
    /// A staircase: each step's running best held until the next step.
    pub running_best: Vec<(f64, f64)>,
    /// Final candidates' scores on the split that decided at their step
    /// (0 = baseline), with true for the winner.
    pub finals: Vec<(f64, f64, bool)>,
    /// That split, as the legend names it ("full trainset", "valset, raced").
    pub finals_label: String,
    /// The last step on the x axis (from the trials or the final candidates).
    pub max_step: usize,
}

impl PlotSeries {
    /// The series of a run's artifacts.
    pub fn of(inputs: &ReportInputs) -> Self {
        let mut s = PlotSeries::default();
        for t in &inputs.trials {
            let x = t.step as f64;
            s.max_step = s.max_step.max(t.step);
            s.baseline.push((x, t.batch_stats.mean));
            let scores: Vec<f64> = t.candidates.iter().filter_map(|c| c.score).collect();
            let n = scores.len();
            let gap = if n > 1 {
                (0.5 / n as f64).min(0.07)
            } else {
                0.0
            };
            for (i, y) in scores.into_iter().enumerate() {
                let dx = (i as f64 - (n as f64 - 1.0) / 2.0) * gap;
                s.candidates.push((x + dx, y));
            }
            if let Some(b) = t.best_candidate_score {
                s.step_best.push((x, b));
            }
        }
        let bests: Vec<(f64, f64)> = inputs
            .trials
            .iter()
            .filter_map(|t| t.best_so_far.map(|b| (t.step as f64, b)))
            .collect();
        for (i, &(x, y)) in bests.iter().enumerate() {
            s.running_best.push((x, y));
            if let Some(&(nx, _)) = bests.get(i + 1) {
                s.running_best.push((nx, y));
            }
        }
        if let Some(c) = &inputs.candidates {
            let decision = Decision::of(c, inputs.run.as_ref());
            s.finals_label = decision.plot_label();
            for (i, e) in c.candidates.iter().enumerate() {
                let x = e.step.unwrap_or(0) as f64;
                s.max_step = s.max_step.max(e.step.unwrap_or(0));
                if let Some(score) = decision.score(e) {
                    s.finals.push((x, score, i == c.best));
                }
            }
        }
        s
    }

    fn y_range(&self) -> (f64, f64) {
        let ys = self
            .baseline
            .iter()
            .chain(&self.candidates)
            .chain(&self.step_best)
            .chain(&self.running_best)
            .map(|p| p.1)
            .chain(self.finals.iter().map(|p| p.1))
            .filter(|y| y.is_finite());
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for y in ys {
            lo = lo.min(y);
            hi = hi.max(y);
        }
        let pad = (hi - lo) * 0.04;
        (lo - pad, hi + pad)
    }
}

/// Keep a label that may come from data printable and short. plotters
/// escapes text it writes into the SVG, so this only drops control
/// characters and bounds the length.
pub fn svg_label(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > 60 {
        clean.chars().take(59).chain(std::iter::once('…')).collect()
    } else {
        clean
    }
}

fn plot_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot(e.to_string())
}

/// The chart every series is drawn on: steps across, scores up.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The plot as an SVG document (`<svg ...>...</svg>`).
pub fn score_plot(inputs: &ReportInputs) -> Result<String, ReportError> {
    let s = PlotSeries::of(inputs);
    let metric = inputs.metric_name().map(svg_label);
    let y_desc = match &metric {
        Some(m) => format!("score ({m})"),
        None => "score".to_string(),
    };
    let (y_lo, y_hi) = s.y_range();
    // plotters clips the legend to the plotting area, so the x axis runs on
    // past the last step to leave the legend an empty corner.
    let last = s.max_step.max(1);
    let x_hi = last as f64 + 0.5 + (last as f64 + 1.0) * 0.3;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .margin_right(20)
            .x_label_area_size(46)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..x_hi, y_lo..y_hi)
            .map_err(plot_err)?;
        // Drawing order is stacking order: later series sit on top.
        draw_mesh(&mut chart, last, y_desc)?;
        draw_baseline_and_running_best(&mut chart, &s)?;
        draw_candidates(&mut chart, &s)?;
        draw_finals(&mut chart, &s.finals, &s.finals_label)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .legend_area_size(28)
            .label_font(("sans-serif", 14))
            .background_style(WHITE)
            .border_style(GRID_BOLD)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Axes, grid and labels; the x axis is labelled only at whole steps up to `last`.
fn draw_mesh<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    last: usize,
    y_desc: String,
) -> Result<(), ReportError> {
    let int_label = |x: &f64| {
        if (x - x.round()).abs() < 1e-9 && x.round() <= last as f64 {
            format!("{}", x.round() as i64)
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_labels(((last as f64 + 1.0) * 1.3) as usize + 2)
        .x_label_formatter(&int_label)
        .y_labels(8)
        .y_label_formatter(&|y| format!("{y:.2}"))
        .x_desc("step (0 = the baseline program)")
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(GRID_LIGHT)
        .bold_line_style(GRID_BOLD)
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// The mini-batch baseline (line and points) and the running-best staircase.
fn draw_baseline_and_running_best<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    s: &PlotSeries,
) -> Result<(), ReportError> {
    chart
        .draw_series(LineSeries::new(
            s.baseline.iter().copied(),
            BASELINE.stroke_width(2),
        ))
        .map_err(plot_err)?
        .label("mini-batch baseline (mean)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BASELINE.stroke_width(2)));
    chart
        .draw_series(
            s.baseline
                .iter()
                .map(|&p| Circle::new(p, 3, BASELINE.filled())),
        )
        .map_err(plot_err)?;
    chart
        .draw_series(LineSeries::new(
            s.running_best.iter().copied(),
            RUNNING_BEST.stroke_width(3),
        ))
        .map_err(plot_err)?
        .label("running best (mini-batch)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RUNNING_BEST.stroke_width(3)));
    Ok(())
}

/// Every candidate's mini-batch score, and each step's best candidate.
fn draw_candidates<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    s: &PlotSeries,
) -> Result<(), ReportError> {
    chart
        .draw_series(
            s.candidates
                .iter()
                .map(|&p| Circle::new(p, CANDIDATE_RADIUS, CANDIDATE.mix(0.65).filled())),
        )
        .map_err(plot_err)?
        .label("candidate (mini-batch score)")
        .legend(|(x, y)| {
            Circle::new(
                (x + 9, y),
                CANDIDATE_RADIUS + 1,
                CANDIDATE.mix(0.65).filled(),
            )
        });
    chart
        .draw_series(LineSeries::new(
            s.step_best.iter().copied(),
            STEP_BEST.stroke_width(1),
        ))
        .map_err(plot_err)?;
    chart
        .draw_series(
            s.step_best
                .iter()
                .map(|&p| TriangleMarker::new(p, 7, STEP_BEST.filled())),
        )
        .map_err(plot_err)?
        .label("best candidate of the step")
        .legend(|(x, y)| TriangleMarker::new((x + 9, y), 7, STEP_BEST.filled()));
    Ok(())
}

/// The final candidates' scores on the split that decided (`label`), the
/// returned program filled in.
fn draw_finals<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    finals: &[(f64, f64, bool)],
    label: &str,
) -> Result<(), ReportError> {
    if finals.is_empty() {
        return Ok(());
    }
    chart
        .draw_series(finals.iter().map(|&(x, y, _)| {
            EmptyElement::at((x, y)) + Rectangle::new([(-5, -5), (5, 5)], FINAL.stroke_width(2))
        }))
        .map_err(plot_err)?
        .label(format!("final candidate ({label})"))
        .legend(|(x, y)| {
            EmptyElement::at((x + 9, y)) + Rectangle::new([(-5, -5), (5, 5)], FINAL.stroke_width(2))
        });
    chart
        .draw_series(finals.iter().filter(|f| f.2).map(|&(x, y, _)| {
            EmptyElement::at((x, y)) + Rectangle::new([(-5, -5), (5, 5)], FINAL.filled())
        }))
        .map_err(plot_err)?
        .label(format!("returned program ({label})"))
        .legend(|(x, y)| {
            EmptyElement::at((x + 9, y)) + Rectangle::new([(-5, -5), (5, 5)], FINAL.filled())
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::load::parse_trials;

    fn quickstart() -> ReportInputs {
        let text = include_str!("../../tests/fixtures/report/quickstart/trials.jsonl");
        ReportInputs {
            run: None,
            trials: parse_trials(std::path::Path::new("trials.jsonl"), text).unwrap(),
            candidates: Some(
                serde_json::from_str(include_str!(
                    "../../tests/fixtures/report/quickstart/candidates.json"
                ))
                .unwrap(),
            ),
            program: None,
        }
    }

    #[test]
    fn series_follow_the_trials() {
        let inputs = quickstart();
        let s = PlotSeries::of(&inputs);
        assert_eq!(s.max_step, 8);
        assert_eq!(s.baseline.len(), 8);
        assert_eq!(s.baseline[0], (1.0, inputs.trials[0].batch_stats.mean));
        assert_eq!(s.candidates.len(), 56);
        // Candidates sit around their own step, in bucket order, and keep
        // their score.
        let step1: Vec<&(f64, f64)> = s.candidates.iter().take(7).collect();
        for (p, c) in step1.iter().zip(&inputs.trials[0].candidates) {
            assert!((p.0 - 1.0).abs() <= 0.25, "{p:?}");
            assert_eq!(Some(p.1), c.score);
        }
        assert!(step1.windows(2).all(|w| w[0].0 < w[1].0));
        // The running best is a staircase: each value held until the next step.
        assert_eq!(s.running_best.len(), 2 * 8 - 1);
        assert_eq!(s.running_best[0].1, s.running_best[1].1);
        assert_eq!(s.running_best[1].0, 2.0);
        // Final candidates: the baseline at step 0, the winner flagged once.
        assert_eq!(s.finals.len(), 7);
        assert_eq!(s.finals[0].0, 0.0);
        assert_eq!(s.finals.iter().filter(|f| f.2).count(), 1);
        assert!(s.finals[6].2);
        assert_eq!(s.finals_label, "full trainset");
    }

    #[test]
    fn labels_lose_control_characters_and_length() {
        assert_eq!(svg_label("a\u{7}b\nc"), "abc");
        let long = "x".repeat(100);
        assert_eq!(svg_label(&long).chars().count(), 60);
        assert!(svg_label(&long).ends_with('…'));
        // Markup is left to plotters, which escapes it.
        assert_eq!(svg_label("</svg>"), "</svg>");
    }

    #[test]
    fn the_svg_has_one_marker_per_candidate() {
        let svg = score_plot(&quickstart()).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        let r = format!("r=\"{CANDIDATE_RADIUS}\"");
        let fill = format!("fill=\"{CANDIDATE_FILL}\"");
        let n = svg
            .lines()
            .filter(|l| l.starts_with("<circle") && l.contains(&r) && l.contains(&fill))
            .count();
        assert_eq!(n, 56);
    }
}
