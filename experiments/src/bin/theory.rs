//! Regenerate the theory figures T1–T8 (PNG, SVG and the CSV behind each) under plots/theory/.
//!
//! cargo run --release -p experiments --bin theory [-- --quick]

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use iterand_report::theory::{run, Sizes};

/// Run the theory experiments (coverage, single-target error, oracle vs online model, hitting
/// vs subset sum, Pensia's gadget, a two-layer network, the schedule's R_eff) and write figures
/// T1–T8 with their CSV files and a report.md of the fitted constants.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Small sizes: a smoke run in well under a minute.
    #[arg(long)]
    quick: bool,
    /// Output folder.
    #[arg(long, default_value = "plots/theory")]
    out: PathBuf,
    /// Seed of every experiment's streams.
    #[arg(long, default_value_t = 2021)]
    seed: u64,
}

fn main() -> Result<()> {
    iterand_kernels::retain_freed_memory();
    let cli = Cli::parse();
    let report = run(&cli.out, Sizes { quick: cli.quick }, cli.seed)?;
    println!("{}", report.text);
    println!("wrote T1–T8 under {}", cli.out.display());
    Ok(())
}
