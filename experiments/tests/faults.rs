//! Faults injected on a run folder: a disk that fills during a checkpoint, a read-only folder,
//! a checkpoint damaged on disk, and a SIGKILL in the middle of a checkpoint write. Each run that
//! continues afterwards must end bit-identical to one that never met the fault.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{first_difference, timeless_metrics};
use iterand_train::{Checkpointer, LAST};

/// Digits, ResNet-18 ×0.125: 21 steps an epoch, R every 4 steps, a ~2.5 MB checkpoint.
fn train(out: &Path, width: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_train"));
    c.args([
        "--dataset",
        "digits",
        "--model",
        "resnet18",
        "--width",
        width,
    ])
    .args(["--epochs", "3", "--batch-size", "64", "--rerand-freq", "4"])
    .args(["--seed", "5", "--quiet", "--out"])
    .arg(out)
    .args(extra)
    .env("RAYON_NUM_THREADS", "2")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    c
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn succeeds(c: Command) -> String {
    let o = run(c);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    err
}

fn same_run(a: &Path, b: &Path) {
    assert_eq!(first_difference(a, b), None);
    assert_eq!(timeless_metrics(a), timeless_metrics(b));
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(Checkpointer::new(dir).dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".tmp"))
        .collect()
}

fn last_iteration(dir: &Path) -> u64 {
    let info = Checkpointer::new(dir).info(LAST).unwrap().unwrap();
    info.position.iteration
}

#[test]
fn a_disk_that_fills_during_a_checkpoint_loses_nothing_and_the_run_continues_exactly() {
    let d = tempfile::tempdir().unwrap();
    let (whole, parts) = (d.path().join("whole"), d.path().join("parts"));
    succeeds(train(&whole, "0.125", &[]));
    succeeds(train(&parts, "0.125", &["--stop-at-step", "30"]));
    // Files may grow to 256 KiB: the logs and metrics fit, the next checkpoint does not.
    let mut full = train(&parts, "0.125", &["--resume", "auto"]);
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        full.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256 << 10,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = run(full);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains(".last-42.safetensors.tmp"), "{err}");
    assert!(err.contains("too large"), "{err}");
    // the checkpoint before stays loadable, and the failed write left nothing behind
    assert_eq!(last_iteration(&parts), 30);
    assert!(Checkpointer::new(&parts)
        .load(LAST, &candle_core::Device::Cpu)
        .is_ok());
    assert_eq!(temporaries(&parts), Vec::<String>::new());
    succeeds(train(&parts, "0.125", &["--resume", "auto"]));
    same_run(&whole, &parts);
}

#[test]
fn a_read_only_run_folder_is_refused_before_training() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("read-only");
    std::fs::create_dir(&out).unwrap();
    let mode = |p: &Path, m| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(d.path(), 0o755);
    mode(&out, 0o555);
    let mut c = train(&out, "0.125", &[]);
    // SAFETY: the euid is read before the fork; setgid/setuid are async-signal-safe.
    if unsafe { libc::geteuid() } == 0 {
        // root writes anywhere: drop to `nobody` for the folder's permissions to bind
        unsafe {
            c.pre_exec(|| {
                if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let t0 = Instant::now();
    let o = run(c);
    mode(&out, 0o755);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("is not writable") && err.contains(&out.display().to_string()),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(20), "it trained first");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn a_checkpoint_damaged_on_disk_is_detected_and_the_resume_falls_back_exactly() {
    let d = tempfile::tempdir().unwrap();
    let whole = d.path().join("whole");
    succeeds(train(&whole, "0.125", &[]));
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 2] = [
        ("flipped", |p| {
            let mut b = std::fs::read(p).unwrap();
            let at = b.len() / 2;
            b[at] ^= 1;
            std::fs::write(p, b).unwrap();
        }),
        ("truncated", |p| {
            let b = std::fs::read(p).unwrap();
            std::fs::write(p, &b[..b.len() - 100]).unwrap();
        }),
    ];
    for (what, damage) in damages {
        let parts = d.path().join(what);
        succeeds(train(&parts, "0.125", &["--stop-at-step", "30"]));
        let ck = Checkpointer::new(&parts);
        damage(&ck.dir().join(ck.info(LAST).unwrap().unwrap().tensors));
        let err = succeeds(train(&parts, "0.125", &["--resume", "auto"]));
        assert!(
            err.contains("last-30.safetensors is damaged")
                && err.contains("resuming from the previous checkpoint"),
            "{what}: {err}"
        );
        same_run(&whole, &parts);
    }
}

/// Waits for a temporary tensors file of a checkpoint after the first one, then SIGKILLs.
fn kill_mid_write(out: &Path) -> PathBuf {
    let mut child = train(out, "0.25", &[]).spawn().unwrap();
    let t0 = Instant::now();
    let dir = Checkpointer::new(out).dir().to_path_buf();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "finished first");
        assert!(t0.elapsed() < Duration::from_secs(600), "no checkpoint");
        let after_first = dir.join("last.json").exists();
        let tmp = std::fs::read_dir(&dir).ok().and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().contains("safetensors.tmp"))
        });
        if let (true, Some(tmp)) = (after_first, tmp) {
            child.kill().unwrap();
            child.wait().unwrap();
            return tmp;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn a_sigkill_inside_a_checkpoint_write_resumes_exactly() {
    let d = tempfile::tempdir().unwrap();
    let (whole, parts) = (d.path().join("whole"), d.path().join("parts"));
    succeeds(train(&whole, "0.25", &[]));
    let tmp = kill_mid_write(&parts);
    assert!(tmp.exists(), "killed after the write");
    assert_eq!(last_iteration(&parts), 21, "the first checkpoint stands");
    succeeds(train(&parts, "0.25", &["--resume", "auto"]));
    assert_eq!(temporaries(&parts), Vec::<String>::new());
    same_run(&whole, &parts);
}

#[test]
fn a_second_train_on_a_folder_in_use_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("busy");
    let mut first = train(&out, "0.5", &[]).spawn().unwrap();
    let t0 = Instant::now();
    while !out.join("sessions.jsonl").exists() {
        assert!(first.try_wait().unwrap().is_none(), "finished first");
        assert!(t0.elapsed() < Duration::from_secs(120), "never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = run(train(&out, "0.5", &["--resume", "auto"]));
    first.kill().unwrap();
    first.wait().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("another process is training"), "{err}");
}
