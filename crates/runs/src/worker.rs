//! A sweep's worker: the process that trains one run of an experiment file. It takes an
//! exclusive lock on the run's folder, continues from the folder's last checkpoint if there is
//! one, and reports how it ended through its exit status, which the sweep reads
//! ([`WorkerExit`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use candle_core::Device;
use iterand_train::{Progress, Resume, RunLock, RunOptions, FILE_ONLY};

use crate::results::run_dir;
use crate::spec::{open, overrides, ExperimentFile, RunSpec};
use crate::{invalid, Context, Result};

/// How a worker ended, as its exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerExit {
    /// The run finished.
    Trained,
    /// Another process holds the run.
    Busy,
    /// Interrupted; it saved a checkpoint.
    Interrupted,
}

impl WorkerExit {
    pub const fn code(self) -> i32 {
        match self {
            WorkerExit::Trained => 0,
            WorkerExit::Busy => 75,
            WorkerExit::Interrupted => 130,
        }
    }

    /// The ending an exit status stands for (`None`: the worker failed).
    pub fn of_code(code: Option<i32>) -> Option<Self> {
        [Self::Trained, Self::Busy, Self::Interrupted]
            .into_iter()
            .find(|w| Some(w.code()) == code)
    }
}

/// A run whose folder this process holds.
pub struct Claimed {
    pub run: RunSpec,
    pub dir: PathBuf,
    _lock: RunLock,
}

/// Find run `which` (`<experiment>/<id>`) of `file_arg` with the overrides `set`, and lock
/// its folder under `root`; `None` when another process holds it.
pub fn claim(
    file_arg: &str,
    which: &str,
    root: &Path,
    set: &[(String, toml::Value)],
) -> Result<Option<Claimed>> {
    let file = open(file_arg)?;
    let run = file
        .runs(&overrides(set))?
        .into_iter()
        .find(|r| r.path() == which)
        .ok_or_else(|| invalid!("{which}: no such run in {}", file.name))?;
    lock(&file, run, root)
}

/// Run `index` of the grid of `file_arg` with the overrides `set` (a Slurm array task), if the
/// grid still hashes to `hash`, and lock its folder under `root`; `None` when another process
/// holds it.
pub fn claim_at(
    file_arg: &str,
    index: usize,
    hash: Option<&str>,
    root: &Path,
    set: &[(String, toml::Value)],
) -> Result<Option<Claimed>> {
    let file = open(file_arg)?;
    let runs = file.runs(&overrides(set))?;
    let run = crate::slurm::run_at(&file, &runs, index, hash)?;
    lock(&file, run, root)
}

fn lock(file: &ExperimentFile, run: RunSpec, root: &Path) -> Result<Option<Claimed>> {
    let dir = run_dir(root, file, &run);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(RunLock::acquire(&dir)?.map(|lock| Claimed {
        run,
        dir,
        _lock: lock,
    }))
}

/// Train the claimed run, resuming from its checkpoint; `interrupt` stops it after the current
/// step with a checkpoint.
pub fn train(
    c: &Claimed,
    device: &Device,
    log_every: Option<u64>,
    interrupt: Arc<AtomicBool>,
) -> Result<WorkerExit> {
    let cfg = &c.run.config;
    let splits = cfg
        .open_data()
        .with_context(|| format!("loading {}", cfg.dataset))?;
    let opts = RunOptions {
        out: Some(c.dir.clone()),
        // Epoch lines go to the run's log (stderr shows warnings only: many runs share it);
        // the status file feeds the sweep's live view.
        progress: Progress::Status,
        resume: Resume::Auto,
        interrupt: Some(interrupt),
        stop_at_iteration: None,
        log_every,
        eval_every: None,
        eval_at: Vec::new(),
        loader: iterand_data::Loader::default(),
    };
    match iterand_train::train_with(cfg, &splits, device, &opts) {
        Ok(s) => {
            tracing::info!(target: FILE_ONLY, "test accuracy {:.2} %", s.test_acc);
            Ok(WorkerExit::Trained)
        }
        Err(iterand_train::Error::Interrupted { .. }) => Ok(WorkerExit::Interrupted),
        Err(e) => Err(e).with_context(|| format!("training {}", c.dir.display())),
    }
}
