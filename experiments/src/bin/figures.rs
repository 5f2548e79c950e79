//! Regenerate the paper's figures from sweep results, or (--quick) run the Fashion-MNIST
//! version end to end first.
//!
//! cargo run --release -p experiments --bin figures            # from runs/figure*/results.csv
//! cargo run --release -p experiments --bin figures -- --quick  # sweeps, then plots, ~15 min
//! cargo run --release -p experiments --bin figures -- --run runs/A --run runs/B  # curves

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use experiments::cli::{at_least_one, init_logging, interrupt_flag};
use experiments::worker::{self, Hidden, SelfLaunch};
use iterand_report::figures::draw_all;
use iterand_runs::results::collect;
use iterand_runs::sweep::{sweep, SweepOptions};

/// Plot Figure 1 (accuracy against r), Figure 2 (accuracy against width and kept parameters,
/// one chart per model) and Figure 3 (ImageNet) as PNG, SVG, CSV and Markdown under --out, from
/// the results.csv of every sweep folder under --results. Figures without results are named
/// and skipped.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    hidden: Option<Hidden>,
    /// Run the CPU-sized Fashion-MNIST set first (configs/quick_figure2.toml: FC at 4 widths ×
    /// 3 methods × 3 seeds; configs/quick_figure1.toml: r ∈ {0, 0.01, 0.1, 1} × 3 seeds), then
    /// plot it. Needs Debian's dataset-fashion-mnist. Resumes if interrupted.
    #[arg(long)]
    quick: bool,
    /// Instead of the paper's figures: the training curves (loss, accuracy, the mask's
    /// dynamics) of this run folder, as curves_*.png/svg and curves.csv under --out. Repeat it
    /// to overlay several runs.
    #[arg(long, value_name = "DIR", conflicts_with = "quick")]
    run: Vec<PathBuf>,
    /// Folder holding the sweep folders.
    #[arg(long, default_value = "runs", value_name = "DIR")]
    results: PathBuf,
    /// Where the plots go.
    #[arg(long, default_value = "plots", value_name = "DIR")]
    out: PathBuf,
    /// Runs trained at once by --quick (each with the cores divided among them).
    #[arg(long, value_parser = at_least_one("jobs"))]
    jobs: Option<u64>,
    /// Debug output.
    #[arg(long, short)]
    verbose: bool,
    /// Warnings and the final lines only.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> Result<()> {
    iterand_kernels::retain_freed_memory();
    let cli = Cli::parse();
    if let Some(h) = cli.hidden {
        worker::run(h);
    }
    init_logging(cli.verbose, cli.quiet, None);
    if !cli.run.is_empty() {
        for f in iterand_report::curves::draw_runs(&cli.run, &cli.out)? {
            println!("{}", f.display());
        }
        return Ok(());
    }
    if cli.quick {
        // Fail once, saying how to get the data, rather than once per run.
        iterand_train::load_splits(iterand_train::DatasetName::FashionMnist, None)
            .context("figures --quick trains on Fashion-MNIST")?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let opts = SweepOptions {
            verbose: cli.verbose,
            ..SweepOptions::new(cli.results.clone(), cli.jobs.map_or(cores, |j| j as usize))
        };
        for file in ["quick_figure2", "quick_figure1"] {
            let t = sweep(file, &opts, &SelfLaunch, &interrupt_flag())?;
            if t.interrupted {
                eprintln!("interrupted; the same command continues where this stopped");
                std::process::exit(130);
            }
            if !t.failed.is_empty() {
                anyhow::bail!(
                    "{file}: {} runs failed: {}",
                    t.failed.len(),
                    t.failed.join(", ")
                );
            }
        }
    }
    let (prefix, what) = if cli.quick {
        ("quick_", " (Fashion-MNIST, FC)")
    } else {
        ("", "")
    };
    let rows = collect(&cli.results, |name| name.starts_with("quick_") == cli.quick)?;
    let drawn = draw_all(&rows, &cli.out, prefix, what)?;
    print!("{}", drawn.written());
    for m in &drawn.missing {
        println!("{m}");
    }
    Ok(())
}
