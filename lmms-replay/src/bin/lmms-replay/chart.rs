//! The two charts: loads against idle memory-time for every policy with the offline front,
//! and resident memory over the trace's day.

use crate::Run;
use lmms_replay::Front;
use plotters::prelude::*;
use std::path::Path;

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

/// The colour of the run at `index` in the list of runs, the same in both charts, however
/// many runs there are.
fn color(index: usize) -> RGBColor {
    // Tableau 10: ten colours told apart at a glance; the default run lists twelve, the
    // last two from a larger palette.
    const FIRST: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    match FIRST.get(index) {
        Some(&color) => color,
        None => {
            let (r, g, b) = Palette99::pick(index).rgb();
            RGBColor(r, g, b)
        }
    }
}

/// The width of the legend, drawn beside the plot so that it never covers data.
const LEGEND_WIDTH: u32 = 260;

/// How a legend entry is drawn: as the chart draws it.
#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Line,
    Dot,
    Ring,
}

/// The legend: one line per entry, its mark at the line's left.
fn legend(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    entries: &[(String, RGBColor, Mark)],
) -> Result {
    let style = ("sans-serif", 14).into_font();
    for (i, (label, color, mark)) in entries.iter().enumerate() {
        let y = 60 + 22 * i as i32;
        if *mark == Mark::Dot {
            area.draw(&Circle::new((14, y), 5, color.filled()))?;
        } else if *mark == Mark::Ring {
            area.draw(&Circle::new((14, y), 5, color.stroke_width(2)))?;
        } else {
            area.draw(&PathElement::new(
                vec![(4, y), (24, y)],
                color.stroke_width(2),
            ))?;
        }
        area.draw(&Text::new(label.as_str(), (32, y - 7), style.clone()))?;
    }
    Ok(())
}

/// Loads (cold starts) against idle MB-s, log-log: each policy a point, the offline-optimal
/// front a line; a policy that pre-warms a second point, a ring, at its request-path loads
/// (only pre-warming can go below the front). Down and left is better.
pub fn pareto(path: &Path, runs: &[Run], front: &Front) -> Result {
    let root = SVGBackend::new(path, (900 + LEGEND_WIDTH, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, side) = root.split_horizontally(900);
    let points: Vec<(f64, f64)> = runs
        .iter()
        .map(|run| {
            (
                run.outcome.idle_mb_s.max(1.0),
                run.outcome.loads.max(1) as f64,
            )
        })
        .collect();
    // The request path of runs that pre-warmed: (run's index, point).
    let request_path: Vec<(usize, (f64, f64))> = runs
        .iter()
        .enumerate()
        .filter(|(_, run)| run.outcome.prewarm_loads > 0)
        .map(|(index, run)| {
            let loads = run.outcome.request_loads().max(1) as f64;
            (index, (run.outcome.idle_mb_s.max(1.0), loads))
        })
        .collect();
    let every = || {
        points
            .iter()
            .chain(request_path.iter().map(|(_, point)| point))
    };
    let (x_min, x_max) = bounds(every().map(|p| p.0));
    let (y_min, y_max) = bounds(every().map(|p| p.1));
    let mut chart = ChartBuilder::on(&plot)
        .caption("loads against idle memory-time", ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((x_min..x_max).log_scale(), (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("idle MB-s (resident, unused)")
        .y_desc("module loads (cold starts)")
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&|y| tick(*y))
        .draw()?;
    chart.draw_series(LineSeries::new(
        front
            .points()
            .iter()
            .filter(|p| p.0 >= x_min && p.0 <= x_max && p.1 >= y_min && p.1 <= y_max)
            .copied(),
        BLACK.stroke_width(1),
    ))?;
    let mut entries = vec![("offline optimum".to_owned(), BLACK, Mark::Line)];
    for (index, (run, &point)) in runs.iter().zip(&points).enumerate() {
        chart.draw_series(std::iter::once(Circle::new(
            point,
            6,
            color(index).filled(),
        )))?;
        entries.push((run.name.clone(), color(index), Mark::Dot));
    }
    for &(index, point) in &request_path {
        chart.draw_series(std::iter::once(Circle::new(
            point,
            6,
            color(index).stroke_width(2),
        )))?;
    }
    if !request_path.is_empty() {
        entries.push(("ring: its request-path loads".to_owned(), BLACK, Mark::Ring));
    }
    legend(&side, &entries)?;
    root.present()?;
    Ok(())
}

/// Minutes averaged into one point of the timeline, so the lines can be told apart.
const SMOOTH: usize = 10;

/// Resident MB over the trace (10-minute means), one line per run; each run with its index
/// in the list of runs, for its colour.
pub fn resident(path: &Path, runs: &[(usize, &Run)]) -> Result {
    let root = SVGBackend::new(path, (900 + LEGEND_WIDTH, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, side) = root.split_horizontally(900);
    let hours = runs
        .iter()
        .map(|(_, run)| run.outcome.resident_mb.len())
        .max()
        .unwrap_or(1) as f64
        / 60.0;
    let y_max = runs
        .iter()
        .flat_map(|(_, run)| run.outcome.resident_mb.iter().copied())
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&plot)
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
    let mut entries = Vec::new();
    for &(index, run) in runs {
        let means = run.outcome.resident_mb.chunks(SMOOTH).enumerate();
        chart.draw_series(LineSeries::new(
            means.map(|(i, mbs)| {
                let hours = (i * SMOOTH) as f64 / 60.0;
                (hours, mbs.iter().sum::<f64>() / mbs.len() as f64)
            }),
            color(index).stroke_width(2),
        ))?;
        entries.push((run.name.clone(), color(index), Mark::Line));
    }
    legend(&side, &entries)?;
    root.present()?;
    Ok(())
}

/// A tick label of a log axis: short, and told apart from its neighbours at any range
/// (`2.5e3`, `1e10`, `40`).
fn tick(value: f64) -> String {
    if value < 1e4 {
        format!("{value:.0}")
    } else {
        let exponent = value.log10().floor();
        let mantissa = value / 10f64.powf(exponent);
        if (mantissa - mantissa.round()).abs() < 0.05 {
            format!("{}e{exponent}", mantissa.round())
        } else {
            format!("{mantissa:.1}e{exponent}")
        }
    }
}

/// A log axis's range around `values`, with a margin.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values.fold((f64::MAX, f64::MIN), |(low, high), v| {
        (low.min(v), high.max(v))
    });
    (low / 2.0, high * 2.0)
}
