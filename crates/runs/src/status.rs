//! Where each run of an experiment file stands, read from its folder (finished, running,
//! stopped at a checkpoint, failed with its error, or not started), with the Slurm state of its
//! array task beside it when the sweep was submitted: what `sweep FILE --status` prints.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use iterand_train::{RunDir, RunState};

use crate::endings::{self, Ending};
use crate::results::{finished, run_dir};
use crate::slurm::Jobs;
use crate::spec::{ExperimentFile, RunSpec};
use crate::Result;

/// Where one run stands, from its folder.
#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    /// Nothing trained yet.
    New,
    /// A process holds its lock; `epoch` epochs done of `epochs`.
    Running { epoch: usize, epochs: usize },
    /// Stopped with a checkpoint after `epoch` epochs and `step` more batches.
    Stopped {
        epoch: usize,
        step: usize,
        epochs: usize,
    },
    /// Its last process failed: how many times in its last job, and the last error.
    Failed { tries: usize, error: String },
    /// Finished with this run's config; its test accuracy (percent).
    Finished { test_acc: f64 },
    /// Its folder holds a finished run of another config (the file was edited since).
    Other,
}

impl RunStatus {
    /// The word a summary counts it under.
    pub fn word(&self) -> &'static str {
        match self {
            RunStatus::New => "new",
            RunStatus::Running { .. } => "running",
            RunStatus::Stopped { .. } => "stopped",
            RunStatus::Failed { .. } => "failed",
            RunStatus::Finished { .. } => "finished",
            RunStatus::Other => "other",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunStatus::New => write!(f, "new"),
            RunStatus::Running { epoch, epochs } => {
                write!(f, "running, {epoch} of {epochs} epochs done")
            }
            RunStatus::Stopped {
                epoch,
                step,
                epochs,
            } => {
                write!(f, "stopped at epoch {epoch} of {epochs}")?;
                if *step > 0 {
                    write!(f, " (+{step} batches)")?;
                }
                Ok(())
            }
            RunStatus::Failed { tries, error } => {
                let s = if *tries == 1 { "" } else { "s" };
                write!(f, "failed ({tries} time{s}): {error}")
            }
            RunStatus::Finished { test_acc } => write!(f, "finished, test {test_acc:.2} %"),
            RunStatus::Other => write!(f, "holds a finished run of another config"),
        }
    }
}

/// The status of `run` of `file` under `root`.
pub fn of_run(root: &Path, file: &ExperimentFile, run: &RunSpec) -> Result<RunStatus> {
    if let Some(s) = finished(root, file, run)? {
        return Ok(RunStatus::Finished {
            test_acc: s.test_acc,
        });
    }
    let dir = run_dir(root, file, run);
    let epochs = run.config.epochs;
    let (running, last) = match RunDir::existing(&dir).state() {
        RunState::Finished(_) => return Ok(RunStatus::Other),
        RunState::New => (false, None),
        RunState::Started { running, last } => (running, last),
    };
    let (epoch, step) = last.as_ref().map_or((0, 0), |p| (p.epoch, p.step));
    if running {
        return Ok(RunStatus::Running { epoch, epochs });
    }
    let ends = endings::read(&dir)?;
    if let Some(Ending::Failed { job, error }) = ends.last() {
        let tries = endings::failures_in(&ends, job.as_deref());
        let error = error.clone();
        return Ok(RunStatus::Failed { tries, error });
    }
    Ok(match last {
        None => RunStatus::New,
        Some(_) => RunStatus::Stopped {
            epoch,
            step,
            epochs,
        },
    })
}

/// One line of the status: the run's index in the grid, its folder, its status and, when the
/// sweep was submitted to Slurm, its array task's state.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusRow {
    pub index: usize,
    pub run: String,
    pub status: RunStatus,
    pub slurm: Option<String>,
}

/// Every run of `file`'s grid `runs` under `root`; `slurm` holds the Slurm states by job id
/// (`<array>_<index>`) of the submission `jobs`.
pub fn rows(
    root: &Path,
    file: &ExperimentFile,
    runs: &[RunSpec],
    jobs: Option<&Jobs>,
    slurm: &BTreeMap<String, String>,
) -> Result<Vec<StatusRow>> {
    runs.iter()
        .enumerate()
        .map(|(index, run)| {
            let slurm = jobs.and_then(|j| slurm.get(&format!("{}_{index}", j.array)).cloned());
            Ok(StatusRow {
                index,
                run: run.path(),
                status: of_run(root, file, run)?,
                slurm,
            })
        })
        .collect()
}

/// The table: one line per run, the Slurm column only when some run has a state there.
pub fn table(rows: &[StatusRow]) -> String {
    let with_slurm = rows.iter().any(|r| r.slurm.is_some());
    let width = rows.iter().map(|r| r.run.len()).max().unwrap_or(3).max(3);
    let mut out = String::new();
    for r in rows {
        let slurm = match (&r.slurm, with_slurm) {
            (Some(s), _) => format!("{s:<11} "),
            (None, true) => format!("{:<11} ", "-"),
            (None, false) => String::new(),
        };
        out += &format!("{:>3}  {:<width$}  {slurm}{}\n", r.index, r.run, r.status);
    }
    out
}

/// `6 runs: 4 finished, 1 running, 1 failed` (the states in a fixed order).
pub fn summary(rows: &[StatusRow]) -> String {
    let order = ["finished", "running", "stopped", "failed", "new", "other"];
    let counts: Vec<String> = order
        .iter()
        .filter_map(|w| {
            let n = rows.iter().filter(|r| r.status.word() == *w).count();
            (n > 0).then(|| format!("{n} {w}"))
        })
        .collect();
    format!("{} runs: {}", rows.len(), counts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[base]\ndataset = \"digits\"\nmodel = \"fc\"\n[grid]\nseed = [1, 2, 3]\n\
                        [experiments.ep]\nmethod = \"edge-popup\"\n";

    #[test]
    fn a_run_whose_last_process_failed_is_failed_with_its_job_s_tries() {
        let root = tempfile::tempdir().unwrap();
        let f = ExperimentFile::parse("d", FILE).unwrap();
        let runs = f.runs(&toml::Table::new()).unwrap();
        let dir = |i: usize| {
            let d = run_dir(root.path(), &f, &runs[i]);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        let job = Some("7".to_string());
        endings::record(&dir(1), &Ending::failed(None, "an older local failure")).unwrap();
        for error in ["loading digits: gone", "loading digits: still gone"] {
            endings::record(&dir(1), &Ending::failed(job.clone(), error)).unwrap();
        }
        endings::record(&dir(2), &Ending::failed(job.clone(), "once")).unwrap();
        endings::record(&dir(2), &Ending::Stopped { job: job.clone() }).unwrap();
        let jobs = Jobs {
            array: "7".into(),
            gather: None,
        };
        let slurm = BTreeMap::from([("7_1".to_string(), "FAILED".to_string())]);
        let rows = rows(root.path(), &f, &runs, Some(&jobs), &slurm).unwrap();
        let failed = RunStatus::Failed {
            tries: 2,
            error: "loading digits: still gone".into(),
        };
        assert_eq!(rows[1].status, failed);
        assert_eq!(rows[0].status, RunStatus::New);
        assert_eq!(
            rows[2].status,
            RunStatus::New,
            "stopped before a checkpoint"
        );
        assert_eq!(rows[1].slurm.as_deref(), Some("FAILED"));
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[1],
            "  1  d_ep/seed_2  FAILED      failed (2 times): loading digits: still gone"
        );
        assert_eq!(lines[0], "  0  d_ep/seed_1  -           new");
        assert_eq!(summary(&rows), "3 runs: 1 failed, 2 new");
    }

    #[test]
    fn each_status_reads_as_a_person_would_say_it() {
        let s = |r: RunStatus| r.to_string();
        assert_eq!(
            s(RunStatus::Running {
                epoch: 2,
                epochs: 5
            }),
            "running, 2 of 5 epochs done"
        );
        let stopped = |step| RunStatus::Stopped {
            epoch: 1,
            step,
            epochs: 3,
        };
        assert_eq!(s(stopped(0)), "stopped at epoch 1 of 3");
        assert_eq!(s(stopped(4)), "stopped at epoch 1 of 3 (+4 batches)");
        assert_eq!(
            s(RunStatus::Finished { test_acc: 93.456 }),
            "finished, test 93.46 %"
        );
        let once = RunStatus::Failed {
            tries: 1,
            error: "e".into(),
        };
        assert_eq!(s(once), "failed (1 time): e");
    }
}
