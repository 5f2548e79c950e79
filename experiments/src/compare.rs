//! A method comparison: SGD, edge-popup and IteRand across widths and seeds on one dataset,
//! summarised as a table, a CSV and a plot. `quickstart` is this on the embedded digits;
//! `compare` exposes every knob.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use iterand_models::Arch;
use iterand_train::{load_splits, train, DatasetName, Method, Progress, TrainConfig};

use crate::cli::{
    at_least_one, enum_flag, non_negative, parse_probability, parse_sparsity, parse_width, positive,
};
use iterand_report::plot::{write_figure, Chart};
use iterand_report::stats::{group, to_csv, to_markdown, Series};
use iterand_runs::device::DeviceSpec;

/// The grid and the shared recipe of a comparison.
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
    #[arg(long, default_value_t = TrainConfig::default().sparsity, value_parser = parse_sparsity)]
    pub sparsity: f64,
    /// Base learning rate of the score methods (cosine schedule).
    #[arg(long, default_value_t = Method::Iterand.default_lr(), value_parser = positive("lr_scores"))]
    pub lr_scores: f64,
    /// Base learning rate of SGD on the weights.
    #[arg(long, default_value_t = Method::Sgd.default_lr(), value_parser = positive("lr_sgd"))]
    pub lr_sgd: f64,
    /// Weight decay (on the scores too).
    #[arg(long, default_value_t = TrainConfig::default().weight_decay,
          value_parser = non_negative("weight_decay"))]
    pub weight_decay: f64,
    /// K_per of IteRand.
    #[arg(long, value_parser = at_least_one("rerand_freq"))]
    pub rerand_freq: Option<u64>,
    /// r of IteRand.
    #[arg(long, default_value_t = TrainConfig::default().rerand_lambda,
          value_parser = parse_probability)]
    pub rerand_lambda: f64,
    /// Folder for the plot, its CSV and the Markdown table.
    #[arg(long, default_value = "plots")]
    pub plots: PathBuf,
    /// Run folders go under this directory.
    #[arg(long)]
    pub runs: Option<PathBuf>,
    /// Where the runs train: cpu, cuda or cuda:N (CUDA needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
}

/// A binary's defaults for the flags a user may leave out.
pub struct Defaults {
    pub widths: Vec<f64>,
    pub seeds: Vec<u64>,
    pub epochs: u64,
    pub batch_size: u64,
    pub rerand_freq: u64,
    pub runs: PathBuf,
}

impl CompareArgs {
    /// Fill what the user left out from `d`.
    pub fn with_defaults(mut self, d: Defaults) -> Self {
        if self.widths.is_empty() {
            self.widths = d.widths;
        }
        if self.seeds.is_empty() {
            self.seeds = d.seeds;
        }
        self.epochs.get_or_insert(d.epochs);
        self.batch_size.get_or_insert(d.batch_size);
        self.rerand_freq.get_or_insert(d.rerand_freq);
        self.runs.get_or_insert(d.runs);
        self
    }
}

/// What a comparison produced.
pub struct Comparison {
    pub series: Vec<Series>,
    pub table: String,
    pub stem: PathBuf,
}

/// The keys every run of a comparison shares (only method, width, lr and seed vary), as a
/// config layer over the library's defaults.
#[derive(serde::Serialize)]
struct Recipe<'a> {
    dataset: DatasetName,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a PathBuf>,
    model: Arch,
    sparsity: f64,
    epochs: u64,
    batch_size: u64,
    weight_decay: f64,
    rerand_freq: u64,
    rerand_lambda: f64,
}

/// The config layer of `args`; the binary's defaults have filled what it needs.
fn recipe(
    dataset: DatasetName,
    data: Option<&PathBuf>,
    model: Arch,
    args: &CompareArgs,
) -> Result<toml::Table> {
    let need = |v: Option<u64>, flag: &str| v.with_context(|| format!("{flag} is required"));
    if args.widths.is_empty() || args.seeds.is_empty() {
        anyhow::bail!("--widths and --seeds need at least one value each");
    }
    let recipe = Recipe {
        dataset,
        data,
        model,
        sparsity: args.sparsity,
        epochs: need(args.epochs, "--epochs")?,
        batch_size: need(args.batch_size, "--batch-size")?,
        weight_decay: args.weight_decay,
        rerand_freq: need(args.rerand_freq, "--rerand-freq")?,
        rerand_lambda: args.rerand_lambda,
    };
    Ok(toml::Table::try_from(recipe)?)
}

/// One run's config: the recipe, then its method, width, learning rate and seed.
fn run_config(
    base: &toml::Table,
    args: &CompareArgs,
    m: Method,
    width: f64,
    seed: u64,
) -> Result<TrainConfig> {
    let lr = if m == Method::Sgd {
        args.lr_sgd
    } else {
        args.lr_scores
    };
    let mut point = toml::Table::new();
    point.insert("method".into(), m.name().into());
    point.insert("width".into(), width.into());
    point.insert("lr".into(), lr.into());
    point.insert("seed".into(), toml::Value::Integer(seed as i64));
    Ok(TrainConfig::resolve([base, &point])?)
}

/// Run every (width, method, seed) of `args` on `dataset` with `model`, then write
/// `<plots>/<name>.{png,svg,csv,md}`.
pub fn compare(
    dataset: DatasetName,
    data: Option<&PathBuf>,
    model: Arch,
    args: &CompareArgs,
    name: &str,
    title: &str,
) -> Result<Comparison> {
    let splits = load_splits(dataset, data)
        .with_context(|| format!("loading {}", dataset.name()))
        .map_err(crate::cli::with_flags)?;
    let device = args.device.open()?;
    let base = recipe(dataset, data, model, args)?;
    let runs = args.runs.clone().context("--runs is required")?;
    let methods = &args.methods;
    let total = methods.len() * args.widths.len() * args.seeds.len();
    let start = Instant::now();
    let mut obs = Vec::new();
    for &width in &args.widths {
        for &m in methods {
            for &seed in &args.seeds {
                let cfg = run_config(&base, args, m, width, seed)?;
                let out = runs.join(format!("{m}-w{width}-s{seed}"));
                let s = train(&cfg, &splits, &device, Some(&out), Progress::Quiet)
                    .with_context(|| format!("run {}", out.display()))?;
                eprintln!(
                    "[{:>2}/{total}] width {width:<8} {m:<10} seed {seed}: test {:.2}%  ({:.1}s, {:.0}s so far)",
                    obs.len() + 1,
                    s.test_acc,
                    s.seconds,
                    start.elapsed().as_secs_f64()
                );
                obs.push((m.name().to_string(), width, s.test_acc));
            }
        }
    }
    report(&group(&obs), &args.plots.join(name), title)
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
    })
}
