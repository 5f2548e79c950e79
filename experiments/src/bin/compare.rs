//! SGD vs edge-popup vs IteRand across widths and seeds on any dataset and model.
//!
//! cargo run --release -p experiments --bin compare -- --dataset fashion-mnist --model fc \
//!     --widths 0.125,0.25 --seeds 1,2,3 --epochs 10 --name fashion_mnist_fc

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use experiments::cli::{arch_parser, dataset_parser, init_logging};
use experiments::compare::{compare, experiment_file, CompareArgs};
use experiments::worker::{self, Hidden};
use iterand_models::Arch;
use iterand_train::{DatasetName, TrainConfig};

/// Train SGD, edge-popup and IteRand at every width and seed, print a mean ± std table of test
/// accuracy and write plots/<name>.{png,svg,csv,md}. The recipe is configs/compare.toml (the
/// paper's where it has one: batch 128, momentum 0.9, cosine lr 0.1 (scores) / 0.01 (SGD),
/// weight decay 1e-4, p = 0.5, r = 0.1, K_per = 100 on these small datasets; two widths, three
/// seeds, 10 epochs); the flags change its values, and the runs are its sweep (runs/<name>/).
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    hidden: Option<Hidden>,
    /// Dataset (default: the file's, fashion-mnist).
    #[arg(long, value_parser = dataset_parser())]
    dataset: Option<DatasetName>,
    /// Data folder (default: the dataset's usual place; see `train --help`).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Network (default: the file's, fc).
    #[arg(long, value_parser = arch_parser())]
    model: Option<Arch>,
    /// Base name of the outputs under --plots, and of the experiment file and sweep under --runs.
    #[arg(long, default_value = "compare")]
    name: String,
    #[command(flatten)]
    compare: CompareArgs,
    #[arg(long, short)]
    verbose: bool,
}

/// The typed flags that are keys of every run.
#[derive(serde::Serialize)]
struct Keys<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset: Option<DatasetName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<Arch>,
}

fn main() -> Result<()> {
    iterand_kernels::retain_freed_memory();
    let cli = Cli::parse();
    if let Some(h) = cli.hidden {
        worker::run(h);
    }
    init_logging(cli.verbose, false, None);
    let keys = Keys {
        dataset: cli.dataset,
        data: cli.data.as_ref(),
        model: cli.model,
    };
    let keys = toml::Table::try_from(keys)?;
    // what the runs resolve to, for the title
    let file = experiment_file("compare", &keys, &cli.compare)?;
    let base = file
        .get("base")
        .and_then(|b| b.as_table())
        .cloned()
        .unwrap_or_default();
    let cfg = TrainConfig::resolve([&base])?;
    let title = format!(
        "{}, {}, p = {}: test accuracy vs width",
        cfg.dataset.name(),
        cfg.model,
        cfg.sparsity
    );
    let c = compare(&file, &cli.compare, &cli.name, &title)?;
    println!(
        "\nTest accuracy (%), {} {}, mean ± std over {} seeds:\n",
        cfg.dataset.name(),
        cfg.model,
        c.seeds
    );
    println!("{}", c.table);
    println!("wrote {}.{{png,svg,csv,md}}", c.stem.display());
    Ok(())
}
