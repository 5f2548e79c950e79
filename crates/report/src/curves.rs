//! Training curves of one or more run folders (`figures --run DIR …`): loss, accuracy and the
//! mask's dynamics against the epoch, as PNG and SVG, with the CSV behind them. Several runs
//! overlay, one series per run and quantity, named by the run folder.
//!
//! Everything is read from `metrics.jsonl`, so a running or stopped run draws as far as it got.

use std::path::{Path, PathBuf};

use crate::{Error, Result};
use iterand_train::{MetricsLine, RunDir};

use crate::plot::{write_chart, Chart};
use crate::stats::{Point, Series};

/// One named curve: (epoch, value) pairs, the epoch fractional for step and eval lines.
struct Curve {
    chart: &'static str,
    name: String,
    points: Vec<(f64, f64)>,
}

/// The charts drawn, each `(file stem, title, y label)`.
const CHARTS: [(&str, &str, &str); 4] = [
    ("loss", "Training loss", "cross-entropy"),
    ("accuracy", "Accuracy", "accuracy (%)"),
    (
        "mask_changed",
        "Mask changed since the previous epoch",
        "fraction of weights",
    ),
    (
        "kept_values",
        "Values a kept weight has had (mean)",
        "values",
    ),
];

/// The curves of one run folder, labelled with `label`.
fn run_curves(dir: &Path, label: &str) -> Result<Vec<Curve>> {
    let in_run = |why: String| Error::At {
        path: dir.to_path_buf(),
        inner: Box::new(Error::Invalid(why)),
    };
    if !dir.join(RunDir::METRICS).is_file() {
        return Err(in_run(format!("not a run folder (no {})", RunDir::METRICS)));
    }
    let lines = RunDir::existing(dir).metrics()?;
    let per_epoch = lines
        .iter()
        .find_map(|l| match l {
            MetricsLine::Epoch(e) => Some(e.steps as f64 / (e.epoch + 1) as f64),
            _ => None,
        })
        .ok_or_else(|| in_run("no finished epoch to draw yet".into()))?;
    let at = |iteration: u64| iteration as f64 / per_epoch;
    let mut curves: Vec<Curve> = [
        ("loss", "train (epoch)"),
        ("loss", "train (step)"),
        ("accuracy", "train"),
        ("accuracy", "validation"),
        ("accuracy", "test (eval)"),
        ("mask_changed", "changed"),
        ("kept_values", "kept values"),
    ]
    .iter()
    .map(|(chart, what)| Curve {
        chart,
        name: format!("{label} {what}"),
        points: vec![],
    })
    .collect();
    for l in &lines {
        let mut push = |i: usize, x: f64, y: f64| curves[i].points.push((x, y));
        match l {
            MetricsLine::Epoch(e) => {
                let x = (e.epoch + 1) as f64;
                push(0, x, e.train_loss);
                push(2, x, e.train_acc);
                push(3, x, e.val_acc);
            }
            MetricsLine::Step(s) => push(1, at(s.iteration), s.loss),
            MetricsLine::Eval(e) => push(4, at(e.iteration), e.test_acc),
            MetricsLine::Mask(m) => {
                let x = (m.epoch + 1) as f64;
                push(5, x, m.changed_fraction());
                push(6, x, m.kept_values_mean());
            }
            MetricsLine::Histograms(_) => {}
        }
    }
    curves.retain(|c| c.points.iter().any(|p| p.1.is_finite()));
    Ok(curves)
}

/// Each run's label: its folder name (the whole path where two runs share a name).
fn labels(runs: &[PathBuf]) -> Vec<String> {
    let name = |p: &PathBuf| {
        p.file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
    };
    let names: Vec<String> = runs.iter().map(name).collect();
    let unique = names
        .iter()
        .all(|n| names.iter().filter(|m| *m == n).count() == 1);
    if unique {
        names
    } else {
        runs.iter().map(|p| p.display().to_string()).collect()
    }
}

fn series(c: &Curve) -> Series {
    let points = c
        .points
        .iter()
        .filter(|p| p.1.is_finite())
        .map(|&(x, y)| Point {
            x,
            values: vec![y],
            mean: y,
            std: 0.0,
        })
        .collect();
    Series {
        name: c.name.clone(),
        points,
        reference: false,
    }
}

/// Draw the curves of `runs` into `out` (`curves_<chart>.png/svg` and `curves.csv`); returns the
/// files written. Charts with nothing to draw (the mask's for weight training) are skipped.
pub fn draw_runs(runs: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>> {
    if runs.is_empty() {
        return Err(Error::Invalid("no run folder given".into()));
    }
    let mut all = vec![];
    for (dir, label) in runs.iter().zip(labels(runs)) {
        all.extend(run_curves(dir, &label)?);
    }
    let mut written = vec![];
    for (stem, title, y_label) in CHARTS {
        let series: Vec<Series> = all.iter().filter(|c| c.chart == stem).map(series).collect();
        if series.is_empty() {
            continue;
        }
        let path = out.join(format!("curves_{stem}"));
        let chart = Chart {
            title,
            x_label: "epoch",
            y_label,
            log_x: false,
            series: &series,
        };
        write_chart(&path, &chart)?;
        written.extend(["png", "svg"].map(|e| path.with_extension(e)));
    }
    let csv = out.join("curves.csv");
    iterand_train::write_atomic(&csv, csv_text(&all)?.as_bytes())?;
    written.push(csv);
    Ok(written)
}

fn csv_text(curves: &[Curve]) -> Result<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    let csv_err = |e: csv::Error| Error::Invalid(format!("curves.csv: {e}"));
    w.write_record(["chart", "series", "epoch", "value"])
        .map_err(csv_err)?;
    for c in curves {
        for (x, y) in &c.points {
            let record = [c.chart, &c.name, &x.to_string(), &y.to_string()];
            w.write_record(record).map_err(csv_err)?;
        }
    }
    let bytes = w.into_inner().map_err(|e| csv_err(e.into_error().into()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iterand_train::{DatasetName, Method, RunOptions, TrainConfig};

    fn train(out: &Path, method: Method) {
        let cfg = TrainConfig {
            dataset: DatasetName::Digits,
            model: iterand_models::Arch::Fc,
            method,
            width: 0.25,
            epochs: 3,
            lr: if method == Method::Sgd { 0.05 } else { 0.1 },
            rerand_freq: 4,
            limit_batches: Some(8),
            seed: 3,
            ..Default::default()
        };
        let opts = RunOptions {
            out: Some(out.to_path_buf()),
            log_every: Some(2),
            ..RunOptions::default()
        };
        let splits = iterand_data::digits::splits().unwrap();
        iterand_train::train_with(&cfg, &splits, &candle_core::Device::Cpu, &opts).unwrap();
    }

    #[test]
    fn two_runs_overlay_in_every_chart_and_the_csv_holds_each_point() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("iterand"), d.path().join("sgd"));
        train(&a, Method::Iterand);
        train(&b, Method::Sgd);
        let out = d.path().join("plots");
        let files = draw_runs(&[a.clone(), b], &out).unwrap();
        assert_eq!(files.len(), 4 * 2 + 1, "{files:?}");
        let svg = std::fs::read_to_string(out.join("curves_loss.svg")).unwrap();
        assert!(svg.contains("iterand train (epoch)") && svg.contains("sgd train (step)"));
        // weight training has no mask: that chart holds the IteRand run only
        let svg = std::fs::read_to_string(out.join("curves_mask_changed.svg")).unwrap();
        assert!(svg.contains("iterand changed") && !svg.contains("sgd changed"));
        let csv = std::fs::read_to_string(out.join("curves.csv")).unwrap();
        let rows = |series: &str| csv.lines().filter(|l| l.contains(series)).count();
        assert_eq!(rows("iterand train (epoch)"), 3);
        assert_eq!(rows("sgd train (step)"), 12, "24 steps, a loss every 2");
        assert_eq!(rows("iterand changed"), 3);
        // the values a kept weight has had only grow, from 1
        let kept: Vec<f64> = csv
            .lines()
            .filter(|l| l.contains("iterand kept values"))
            .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
            .collect();
        assert!(
            kept[0] >= 1.0 && kept.windows(2).all(|w| w[1] >= w[0]),
            "{kept:?}"
        );
    }

    #[test]
    fn a_folder_without_metrics_or_epochs_is_named() {
        let d = tempfile::tempdir().unwrap();
        let e = draw_runs(&[d.path().to_path_buf()], d.path()).unwrap_err();
        assert!(e.to_string().contains("not a run folder"), "{e}");
        std::fs::write(d.path().join("metrics.jsonl"), "").unwrap();
        let e = draw_runs(&[d.path().to_path_buf()], d.path()).unwrap_err();
        assert!(format!("{e:#}").contains("no finished epoch"), "{e:#}");
    }
}
