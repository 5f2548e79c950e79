//! Line plots with error bars, as PNG and SVG, with a bundled font.
//!
//! plotters draws text with system fonts unless told otherwise; a machine without fonts would
//! fail to plot. The DejaVu Sans file in `experiments/assets` is registered instead, so plots
//! render the same everywhere.

use std::path::Path;
use std::sync::Once;

use crate::error::io;
use crate::{Error, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::stats::Series;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the bundled DejaVuSans.ttf is not a valid font"));
    });
}

/// What to draw.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// Log-2 x axis (widths, parameter counts).
    pub log_x: bool,
    pub series: &'a [Series],
}

impl Chart<'_> {
    /// Where `x` sits on the plotted axis: its log2 on a log axis.
    fn axis_x(&self, x: f64) -> f64 {
        if self.log_x {
            x.log2()
        } else {
            x
        }
    }
}

const COLORS: [RGBColor; 10] = [
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

/// The plotted area: every point's x (through the axis transform) and mean ± std, padded.
fn bounds(c: &Chart) -> Result<((f64, f64), (f64, f64))> {
    let pts = || c.series.iter().flat_map(|s| s.points.iter());
    let tx = |x: f64| c.axis_x(x);
    let (mut x0, mut x1) = pts().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(tx(p.x)), b.max(tx(p.x)))
    });
    let (mut y0, mut y1) = pts().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(p.mean - p.std), b.max(p.mean + p.std))
    });
    if pts().next().is_none()
        || !(x0.is_finite() && x1.is_finite() && y0.is_finite() && y1.is_finite())
    {
        return Err(Error::Invalid(format!("nothing to plot for `{}`", c.title)));
    }
    let pad = |a: &mut f64, b: &mut f64, frac: f64| {
        let d = ((*b - *a) * frac).max(1e-3);
        *a -= d;
        *b += d;
    };
    pad(&mut x0, &mut x1, 0.05);
    pad(&mut y0, &mut y1, 0.08);
    Ok(((x0, x1), (y0, y1)))
}

/// A plotters error, in words (its types differ by backend).
fn drawing<E: std::fmt::Debug>(e: E) -> Error {
    Error::Invalid(format!("{e:?}"))
}

type Plane<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, c: &Chart) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let ((x0, x1), (y0, y1)) = bounds(c)?;
    root.fill(&WHITE).map_err(drawing)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(c.title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(drawing)?;
    let log_x = c.log_x;
    let fmt_x = move |v: &f64| {
        let x = if log_x { 2f64.powf(*v) } else { *v };
        let t = format!("{x:.3}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    chart
        .configure_mesh()
        .x_desc(c.x_label)
        .y_desc(c.y_label)
        .x_label_formatter(&fmt_x)
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(drawing)?;
    for (i, s) in c.series.iter().enumerate() {
        draw_one(&mut chart, c, s, COLORS[i % COLORS.len()])?;
    }
    chart
        .configure_series_labels()
        .position(legend_corner(c))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(drawing)?;
    root.present().map_err(drawing)?;
    Ok(())
}

/// One series: a dashed line for a reference, else a line with markers and, where the points
/// have a spread, error bars.
fn draw_one<DB: DrawingBackend>(
    chart: &mut Plane<DB>,
    c: &Chart,
    s: &Series,
    color: RGBColor,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let tx = |x: f64| c.axis_x(x);
    let line: Vec<(f64, f64)> = s.points.iter().map(|p| (tx(p.x), p.mean)).collect();
    let legend = move |(x, y): (i32, i32)| {
        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
    };
    if s.reference {
        chart
            .draw_series(DashedLineSeries::new(line, 8, 5, color.stroke_width(2)))
            .map_err(drawing)?
            .label(s.name.as_str())
            .legend(legend);
        return Ok(());
    }
    chart
        .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
        .map_err(drawing)?
        .label(s.name.as_str())
        .legend(legend);
    chart
        .draw_series(
            line.iter()
                .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
        )
        .map_err(drawing)?;
    if s.points.iter().any(|p| p.std > 0.0) {
        let bar = |p: &crate::stats::Point| {
            let (lo, hi) = (p.mean - p.std, p.mean + p.std);
            ErrorBar::new_vertical(tx(p.x), lo, p.mean, hi, color.stroke_width(1), 8)
        };
        chart
            .draw_series(s.points.iter().map(bar))
            .map_err(drawing)?;
    }
    Ok(())
}

/// The legend goes where the curves end up away from: falling curves leave the upper right free.
fn legend_corner(c: &Chart) -> SeriesLabelPosition {
    let (first, last): (Vec<f64>, Vec<f64>) = c
        .series
        .iter()
        .filter(|s| !s.reference && s.points.len() > 1)
        .map(|s| (s.points[0].mean, s.points[s.points.len() - 1].mean))
        .unzip();
    if last.iter().sum::<f64>() < first.iter().sum::<f64>() {
        SeriesLabelPosition::UpperRight
    } else {
        SeriesLabelPosition::LowerRight
    }
}

/// The one writer of a figure's files: the chart as `<stem>.png` and `<stem>.svg`, its data as
/// `<stem>.csv`, and its table as `<stem>.md` when there is one, each written atomically.
/// (`curves` alone keeps one CSV for several charts, and calls [`write_chart`] itself.)
pub fn write_figure(stem: &Path, chart: &Chart, csv: &str, md: Option<&str>) -> Result<()> {
    write_chart(stem, chart)?;
    let files = [("csv", Some(csv)), ("md", md)];
    for (ext, text) in files.iter().filter_map(|(e, t)| Some((e, (*t)?))) {
        let path = stem.with_extension(ext);
        iterand_train::write_atomic(&path, text.as_bytes())?;
    }
    Ok(())
}

/// Write `<stem>.png` and `<stem>.svg`. Each is drawn to a temporary name and renamed, so an
/// interrupted run leaves no half-drawn plot.
pub fn write_chart(stem: &Path, chart: &Chart) -> Result<()> {
    register_font();
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let size = (900, 600);
    for ext in ["png", "svg"] {
        let path = stem.with_extension(ext);
        let tmp = stem.with_extension(format!("tmp.{ext}"));
        match ext {
            "png" => draw(BitMapBackend::new(&tmp, size).into_drawing_area(), chart),
            _ => draw(SVGBackend::new(&tmp, size).into_drawing_area(), chart),
        }
        .map_err(|e| Error::Draw {
            path: path.clone(),
            why: e.to_string(),
        })?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::group;

    #[test]
    fn writes_png_and_svg_with_text() {
        let obs: Vec<(String, f64, f64)> = [
            ("sgd", 0.125, 80.0),
            ("sgd", 0.25, 85.0),
            ("iterand", 0.125, 70.0),
        ]
        .iter()
        .map(|(n, x, y)| (n.to_string(), *x, *y))
        .collect();
        let series = group(&obs);
        let d = tempfile::tempdir().unwrap();
        let stem = d.path().join("sub/plot");
        write_chart(
            &stem,
            &Chart {
                title: "Test chart",
                x_label: "width",
                y_label: "accuracy",
                log_x: true,
                series: &series,
            },
        )
        .unwrap();
        let png = std::fs::read(stem.with_extension("png")).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        assert!(svg.contains("Test chart") && svg.contains("iterand"));
        let err = write_chart(
            &d.path().join("empty"),
            &Chart {
                title: "Empty",
                x_label: "",
                y_label: "",
                log_x: false,
                series: &[],
            },
        );
        assert!(err.is_err());
    }
}
