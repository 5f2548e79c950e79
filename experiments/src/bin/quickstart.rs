//! The README's first command: SGD, edge-popup and IteRand across widths on the embedded
//! digits, a table of test accuracies and a plot, in about a minute on two cores.
//!
//! cargo run -p experiments --bin quickstart

use anyhow::Result;
use clap::Parser;
use experiments::cli::init_logging;
use std::path::PathBuf;

use experiments::compare::{compare, CompareArgs, Defaults};
use iterand_models::Arch;
use iterand_train::DatasetName;

/// Compare SGD, edge-popup and IteRand on the embedded scikit-learn digits (FC network
/// 64 → 300w → 100w → 10, p = 0.5) across widths and seeds; print a table and write
/// plots/quickstart.{png,svg,csv,md}. Defaults: 5 widths × 3 methods × 5 seeds, 40 epochs,
/// batch 64, cosine lr 0.1 (scores) / 0.01 (SGD), K_per = 20 (a digits epoch is 21 steps), r = 0.1.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
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
        widths: vec![0.03125, 0.0625, 0.125, 0.25, 0.5],
        seeds: (1..=5).collect(),
        epochs: 40,
        batch_size: 64,
        rerand_freq: 20,
        runs: PathBuf::from("runs/quickstart"),
    });
    let c = compare(
        DatasetName::Digits,
        None,
        Arch::Fc,
        &args,
        "quickstart",
        "Digits, FC, p = 0.5: test accuracy vs width",
    )?;
    println!(
        "\nTest accuracy (%) on digits, FC, p = 0.5, mean ± std over {} seeds:\n",
        args.seeds.len()
    );
    println!("{}", c.table);
    println!("wrote {}.{{png,svg,csv,md}}", c.stem.display());
    Ok(())
}
