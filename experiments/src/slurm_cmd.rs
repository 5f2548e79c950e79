//! `sweep FILE --slurm`: the experiment file as a Slurm job array (written, then submitted with
//! `sbatch --parsable`, or only printed with `--dry-run`), and `sweep FILE --index N`, what each
//! array task runs: the run at that index of the grid, with the same lock, resume and skip as a
//! local worker.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;
use iterand_runs::device::DeviceSpec;
use iterand_runs::results::sweep_dir;
use iterand_runs::slurm::{array_task, grid_hash, script, script_path, SlurmOptions, Task};
use iterand_runs::spec::{open, overrides};
use iterand_runs::sweep::SweepOptions;
use iterand_runs::worker::{self, WorkerExit};
use iterand_train::write_atomic;

use crate::worker::{exit_code, train_claimed};

/// The Slurm flags of `sweep`; each sbatch option keeps sbatch's name.
#[derive(Args, Debug, Clone)]
pub struct SlurmArgs {
    /// Write <out>/<file>/slurm/sweep.sbatch, an array with one task per run, and submit it
    /// with sbatch (with --dry-run: print it and submit nothing).
    #[arg(long)]
    pub slurm: bool,
    /// Train only the run at this index of the grid (what each array task runs).
    #[arg(long, value_name = "N", conflicts_with = "slurm")]
    pub index: Option<usize>,
    /// With --index: the grid's hash the job was submitted with; a changed file is refused.
    #[arg(long, value_name = "HASH", requires = "index", hide = true)]
    pub grid_hash: Option<String>,
    /// sbatch --partition.
    #[arg(long, requires = "slurm")]
    pub partition: Option<String>,
    /// sbatch --time (e.g. 2-00:00:00).
    #[arg(long, requires = "slurm")]
    pub time: Option<String>,
    /// sbatch --gpus-per-task.
    #[arg(long, requires = "slurm")]
    pub gpus_per_task: Option<u32>,
    /// sbatch --cpus-per-task (each task's threads).
    #[arg(long, requires = "slurm")]
    pub cpus_per_task: Option<u32>,
    /// sbatch --mem (e.g. 16G).
    #[arg(long, requires = "slurm")]
    pub mem: Option<String>,
    /// sbatch --account.
    #[arg(long, requires = "slurm")]
    pub account: Option<String>,
    /// At most N tasks at once (the array's %N).
    #[arg(long, value_name = "N", requires = "slurm")]
    pub array_limit: Option<u32>,
    /// Seconds before the time limit that a task is sent USR2.
    #[arg(long, value_name = "S", default_value_t = 90)]
    pub grace: u32,
    /// Any other #SBATCH option, verbatim (e.g. --sbatch-arg=--qos=high); repeatable.
    #[arg(
        long,
        value_name = "OPTION",
        allow_hyphen_values = true,
        requires = "slurm"
    )]
    pub sbatch_arg: Vec<String>,
}

impl SlurmArgs {
    fn options(&self) -> SlurmOptions {
        SlurmOptions {
            partition: self.partition.clone(),
            time: self.time.clone(),
            gpus_per_task: self.gpus_per_task,
            cpus_per_task: self.cpus_per_task,
            mem: self.mem.clone(),
            account: self.account.clone(),
            array_limit: self.array_limit,
            grace_seconds: self.grace,
            extra: self.sbatch_arg.clone(),
        }
    }
}

/// The task's command line up to its index: this executable, the file and the sweep's flags
/// (a task given GPUs trains on the first one Slurm assigned it, `cuda`).
fn task_command(file_arg: &str, opts: &SweepOptions, args: &SlurmArgs) -> Result<Vec<String>> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut c = vec![exe.display().to_string(), file_arg.to_string()];
    c.extend(["--out".to_string(), opts.root.display().to_string()]);
    for (k, v) in &opts.set {
        c.extend(["--set".to_string(), format!("{k}={v}")]);
    }
    if let Some(k) = opts.log_every {
        c.extend(["--log-every".to_string(), k.to_string()]);
    }
    let device = opts.devices.first().copied().unwrap_or_default();
    if args.gpus_per_task.is_some() {
        c.extend(["--device".to_string(), "cuda".to_string()]);
    } else if device != DeviceSpec::Cpu {
        c.extend(["--device".to_string(), device.to_string()]);
    }
    Ok(c)
}

/// Write the array's script for `file_arg`, print it (`dry_run`) or submit it.
pub fn submit(file_arg: &str, opts: &SweepOptions, args: &SlurmArgs, dry_run: bool) -> Result<()> {
    if !opts.only.is_empty() {
        bail!("--only is not for --slurm: an array task is found by its index in the whole grid");
    }
    let file = open(file_arg)?;
    let runs = file.runs(&overrides(&opts.set))?;
    let hash = grid_hash(&runs)?;
    let dir = sweep_dir(&opts.root, &file);
    let task = Task {
        command: task_command(file_arg, opts, args)?,
        runs: runs.len(),
        hash: &hash,
        sweep_dir: &dir,
    };
    let text = script(&task, &args.options(), &file.name);
    if dry_run {
        print!("{text}");
        return Ok(());
    }
    let path = script_path(&dir);
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
        .with_context(|| format!("creating {}", dir.display()))?;
    write_atomic(&path, text.as_bytes())?;
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .context("running sbatch (is Slurm installed here?)")?;
    if !out.status.success() {
        bail!(
            "sbatch {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    println!(
        "submitted job {id}: {} tasks; {}",
        runs.len(),
        path.display()
    );
    println!(
        "follow it with: squeue -j {id}; logs in {}",
        dir.join("slurm").display()
    );
    Ok(())
}

/// Train the run at `index` of `file_arg`'s grid, as one array task; its exit status. After
/// USR2 the task requeues itself.
pub fn run_index(file_arg: &str, opts: &SweepOptions, args: &SlurmArgs, index: usize) -> i32 {
    let device = opts.devices.first().copied().unwrap_or_default();
    let hash = args.grid_hash.as_deref();
    let claimed = worker::claim_at(file_arg, index, hash, &opts.root, &opts.set);
    let result = claimed.map_err(Into::into).and_then(|c| match c {
        Some(c) => train_claimed(&c, opts.verbose, device, opts.log_every),
        None => {
            eprintln!("run {index} of {file_arg} is held by another process");
            Ok(WorkerExit::Busy)
        }
    });
    match result {
        Ok(WorkerExit::Interrupted) => requeue(),
        other => exit_code(other),
    }
}

/// After USR2 (the time limit near) an array task puts itself back in the queue, to resume
/// from its checkpoint; outside Slurm, or if `scontrol` fails, it exits as interrupted (130).
fn requeue() -> i32 {
    let interrupted = WorkerExit::Interrupted.code();
    let Some(task) = array_task(|k| std::env::var(k).ok()) else {
        return interrupted;
    };
    match Command::new("scontrol").args(["requeue", &task]).status() {
        Ok(s) if s.success() => {
            eprintln!("checkpoint saved; task {task} requeued");
            0
        }
        other => {
            eprintln!("checkpoint saved; `scontrol requeue {task}` failed ({other:?})");
            interrupted
        }
    }
}

/// An array task's threads: Slurm's CPUs per task, unless RAYON_NUM_THREADS says otherwise.
/// Called first thing, before any thread pool starts.
pub fn threads_from_slurm() {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    if let Some(n) = std::env::var("SLURM_CPUS_PER_TASK")
        .ok()
        .filter(|n| n.parse::<usize>().is_ok())
    {
        // SAFETY: called before any other thread exists.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n) };
    }
}
