//! `sweep FILE --slurm` against a real Slurm started on this machine (issue 39): the array runs
//! every run of the file as the local sweep would, a task requeued mid-run resumes to the same
//! bits, a failing task is retried a bounded number of times, and a task refuses a file edited
//! after the submission.
//!
//! One test drives the one cluster through each case in turn (the node has two CPUs).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::cluster::Cluster;
use common::{succeed, tensors, timeless_metrics};

const SWEEP: &str = env!("CARGO_BIN_EXE_sweep");
const LONG: Duration = Duration::from_secs(600);

#[test]
fn sweeps_run_as_job_arrays_on_a_real_slurm() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    six_runs_with_two_at_a_time_equal_the_local_sweep(&cluster, dir.path());
    a_task_requeued_mid_run_ends_bit_identical(&cluster, dir.path());
    a_failing_task_is_retried_then_left_failed(&cluster, dir.path());
    a_task_refuses_a_file_edited_after_submission(&cluster, dir.path());
}

/// `sweep <args>` for the cluster, from `dir`.
fn sweep(cluster: &Cluster, dir: &Path, args: &[&str]) -> Command {
    let mut c = cluster.command(SWEEP);
    c.args(args).current_dir(dir);
    c
}

/// Submit `file` with `args`; the array's and the gathering job's ids.
fn submit(cluster: &Cluster, dir: &Path, file: &str, args: &[&str]) -> (String, String) {
    let mut all = vec![file, "--out", "runs", "--slurm"];
    all.extend(args);
    let out = succeed(&mut sweep(cluster, dir, &all));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ids: Vec<String> = text
        .split_whitespace()
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()))
        .map(String::from)
        .collect();
    assert!(
        text.starts_with("submitted array job") && ids.len() >= 2,
        "{text}"
    );
    (ids[0].clone(), ids[1].clone())
}

fn status(cluster: &Cluster, dir: &Path, file: &str) -> String {
    let out = succeed(&mut sweep(
        cluster,
        dir,
        &[file, "--out", "runs", "--status"],
    ));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// results.csv without its wall-time column.
fn timeless_results(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let at = r.headers().unwrap().iter().position(|h| h == "seconds");
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect());
    std::iter::once(header)
        .chain(rows)
        .map(|mut row: Vec<String>| {
            if let Some(i) = at {
                row.remove(i);
            }
            row
        })
        .collect()
}

fn six_runs_with_two_at_a_time_equal_the_local_sweep(cluster: &Cluster, dir: &Path) {
    let text = "description = \"digits, two widths × three seeds (a Slurm test)\"\nfigure = 2\n\
                [base]\ndataset = \"digits\"\nmodel = \"fc\"\nepochs = 2\n[grid]\n\
                width = [0.25, 0.5]\nseed = [1, 2, 3]\n[experiments.ep]\n\
                method = \"edge-popup\"\n";
    std::fs::write(dir.join("d6.toml"), text).unwrap();
    let (array, gather) = submit(cluster, dir, "d6.toml", &["--array-limit", "2"]);
    let script = std::fs::read_to_string(dir.join("runs/d6/slurm/sweep.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-5%2\n"), "{script}");
    cluster.wait_done(&array, LONG);
    cluster.wait_done(&gather, LONG);
    let s = status(cluster, dir, "d6.toml");
    assert!(s.contains("6 runs: 6 finished"), "{s}");
    assert_eq!(s.matches("finished, test").count(), 6, "{s}");
    assert!(s.contains(&format!("array job {array}")), "{s}");
    for i in 0..6 {
        let log = dir.join(format!("runs/d6/slurm/{array}_{i}.out"));
        assert!(log.is_file(), "{}", log.display());
    }
    let gathered = std::fs::read_to_string(dir.join(format!("runs/d6/slurm/gather_{gather}.out")));
    assert!(gathered.unwrap().contains("6 of 6 runs finished"));
    assert!(dir.join("runs/d6/figures/figure2_fc_width.csv").is_file());
    succeed(&mut sweep(
        cluster,
        dir,
        &["d6.toml", "--out", "local", "-q"],
    ));
    assert_eq!(
        timeless_results(&dir.join("runs/d6/results.csv")),
        timeless_results(&dir.join("local/d6/results.csv"))
    );
}

fn a_task_requeued_mid_run_ends_bit_identical(cluster: &Cluster, dir: &Path) {
    let text = "description = \"synthetic-size digits run\"\n[base]\ndataset = \"digits\"\n\
                model = \"resnet18\"\nwidth = 0.125\nepochs = 4\nbatch_size = 64\n\
                rerand_freq = 4\n[grid]\nseed = [3]\n[experiments.it]\nmethod = \"iterand\"\n";
    std::fs::write(dir.join("k.toml"), text).unwrap();
    let whole = [
        "k.toml",
        "--index",
        "0",
        "--out",
        "whole",
        "--log-every",
        "1",
    ];
    succeed(&mut sweep(cluster, dir, &whole));
    let args = ["--log-every", "1", "--cpus-per-task", "2"];
    let (array, _) = submit(cluster, dir, "k.toml", &args);
    let run = dir.join("runs/k/k_it/seed_3");
    let lines = |p: &Path| std::fs::read_to_string(p).map_or(0, |t| t.lines().count());
    cluster.wait_for(LONG, "26 steps", |_| {
        lines(&run.join("metrics.jsonl")) >= 26
    });
    let task = format!("{array}_0");
    assert!(cluster
        .command("scontrol")
        .args(["requeue", &task])
        .status()
        .unwrap()
        .success());
    cluster.wait_done(&array, LONG);
    assert_eq!(lines(&run.join("sessions.jsonl")), 2, "it resumed once");
    let endings = std::fs::read_to_string(run.join("endings.jsonl")).unwrap();
    assert_eq!(
        endings,
        format!("{{\"ending\":\"stopped\",\"job\":\"{array}\"}}\n")
    );
    let whole = dir.join("whole/k/k_it/seed_3");
    assert_eq!(tensors(&run), tensors(&whole));
    assert_eq!(timeless_metrics(&run), timeless_metrics(&whole));
}

fn a_failing_task_is_retried_then_left_failed(cluster: &Cluster, dir: &Path) {
    let text = "description = \"a run whose data is missing\"\n[base]\ndataset = \"cifar10\"\n\
                data = \"/nonexistent/cifar\"\nmodel = \"fc\"\nepochs = 1\n[grid]\nseed = [1]\n\
                [experiments.ep]\nmethod = \"edge-popup\"\n";
    std::fs::write(dir.join("bad.toml"), text).unwrap();
    let (array, _) = submit(cluster, dir, "bad.toml", &["--max-retries", "1"]);
    cluster.wait_done(&array, LONG);
    let s = status(cluster, dir, "bad.toml");
    assert!(
        s.contains("failed (2 times): loading cifar10:") && s.contains("1 runs: 1 failed"),
        "{s}"
    );
    let endings = std::fs::read_to_string(dir.join("runs/bad/bad_ep/seed_1/endings.jsonl"));
    let endings = endings.unwrap();
    assert_eq!(endings.lines().count(), 2, "{endings}");
    assert!(endings
        .lines()
        .all(|l| l.contains(&format!("\"job\":\"{array}\""))));
}

fn a_task_refuses_a_file_edited_after_submission(cluster: &Cluster, dir: &Path) {
    let text = "[base]\ndataset = \"digits\"\nmodel = \"fc\"\nepochs = 1\n[grid]\nseed = [1]\n\
                [experiments.ep]\nmethod = \"edge-popup\"\n";
    std::fs::write(dir.join("e.toml"), text).unwrap();
    let (array, _) = submit(cluster, dir, "e.toml", &["--sbatch-arg=--hold"]);
    std::fs::write(dir.join("e.toml"), text.replace("[1]", "[2]")).unwrap();
    let release = cluster.output("scontrol", &["release", &array]);
    cluster.wait_done(&array, LONG);
    let log = std::fs::read_to_string(dir.join(format!("runs/e/slurm/{array}_0.out"))).unwrap();
    assert!(
        log.contains("e: the experiment file changed since the job was submitted"),
        "{release}{log}"
    );
    assert!(!dir.join("runs/e/e_ep").exists());
}
