//! Sweeps: every run of an experiment file, each in its own folder, several processes at once,
//! surviving being killed.
//!
//! The sweep process only schedules. Each run is a child process (this same executable,
//! re-entered through [`worker_if_asked`]) that takes an exclusive lock on its run folder,
//! continues from the folder's last checkpoint if there is one, and dies with its parent
//! (Linux `PR_SET_PDEATHSIG`), which releases the lock. So a sweep killed at any moment and
//! started again skips finished runs, resumes the unfinished ones exactly, and a second sweep
//! on the same folder never trains a run the first one holds. `results.csv` is rebuilt from the
//! finished runs' summaries after every run, through a temporary file and a rename.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use iterand_train::{write_atomic, Progress, Resume, RunDir, RunOptions, Summary};
use serde::{Deserialize, Serialize};

use crate::cli::{init_logging, interrupt_flag};
use crate::device::DeviceSpec;
use crate::spec::{open, overrides, ExperimentFile, RunSpec};

/// The first argument that turns a sweep binary into a worker running one run.
const WORKER: &str = "__sweep-worker";
/// A worker's exit status when another process holds the run.
const BUSY: i32 = 75;
/// A worker's exit status when interrupted (it saved a checkpoint).
const INTERRUPTED: i32 = 130;

/// What a sweep runs and how.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// Each file's runs go to `<root>/<file name>/`.
    pub root: PathBuf,
    pub jobs: usize,
    /// Threads per run (`RAYON_NUM_THREADS`); `None`: the cores divided among the jobs.
    pub threads: Option<usize>,
    /// Only these experiments (full names); empty: all.
    pub only: Vec<String>,
    pub set: Vec<(String, toml::Value)>,
    pub log_every: Option<u64>,
    pub verbose: bool,
    /// Where runs train; with several, each new run goes to the one with the fewest running
    /// (`--devices 0,1`: one run per GPU when `jobs` is their number). Empty: the CPU.
    pub devices: Vec<DeviceSpec>,
}

impl SweepOptions {
    /// `jobs` runs at once into `root`, every other option at its default.
    pub fn new(root: PathBuf, jobs: usize) -> Self {
        Self {
            root,
            jobs,
            threads: None,
            only: vec![],
            set: vec![],
            log_every: None,
            verbose: false,
            devices: vec![],
        }
    }
}

/// One row of `results.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub file: String,
    /// The paper figure (0 when the file names none).
    pub figure: u32,
    pub experiment: String,
    pub run: String,
    pub dataset: String,
    pub model: String,
    pub method: String,
    pub init_mode: String,
    pub width: f64,
    pub sparsity: f64,
    pub rerand_lambda: f64,
    pub rerand_freq: u64,
    pub seed: u64,
    pub epochs: usize,
    /// Percent, last-epoch model.
    pub test_acc: f64,
    pub best_val_acc: f64,
    pub kept_params: usize,
    pub total_params: usize,
    pub randomizations: u64,
    /// Wall time of the run (resumed parts added): the one column a repeated sweep changes.
    pub seconds: f64,
    pub config_hash: String,
}

/// The sweep's folder for `file`.
pub fn sweep_dir(root: &Path, file: &ExperimentFile) -> PathBuf {
    root.join(&file.name)
}

fn run_dir(root: &Path, file: &ExperimentFile, run: &RunSpec) -> PathBuf {
    sweep_dir(root, file).join(&run.experiment).join(&run.id)
}

/// The summary of `run` if it finished with exactly its config.
fn finished(dir: &Path, run: &RunSpec) -> Result<Option<Summary>> {
    let Some(s) = RunDir::existing(dir).summary()? else {
        return Ok(None);
    };
    Ok((s.config_hash == run.config.hash()?).then_some(s))
}

fn runs_of(file: &ExperimentFile, opts: &SweepOptions) -> Result<Vec<RunSpec>> {
    let runs = file.runs(&overrides(&opts.set))?;
    for o in &opts.only {
        if !file.experiments.iter().any(|e| &e.name == o) {
            bail!(
                "--only {o}: {} has no such experiment (it has {})",
                file.name,
                file.experiments
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(runs
        .into_iter()
        .filter(|r| opts.only.is_empty() || opts.only.contains(&r.experiment))
        .collect())
}

/// Rebuild `<sweep>/results.csv` from the finished runs, in grid order.
pub fn write_results(file: &ExperimentFile, opts: &SweepOptions) -> Result<(PathBuf, usize)> {
    let runs = runs_of(file, opts)?;
    let mut w = csv::Writer::from_writer(vec![]);
    let mut rows = 0;
    for run in &runs {
        let Some(s) = finished(&run_dir(&opts.root, file, run), run)? else {
            continue;
        };
        let c = &run.config;
        w.serialize(ResultRow {
            file: file.name.clone(),
            figure: file.figure.unwrap_or(0),
            experiment: run.experiment.clone(),
            run: run.id.clone(),
            dataset: c.dataset.name().into(),
            model: c.model.name().into(),
            method: c.method.name().into(),
            init_mode: c.init_mode.name().into(),
            width: c.width,
            sparsity: s.sparsity,
            rerand_lambda: c.rerand_lambda,
            rerand_freq: c.rerand_freq,
            seed: c.seed,
            epochs: c.epochs,
            test_acc: s.test_acc,
            best_val_acc: s.best_val_acc,
            kept_params: s.kept_params,
            total_params: s.total_params,
            randomizations: s.randomizations,
            seconds: (s.seconds * 10.0).round() / 10.0,
            config_hash: s.config_hash.clone(),
        })?;
        rows += 1;
    }
    let bytes = w.into_inner().map_err(|e| anyhow!("{e}"))?;
    let dir = sweep_dir(&opts.root, file);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("results.csv");
    write_atomic(&path, &bytes)?;
    Ok((path, rows))
}

/// Read a `results.csv`.
pub fn read_results(path: &Path) -> Result<Vec<ResultRow>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    r.deserialize()
        .enumerate()
        .map(|(i, row)| row.with_context(|| format!("{} row {}", path.display(), i + 2)))
        .collect()
}

/// How one sweep ended.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    pub done_before: usize,
    pub trained: usize,
    pub busy: usize,
    pub failed: Vec<String>,
    pub interrupted: bool,
}

struct Running {
    child: Child,
    label: String,
    dir: PathBuf,
    /// Its line in the live view, on a terminal.
    line: Option<indicatif::ProgressBar>,
    started: Instant,
    device: DeviceSpec,
    /// Sent its one SIGINT (a second would make it quit without its checkpoint).
    signalled: bool,
}

/// The one of `devices` that the fewest runs in `busy` use (the first of equals; the CPU when
/// there are none).
fn least_busy(devices: &[DeviceSpec], busy: &[DeviceSpec]) -> DeviceSpec {
    devices
        .iter()
        .copied()
        .min_by_key(|d| busy.iter().filter(|b| *b == d).count())
        .unwrap_or_default()
}

fn spawn(
    file_arg: &str,
    dir: &Path,
    run: &RunSpec,
    opts: &SweepOptions,
    device: DeviceSpec,
) -> Result<Child> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg(WORKER)
        .arg(file_arg)
        .arg(run.path())
        .arg(dir)
        .stdout(std::process::Stdio::null());
    for (k, v) in &opts.set {
        cmd.arg("--set").arg(format!("{k}={v}"));
    }
    if let Some(k) = opts.log_every {
        cmd.arg("--log-every").arg(k.to_string());
    }
    if opts.verbose {
        cmd.arg("--verbose");
    }
    cmd.arg("--device").arg(device.to_string());
    let threads = opts.threads.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / opts.jobs.max(1)).max(1)
    });
    cmd.env("RAYON_NUM_THREADS", threads.to_string());
    // Its own process group: a terminal's Ctrl-C reaches the sweep alone, which passes exactly
    // one SIGINT on to each run (a run quits at once, without a checkpoint, on a second one).
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.spawn().context("starting a sweep worker")
}

/// The runs of `runs` not yet finished; the finished ones are counted in `tally`.
fn unfinished(
    file: &ExperimentFile,
    runs: &[RunSpec],
    opts: &SweepOptions,
    tally: &mut Tally,
) -> Result<Vec<RunSpec>> {
    let mut queue = vec![];
    for run in runs {
        if finished(&run_dir(&opts.root, file, run), run)?.is_some() {
            tally.done_before += 1;
        } else {
            queue.push(run.clone());
        }
    }
    Ok(queue)
}

/// The runs in flight, and the live view that shows them.
struct Pool {
    running: Vec<Running>,
    live: crate::live::Live,
    /// Runs accounted for so far (finished before, or ended in this sweep), of `total`.
    seen: usize,
    total: usize,
}

impl Pool {
    /// Start `run` as a worker on the device with the fewest runs.
    fn start(
        &mut self,
        file_arg: &str,
        file: &ExperimentFile,
        run: &RunSpec,
        opts: &SweepOptions,
    ) -> Result<()> {
        let busy: Vec<DeviceSpec> = self.running.iter().map(|r| r.device).collect();
        let device = least_busy(&opts.devices, &busy);
        let child = spawn(file_arg, &opts.root, run, opts, device)?;
        self.running.push(Running {
            child,
            line: self.live.add(&run.path()),
            label: run.path(),
            dir: run_dir(&opts.root, file, run),
            started: Instant::now(),
            device,
            signalled: false,
        });
        Ok(())
    }

    fn refresh(&mut self) {
        let lines = self.running.iter();
        let lines = lines.map(|r| (r.label.as_str(), r.dir.as_path(), r.line.as_ref()));
        self.live.refresh(lines);
    }

    /// Ask every run once to stop after its current step and save a checkpoint.
    fn interrupt(&mut self) {
        for r in self.running.iter_mut().filter(|r| !r.signalled) {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(r.child.id() as libc::pid_t, libc::SIGINT);
            }
            r.signalled = true;
        }
    }

    /// Collect the runs that ended, reporting each; returns how many did.
    fn reap(&mut self, tally: &mut Tally) -> Result<usize> {
        let (mut i, mut ended) = (0, 0);
        while i < self.running.len() {
            let Some(status) = self.running[i].child.try_wait()? else {
                i += 1;
                continue;
            };
            let r = self.running.swap_remove(i);
            self.seen += 1;
            ended += 1;
            if let Some(l) = &r.line {
                l.finish_and_clear();
            }
            let (seen, total) = (self.seen, self.total);
            self.live.suspend(|| report(&r, status, seen, total, tally));
        }
        Ok(ended)
    }
}

/// Run every unfinished run of `file_arg` (a path or a `configs/` name).
pub fn sweep(file_arg: &str, opts: &SweepOptions) -> Result<Tally> {
    let file = open(file_arg)?;
    let runs = runs_of(&file, opts)?;
    let dir = sweep_dir(&opts.root, &file);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tally = Tally::default();
    let mut queue = unfinished(&file, &runs, opts, &mut tally)?.into_iter();
    let total = runs.len();
    tracing::info!(
        "{}: {total} runs, {} finished before, {} to run, {} at a time, in {}",
        file.name,
        tally.done_before,
        queue.len(),
        opts.jobs,
        dir.display()
    );
    let stop = interrupt_flag();
    let mut pool = Pool {
        running: vec![],
        live: crate::live::Live::new(opts.jobs),
        seen: tally.done_before,
        total,
    };
    loop {
        while pool.running.len() < opts.jobs.max(1) && !stop.load(Ordering::SeqCst) {
            let Some(run) = queue.next() else { break };
            pool.start(file_arg, &file, &run, opts)?;
        }
        if pool.running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        pool.refresh();
        if stop.load(Ordering::SeqCst) {
            pool.interrupt();
        }
        if pool.reap(&mut tally)? > 0 {
            write_results(&file, opts)?;
        }
    }
    tally.interrupted = stop.load(Ordering::SeqCst);
    let (path, rows) = write_results(&file, opts)?;
    tracing::info!(
        "{}: {rows} of {total} runs finished; {}",
        file.name,
        path.display()
    );
    Ok(tally)
}

fn report(r: &Running, status: ExitStatus, seen: usize, total: usize, tally: &mut Tally) {
    let secs = r.started.elapsed().as_secs_f64();
    match status.code() {
        Some(0) => {
            tally.trained += 1;
            tracing::info!("[{seen}/{total}] {} done ({secs:.1} s)", r.label);
        }
        Some(BUSY) => {
            tally.busy += 1;
            tracing::info!("[{seen}/{total}] {} is held by another sweep", r.label);
        }
        Some(INTERRUPTED) => {
            tally.interrupted = true;
            tracing::info!("[{seen}/{total}] {} stopped with a checkpoint", r.label);
        }
        _ => {
            tally.failed.push(r.label.clone());
            tracing::error!(
                "[{seen}/{total}] {} failed ({status}); its train.log says why",
                r.label
            );
        }
    }
}

/// If this process was started as a sweep worker, run its one run and exit; otherwise return.
/// Every binary that sweeps calls this first.
pub fn worker_if_asked() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(WORKER) {
        return;
    }
    let code = match worker(&args[2..]) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// A worker's arguments after `FILE RUN ROOT`.
struct WorkerFlags {
    set: Vec<(String, toml::Value)>,
    log_every: Option<u64>,
    verbose: bool,
    device: DeviceSpec,
}

impl WorkerFlags {
    /// `[--set K=V]… [--log-every K] [--verbose] [--device D]`, as [`spawn`] writes them.
    fn parse(rest: &[String]) -> Result<Self> {
        let mut f = WorkerFlags {
            set: vec![],
            log_every: None,
            verbose: false,
            device: DeviceSpec::Cpu,
        };
        let mut it = rest.iter();
        while let Some(a) = it.next() {
            let mut value = |what: &str| it.next().with_context(|| format!("{a} needs {what}"));
            match a.as_str() {
                "--set" => f
                    .set
                    .push(crate::spec::parse_set(value("KEY=VALUE")?).map_err(|e| anyhow!(e))?),
                "--log-every" => f.log_every = Some(value("K")?.parse()?),
                "--verbose" => f.verbose = true,
                "--device" => {
                    f.device = value("a device")?.parse().map_err(|e: String| anyhow!(e))?
                }
                other => bail!("unknown worker argument {other}"),
            }
        }
        Ok(f)
    }
}

/// `FILE EXPERIMENT/ID ROOT [--set K=V]… [--log-every K] [--verbose] [--device D]`.
fn worker(args: &[String]) -> Result<i32> {
    let [file_arg, which, root, rest @ ..] = args else {
        bail!("a sweep worker needs FILE RUN ROOT");
    };
    let flags = WorkerFlags::parse(rest)?;
    let file = open(file_arg)?;
    let run = file
        .runs(&overrides(&flags.set))?
        .into_iter()
        .find(|r| r.path() == *which)
        .ok_or_else(|| anyhow!("{which}: no such run in {}", file.name))?;
    let dir = run_dir(Path::new(root), &file, &run);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = crate::lock::RunLock::acquire(&dir)
        .with_context(|| format!("locking {}", crate::lock::lock_path(&dir).display()))?;
    let Some(_lock) = lock else {
        return Ok(BUSY);
    };
    init_logging(flags.verbose, true, Some(&dir.join("train.log")));
    tracing::info!(target: crate::cli::FILE_ONLY, "sweep worker for {which}");
    train_one(&run, &dir, &flags)
}

/// Train `run` in `dir`, resuming from its checkpoint; the worker's exit status.
fn train_one(run: &RunSpec, dir: &Path, flags: &WorkerFlags) -> Result<i32> {
    let cfg = &run.config;
    let splits = cfg
        .open_data()
        .with_context(|| format!("loading {}", cfg.dataset.name()))?;
    let opts = RunOptions {
        out: Some(dir.to_path_buf()),
        // Epoch lines go to train.log (stderr shows warnings only: many runs share it); the
        // status file feeds the sweep's live view.
        progress: Progress::Status,
        resume: Resume::Auto,
        interrupt: Some(interrupt_flag()),
        stop_at_iteration: None,
        log_every: flags.log_every,
        eval_every: None,
        eval_at: Vec::new(),
        loader: iterand_data::Loader::default(),
    };
    let device = flags.device.open()?;
    match iterand_train::train_with(cfg, &splits, &device, &opts) {
        Ok(s) => {
            tracing::info!(target: crate::cli::FILE_ONLY, "test accuracy {:.2} %", s.test_acc);
            Ok(0)
        }
        Err(iterand_train::Error::Interrupted { .. }) => Ok(INTERRUPTED),
        Err(e) => Err(e).with_context(|| format!("training {}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_new_run_goes_to_the_device_with_the_fewest_runs() {
        use DeviceSpec::{Cpu, Cuda};
        assert_eq!(least_busy(&[], &[]), Cpu);
        let gpus = [Cuda(0), Cuda(1), Cuda(2)];
        assert_eq!(least_busy(&gpus, &[]), Cuda(0));
        assert_eq!(least_busy(&gpus, &[Cuda(0)]), Cuda(1));
        assert_eq!(least_busy(&gpus, &[Cuda(0), Cuda(1)]), Cuda(2));
        assert_eq!(least_busy(&gpus, &[Cuda(1), Cuda(2), Cuda(2)]), Cuda(0));
        assert_eq!(least_busy(&gpus, &[Cuda(0), Cuda(1), Cuda(2)]), Cuda(0));
        assert_eq!(least_busy(&gpus, &[Cuda(0), Cuda(2), Cuda(0)]), Cuda(1));
    }
}
