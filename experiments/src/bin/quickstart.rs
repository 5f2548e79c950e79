//! The README's first command: SGD, edge-popup and IteRand across widths on the embedded
//! digits, a table of test accuracies and a plot, in about a minute on two cores.
//!
//! cargo run -p experiments --bin quickstart

use anyhow::Result;
use clap::Parser;
use experiments::cli::init_logging;
use experiments::compare::{compare, experiment_file, CompareArgs};
use experiments::worker::{self, Hidden};

/// Compare SGD, edge-popup and IteRand on the embedded scikit-learn digits (FC network
/// 64 → 300w → 100w → 10, p = 0.5) across widths and seeds; print a table and write
/// plots/quickstart.{png,svg,csv,md}. The recipe is configs/quickstart.toml: 5 widths × 3 methods
/// × 5 seeds, 40 epochs, batch 64, cosine lr 0.1 (scores) / 0.01 (SGD), K_per = 20 (a digits
/// epoch is 21 steps), r = 0.1; the flags change its values, and the runs are its sweep
/// (runs/quickstart/, resumed if interrupted).
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    hidden: Option<Hidden>,
    #[command(flatten)]
    compare: CompareArgs,
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> Result<()> {
    iterand_kernels::retain_freed_memory();
    let cli = Cli::parse();
    if let Some(h) = cli.hidden {
        worker::run(h);
    }
    init_logging(cli.verbose, false, None);
    let file = experiment_file("quickstart", &toml::Table::new(), &cli.compare)?;
    let c = compare(
        &file,
        &cli.compare,
        "quickstart",
        "Digits, FC, p = 0.5: test accuracy vs width",
    )?;
    println!(
        "\nTest accuracy (%) on digits, FC, p = 0.5, mean ± std over {} seeds:\n",
        c.seeds
    );
    println!("{}", c.table);
    println!("wrote {}.{{png,svg,csv,md}}", c.stem.display());
    Ok(())
}
