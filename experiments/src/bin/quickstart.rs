//! The README's first command: SGD, edge-popup and IteRand across widths on the embedded
//! digits, a table of test accuracies and a plot, in a few minutes on a laptop.
//!
//! cargo run -p experiments --bin quickstart

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Device;
use clap::Parser;
use experiments::cli::{init_logging, parse_at_least_one, parse_width};
use experiments::plot::{write_chart, Chart};
use experiments::stats::{group, to_csv, to_markdown};
use iterand_data::digits;
use iterand_models::Arch;
use iterand_train::{train, write_atomic, DatasetName, Method, Progress, TrainConfig};

/// Compare SGD, edge-popup and IteRand on the embedded scikit-learn digits (FC network,
/// p = 0.5) across widths and seeds; print a table and write plots/quickstart.{png,svg,csv}.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Width factors of the FC network (hidden sizes int(300w), int(100w)).
    #[arg(long, value_delimiter = ',', default_value = "0.03125,0.0625,0.125,0.25,0.5", value_parser = parse_width)]
    widths: Vec<f64>,
    /// Number of seeds per point (seeds 1..=N).
    #[arg(long, default_value_t = 3, value_parser = parse_at_least_one)]
    seeds: u64,
    /// Epochs per run.
    #[arg(long, default_value_t = 30, value_parser = parse_at_least_one)]
    epochs: u64,
    /// K_per for IteRand: short, because a digits epoch is only 21 steps.
    #[arg(long, default_value_t = 20, value_parser = parse_at_least_one)]
    rerand_freq: u64,
    /// Where the plot, CSV and Markdown table go.
    #[arg(long, default_value = "plots")]
    plots: PathBuf,
    /// Run folders go under this directory.
    #[arg(long, default_value = "runs/quickstart")]
    runs: PathBuf,
    #[arg(long, short)]
    verbose: bool,
}

fn config(method: Method, width: f64, seed: u64, cli: &Cli) -> TrainConfig {
    TrainConfig {
        dataset: DatasetName::Digits,
        model: Arch::Fc,
        method,
        width,
        sparsity: 0.5,
        epochs: cli.epochs as usize,
        batch_size: 64,
        lr: match method {
            Method::Sgd => 0.01,
            _ => 0.1,
        },
        weight_decay: 1e-4,
        rerand_freq: cli.rerand_freq,
        rerand_lambda: 0.1,
        seed,
        ..TrainConfig::default()
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging(cli.verbose, false);
    let splits = digits::splits()?;
    let start = Instant::now();
    let mut obs = Vec::new();
    let total = Method::ALL.len() * cli.widths.len() * cli.seeds as usize;
    let mut done = 0;
    for &width in &cli.widths {
        for method in Method::ALL {
            for seed in 1..=cli.seeds {
                let cfg = config(method, width, seed, &cli);
                let out = cli.runs.join(format!("{method}-w{width}-s{seed}"));
                let s = train(&cfg, &splits, &Device::Cpu, Some(&out), Progress::Quiet)
                    .with_context(|| format!("run {}", out.display()))?;
                done += 1;
                eprintln!(
                    "[{done:>2}/{total}] width {width:<8} {method:<10} seed {seed}: test {:.2}%  ({:.1}s)",
                    s.test_acc, s.seconds
                );
                obs.push((method.name().to_string(), width, s.test_acc));
            }
        }
    }
    let series = group(&obs);
    let table = to_markdown(&series, "width");
    println!(
        "\nTest accuracy (%) on digits, FC, p = 0.5, mean ± std over {} seeds:\n",
        cli.seeds
    );
    println!("{table}");
    let stem = cli.plots.join("quickstart");
    std::fs::create_dir_all(&cli.plots)
        .with_context(|| format!("creating {}", cli.plots.display()))?;
    write_atomic(
        &stem.with_extension("csv"),
        to_csv(&series, "width").as_bytes(),
    )?;
    write_chart(
        &stem,
        &Chart {
            title: "Digits, FC, p = 0.5: test accuracy vs width",
            x_label: "width factor w (log scale)",
            y_label: "test accuracy (%)",
            log_x: true,
            series: &series,
        },
    )?;
    println!(
        "wrote {}.{{png,svg,csv}} in {:.0}s",
        stem.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
