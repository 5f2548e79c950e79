//! The paper's figures from sweep results: Figure 1 (accuracy against r), Figure 2 (accuracy
//! against width and against kept parameters, a panel per model, SGD / edge-popup / IteRand with
//! kaiming_uniform and signed_constant weights) and Figure 3 (ImageNet accuracy against kept
//! parameters). Each is written as PNG, SVG, CSV and a Markdown table; points are the mean ±
//! standard deviation over seeds.

use std::path::{Path, PathBuf};

use iterand_models::Arch;
use iterand_runs::results::ResultRow;

use crate::plot::{write_figure, Chart};
use crate::stats::{group, to_csv, to_markdown, Series};
use crate::Result;

/// What a call to [`draw_all`] wrote and what it could not.
#[derive(Debug, Default)]
pub struct Drawn {
    /// Stems of the charts written (`<stem>.png`, `.svg`, `.csv`, `.md`).
    pub charts: Vec<PathBuf>,
    /// One line per figure without results, saying what to run.
    pub missing: Vec<String>,
    /// The Markdown tables, for printing.
    pub tables: Vec<(String, String)>,
}

impl Drawn {
    /// What was written, as the binaries print it: each table under its title, then a line per
    /// chart.
    pub fn written(&self) -> String {
        let mut out = String::new();
        for (title, table) in &self.tables {
            out += &format!("## {title}\n\n{table}\n");
        }
        for stem in &self.charts {
            out += &format!("wrote {}.{{png,svg,csv,md}}\n", stem.display());
        }
        out
    }
}

/// `iterand (sc)`; SGD trains the weights, so its init is its own.
fn method_label(r: &ResultRow) -> String {
    format!("{} ({})", r.method, r.init_mode.short())
}

/// Series in the paper's order: SGD, edge-popup, IteRand; ku before sc.
fn ordered(mut series: Vec<Series>) -> Vec<Series> {
    let rank = |n: &str| {
        let m = ["sgd", "edge-popup", "iterand"]
            .iter()
            .position(|m| n.starts_with(m))
            .unwrap_or(3);
        (m, n.to_string())
    };
    series.sort_by_key(|s| rank(&s.name));
    series
}

struct Plot<'a> {
    stem: PathBuf,
    title: String,
    x_label: &'a str,
    log_x: bool,
    series: Vec<Series>,
}

fn emit(p: Plot, drawn: &mut Drawn) -> Result<()> {
    let chart = Chart {
        title: &p.title,
        x_label: p.x_label,
        y_label: "test accuracy (%)",
        log_x: p.log_x,
        series: &p.series,
    };
    let x = p.x_label.split(' ').next().unwrap_or("x");
    let table = to_markdown(&p.series, x);
    write_figure(&p.stem, &chart, &to_csv(&p.series, x), Some(&table))?;
    drawn.tables.push((p.title.clone(), table));
    drawn.charts.push(p.stem);
    Ok(())
}

/// Models in first-seen order.
fn models(rows: &[&ResultRow]) -> Vec<Arch> {
    let mut out: Vec<Arch> = vec![];
    for r in rows {
        if !out.contains(&r.model) {
            out.push(r.model);
        }
    }
    out
}

/// Where the figures go and how they are named: file names start with `prefix`, titles carry
/// `what` after the figure's number.
struct Target<'a> {
    out: &'a Path,
    prefix: &'a str,
    what: &'a str,
}

/// Draw every figure the rows allow into `out`, file names starting with `prefix`
/// (`figure1_r`, `figure2_<model>_width`, `figure2_<model>_params`, `figure3_params`).
pub fn draw_all(rows: &[ResultRow], out: &Path, prefix: &str, what: &str) -> Result<Drawn> {
    let mut drawn = Drawn::default();
    let of = |f: u32| rows.iter().filter(|r| r.figure == f).collect::<Vec<_>>();
    let t = Target { out, prefix, what };
    figure1(&of(1), &t, &mut drawn)?;
    figure2(&of(2), &t, &mut drawn)?;
    figure3(&of(3), &t, &mut drawn)?;
    Ok(drawn)
}

/// Figure 1: accuracy against r, a series per model and width.
fn figure1(rows: &[&ResultRow], t: &Target, drawn: &mut Drawn) -> Result<()> {
    if rows.is_empty() {
        let line = format!("Figure 1: no results (sweep {}figure1 first)", t.prefix);
        drawn.missing.push(line);
        return Ok(());
    }
    let obs: Vec<(String, f64, f64)> = rows
        .iter()
        .map(|r| {
            let series = format!("{} ×{}", r.model, r.width);
            (series, r.rerand_lambda, r.test_acc)
        })
        .collect();
    let plot = Plot {
        stem: t.out.join(format!("{}figure1_r", t.prefix)),
        title: format!("Figure 1{}: accuracy against r", t.what),
        x_label: "r (probability of re-drawing a pruned weight)",
        log_x: false,
        series: group(&obs),
    };
    emit(plot, drawn)
}

/// Figure 2: per model, accuracy against the width factor and against kept parameters.
fn figure2(rows: &[&ResultRow], t: &Target, drawn: &mut Drawn) -> Result<()> {
    if rows.is_empty() {
        let line = format!(
            "Figure 2: no results (sweep the {}figure2 files first)",
            t.prefix
        );
        drawn.missing.push(line);
    }
    type X = fn(&ResultRow) -> f64;
    let axes: [(&str, &str, X); 2] = [
        ("width", "width factor", |r| r.width),
        ("params", "kept parameters", |r| r.kept_params as f64),
    ];
    for model in models(rows) {
        let of_model: Vec<&&ResultRow> = rows.iter().filter(|r| r.model == model).collect();
        for (suffix, x_label, x) in axes {
            let obs: Vec<(String, f64, f64)> = of_model
                .iter()
                .map(|r| (method_label(r), x(r), r.test_acc))
                .collect();
            let plot = Plot {
                stem: t.out.join(format!("{}figure2_{model}_{suffix}", t.prefix)),
                title: format!("Figure 2{}: {model}, accuracy against {x_label}", t.what),
                x_label,
                log_x: true,
                series: ordered(group(&obs)),
            };
            emit(plot, drawn)?;
        }
    }
    Ok(())
}

/// Figure 3: ImageNet accuracy against kept parameters.
fn figure3(rows: &[&ResultRow], t: &Target, drawn: &mut Drawn) -> Result<()> {
    if rows.is_empty() {
        drawn.missing.push(if t.prefix.is_empty() {
            "Figure 3: no results (sweep figure3 first; needs ImageNet)".to_string()
        } else {
            "Figure 3: ImageNet only, no CPU-sized version".to_string()
        });
        return Ok(());
    }
    let obs: Vec<(String, f64, f64)> = rows
        .iter()
        .map(|r| (method_label(r), r.kept_params as f64, r.test_acc))
        .collect();
    let plot = Plot {
        stem: t.out.join(format!("{}figure3_params", t.prefix)),
        title: format!(
            "Figure 3{}: ImageNet accuracy against kept parameters",
            t.what
        ),
        x_label: "kept parameters",
        log_x: true,
        series: ordered(group(&obs)),
    };
    emit(plot, drawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_drawn_reads_as_tables_then_a_line_per_chart() {
        let drawn = Drawn {
            charts: vec![PathBuf::from("plots/figure2_fc_width")],
            missing: vec!["Figure 1: no results".into()],
            tables: vec![("Figure 2".into(), "| a |\n".into())],
        };
        assert_eq!(
            drawn.written(),
            "## Figure 2\n\n| a |\n\nwrote plots/figure2_fc_width.{png,svg,csv,md}\n"
        );
        assert_eq!(Drawn::default().written(), "");
    }

    fn row(
        figure: u32,
        model: &str,
        method: &str,
        width: f64,
        r: f64,
        seed: u64,
        acc: f64,
    ) -> ResultRow {
        ResultRow {
            file: "f".into(),
            figure,
            experiment: "e".into(),
            run: format!("{width}-{seed}"),
            dataset: iterand_train::DatasetName::FashionMnist,
            model: model.parse().unwrap(),
            method: iterand_train::Method::ALL
                .iter()
                .copied()
                .find(|m| m.name() == method)
                .unwrap(),
            init_mode: iterand_randomizer::InitMode::KaimingUniform,
            width,
            sparsity: 0.5,
            rerand_lambda: r,
            rerand_freq: 100,
            seed,
            epochs: 1,
            test_acc: acc,
            best_val_acc: acc,
            kept_params: (1000.0 * width) as usize,
            total_params: (2000.0 * width) as usize,
            randomizations: 1,
            seconds: 1.0,
            config_hash: "h".into(),
        }
    }

    #[test]
    fn draws_what_exists_and_names_what_is_missing() {
        let rows = vec![
            row(2, "fc", "iterand", 0.25, 0.1, 1, 80.0),
            row(2, "fc", "iterand", 0.25, 0.1, 2, 82.0),
            row(2, "fc", "sgd", 0.25, 0.1, 1, 85.0),
            row(2, "fc", "edge-popup", 0.5, 0.0, 1, 84.0),
            row(1, "fc", "iterand", 0.125, 0.0, 1, 70.0),
            row(1, "fc", "iterand", 0.125, 1.0, 1, 75.0),
        ];
        let d = tempfile::tempdir().unwrap();
        let drawn = draw_all(&rows, d.path(), "t_", "").unwrap();
        let names: Vec<String> = drawn
            .charts
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            names,
            ["t_figure1_r", "t_figure2_fc_width", "t_figure2_fc_params"]
        );
        assert_eq!(drawn.missing.len(), 1);
        assert!(
            drawn.missing[0].starts_with("Figure 3"),
            "{:?}",
            drawn.missing
        );
        let csv = std::fs::read_to_string(d.path().join("t_figure2_fc_width.csv")).unwrap();
        assert!(csv.contains("iterand (ku),0.25,81.0000,1.4142,2"), "{csv}");
        // SGD first, as in the paper.
        let first = csv.lines().nth(1).unwrap();
        assert!(first.starts_with("sgd (ku)"), "{csv}");
        for ext in ["png", "svg", "md"] {
            assert!(d.path().join(format!("t_figure1_r.{ext}")).is_file());
        }
        let none = draw_all(&[], d.path(), "", "").unwrap();
        assert_eq!((none.charts.len(), none.missing.len()), (0, 3));
    }
}
