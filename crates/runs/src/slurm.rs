//! Sweeps on a Slurm cluster: an experiment file as one job array, a task per run.
//!
//! A task finds its run by its index in the resolved grid ([`run_at`]), and the script carries
//! the grid's hash ([`grid_hash`]), so a task started after the file was edited refuses to run
//! rather than train a different run under the same index. The conventions are submitit's:
//! arrays as `0-(n−1)%limit`, logs as `%A_%a`, `USR2` some seconds before the time limit, and
//! `--requeue`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::{ExperimentFile, RunSpec};
use crate::{bail, invalid, Context, Result};

/// The folder of a sweep's Slurm files (the script and the task logs).
pub const SLURM_DIR: &str = "slurm";
/// The array's script in [`SLURM_DIR`].
pub const SCRIPT: &str = "sweep.sbatch";
/// The gathering job's script in [`SLURM_DIR`].
pub const GATHER_SCRIPT: &str = "gather.sbatch";
/// The folder of the sweep's folder where the gathering job draws the file's figures.
pub const FIGURES: &str = "figures";

/// What the array asks of Slurm; each is sbatch's own option of the same name.
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub account: Option<String>,
    /// At most this many tasks at once (the array's `%N`).
    pub array_limit: Option<u32>,
    /// Seconds before the time limit that a task is sent USR2 (checkpoint and requeue).
    pub grace_seconds: u32,
    /// Any other `#SBATCH` option, verbatim (`--qos=high`).
    pub extra: Vec<String>,
}

/// The hash of a resolved grid: every run's place and config, in order. An edit that changes
/// any run (or the order) changes it.
pub fn grid_hash(runs: &[RunSpec]) -> Result<String> {
    let mut text = String::new();
    for r in runs {
        let _ = writeln!(text, "{} {}", r.path(), r.config.hash()?);
    }
    Ok(iterand_train::sha256_hex(text.as_bytes()))
}

/// Refuse `runs` (the grid of `file`) unless it still hashes to `expected`, the hash the job
/// was submitted with.
pub fn check_hash(file: &ExperimentFile, runs: &[RunSpec], expected: Option<&str>) -> Result<()> {
    let Some(want) = expected else {
        return Ok(());
    };
    let have = grid_hash(runs)?;
    if have != want {
        bail!(
            "{}: the experiment file changed since the job was submitted (grid hash {have}, \
             the job's {want}); submit it again",
            file.name
        );
    }
    Ok(())
}

/// Run `index` of `runs` (the grid of `file`), if the grid is still the one hashed `expected`.
pub fn run_at(
    file: &ExperimentFile,
    runs: &[RunSpec],
    index: usize,
    expected: Option<&str>,
) -> Result<RunSpec> {
    check_hash(file, runs, expected)?;
    match runs.get(index) {
        Some(r) => Ok(r.clone()),
        None => bail!(
            "{}: grid index {index} is out of range (the grid has {} runs, 0 to {})",
            file.name,
            runs.len(),
            runs.len().saturating_sub(1)
        ),
    }
}

/// The array task this process is, as `scontrol requeue` names it (`<job>_<task>`), from the
/// environment Slurm gives a task (`SLURM_ARRAY_JOB_ID`, `SLURM_ARRAY_TASK_ID`); `None`
/// outside an array task.
pub fn array_task(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let job = env("SLURM_ARRAY_JOB_ID").filter(|j| !j.is_empty())?;
    let task = env("SLURM_ARRAY_TASK_ID").filter(|t| !t.is_empty())?;
    Some(format!("{job}_{task}"))
}

/// What the script runs for each task: `command` followed by the task's index and the grid's
/// hash (the binary's own spelling of them).
pub struct Task<'a> {
    /// The command line up to the index, each word as it is to be quoted.
    pub command: Vec<String>,
    pub runs: usize,
    pub hash: &'a str,
    /// The sweep's folder; logs go to its `slurm/`.
    pub sweep_dir: &'a Path,
    /// Where the jobs start (`--chdir`): the submitting folder, which relative paths in the
    /// command and the logs are relative to.
    pub workdir: &'a Path,
}

/// The job array's script.
pub fn script(task: &Task, o: &SlurmOptions, name: &str) -> String {
    let limit = o.array_limit.map_or(String::new(), |l| format!("%{l}"));
    let array = format!("0-{}{limit}", task.runs.saturating_sub(1));
    let log = task.sweep_dir.join(SLURM_DIR).join("%A_%a.out");
    let mut s = header(name, task.workdir, &log);
    let mut opt = |k: &str, v: &str| {
        let _ = writeln!(s, "#SBATCH --{k}={v}");
    };
    opt("array", &array);
    opt("signal", &format!("B:USR2@{}", o.grace_seconds));
    let named = [
        ("partition", o.partition.clone()),
        ("time", o.time.clone()),
        ("gpus-per-task", o.gpus_per_task.map(|g| g.to_string())),
        ("cpus-per-task", o.cpus_per_task.map(|c| c.to_string())),
        ("mem", o.mem.clone()),
        ("account", o.account.clone()),
    ];
    for (k, v) in named.iter().filter_map(|(k, v)| Some((k, v.as_ref()?))) {
        opt(k, v);
    }
    s += "#SBATCH --requeue\n";
    for e in &o.extra {
        let _ = writeln!(s, "#SBATCH {e}");
    }
    let _ = writeln!(s, "# grid hash {}", task.hash);
    let _ = writeln!(
        s,
        "exec {} --index \"$SLURM_ARRAY_TASK_ID\" --grid-hash {}",
        words(&task.command),
        task.hash
    );
    s
}

/// The gathering job's script: after the array (`sbatch --dependency=afterany:<array>`), it
/// runs `command` followed by `--gather` (rebuild `results.csv`, draw the file's figures), on
/// one CPU of the array's partition and account.
pub fn gather_script(task: &Task, o: &SlurmOptions, name: &str) -> String {
    let log = task.sweep_dir.join(SLURM_DIR).join("gather_%j.out");
    let mut s = header(&format!("{name}-gather"), task.workdir, &log);
    let named = [("partition", &o.partition), ("account", &o.account)];
    for (k, v) in named.iter().filter_map(|(k, v)| Some((k, v.as_ref()?))) {
        let _ = writeln!(s, "#SBATCH --{k}={v}");
    }
    s += "#SBATCH --cpus-per-task=1\n";
    let _ = writeln!(s, "# grid hash {}", task.hash);
    let _ = writeln!(
        s,
        "exec {} --gather --grid-hash {}",
        words(&task.command),
        task.hash
    );
    s
}

/// A script's first lines: the shell, the job's name, its folder and its log.
fn header(name: &str, workdir: &Path, log: &Path) -> String {
    format!(
        "#!/bin/bash\n#SBATCH --job-name={name}\n#SBATCH --chdir={}\n#SBATCH --output={}\n",
        workdir.display(),
        log.display()
    )
}

/// The words of a command, each quoted for the shell.
fn words(command: &[String]) -> String {
    command
        .iter()
        .map(|w| quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `w` as one shell word.
fn quote(w: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !w.is_empty() && w.chars().all(plain) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// Where the array's script of the sweep in `sweep_dir` is written.
pub fn script_path(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join(SLURM_DIR).join(SCRIPT)
}

/// Where the gathering job's script of the sweep in `sweep_dir` is written.
pub fn gather_script_path(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join(SLURM_DIR).join(GATHER_SCRIPT)
}

/// The jobs a `--slurm` submission started, kept in the sweep's [`SLURM_DIR`] as [`JOBS`] so
/// that its status can ask Slurm about them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jobs {
    /// The array's job id.
    pub array: String,
    /// The gathering job's id.
    pub gather: Option<String>,
}

/// The file of the submitted [`Jobs`].
pub const JOBS: &str = "jobs.json";

impl Jobs {
    pub fn path(sweep_dir: &Path) -> PathBuf {
        sweep_dir.join(SLURM_DIR).join(JOBS)
    }

    /// Write them, replacing an earlier submission's.
    pub fn save(&self, sweep_dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| invalid!("{e}"))?;
        Ok(iterand_train::write_atomic(
            &Self::path(sweep_dir),
            text.as_bytes(),
        )?)
    }

    /// The last submission's, if the sweep was submitted.
    pub fn load(sweep_dir: &Path) -> Result<Option<Self>> {
        let path = Self::path(sweep_dir);
        match std::fs::read_to_string(&path) {
            Ok(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| invalid!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| path.display()),
        }
    }
}

/// Each job's state by its id (`41_3` for an array task, `42` for a job), from the output of
/// `squeue -h -r -o %i|%T` or `sacct -n -X -P -o JobID,State` (`CANCELLED by 0` is kept as
/// `CANCELLED`); lines of another shape (a pending range `41_[4-5]`) are left out.
pub fn parse_states(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (id, state) = l.trim().split_once('|')?;
            let state = state.split_whitespace().next()?;
            let plain = |c: char| c.is_ascii_digit() || c == '_';
            (!id.is_empty() && id.chars().all(plain)).then(|| (id.into(), state.into()))
        })
        .collect()
}

/// The states of `jobs`' ids as Slurm reports them: `sacct`'s (which keeps ended jobs, where
/// accounting is on), then `squeue`'s over them (the live ones). `run` runs a command and
/// gives its output, `None` when it cannot.
pub fn states(
    jobs: &Jobs,
    run: &dyn Fn(&str, &[&str]) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for id in std::iter::once(&jobs.array).chain(&jobs.gather) {
        let sacct = ["-n", "-X", "-P", "-o", "JobID,State", "-j", id];
        let squeue = ["-h", "-r", "-o", "%i|%T", "-j", id];
        for (cmd, args) in [("sacct", &sacct[..]), ("squeue", &squeue[..])] {
            out.extend(run(cmd, args).map_or_else(BTreeMap::new, |t| parse_states(&t)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
description = "digits, two widths × three seeds"
[base]
dataset = "digits"
model = "fc"
epochs = 1
[grid]
width = [0.25, 0.5]
seed = [1, 2, 3]
[experiments.ep]
method = "edge-popup"
"#;

    #[test]
    fn a_task_finds_its_run_by_index_and_refuses_an_edited_grid() {
        let f = ExperimentFile::parse("d", FILE).unwrap();
        let runs = f.runs(&toml::Table::new()).unwrap();
        let hash = grid_hash(&runs).unwrap();
        let r = run_at(&f, &runs, 4, Some(&hash)).unwrap();
        assert_eq!(r.path(), "d_ep/width_0.5--seed_2");
        let e = run_at(&f, &runs, 6, Some(&hash)).unwrap_err().to_string();
        assert!(
            e.contains("d:") && e.contains("index 6") && e.contains("0 to 5"),
            "{e}"
        );
        let edited = ExperimentFile::parse("d", &FILE.replace("0.5]", "0.75]")).unwrap();
        let runs2 = edited.runs(&toml::Table::new()).unwrap();
        let e = run_at(&edited, &runs2, 4, Some(&hash))
            .unwrap_err()
            .to_string();
        assert!(e.contains("d:") && e.contains("changed"), "{e}");
        assert_ne!(grid_hash(&runs2).unwrap(), hash);
    }

    #[test]
    fn an_array_task_is_named_job_underscore_task() {
        let env = |k: &str| match k {
            "SLURM_ARRAY_JOB_ID" => Some("41".to_string()),
            "SLURM_ARRAY_TASK_ID" => Some("3".to_string()),
            _ => None,
        };
        assert_eq!(array_task(env).as_deref(), Some("41_3"));
        assert_eq!(array_task(|_| None), None);
    }

    #[test]
    fn the_script_is_an_array_with_its_throttle_logs_signal_and_requeue() {
        let task = Task {
            command: vec![
                "/bin/sweep".into(),
                "my file.toml".into(),
                "--out".into(),
                "runs".into(),
            ],
            runs: 6,
            hash: "sha256:ab",
            sweep_dir: Path::new("runs/d"),
            workdir: Path::new("/home/me/iterand"),
        };
        let o = SlurmOptions {
            array_limit: Some(2),
            grace_seconds: 90,
            partition: Some("gpu".into()),
            cpus_per_task: Some(4),
            extra: vec!["--qos=high".into()],
            ..SlurmOptions::default()
        };
        let s = script(&task, &o, "d");
        for line in [
            "#!/bin/bash",
            "#SBATCH --chdir=/home/me/iterand",
            "#SBATCH --array=0-5%2",
            "#SBATCH --output=runs/d/slurm/%A_%a.out",
            "#SBATCH --signal=B:USR2@90",
            "#SBATCH --partition=gpu",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --requeue",
            "#SBATCH --qos=high",
            "exec /bin/sweep 'my file.toml' --out runs --index \"$SLURM_ARRAY_TASK_ID\" \
             --grid-hash sha256:ab",
        ] {
            assert!(s.lines().any(|l| l == line), "{line}\n{s}");
        }
        assert!(!s.contains("--time"), "{s}");
        let g = gather_script(&task, &o, "d");
        for line in [
            "#SBATCH --job-name=d-gather",
            "#SBATCH --output=runs/d/slurm/gather_%j.out",
            "#SBATCH --partition=gpu",
            "#SBATCH --cpus-per-task=1",
            "exec /bin/sweep 'my file.toml' --out runs --gather --grid-hash sha256:ab",
        ] {
            assert!(g.lines().any(|l| l == line), "{line}\n{g}");
        }
        assert!(!g.contains("--array") && !g.contains("--qos"), "{g}");
    }

    #[test]
    fn states_come_from_sacct_then_squeue_and_ranges_are_left_out() {
        let text = "41_0|COMPLETED\n41_1|CANCELLED by 0\n41_[4-5%2]|PENDING\n42|PENDING\n";
        let s = parse_states(text);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s["41_1"], "CANCELLED");
        assert_eq!(s["42"], "PENDING");
        let jobs = Jobs {
            array: "41".into(),
            gather: Some("42".into()),
        };
        let asked = std::cell::RefCell::new(vec![]);
        let run = |cmd: &str, args: &[&str]| {
            asked.borrow_mut().push(format!("{cmd} {}", args.join(" ")));
            match (cmd, args.last()) {
                ("sacct", Some(&"41")) => Some("41_0|COMPLETED\n41_1|RUNNING\n".to_string()),
                ("squeue", Some(&"41")) => Some("41_1|COMPLETING\n41_2|PENDING\n".into()),
                _ => None,
            }
        };
        let s = states(&jobs, &run);
        assert_eq!(s["41_0"], "COMPLETED");
        assert_eq!(s["41_1"], "COMPLETING");
        assert_eq!(s["41_2"], "PENDING");
        assert!(!s.contains_key("42"));
        let asked = asked.into_inner();
        assert_eq!(asked.len(), 4, "{asked:?}");
        assert_eq!(asked[1], "squeue -h -r -o %i|%T -j 41");
    }

    #[test]
    fn jobs_are_saved_beside_the_script() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Jobs::load(dir.path()).unwrap(), None);
        std::fs::create_dir_all(dir.path().join(SLURM_DIR)).unwrap();
        let jobs = Jobs {
            array: "41".into(),
            gather: None,
        };
        jobs.save(dir.path()).unwrap();
        assert_eq!(Jobs::load(dir.path()).unwrap(), Some(jobs));
        std::fs::write(Jobs::path(dir.path()), "{").unwrap();
        let e = Jobs::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("jobs.json"), "{e}");
    }
}
