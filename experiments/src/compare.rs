//! A method comparison: SGD, edge-popup and IteRand across widths and seeds, summarised as a
//! table, a CSV and a plot. Its recipe is an experiment file of `configs/` (`quickstart`,
//! `compare`); the flags change that file's values, the changed file is written beside the
//! runs, and the sweep machinery trains it (each run its own process, resumable, skipped once
//! finished), so a comparison is a sweep like any other.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use iterand_report::plot::{write_figure, Chart};
use iterand_report::stats::{group, to_csv, to_markdown, Series};
use iterand_runs::device::DeviceSpec;
use iterand_runs::results::{read_results, sweep_dir, ResultRow, RESULTS_FILE};
use iterand_runs::spec::{embedded_text, ExperimentFile};
use iterand_runs::sweep::{sweep, SweepOptions};
use iterand_train::{write_atomic, Method};

use crate::cli::{
    at_least_one, enum_flag, interrupt_flag, non_negative, parse_probability, parse_sparsity,
    parse_width, positive,
};
use crate::worker::SelfLaunch;

/// The changes to a comparison's experiment file; what is left out keeps the file's value.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Width factors (hidden sizes and channels are int(c·w)).
    #[arg(long, value_delimiter = ',', value_parser = parse_width)]
    pub widths: Vec<f64>,
    /// Seeds; each (method, width) point is their mean ± std.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Methods to compare.
    #[arg(long, value_delimiter = ',', default_values_t = Method::ALL.to_vec(),
          value_parser = enum_flag(Method::ALL, Method::name))]
    pub methods: Vec<Method>,
    /// Epochs per run.
    #[arg(long, value_parser = at_least_one("epochs"))]
    pub epochs: Option<u64>,
    /// Mini-batch size.
    #[arg(long, value_parser = at_least_one("batch_size"))]
    pub batch_size: Option<u64>,
    /// p, the fraction pruned, for the score methods.
    #[arg(long, value_parser = parse_sparsity)]
    pub sparsity: Option<f64>,
    /// Base learning rate of the score methods (cosine schedule; default: the library's).
    #[arg(long, value_parser = positive("lr"))]
    pub lr_scores: Option<f64>,
    /// Base learning rate of SGD on the weights (default: the library's).
    #[arg(long, value_parser = positive("lr"))]
    pub lr_sgd: Option<f64>,
    /// Weight decay (on the scores too).
    #[arg(long, value_parser = non_negative("weight_decay"))]
    pub weight_decay: Option<f64>,
    /// K_per of IteRand.
    #[arg(long, value_parser = at_least_one("rerand_freq"))]
    pub rerand_freq: Option<u64>,
    /// r of IteRand.
    #[arg(long, value_parser = parse_probability)]
    pub rerand_lambda: Option<f64>,
    /// Folder for the plot, its CSV and the Markdown table.
    #[arg(long, default_value = "plots")]
    pub plots: PathBuf,
    /// The experiment file and the sweep folder of its runs go under this folder.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Where the runs train: cpu, cuda or cuda:N (CUDA needs a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
}

/// What a comparison produced.
pub struct Comparison {
    pub series: Vec<Series>,
    pub table: String,
    pub stem: PathBuf,
    /// Seeds per point.
    pub seeds: usize,
}

/// The embedded file `base` with `keys` (dataset, model, data …) and the flags' values in its
/// `[base]`, their widths and seeds as its grid, the methods asked for as its experiments, and
/// a learning rate typed for a kind of method in those experiments.
pub fn experiment_file(base: &str, keys: &toml::Table, args: &CompareArgs) -> Result<toml::Table> {
    let text = embedded_text(base).with_context(|| format!("no experiment file `{base}`"))?;
    let mut file: toml::Table = text.parse()?;
    let overrides = toml::Table::try_from(Overrides::of(args))?;
    let table = |file: &mut toml::Table, k: &str| -> Result<toml::Table> {
        let t = file.remove(k).and_then(|v| v.as_table().cloned());
        t.with_context(|| format!("{base}.toml has no [{k}]"))
    };
    let mut base_keys = table(&mut file, "base")?;
    base_keys.extend(keys.clone());
    base_keys.extend(overrides);
    let mut grid = table(&mut file, "grid")?;
    if !args.widths.is_empty() {
        grid.insert("width".into(), args.widths.clone().into());
    }
    if !args.seeds.is_empty() {
        let seeds = args.seeds.iter().map(|&s| toml::Value::Integer(s as i64));
        grid.insert("seed".into(), toml::Value::Array(seeds.collect()));
    }
    let mut experiments = toml::Table::new();
    for &m in &args.methods {
        let mut e = toml::Table::new();
        e.insert("method".into(), m.name().into());
        let lr = if m == Method::Sgd {
            args.lr_sgd
        } else {
            args.lr_scores
        };
        if let Some(lr) = lr {
            e.insert("lr".into(), lr.into());
        }
        experiments.insert(m.name().into(), e.into());
    }
    file.insert("base".into(), base_keys.into());
    file.insert("grid".into(), grid.into());
    file.insert("experiments".into(), experiments.into());
    Ok(file)
}

/// The typed flags that are keys of every run.
#[derive(serde::Serialize)]
struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    epochs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sparsity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weight_decay: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rerand_freq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rerand_lambda: Option<f64>,
}

impl Overrides {
    fn of(a: &CompareArgs) -> Self {
        Self {
            epochs: a.epochs,
            batch_size: a.batch_size,
            sparsity: a.sparsity,
            weight_decay: a.weight_decay,
            rerand_freq: a.rerand_freq,
            rerand_lambda: a.rerand_lambda,
        }
    }
}

/// Write the comparison's experiment file as `<runs>/<name>.toml` (checked by parsing it
/// first) and sweep it; the file and its finished runs' rows.
fn run(
    name: &str,
    file: &toml::Table,
    args: &CompareArgs,
) -> Result<(ExperimentFile, Vec<ResultRow>)> {
    let text = toml::to_string(file)?;
    let parsed = ExperimentFile::parse(name, &text)?;
    std::fs::create_dir_all(&args.runs)
        .with_context(|| format!("creating {}", args.runs.display()))?;
    let path = args.runs.join(format!("{name}.toml"));
    write_atomic(&path, text.as_bytes())?;
    let opts = SweepOptions {
        devices: vec![args.device],
        ..SweepOptions::new(args.runs.clone(), 1)
    };
    let path_arg = path.to_string_lossy();
    let tally = sweep(&path_arg, &opts, &SelfLaunch, &interrupt_flag())?;
    if tally.interrupted {
        eprintln!("interrupted; the same command continues where this stopped");
        std::process::exit(130);
    }
    if !tally.failed.is_empty() {
        bail!(
            "{} runs failed: {}",
            tally.failed.len(),
            tally.failed.join(", ")
        );
    }
    let rows = read_results(&sweep_dir(&args.runs, &parsed).join(RESULTS_FILE))?;
    Ok((parsed, rows))
}

/// Run the comparison's experiment `file` (from [`experiment_file`]) as `<runs>/<name>.toml`,
/// then write `<plots>/<name>.{png,svg,csv,md}`.
pub fn compare(
    file: &toml::Table,
    args: &CompareArgs,
    name: &str,
    title: &str,
) -> Result<Comparison> {
    let (parsed, rows) = run(name, file, args).map_err(crate::cli::with_flags)?;
    let grid = |k: &str| -> Vec<toml::Value> {
        let e = parsed.experiments.first();
        let g = e.and_then(|e| e.grid.iter().find(|(key, _)| key == k));
        g.map(|(_, v)| v.clone()).unwrap_or_default()
    };
    let (widths, seeds) = (grid("width"), grid("seed"));
    let obs = observations(rows, &widths, &args.methods, &seeds);
    let mut c = report(&group(&obs), &args.plots.join(name), title)?;
    c.seeds = seeds.len();
    Ok(c)
}

/// `(method, width, test accuracy)` in the order the table reads them: width, then method as
/// typed, then seed.
fn observations(
    mut rows: Vec<ResultRow>,
    widths: &[toml::Value],
    methods: &[Method],
    seeds: &[toml::Value],
) -> Vec<(String, f64, f64)> {
    let at = |vs: &[toml::Value], x: f64| {
        vs.iter()
            .position(|v| v.as_float().or(v.as_integer().map(|i| i as f64)) == Some(x))
    };
    rows.sort_by_key(|r| {
        (
            at(widths, r.width),
            methods.iter().position(|&m| m == r.method),
            at(seeds, r.seed as f64),
        )
    });
    rows.iter()
        .map(|r| (r.method.name().to_string(), r.width, r.test_acc))
        .collect()
}

/// The comparison's table, CSV and chart under `stem`.
fn report(series: &[Series], stem: &Path, title: &str) -> Result<Comparison> {
    let table = to_markdown(series, "width");
    let chart = Chart {
        title,
        x_label: "width factor w (log scale)",
        y_label: "test accuracy (%)",
        log_x: true,
        series,
    };
    write_figure(stem, &chart, &to_csv(series, "width"), Some(&table))?;
    Ok(Comparison {
        series: series.to_vec(),
        table,
        stem: stem.to_path_buf(),
        seeds: 0,
    })
}
