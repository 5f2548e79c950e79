//! Train one network with SGD, edge-popup or IteRand and write its run folder.
//!
//! cargo run --release -p experiments --bin train -- --dataset fashion-mnist --model fc \
//!     --method iterand --width 0.25 --sparsity 0.5 --epochs 10

use std::path::PathBuf;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser};
use experiments::cli::{defaults_help, init_logging, run_and_print, RunFlags, TrainArgs};

/// Train one network (SGD baseline, edge-popup or IteRand) and write a run folder with
/// config.toml (resolved, with its hash), metrics.jsonl (one line per epoch, and the epoch's
/// histograms), tb/ (the same for TensorBoard), train.log,
/// checkpoints/ (after every epoch and on Ctrl-C; --resume auto continues exactly) and
/// summary.json.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    train: TrainArgs,
    /// Run folder. Default: runs/<dataset>-<model>-<method>-w<width>-p<sparsity>-s<seed>.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    run: RunFlags,
}

fn main() -> Result<()> {
    iterand_kernels::retain_freed_memory();
    let matches = Cli::command().after_help(defaults_help()).get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    let cfg = cli.run.resolve(&[&cli.train.to_layer()?])?;
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
    init_logging(
        cli.run.verbose,
        cli.run.quiet,
        Some(&out.join(iterand_train::RunDir::LOG)),
    );
    run_and_print(&cfg, &out, &cli.run)
}
