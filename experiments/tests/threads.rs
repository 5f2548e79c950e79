//! One seed determines a run on any number of threads: the same command with 1, 2, 3 and 8
//! threads (8 on fewer cores still cuts the work eight ways) writes the same checkpoint bits and metrics, and a run stopped with 2 threads and
//! resumed with 1 ends as the uninterrupted one.

use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{first_difference, timeless_metrics};

/// Fashion-MNIST-shaped IDX files (28×28 grey, ten classes) of smooth synthetic pictures, a
/// format test: only their shape and their determinism matter here.
fn write_fashion_shaped(dir: &Path) {
    let images = |n: u32, salt: u32| {
        let mut b = Vec::new();
        for v in [2051u32, n, 28, 28] {
            b.extend(v.to_be_bytes());
        }
        for i in 0..n {
            let (class, phase) = (i % 10, (i * 7 + salt) % 13);
            b.extend((0..28 * 28).map(|p| {
                let (y, x) = (p / 28, p % 28);
                ((x * (class + 1) + y * (phase + 2) + class * 19) % 256) as u8
            }));
        }
        b
    };
    let labels = |n: u32| {
        let mut b = Vec::new();
        b.extend(2049u32.to_be_bytes());
        b.extend(n.to_be_bytes());
        b.extend((0..n).map(|i| (i % 10) as u8));
        b
    };
    let files = [
        ("train-images-idx3-ubyte", images(240, 0)),
        ("train-labels-idx1-ubyte", labels(240)),
        ("t10k-images-idx3-ubyte", images(40, 5)),
        ("t10k-labels-idx1-ubyte", labels(40)),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Two epochs of five batches of 32 with R every third step: both weight-gradient paths of the
/// convolution (im2col for the first layer, Winograd after), BatchNorm for the ResNet, the
/// masked linear layers, the loss and R.
fn train(data: &Path, model: &str, threads: usize, out: &Path, extra: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["--dataset", "fashion-mnist", "--pad", "2", "--model", model])
        .args(["--method", "iterand", "--width", "0.25", "--epochs", "2"])
        .args([
            "--batch-size",
            "32",
            "--limit-batches",
            "5",
            "--rerand-freq",
            "3",
        ])
        .args(["--seed", "3", "--log-every", "1", "--quiet", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn same_thread_count_independent_run(model: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    write_fashion_shaped(dir.path());
    let run = |threads: usize| {
        let out = dir.path().join(format!("{model}-{threads}"));
        train(dir.path(), model, threads, &out, extra);
        out
    };
    let one = run(1);
    for threads in [2, 3, 8] {
        let other = run(threads);
        assert_eq!(
            first_difference(&one, &other),
            None,
            "{model}: 1 vs {threads} threads"
        );
        assert_eq!(timeless_metrics(&one), timeless_metrics(&other));
    }
}

#[test]
fn conv4_trains_to_the_same_bits_on_1_2_3_and_8_threads() {
    same_thread_count_independent_run("conv4", &[]);
}

/// The later methods together, on a ResNet: Iterative Weight Recycling's sort and moves after
/// the half-rate re-draw, on biprop's α·sign(w) layers masked by one threshold over all
/// layers, with BatchNorm's γ and β learned beside the scores.
#[test]
fn later_methods_train_to_the_same_bits_on_1_2_3_and_8_threads() {
    let mode = [
        "--rerand-mode",
        "iterand_recycle",
        "--rerand-lambda",
        "0.2",
        "--weight-transform",
        "biprop",
        "--ranking-scope",
        "global",
        "--bn-type",
        "affine",
    ];
    same_thread_count_independent_run("resnet18", &mode);
}

#[test]
fn resnet18_trains_to_the_same_bits_on_1_2_3_and_8_threads() {
    same_thread_count_independent_run("resnet18", &[]);
}

#[test]
fn a_run_stopped_on_2_threads_resumes_on_1_as_if_never_stopped() {
    let dir = tempfile::tempdir().unwrap();
    write_fashion_shaped(dir.path());
    let (whole, parts) = (dir.path().join("whole"), dir.path().join("parts"));
    train(dir.path(), "conv4", 2, &whole, &[]);
    // mid-epoch 1, after the R of step 6
    train(dir.path(), "conv4", 2, &parts, &["--stop-at-step", "7"]);
    train(dir.path(), "conv4", 1, &parts, &["--resume", "auto"]);
    assert_eq!(first_difference(&whole, &parts), None);
    assert_eq!(timeless_metrics(&whole), timeless_metrics(&parts));
}
