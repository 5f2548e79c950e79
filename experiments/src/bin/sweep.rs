//! Run every grid point of one or more experiment files, resumably, several at once.
//!
//! cargo run --release -p experiments --bin sweep -- configs/figure2_conv6.toml --jobs 2

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Parser;
use experiments::cli::{at_least_one, init_logging, interrupt_flag};
use experiments::slurm_cmd::{self, SlurmArgs};
use experiments::worker::{self, Hidden, SelfLaunch};
use iterand_runs::device::{parse_gpu, DeviceSpec};
use iterand_runs::results::{finished, run_dir};
use iterand_runs::spec::{open, parse_set};
use iterand_runs::sweep::{runs_of, sweep, SweepOptions};
use iterand_train::{RunDir, RunState};

/// Expand experiment files (configs/*.toml: methods × widths × sparsities × r × K_per × seeds)
/// into run folders <out>/<file>/<experiment>/<grid point>/ and train them: finished runs are
/// skipped, unfinished ones resume exactly from their last checkpoint, and results.csv (one row
/// per finished run) is rebuilt after each. Safe to kill at any time and to start twice on the
/// same folder (each run is locked while it trains).
#[derive(Parser, Debug)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    hidden: Option<Hidden>,
    /// Experiment files: paths, or names of the files in configs/ (e.g. quick_figure2).
    #[arg(required = true)]
    files: Vec<String>,
    /// Root of the sweep folders.
    #[arg(long, default_value = "runs", value_name = "DIR")]
    out: PathBuf,
    /// Runs trained at once, each its own process. Default: one per device of --devices, else 1.
    #[arg(long, value_parser = at_least_one("jobs"))]
    jobs: Option<u64>,
    /// Where every run trains: cpu, cuda or cuda:N (CUDA needs a build with --features cuda).
    #[arg(long, default_value = "cpu", conflicts_with = "devices")]
    device: DeviceSpec,
    /// GPUs to spread the runs over, e.g. 0,1,2,3: each new run goes to the GPU with the fewest
    /// running, so with the default --jobs each GPU trains one run at a time.
    #[arg(long, value_delimiter = ',', value_name = "N,…", value_parser = parse_gpu)]
    devices: Vec<DeviceSpec>,
    /// Threads per run. Default: the cores divided among the jobs.
    #[arg(long, value_parser = at_least_one("threads"))]
    threads: Option<u64>,
    /// Only these experiments (full names, e.g. figure2_conv6_ku_sgd); repeatable.
    #[arg(long)]
    only: Vec<String>,
    /// Override a key in every run, e.g. --set epochs=1 (changes the runs' identity: they go
    /// to the same folders only if they match).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    set: Vec<(String, toml::Value)>,
    /// Also log the training loss every K steps in each run's metrics.jsonl.
    #[arg(long, value_name = "K", value_parser = at_least_one("log_every"))]
    log_every: Option<u64>,
    /// List the runs and whether each is finished, without training.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    slurm: SlurmArgs,
    /// Debug output.
    #[arg(long, short)]
    verbose: bool,
    /// Warnings and the final lines only.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> Result<()> {
    slurm_cmd::threads_from_slurm();
    iterand_kernels::retain_freed_memory();
    let cli = Cli::parse();
    if let Some(h) = cli.hidden {
        worker::run(h);
    }
    let devices = if cli.devices.is_empty() {
        vec![cli.device]
    } else {
        cli.devices.clone()
    };
    let jobs = cli.jobs.map_or(cli.devices.len().max(1), |j| j as usize);
    let opts = SweepOptions {
        devices,
        threads: cli.threads.map(|t| t as usize),
        only: cli.only.clone(),
        set: cli.set.clone(),
        log_every: cli.log_every,
        verbose: cli.verbose,
        ..SweepOptions::new(cli.out.clone(), jobs)
    };
    if let Some(i) = cli.slurm.index {
        let [file] = &cli.files[..] else {
            bail!("--index runs one run of one experiment file");
        };
        // logs to the run's own log, as a worker does
        std::process::exit(slurm_cmd::run_index(file, &opts, &cli.slurm, i));
    }
    init_logging(cli.verbose, cli.quiet, None);
    let s = &cli.slurm;
    if s.status || s.gather || s.slurm {
        for f in &cli.files {
            if s.status {
                slurm_cmd::status(f, &opts)?;
            } else if s.gather {
                slurm_cmd::gather(f, &opts, s.grid_hash.as_deref())?;
            } else {
                slurm_cmd::submit(f, &opts, s, cli.dry_run)?;
            }
        }
        return Ok(());
    }
    if cli.dry_run {
        return dry_run(&cli.files, &opts);
    }
    local(&cli.files, &opts)
}

/// Sweep `files` here, one after the other.
fn local(files: &[String], opts: &SweepOptions) -> Result<()> {
    let mut failed = vec![];
    for f in files {
        let t = sweep(f, opts, &SelfLaunch, &interrupt_flag())?;
        println!(
            "{f}: {} finished before, {} trained now, {} held by another sweep, {} failed{}",
            t.done_before,
            t.trained,
            t.busy,
            t.failed.len(),
            if t.interrupted { " (interrupted)" } else { "" }
        );
        if t.interrupted {
            std::process::exit(130);
        }
        failed.extend(t.failed);
    }
    if !failed.is_empty() {
        bail!("{} runs failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// Each run of `files` and where it stands: finished (with its config), started, or new.
fn dry_run(files: &[String], opts: &SweepOptions) -> Result<()> {
    for f in files {
        let file = open(f)?;
        for run in runs_of(&file, opts)? {
            let path = run_dir(&opts.root, &file, &run);
            let state = if finished(&opts.root, &file, &run)?.is_some() {
                "finished"
            } else if RunDir::existing(&path).state() == RunState::New {
                "new"
            } else {
                "started"
            };
            println!("{state:<9} {}", path.display());
        }
    }
    Ok(())
}
