//! The two charts: loads against idle memory-time for every policy with the offline front,
//! and resident memory over the trace's day.

use crate::Run;
use lmms_replay::Front;
use plotters::prelude::*;
use std::path::Path;

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

const COLORS: [RGBColor; 6] = [RED, BLUE, GREEN, MAGENTA, CYAN, BLACK];

/// Loads (cold starts) against idle MB-s, log-log: each policy a point, the offline-optimal
/// front a line. Down and left is better.
pub fn pareto(path: &Path, runs: &[Run], front: &Front) -> Result {
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let points: Vec<(f64, f64)> = runs
        .iter()
        .map(|run| {
            (
                run.outcome.idle_mb_s.max(1.0),
                run.outcome.loads.max(1) as f64,
            )
        })
        .collect();
    let (x_min, x_max) = bounds(points.iter().map(|p| p.0));
    let (y_min, y_max) = bounds(points.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(&root)
        .caption("loads against idle memory-time", ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((x_min..x_max).log_scale(), (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("idle MB-s (resident, unused)")
        .y_desc("module loads (cold starts)")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            front
                .points()
                .iter()
                .filter(|p| p.0 >= x_min && p.0 <= x_max && p.1 >= y_min && p.1 <= y_max)
                .copied(),
            BLACK.stroke_width(1),
        ))?
        .label("offline optimum")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    for (run, (&point, color)) in runs.iter().zip(points.iter().zip(COLORS)) {
        chart
            .draw_series(std::iter::once(Circle::new(point, 6, color.filled())))?
            .label(run.name.as_str())
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Minutes averaged into one point of the timeline, so the lines can be told apart.
const SMOOTH: usize = 10;

/// Resident MB over the trace (10-minute means), one line per run.
pub fn resident(path: &Path, runs: &[&Run]) -> Result {
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let hours = runs
        .iter()
        .map(|run| run.outcome.resident_mb.len())
        .max()
        .unwrap_or(1) as f64
        / 60.0;
    let y_max = runs
        .iter()
        .flat_map(|run| run.outcome.resident_mb.iter().copied())
        .fold(1.0, f64::max)
        * 1.4;
    let mut chart = ChartBuilder::on(&root)
        .caption("resident memory over the trace", ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..hours, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("trace time (h)")
        .y_desc("resident MB (10-minute mean)")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for (run, color) in runs.iter().zip(COLORS) {
        let means = run.outcome.resident_mb.chunks(SMOOTH).enumerate();
        chart
            .draw_series(LineSeries::new(
                means.map(|(i, mbs)| {
                    let hours = (i * SMOOTH) as f64 / 60.0;
                    (hours, mbs.iter().sum::<f64>() / mbs.len() as f64)
                }),
                color.stroke_width(2),
            ))?
            .label(run.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A log axis's range around `values`, with a margin.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values.fold((f64::MAX, f64::MIN), |(low, high), v| {
        (low.min(v), high.max(v))
    });
    (low / 2.0, high * 2.0)
}
