//! How the processes that trained a run ended when they did not finish it: one line each in
//! the run folder's [`ENDINGS`]. A sweep's status reads the last one ("failed: <error>"), and
//! a Slurm array task counts its own job's failures there to bound its retries, which Slurm's
//! restart count cannot do (it also counts the requeues at each time limit).

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{invalid, Context, Result};

/// The file of a run folder that holds its endings, one JSON line each.
pub const ENDINGS: &str = "endings.jsonl";

/// How one process stopped training a run without finishing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ending", rename_all = "snake_case")]
pub enum Ending {
    /// Stopped with a checkpoint (Ctrl-C, TERM, or USR2 before a time limit).
    Stopped {
        /// The Slurm array job it ran in, if any.
        job: Option<String>,
    },
    /// Stopped by an error, whose message (one line) is kept.
    Failed { job: Option<String>, error: String },
}

impl Ending {
    /// A failure, its message on one line.
    pub fn failed(job: Option<String>, error: &str) -> Self {
        let error = error.split_whitespace().collect::<Vec<_>>().join(" ");
        Ending::Failed { job, error }
    }

    fn job(&self) -> Option<&str> {
        match self {
            Ending::Stopped { job } | Ending::Failed { job, .. } => job.as_deref(),
        }
    }
}

/// Append `ending` to the endings of the run folder `dir`.
pub fn record(dir: &Path, ending: &Ending) -> Result<()> {
    let path = dir.join(ENDINGS);
    let mut line = serde_json::to_string(ending).map_err(|e| invalid!("{e}"))?;
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| path.display())?;
    f.write_all(line.as_bytes()).with_context(|| path.display())
}

/// The endings of the run folder `dir`, oldest first (none when it has no file).
pub fn read(dir: &Path) -> Result<Vec<Ending>> {
    let path = dir.join(ENDINGS);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).with_context(|| path.display()),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| invalid!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// How many of `endings` are failures in the Slurm job `job` (or outside Slurm, `None`).
pub fn failures_in(endings: &[Ending], job: Option<&str>) -> usize {
    endings
        .iter()
        .filter(|e| matches!(e, Ending::Failed { .. }) && e.job() == job)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_round_trip_and_failures_count_per_job() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        let job = |j: &str| Some(j.to_string());
        let all = [
            Ending::failed(job("7"), "loading digits:\n  no such file"),
            Ending::Stopped { job: job("7") },
            Ending::failed(job("7"), "again"),
            Ending::failed(job("9"), "a later job"),
            Ending::failed(None, "a local sweep"),
        ];
        for e in &all {
            record(dir.path(), e).unwrap();
        }
        let back = read(dir.path()).unwrap();
        assert_eq!(back, all);
        assert_eq!(
            back[0],
            Ending::Failed {
                job: job("7"),
                error: "loading digits: no such file".into()
            }
        );
        assert_eq!(failures_in(&back, Some("7")), 2);
        assert_eq!(failures_in(&back, Some("9")), 1);
        assert_eq!(failures_in(&back, None), 1);
        let text = std::fs::read_to_string(dir.path().join(ENDINGS)).unwrap();
        assert!(
            text.starts_with(r#"{"ending":"failed","job":"7","#),
            "{text}"
        );
        std::fs::write(dir.path().join(ENDINGS), "{\"ending\":\"lost\"}\n").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("endings.jsonl line 1"), "{e}");
    }
}
