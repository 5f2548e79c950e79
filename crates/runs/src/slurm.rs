//! Sweeps on a Slurm cluster: an experiment file as one job array, a task per run.
//!
//! A task finds its run by its index in the resolved grid ([`run_at`]), and the script carries
//! the grid's hash ([`grid_hash`]), so a task started after the file was edited refuses to run
//! rather than train a different run under the same index. The conventions are submitit's:
//! arrays as `0-(n−1)%limit`, logs as `%A_%a`, `USR2` some seconds before the time limit, and
//! `--requeue`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::spec::{ExperimentFile, RunSpec};
use crate::{bail, Result};

/// The folder of a sweep's Slurm files (the script and the task logs).
pub const SLURM_DIR: &str = "slurm";
/// The script's file name in [`SLURM_DIR`].
pub const SCRIPT: &str = "sweep.sbatch";

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

/// Run `index` of `runs` (the grid of `file`), if the grid is still the one hashed `expected`.
pub fn run_at(
    file: &ExperimentFile,
    runs: &[RunSpec],
    index: usize,
    expected: Option<&str>,
) -> Result<RunSpec> {
    if let Some(want) = expected {
        let have = grid_hash(runs)?;
        if have != want {
            bail!(
                "{}: the experiment file changed since the job was submitted (grid hash {have}, \
                 the job's {want}); submit it again",
                file.name
            );
        }
    }
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
}

/// The job array's script.
pub fn script(task: &Task, o: &SlurmOptions, name: &str) -> String {
    let logs = task.sweep_dir.join(SLURM_DIR);
    let mut s = String::from("#!/bin/bash\n");
    let mut opt = |k: &str, v: &str| {
        let _ = writeln!(s, "#SBATCH --{k}={v}");
    };
    opt("job-name", name);
    let limit = o.array_limit.map_or(String::new(), |l| format!("%{l}"));
    opt(
        "array",
        &format!("0-{}{limit}", task.runs.saturating_sub(1)),
    );
    opt("output", &logs.join("%A_%a.out").display().to_string());
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
    let words: Vec<String> = task.command.iter().map(|w| quote(w)).collect();
    let _ = writeln!(
        s,
        "exec {} --index \"$SLURM_ARRAY_TASK_ID\" --grid-hash {}",
        words.join(" "),
        task.hash
    );
    s
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

/// Where the script of the sweep in `sweep_dir` is written.
pub fn script_path(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join(SLURM_DIR).join(SCRIPT)
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
    }
}
