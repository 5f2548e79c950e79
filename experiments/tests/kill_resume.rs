//! A training process killed with SIGKILL at arbitrary moments and continued with
//! `--resume auto` ends bit-identical to one that was never interrupted: final weights, scores,
//! BatchNorm statistics and momentum, every metrics line, the TensorBoard events and the summary
//! (wall times aside).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{tensors, timeless_metrics};
use iterand_train::{Checkpointer, RunDir, Summary};

const ARGS: &[&str] = &[
    "--dataset",
    "digits",
    "--model",
    "resnet18",
    "--width",
    "0.125",
    "--epochs",
    "3",
    "--batch-size",
    "64",
    "--rerand-freq",
    "4",
    "--seed",
    "3",
    "--log-every",
    "1",
    "--quiet",
];

fn train(out: &Path, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_train"));
    c.args(ARGS)
        .arg("--out")
        .arg(out)
        // The weight gradient's summation order follows the thread count: fix it.
        .env("RAYON_NUM_THREADS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if resume {
        c.args(["--resume", "auto"]);
    }
    c
}

/// Optimizer steps logged so far.
fn steps_logged(out: &Path) -> u64 {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"kind\":\"step\""))
        .count() as u64
}

/// Waits until the run in `out` has logged `steps` steps, failing if `child` exits first or
/// nothing moves for five minutes.
fn wait_for_steps(child: &mut Child, out: &Path, steps: u64) {
    let t0 = Instant::now();
    while steps_logged(out) < steps {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the signal"
        );
        assert!(t0.elapsed() < Duration::from_secs(300), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Start a run and SIGKILL it once it has logged `after` steps (mid-epoch: 21 steps an epoch).
fn kill_after(out: &Path, resume: bool, after: u64) {
    let mut child = train(out, resume).spawn().unwrap();
    wait_for_steps(&mut child, out, after);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

fn finish(out: &Path, resume: bool) {
    let o = train(out, resume).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn summary(out: &Path) -> Summary {
    let mut s = RunDir::existing(out).summary().unwrap().unwrap();
    s.seconds = 0.0;
    s
}

#[test]
fn ctrl_c_saves_a_mid_epoch_checkpoint_that_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, parts) = (dir.path().join("whole"), dir.path().join("parts"));
    finish(&whole, false);

    let mut child = train(&parts, false).spawn().unwrap();
    wait_for_steps(&mut child, &parts, 26);
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let info = Checkpointer::new(&parts).info("last").unwrap().unwrap();
    let p = &info.position;
    assert_eq!((p.epoch, p.iteration), (1, 21 + p.step as u64));
    assert!(p.step > 0 && p.step < 21, "mid-epoch: {p:?}");
    assert_eq!(p.iteration, steps_logged(&parts));
    finish(&parts, true);

    assert_eq!(timeless_metrics(&parts), timeless_metrics(&whole));
    assert_eq!(summary(&parts), summary(&whole));
    assert_eq!(tensors(&parts), tensors(&whole));
}

#[test]
fn sigkilled_twice_and_resumed_equals_uninterrupted() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, parts) = (dir.path().join("whole"), dir.path().join("parts"));
    finish(&whole, false);

    kill_after(&parts, false, 30);
    let first_kill = steps_logged(&parts);
    kill_after(&parts, true, 52);
    // Without --resume a folder holding a run is refused, and left as it was.
    let o = train(&parts, false).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume auto"));
    finish(&parts, true);

    assert!(first_kill >= 30);
    // Both restarts continued from a checkpoint (a silent restart from scratch would also end
    // equal): after epoch 1 (21 steps) and after epoch 2 (42 steps).
    let log = std::fs::read_to_string(parts.join("train.log")).unwrap();
    let resumed: Vec<&str> = log.lines().filter(|l| l.contains("resuming")).collect();
    assert_eq!(resumed.len(), 2, "{log}");
    assert!(
        resumed[0].contains("iteration 21") && resumed[1].contains("iteration 42"),
        "{log}"
    );
    let m = timeless_metrics(&whole);
    assert_eq!(m.len(), 3 * 21 + 9, "one line per step, three per epoch");
    assert_eq!(timeless_metrics(&parts), m);
    // the event file: one event per line, none twice or missing, wall times aside
    let events = common::tb_reader::timeless_events(&parts);
    assert_eq!(events.len(), m.len() + 1);
    assert_eq!(events, common::tb_reader::timeless_events(&whole));
    assert_eq!(summary(&parts), summary(&whole));
    assert_eq!(tensors(&parts), tensors(&whole));
    assert!(summary(&whole).randomizations > 0);
}

/// Ctrl-C on a sweep (SIGINT to the sweep's whole process group, as a terminal sends it) stops
/// the run in progress with a mid-epoch checkpoint, exits 130, and the same command continues
/// from there. (A run that got the terminal's SIGINT and then the sweep's would quit at once,
/// without its checkpoint.)
#[test]
fn ctrl_c_on_a_sweep_checkpoints_its_runs_and_the_sweep_continues() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.toml");
    std::fs::write(
        &file,
        r#"
description = "one ResNet run on the digits, slow enough to interrupt"
[base]
dataset = "digits"
model = "resnet18"
width = 0.25
epochs = 3
batch_size = 128
rerand_freq = 4
[experiments.it]
method = "iterand"
"#,
    )
    .unwrap();
    let root = dir.path().join("runs");
    let run = root.join("slow/slow_it/run");
    let sweep = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sweep"));
        c.arg(&file)
            .arg("--out")
            .arg(&root)
            .args(["--log-every", "1", "--threads", "2", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let mut child = {
        use std::os::unix::process::CommandExt;
        sweep().process_group(0).spawn().unwrap()
    };
    wait_for_steps(&mut child, &run, 3);
    // SAFETY: kill(2) on the process group of our own child.
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), libc::SIGINT);
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let info = Checkpointer::new(&run).info("last").unwrap().unwrap();
    assert!(
        info.position.epoch == 0 && info.position.step > 0,
        "a mid-epoch checkpoint: {:?}",
        info.position
    );
    let o = sweep().output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(RunDir::existing(&run).summary().unwrap().is_some());
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    assert!(log.contains("resuming"), "{log}");
}

/// `--stop-at-step N` stops with a checkpoint after exactly N steps and exits 0, and the run
/// continues from there as if it had never stopped.
#[test]
fn stop_at_step_checkpoints_exactly_there_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, parts) = (dir.path().join("whole"), dir.path().join("parts"));
    finish(&whole, false);

    for (resume, n) in [(false, 17u64), (true, 30)] {
        let o = train(&parts, resume)
            .args(["--stop-at-step", &n.to_string()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let info = Checkpointer::new(&parts).info("last").unwrap().unwrap();
        assert_eq!(info.position.iteration, n);
        assert_eq!(steps_logged(&parts), n);
        assert!(RunDir::existing(&parts).summary().unwrap().is_none());
    }
    // A stop at or before where the run stands is refused, not silently trained past.
    let o = train(&parts, true)
        .args(["--stop-at-step", "20"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already done 30"));
    let info = Checkpointer::new(&parts).info("last").unwrap().unwrap();
    assert_eq!(info.position.iteration, 30);
    finish(&parts, true);

    assert_eq!(timeless_metrics(&parts), timeless_metrics(&whole));
    assert_eq!(summary(&parts), summary(&whole));
    assert_eq!(tensors(&parts), tensors(&whole));
}

/// A Slurm array task (`sweep FILE --index N`) sent USR2, Slurm's warning before the time
/// limit, saves a mid-epoch checkpoint and exits 130; started again it ends bit-identical to a
/// task never interrupted.
#[test]
fn usr2_on_an_array_task_checkpoints_and_the_task_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k.toml");
    let text = "description = \"synthetic-size digits run\"\n[base]\ndataset = \"digits\"\n\
                model = \"resnet18\"\nwidth = 0.125\nepochs = 3\nbatch_size = 64\n\
                rerand_freq = 4\n[grid]\nseed = [3]\n[experiments.it]\nmethod = \"iterand\"\n";
    std::fs::write(&file, text).unwrap();
    let task = |root: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sweep"));
        c.arg(&file)
            .args(["--index", "0", "--log-every", "1", "--out"])
            .arg(root)
            .env("RAYON_NUM_THREADS", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let (whole, parts) = (dir.path().join("whole"), dir.path().join("parts"));
    assert!(task(&whole).status().unwrap().success());
    let run = |root: &Path| root.join("k").join("k_it").join("seed_3");
    let mut child = task(&parts).spawn().unwrap();
    wait_for_steps(&mut child, &run(&parts), 26);
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGUSR2);
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let p = Checkpointer::new(&run(&parts))
        .info("last")
        .unwrap()
        .unwrap()
        .position;
    assert!(p.epoch == 1 && p.step > 0, "mid-epoch: {p:?}");
    assert!(task(&parts).status().unwrap().success());
    assert_eq!(tensors(&run(&parts)), tensors(&run(&whole)));
    assert_eq!(
        timeless_metrics(&run(&parts)),
        timeless_metrics(&run(&whole))
    );
}
