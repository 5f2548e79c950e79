//! Train one network with SGD, edge-popup or IteRand and write its run folder.
//!
//! cargo run --release -p experiments --bin train -- --dataset fashion-mnist --model fc \
//!     --method iterand --width 0.25 --sparsity 0.5 --epochs 10

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use experiments::cli::{init_logging, run_and_print, TrainArgs};

/// Train one network (SGD baseline, edge-popup or IteRand) and write a run folder with
/// config.toml, metrics.jsonl (one line per epoch) and summary.json.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    train: TrainArgs,
    /// Run folder. Default: runs/<dataset>-<model>-<method>-w<width>-p<sparsity>-s<seed>.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// More log output.
    #[arg(long, short)]
    verbose: bool,
    /// Only warnings and the final summary.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> Result<()> {
    iterand_kernels::retain_freed_memory();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let cfg = cli.train.to_config();
    cfg.validate()?;
    let out = cli.out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "runs/{}-{}-{}-w{}-p{}-s{}",
            cfg.dataset.name(),
            cfg.model,
            cfg.method,
            cfg.width,
            cfg.sparsity,
            cfg.seed
        ))
    });
    run_and_print(&cfg, &out, cli.quiet)
}
