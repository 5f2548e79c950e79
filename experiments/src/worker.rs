//! The sweep's worker as a hidden subcommand of each binary that sweeps (`sweep`, `figures`):
//! the sweep starts the binary itself as `<binary> sweep-worker FILE RUN ROOT [flags]` for each
//! run ([`SelfLaunch`]), and clap parses that line back ([`Hidden`]), so the worker's command
//! line is written and read in this one file.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use clap::{Args, Subcommand};
use iterand_runs::device::DeviceSpec;
use iterand_runs::endings::{self, Ending};
use iterand_runs::spec::parse_set;
use iterand_runs::sweep::{Job, Launch};
use iterand_runs::worker::{self, Claimed, WorkerExit};
use iterand_train::{RunDir, FILE_ONLY};

use crate::cli::{at_least_one, init_logging, interrupt_flag};

/// The subcommand's name.
const NAME: &str = "sweep-worker";

/// The hidden subcommands of a binary that sweeps.
#[derive(Subcommand, Debug)]
pub enum Hidden {
    /// Train one run of a sweep (started by the sweep itself).
    #[command(name = NAME, hide = true)]
    SweepWorker(WorkerArgs),
}

/// One run of an experiment file, and the run flags the sweep passes on.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The experiment file, as the sweep was given it.
    file: String,
    /// `<experiment>/<grid point>`.
    run: String,
    /// Root of the sweep folders.
    root: PathBuf,
    #[arg(long = "set", value_parser = parse_set)]
    set: Vec<(String, toml::Value)>,
    #[arg(long, value_parser = at_least_one("log_every"))]
    log_every: Option<u64>,
    #[arg(long)]
    verbose: bool,
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
}

/// Starts each worker as this same executable's hidden subcommand.
pub struct SelfLaunch;

impl Launch for SelfLaunch {
    fn command(&self, job: &Job) -> std::io::Result<Command> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg(NAME).arg(job.file).arg(&job.run).arg(job.root);
        for (k, v) in job.set {
            cmd.arg("--set").arg(format!("{k}={v}"));
        }
        if let Some(k) = job.log_every {
            cmd.arg("--log-every").arg(k.to_string());
        }
        if job.verbose {
            cmd.arg("--verbose");
        }
        cmd.arg("--device").arg(job.device.to_string());
        Ok(cmd)
    }
}

/// Run the worker and exit with the status the sweep reads.
pub fn run(hidden: Hidden) -> ! {
    let Hidden::SweepWorker(args) = hidden;
    let claimed = worker::claim(&args.file, &args.run, &args.root, &args.set);
    let result = claimed.map_err(Into::into).and_then(|c| match c {
        Some(c) => {
            let r = train_claimed(&c, args.verbose, args.device, args.log_every);
            record_ending(&c, &r, None);
            r
        }
        None => Ok(WorkerExit::Busy),
    });
    std::process::exit(exit_code(result))
}

/// Record in the run's folder how a process that did not finish it ended (stopped with a
/// checkpoint, or failed with an error); the failures of the Slurm job `job` so far.
pub fn record_ending(
    claimed: &Claimed,
    result: &anyhow::Result<WorkerExit>,
    job: Option<&str>,
) -> usize {
    let job_owned = job.map(str::to_string);
    let ending = match result {
        Ok(WorkerExit::Interrupted) => Ending::Stopped { job: job_owned },
        Err(e) => Ending::failed(job_owned, &format!("{e:#}")),
        Ok(_) => return 0,
    };
    let read = endings::record(&claimed.dir, &ending).and_then(|()| endings::read(&claimed.dir));
    match read {
        Ok(all) => endings::failures_in(&all, job),
        Err(e) => {
            tracing::warn!("{e}");
            0
        }
    }
}

/// Train a run this process holds, logging into its folder: what a local sweep's worker and a
/// Slurm array task both do. USR2 (Slurm's warning before the time limit) stops it after the
/// current step with a checkpoint, as Ctrl-C does.
pub fn train_claimed(
    claimed: &Claimed,
    verbose: bool,
    device: DeviceSpec,
    log_every: Option<u64>,
) -> anyhow::Result<WorkerExit> {
    let log = RunDir::existing(&claimed.dir).log_path();
    init_logging(verbose, true, Some(&log));
    tracing::info!(target: FILE_ONLY, "worker for {}", claimed.run.path());
    let device = device.open()?;
    let stop = interrupt_flag();
    signal_hook::flag::register(signal_hook::consts::SIGUSR2, stop.clone())
        .context("handling USR2")?;
    Ok(worker::train(claimed, &device, log_every, stop)?)
}

/// A worker's exit status: its ending's, or 1 with the error in the run's log (when it is
/// open) and on stderr.
pub fn exit_code(result: anyhow::Result<WorkerExit>) -> i32 {
    match result {
        Ok(exit) => exit.code(),
        Err(e) => {
            tracing::error!(target: FILE_ONLY, "{e:#}");
            eprintln!("error: {e:#}");
            1
        }
    }
}
