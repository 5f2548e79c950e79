//! SGD vs edge-popup vs IteRand across widths and seeds on any dataset and model.
//!
//! cargo run --release -p experiments --bin compare -- --dataset fashion-mnist --model fc \
//!     --widths 0.125,0.25 --seeds 1,2,3 --epochs 10 --name fashion_mnist_fc

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use experiments::cli::{arch_parser, dataset_parser, init_logging};
use experiments::compare::{compare, CompareArgs, Defaults};
use iterand_models::Arch;
use iterand_train::DatasetName;

/// Train SGD, edge-popup and IteRand at every width and seed, print a mean ± std table of test
/// accuracy and write plots/<name>.{png,svg,csv,md}. Defaults follow the paper's recipe where
/// it has one: batch 128, momentum 0.9, cosine lr 0.1 (scores) / 0.01 (SGD), weight decay 1e-4,
/// p = 0.5, r = 0.1, K_per = 100 on these small datasets.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Dataset.
    #[arg(long, default_value = "fashion-mnist", value_parser = dataset_parser())]
    dataset: DatasetName,
    /// Data folder (default: the dataset's usual place; see `train --help`).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Network.
    #[arg(long, default_value = "fc", value_parser = arch_parser())]
    model: Arch,
    /// Base name of the outputs under --plots.
    #[arg(long, default_value = "compare")]
    name: String,
    #[command(flatten)]
    compare: CompareArgs,
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> Result<()> {
    iterand_kernels::retain_freed_memory();
    let cli = Cli::parse();
    init_logging(cli.verbose, false, None);
    let args = cli.compare.with_defaults(Defaults {
        widths: vec![0.125, 0.25],
        seeds: vec![1, 2, 3],
        epochs: 10,
        batch_size: 128,
        rerand_freq: 100,
        runs: PathBuf::from("runs").join(&cli.name),
    });
    let title = format!(
        "{}, {}, p = {}: test accuracy vs width",
        cli.dataset.name(),
        cli.model,
        args.sparsity
    );
    let c = compare(
        cli.dataset,
        cli.data.as_ref(),
        cli.model,
        &args,
        &cli.name,
        &title,
    )?;
    println!(
        "\nTest accuracy (%), {} {}, mean ± std over {} seeds:\n",
        cli.dataset.name(),
        cli.model,
        args.seeds.len()
    );
    println!("{}", c.table);
    println!("wrote {}.{{png,svg,csv,md}}", c.stem.display());
    Ok(())
}
