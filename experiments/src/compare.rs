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
    parse_at_least_one, parse_positive_f64, parse_probability, parse_sparsity, parse_width,
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
    #[arg(long, value_delimiter = ',', default_value = "sgd,edge-popup,iterand",
          value_parser = clap::builder::PossibleValuesParser::new(["sgd", "edge-popup", "iterand"]))]
    pub methods: Vec<String>,
    /// Epochs per run.
    #[arg(long, value_parser = parse_at_least_one)]
    pub epochs: Option<u64>,
    /// Mini-batch size.
    #[arg(long, value_parser = parse_at_least_one)]
    pub batch_size: Option<u64>,
    /// p, the fraction pruned, for the score methods.
    #[arg(long, default_value_t = 0.5, value_parser = parse_sparsity)]
    pub sparsity: f64,
    /// Base learning rate of the score methods (cosine schedule).
    #[arg(long, default_value_t = 0.1, value_parser = parse_positive_f64)]
    pub lr_scores: f64,
    /// Base learning rate of SGD on the weights.
    #[arg(long, default_value_t = 0.01, value_parser = parse_positive_f64)]
    pub lr_sgd: f64,
    /// Weight decay (on the scores too).
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// K_per of IteRand.
    #[arg(long, value_parser = parse_at_least_one)]
    pub rerand_freq: Option<u64>,
    /// r of IteRand.
    #[arg(long, default_value_t = 0.1, value_parser = parse_probability)]
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

fn method(name: &str) -> Method {
    Method::ALL
        .iter()
        .copied()
        .find(|m| m.name() == name)
        .expect("clap restricts the names")
}

/// The recipe every run of a comparison shares; only method, width and seed vary.
fn recipe(
    dataset: DatasetName,
    data: Option<&PathBuf>,
    model: Arch,
    args: &CompareArgs,
) -> Result<TrainConfig> {
    let need = |v: Option<u64>, flag: &str| v.with_context(|| format!("{flag} is required"));
    if args.widths.is_empty() || args.seeds.is_empty() {
        anyhow::bail!("--widths and --seeds need at least one value each");
    }
    Ok(TrainConfig {
        dataset,
        data: data.cloned(),
        model,
        sparsity: args.sparsity,
        epochs: need(args.epochs, "--epochs")? as usize,
        batch_size: need(args.batch_size, "--batch-size")? as usize,
        weight_decay: args.weight_decay,
        rerand_freq: need(args.rerand_freq, "--rerand-freq")?,
        rerand_lambda: args.rerand_lambda,
        ..TrainConfig::default()
    })
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
    let methods: Vec<Method> = args.methods.iter().map(|m| method(m)).collect();
    let total = methods.len() * args.widths.len() * args.seeds.len();
    let start = Instant::now();
    let mut obs = Vec::new();
    for &width in &args.widths {
        for &m in &methods {
            for &seed in &args.seeds {
                let lr = if m == Method::Sgd {
                    args.lr_sgd
                } else {
                    args.lr_scores
                };
                let cfg = TrainConfig {
                    method: m,
                    width,
                    lr,
                    seed,
                    ..base.clone()
                };
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
