//! List every run folder under a folder: recipe, state (finished, running, stopped at which
//! epoch), best validation and test accuracy, time.
//!
//! cargo run -p experiments --bin runs -- runs/ [--csv | --json]

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use iterand_runs::listing::{csv, scan, table};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "List the runs under a folder, with their state and results"
)]
struct Cli {
    /// The folder to search (run folders at any depth below it).
    #[arg(default_value = "runs")]
    folder: PathBuf,
    /// CSV, one row per run.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// A JSON array, one object per run.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if !cli.folder.is_dir() {
        anyhow::bail!("{}: no such folder", cli.folder.display());
    }
    let rows = scan(&cli.folder)?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if cli.csv {
        print!("{}", csv(&rows)?);
    } else {
        print!("{}", table(&rows));
    }
    Ok(())
}
