//! `sweep FILE --slurm`: the experiment file as a Slurm job array (written, then submitted with
//! `sbatch --parsable`, or only printed with `--dry-run`), and `sweep FILE --index N`, what each
//! array task runs: the run at that index of the grid, with the same lock, resume and skip as a
//! local worker.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;
use iterand_report::figures::draw_all;
use iterand_runs::device::DeviceSpec;
use iterand_runs::results::{read_results, sweep_dir, write_results};
use iterand_runs::slurm::{
    self, array_task, gather_script, gather_script_path, grid_hash, script, script_path, Jobs,
    SlurmOptions, Task, SLURM_DIR,
};
use iterand_runs::spec::{open, overrides};
use iterand_runs::status;
use iterand_runs::sweep::SweepOptions;
use iterand_runs::worker::{self, WorkerExit};
use iterand_train::write_atomic;

use crate::worker::{exit_code, record_ending, train_claimed};

/// The Slurm flags of `sweep`; each sbatch option keeps sbatch's name.
#[derive(Args, Debug, Clone)]
pub struct SlurmArgs {
    /// Write <out>/<file>/slurm/sweep.sbatch, an array with one task per run, and submit it
    /// with sbatch (with --dry-run: print it and submit nothing).
    #[arg(long)]
    pub slurm: bool,
    /// Train only the run at this index of the grid (what each array task runs).
    #[arg(long, value_name = "N", conflicts_with_all = ["slurm", "status", "gather"])]
    pub index: Option<usize>,
    /// Each run's state from its folder (finished, running, stopped at epoch N, failed with its
    /// error), with its array task's Slurm state when the file was submitted with --slurm.
    #[arg(long, conflicts_with_all = ["slurm", "gather"])]
    pub status: bool,
    /// Rebuild results.csv and draw the file's figures into <out>/<file>/figures (what the
    /// gathering job runs after the array).
    #[arg(long, conflicts_with = "slurm")]
    pub gather: bool,
    /// With --index or --gather: the grid's hash the job was submitted with; a changed file is
    /// refused.
    #[arg(long, value_name = "HASH", hide = true)]
    pub grid_hash: Option<String>,
    /// A task that fails (other than at its time limit) requeues itself at most this many times
    /// in one job; its failures are in the run folder's endings.jsonl and in --status.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_retries: u32,
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
    c.extend(["--max-retries".to_string(), args.max_retries.to_string()]);
    let device = opts.devices.first().copied().unwrap_or_default();
    if args.gpus_per_task.is_some() {
        c.extend(["--device".to_string(), "cuda".to_string()]);
    } else if device != DeviceSpec::Cpu {
        c.extend(["--device".to_string(), device.to_string()]);
    }
    Ok(c)
}

/// Write the array's script for `file_arg` and its gathering job's, and print them
/// (`dry_run`) or submit both, the gathering job after the array.
pub fn submit(file_arg: &str, opts: &SweepOptions, args: &SlurmArgs, dry_run: bool) -> Result<()> {
    if !opts.only.is_empty() {
        bail!("--only is not for --slurm: an array task is found by its index in the whole grid");
    }
    let file = open(file_arg)?;
    let runs = file.runs(&overrides(&opts.set))?;
    let hash = grid_hash(&runs)?;
    let dir = sweep_dir(&opts.root, &file);
    let workdir = std::env::current_dir().context("finding the current folder")?;
    let task = Task {
        command: task_command(file_arg, opts, args)?,
        runs: runs.len(),
        hash: &hash,
        sweep_dir: &dir,
        workdir: &workdir,
    };
    let array = script(&task, &args.options(), &file.name);
    let gather = gather_script(&task, &args.options(), &file.name);
    if dry_run {
        print!(
            "{array}\n# then, after the array (sbatch --dependency=afterany:<array>):\n{gather}"
        );
        return Ok(());
    }
    let (array_path, gather_path) = (script_path(&dir), gather_script_path(&dir));
    std::fs::create_dir_all(dir.join(SLURM_DIR))
        .with_context(|| format!("creating {}", dir.display()))?;
    write_atomic(&array_path, array.as_bytes())?;
    write_atomic(&gather_path, gather.as_bytes())?;
    let id = sbatch(&[], &array_path)?;
    let after = format!("--dependency=afterany:{id}");
    let gather_id = sbatch(&[&after], &gather_path)?;
    let jobs = Jobs {
        array: id.clone(),
        gather: Some(gather_id.clone()),
    };
    jobs.save(&dir)?;
    println!(
        "submitted array job {id} ({} tasks) and gathering job {gather_id} after it; {}",
        runs.len(),
        array_path.display()
    );
    println!(
        "follow it with: {} {file_arg} --out {} --status   (logs in {})",
        program_name(),
        opts.root.display(),
        dir.join(SLURM_DIR).display()
    );
    Ok(())
}

/// `sbatch --parsable [args] script`: the job id it prints.
fn sbatch(args: &[&str], script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .context("running sbatch (is Slurm installed here?)")?;
    if !out.status.success() {
        bail!(
            "sbatch {}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // --parsable prints `id` or `id;cluster`
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or_default();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch {}: no job id in {text:?}", script.display());
    }
    Ok(id.to_string())
}

/// This binary's name as a user typed it (for the commands it suggests).
fn program_name() -> String {
    std::env::args()
        .next()
        .and_then(|a| Some(Path::new(&a).file_name()?.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "sweep".into())
}

/// Train the run at `index` of `file_arg`'s grid, as one array task; its exit status. After
/// USR2 the task requeues itself, and after a failure too, `--max-retries` times in one job.
pub fn run_index(file_arg: &str, opts: &SweepOptions, args: &SlurmArgs, index: usize) -> i32 {
    let device = opts.devices.first().copied().unwrap_or_default();
    let hash = args.grid_hash.as_deref();
    let claimed = match worker::claim_at(file_arg, index, hash, &opts.root, &opts.set) {
        Ok(Some(c)) => c,
        Ok(None) => {
            eprintln!("run {index} of {file_arg} is held by another process");
            return WorkerExit::Busy.code();
        }
        Err(e) => return exit_code(Err(e.into())),
    };
    let job = std::env::var("SLURM_ARRAY_JOB_ID").ok();
    let result = train_claimed(&claimed, opts.verbose, device, opts.log_every);
    let failures = record_ending(&claimed, &result, job.as_deref());
    match result {
        Ok(WorkerExit::Interrupted) => requeue(WorkerExit::Interrupted.code()),
        Err(e) if job.is_some() && failures <= args.max_retries as usize => {
            let code = exit_code(Err(e));
            eprintln!("failure {failures} of at most {}", args.max_retries + 1);
            requeue(code)
        }
        other => exit_code(other),
    }
}

/// After USR2 (the time limit near) or a failure, an array task puts itself back in the
/// queue, to resume from its checkpoint; outside Slurm, or if `scontrol` fails, it exits with
/// `code`.
fn requeue(code: i32) -> i32 {
    let Some(task) = array_task(|k| std::env::var(k).ok()) else {
        return code;
    };
    match Command::new("scontrol").args(["requeue", &task]).status() {
        Ok(s) if s.success() => {
            eprintln!("task {task} requeued; it resumes from its last checkpoint");
            0
        }
        other => {
            eprintln!("`scontrol requeue {task}` failed ({other:?})");
            code
        }
    }
}

/// `sweep FILE --status`: each run's state from its folder, and its task's from Slurm.
pub fn status(file_arg: &str, opts: &SweepOptions) -> Result<()> {
    let file = open(file_arg)?;
    let runs = file.runs(&overrides(&opts.set))?;
    let dir = sweep_dir(&opts.root, &file);
    let jobs = Jobs::load(&dir)?;
    let states = jobs
        .as_ref()
        .map_or_else(Default::default, |j| slurm::states(j, &output_of));
    let rows = status::rows(&opts.root, &file, &runs, jobs.as_ref(), &states)?;
    print!("{}", status::table(&rows));
    if let Some(j) = &jobs {
        let state = |id: &str| states.get(id).map_or("-", String::as_str).to_string();
        let gather = j.gather.as_ref().map_or(String::new(), |g| {
            format!(", gathering job {g} {}", state(g))
        });
        println!("Slurm: array job {}{gather}", j.array);
    }
    println!("{}", status::summary(&rows));
    Ok(())
}

/// A command's output, when it runs and succeeds.
fn output_of(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `sweep FILE --gather`: rebuild results.csv from the finished runs and draw the file's
/// figures into its sweep folder.
pub fn gather(file_arg: &str, opts: &SweepOptions, hash: Option<&str>) -> Result<()> {
    let file = open(file_arg)?;
    let runs = file.runs(&overrides(&opts.set))?;
    slurm::check_hash(&file, &runs, hash)?;
    let (path, n) = write_results(&opts.root, &file, &runs)?;
    println!("{n} of {} runs finished; {}", runs.len(), path.display());
    let Some(figure) = file.figure else {
        println!("{}: no `figure` key, so no figure to draw", file.name);
        return Ok(());
    };
    let rows = read_results(&path)?;
    let out = sweep_dir(&opts.root, &file).join(slurm::FIGURES);
    let drawn = draw_all(&rows, &out, "", "")?;
    print!("{}", drawn.written());
    if drawn.charts.is_empty() {
        println!("Figure {figure}: no finished runs to draw yet");
    }
    Ok(())
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
