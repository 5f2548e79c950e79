//! Sweeps: every run of an experiment file, each in its own folder, several processes at once,
//! surviving being killed.
//!
//! The sweep process only schedules. Each run is a child process, a worker
//! ([`crate::worker`]) started as the binary says ([`Launch`]), that takes an exclusive lock on
//! its run folder, continues from the folder's last checkpoint if there is one, and dies with
//! its parent (Linux `PR_SET_PDEATHSIG`), which releases the lock. So a sweep killed at any
//! moment and started again skips finished runs, resumes the unfinished ones exactly, and a
//! second sweep on the same folder never trains a run the first one holds. `results.csv` is
//! rebuilt from the finished runs' summaries after every run, through a temporary file and a
//! rename.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::device::DeviceSpec;
use crate::results::{finished, run_dir, sweep_dir, write_results};
use crate::spec::{open, overrides, ExperimentFile, RunSpec};
use crate::worker::WorkerExit;
use crate::{bail, Context, Result};

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
    /// (one run per GPU when `jobs` is their number). Empty: the CPU.
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

/// What a worker is asked to do: everything its command line must carry.
#[derive(Clone, Debug)]
pub struct Job<'a> {
    /// The experiment file as the sweep was given it (a path or a `configs/` name).
    pub file: &'a str,
    /// `<experiment>/<id>`.
    pub run: String,
    pub root: &'a Path,
    pub set: &'a [(String, toml::Value)],
    pub log_every: Option<u64>,
    pub verbose: bool,
    pub device: DeviceSpec,
}

/// How a worker process is started: the binary's to say, since the worker is the binary
/// itself under a hidden subcommand. The sweep adds the thread count, the process group and
/// the parent-death signal.
pub trait Launch {
    fn command(&self, job: &Job) -> std::io::Result<Command>;
}

/// The runs of `file` under `opts` (its overrides, and only the experiments it names).
pub fn runs_of(file: &ExperimentFile, opts: &SweepOptions) -> Result<Vec<RunSpec>> {
    let runs = file.runs(&overrides(&opts.set))?;
    for o in &opts.only {
        if !file.experiments.iter().any(|e| &e.name == o) {
            let names: Vec<&str> = file.experiments.iter().map(|e| e.name.as_str()).collect();
            bail!(
                "only = {o}: {} has no such experiment (it has {})",
                file.name,
                names.join(", ")
            );
        }
    }
    Ok(runs
        .into_iter()
        .filter(|r| opts.only.is_empty() || opts.only.contains(&r.experiment))
        .collect())
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

fn spawn(mut cmd: Command, opts: &SweepOptions) -> Result<Child> {
    cmd.stdout(std::process::Stdio::null());
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
        if finished(&opts.root, file, run)?.is_some() {
            tally.done_before += 1;
        } else {
            queue.push(run.clone());
        }
    }
    Ok(queue)
}

/// The runs in flight, and the live view that shows them.
struct Pool<'a> {
    file_arg: &'a str,
    file: &'a ExperimentFile,
    opts: &'a SweepOptions,
    launch: &'a dyn Launch,
    running: Vec<Running>,
    live: crate::live::Live,
    /// Runs accounted for so far (finished before, or ended in this sweep), of `total`.
    seen: usize,
    total: usize,
}

impl Pool<'_> {
    /// Start `run` as a worker on the device with the fewest runs.
    fn start(&mut self, run: &RunSpec) -> Result<()> {
        let busy: Vec<DeviceSpec> = self.running.iter().map(|r| r.device).collect();
        let device = least_busy(&self.opts.devices, &busy);
        let job = Job {
            file: self.file_arg,
            run: run.path(),
            root: &self.opts.root,
            set: &self.opts.set,
            log_every: self.opts.log_every,
            verbose: self.opts.verbose,
            device,
        };
        let cmd = self
            .launch
            .command(&job)
            .context("starting a sweep worker")?;
        let child = spawn(cmd, self.opts)?;
        self.running.push(Running {
            child,
            line: self.live.add(&run.path()),
            label: run.path(),
            dir: run_dir(&self.opts.root, self.file, run),
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

/// Run every unfinished run of `file_arg` (a path or a `configs/` name), each a worker that
/// `launch` starts; `stop` (set on Ctrl-C) stops them with a checkpoint.
pub fn sweep(
    file_arg: &str,
    opts: &SweepOptions,
    launch: &dyn Launch,
    stop: &AtomicBool,
) -> Result<Tally> {
    let file = open(file_arg)?;
    let runs = runs_of(&file, opts)?;
    let dir = sweep_dir(&opts.root, &file);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tally = Tally::default();
    let mut queue = unfinished(&file, &runs, opts, &mut tally)?.into_iter();
    tracing::info!(
        "{}: {} runs, {} finished before, {} to run, {} at a time, in {}",
        file.name,
        runs.len(),
        tally.done_before,
        queue.len(),
        opts.jobs,
        dir.display()
    );
    let mut pool = Pool {
        file_arg,
        file: &file,
        opts,
        launch,
        running: vec![],
        live: crate::live::Live::new(opts.jobs),
        seen: tally.done_before,
        total: runs.len(),
    };
    loop {
        while pool.running.len() < opts.jobs.max(1) && !stop.load(Ordering::SeqCst) {
            let Some(run) = queue.next() else { break };
            pool.start(&run)?;
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
            write_results(&opts.root, &file, &runs)?;
        }
    }
    tally.interrupted = stop.load(Ordering::SeqCst);
    let (path, rows) = write_results(&opts.root, &file, &runs)?;
    let total = runs.len();
    tracing::info!(
        "{}: {rows} of {total} runs finished; {}",
        file.name,
        path.display()
    );
    Ok(tally)
}

fn report(r: &Running, status: ExitStatus, seen: usize, total: usize, tally: &mut Tally) {
    let secs = r.started.elapsed().as_secs_f64();
    match WorkerExit::of_code(status.code()) {
        Some(WorkerExit::Trained) => {
            tally.trained += 1;
            tracing::info!("[{seen}/{total}] {} done ({secs:.1} s)", r.label);
        }
        Some(WorkerExit::Busy) => {
            tally.busy += 1;
            tracing::info!("[{seen}/{total}] {} is held by another sweep", r.label);
        }
        Some(WorkerExit::Interrupted) => {
            tally.interrupted = true;
            tracing::info!("[{seen}/{total}] {} stopped with a checkpoint", r.label);
        }
        None => {
            tally.failed.push(r.label.clone());
            tracing::error!(
                "[{seen}/{total}] {} failed ({status}); its {} says why",
                r.label,
                iterand_train::RunDir::LOG
            );
        }
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
