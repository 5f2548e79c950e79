//! The binaries as a user runs them: bad flags are refused by name, a short run writes its
//! folder, and the quickstart writes its plot.

use std::process::Command;

mod common;
use common::{fail, succeed};

fn train() -> Command {
    Command::new(env!("CARGO_BIN_EXE_train"))
}

/// `train` on the embedded digits with `model` and `method`.
fn digits(model: &str, method: &str) -> Command {
    let mut cmd = train();
    cmd.args(["--dataset", "digits", "--model", model, "--method", method]);
    cmd
}

#[test]
fn invalid_values_exit_non_zero_naming_the_flag() {
    let cases: [(&[&str], &str); 6] = [
        (&["--sparsity", "1.0"], "--sparsity"),
        (&["--sparsity", "-0.2"], "--sparsity"),
        (&["--width", "0"], "--width"),
        (&["--rerand-freq", "0"], "--rerand-freq"),
        (&["--rerand-lambda", "1.5"], "--rerand-lambda"),
        (&["--model", "resnet7"], "--model"),
    ];
    for (args, flag) in cases {
        let out = fail(train().args(args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    // a run refused for its data leaves no run folder (no lock, no empty train.log)
    let dir = tempfile::tempdir().unwrap();
    let refused = dir.path().join("refused");
    let out = fail(
        train()
            .args(["--dataset", "cifar10", "--data", "/nonexistent/cifar"])
            .arg("--out")
            .arg(&refused),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/cifar") && err.contains("data_batch_1.bin"),
        "{err}"
    );
    assert!(
        !refused.exists(),
        "a refused run left {}",
        refused.display()
    );
}

/// Every binary that trains takes `--device`; a build without CUDA refuses a GPU by name, with
/// the feature to build, before it reads data or writes a folder.
#[test]
#[cfg(not(feature = "cuda"))]
fn every_training_binary_refuses_cuda_without_the_feature() {
    let bins = [
        env!("CARGO_BIN_EXE_train"),
        env!("CARGO_BIN_EXE_cifar10"),
        env!("CARGO_BIN_EXE_imagenet"),
        env!("CARGO_BIN_EXE_compare"),
        env!("CARGO_BIN_EXE_sweep"),
        env!("CARGO_BIN_EXE_bench_step"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for bin in bins {
        let mut cmd = Command::new(bin);
        if bin.ends_with("sweep") {
            cmd.args(["quick_figure2", "--devices", "0,1"]);
        } else {
            cmd.args(["--device", "cuda:1"]);
        }
        let out = cmd.current_dir(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bin}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("`cuda` feature"), "{bin}: {err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn help_explains_the_flags() {
    let out = train().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--dataset",
        "--data",
        "--model",
        "--method",
        "--width",
        "--sparsity",
        "--init",
        "--rerand-freq",
        "--rerand-lambda",
        "--epochs",
        "--lr",
        "--batch-size",
        "--seed",
        "--out",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    assert!(help.contains("PRUNED"));
}

#[test]
fn a_short_run_writes_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    succeed(
        digits("conv2", "iterand")
            .args(["--width", "0.25"])
            .args([
                "--epochs",
                "1",
                "--rerand-freq",
                "5",
                "--batch-size",
                "64",
                "--quiet",
                "--out",
            ])
            .arg(&out_dir),
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    for key in [
        "test_acc",
        "val_acc",
        "kept_params",
        "total_params",
        "seconds",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["randomizations"], 4); // 21 steps, K_per 5: before steps 4, 9, 14, 19
    assert!(out_dir.join("config.toml").is_file() && out_dir.join("metrics.jsonl").is_file());
}

#[test]
fn quickstart_writes_plot_csv_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots");
    let out = succeed(
        Command::new(env!("CARGO_BIN_EXE_quickstart"))
            .args([
                "--widths",
                "0.125,0.25",
                "--seeds",
                "1,2",
                "--epochs",
                "2",
                "--plots",
            ])
            .arg(&plots)
            .arg("--runs")
            .arg(dir.path().join("runs")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("| width | sgd | edge-popup | iterand |"),
        "{stdout}"
    );
    let png = std::fs::read(plots.join("quickstart.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    let csv = std::fs::read_to_string(plots.join("quickstart.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 2);
    assert!(plots.join("quickstart.svg").is_file());
}

#[test]
fn theory_quick_writes_every_figure_with_its_csv() {
    let dir = tempfile::tempdir().unwrap();
    succeed(
        Command::new(env!("CARGO_BIN_EXE_theory"))
            .args(["--quick", "--out"])
            .arg(dir.path()),
    );
    let names = [
        "t1_coverage_vs_n",
        "t2_n_required_vs_log_inv_eps",
        "t2_inset_slope_vs_inv_log",
        "t3_single_target_error_vs_n",
        "t4_oracle_vs_online",
        "t5_hitting_vs_subsetsum",
        "t6_neuron_gadget_error_vs_width",
        "t7_two_layer_net_error_vs_width",
        "t8_width_reduction_factor",
    ];
    for n in names {
        for ext in ["png", "svg", "csv"] {
            let p = dir.path().join(format!("{n}.{ext}"));
            assert!(p.is_file(), "missing {}", p.display());
        }
    }
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("a_R·log2(R+1)") && report.contains("R_eff"));
}

fn cifar10() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cifar10"))
}

/// One epoch of the Conv6 IteRand preset.
fn conv6_one_epoch() -> Command {
    let mut cmd = cifar10();
    cmd.args(["--preset", "figure2_conv6_ku_iterand", "--epochs", "1"]);
    cmd
}

#[test]
fn cifar10_dry_run_lists_and_refuses_unknown_presets() {
    let out = succeed(cifar10().args([
        "--preset",
        "figure2_resnet18_sc_iterand",
        "--width",
        "0.5",
        "--dry-run",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("prunable weights: 2,804,928"), "{text}");
    assert!(text.contains("randomizations: 117"), "{text}");
    assert!(text.contains("layer1.0.shortcut.0"), "{text}");
    // The epoch unit fires rerand_freq times an epoch: every int(352 / 4) = 88 steps (45,000
    // training images in batches of 128), 4 × 100 epochs in all.
    let out = cifar10()
        .args(["--preset", "figure2_resnet18_sc_iterand", "--dry-run"])
        .args([
            "--set",
            "rerand_freq_unit=\"epoch\"",
            "--set",
            "rerand_freq=4",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("randomizations: 400 (every 88 iterations"),
        "{text}"
    );
    let list = cifar10().arg("--list-presets").output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.lines().count(), 21);
    assert!(
        list.contains("figure1_conv6_ku_iterand") && list.contains("cifar10_resnet18_sc_iterand")
    );
    let bad = fail(cifar10().args(["--preset", "figure9", "--dry-run"]));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--preset"));
}

/// One epoch of a preset on small files in the CIFAR-10 binary format (synthetic pixels, only
/// to exercise the format and the pipeline).
#[test]
fn cifar10_one_epoch_smoke_run_on_small_binary_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&data).unwrap();
    let file = |n: usize, salt: usize| -> Vec<u8> {
        let mut b = Vec::new();
        for i in 0..n {
            b.push(((i + salt) % 10) as u8);
            b.extend((0..3072).map(|j| ((i * 31 + j * 7 + salt) % 256) as u8));
        }
        b
    };
    for k in 1..=5 {
        std::fs::write(data.join(format!("data_batch_{k}.bin")), file(12, k)).unwrap();
    }
    std::fs::write(data.join("test_batch.bin"), file(10, 9)).unwrap();
    let run = dir.path().join("run");
    succeed(
        cifar10()
            .args([
                "--preset",
                "figure2_conv6_ku_iterand",
                "--width",
                "0.25",
                "--epochs",
                "1",
                "--quiet",
            ])
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(&run),
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["dataset"], "cifar10");
    assert_eq!(summary["total_params"], 142_128);
    assert_eq!(summary["steps"], 1); // 54 train images, batch 128
    let missing = fail(
        conv6_one_epoch()
            .args(["--data"])
            .arg(dir.path().join("nowhere"))
            .arg("--out")
            .arg(dir.path().join("refused")),
    );
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("nowhere") && err.contains("cifar-10-binary") && err.contains("--data hub"),
        "{err}"
    );
    assert!(!dir.path().join("refused").exists());
}

/// `--data hub` goes to the hub cache under HF_HOME; offline and empty, the error says where
/// the files were expected (nothing is downloaded in tests).
#[test]
fn cifar10_hub_source_is_wired_and_offline_safe() {
    let home = tempfile::tempdir().unwrap();
    let out = fail(
        conv6_one_epoch()
            .args(["--data", "hub"])
            .arg("--out")
            .arg(home.path().join("refused"))
            .env("HF_HOME", home.path())
            .env("HF_HUB_OFFLINE", "1"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let cache = home.path().join("hub").join("datasets--cifar10");
    assert!(
        err.contains(&cache.display().to_string()) && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
    assert!(!home.path().join("refused").exists());
}

const SWEEP_FILE: &str = r#"
description = "two methods at two widths on the embedded digits"
figure = 2
[base]
dataset = "digits"
model = "fc"
epochs = 2
batch_size = 64
[grid]
width = [0.125, 0.25]
seed = [1]
[experiments.ep]
method = "edge-popup"
[experiments.it]
method = "iterand"
rerand_freq = 5
"#;

#[test]
fn sweep_trains_a_grid_once_and_figures_plots_it() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("tiny.toml");
    std::fs::write(&file, SWEEP_FILE).unwrap();
    let root = d.path().join("runs");
    let sweep = || {
        let o = succeed(
            Command::new(env!("CARGO_BIN_EXE_sweep"))
                .arg(&file)
                .arg("--out")
                .arg(&root)
                .args(["--jobs", "2", "--quiet"]),
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let first = sweep();
    assert!(
        first.contains("0 finished before, 4 trained now"),
        "{first}"
    );
    let csv = std::fs::read_to_string(root.join("tiny/results.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[0].starts_with("file,figure,experiment,run,") && lines[0].contains("test_acc"));
    assert!(lines[1].starts_with("tiny,2,tiny_ep,width_0.125--seed_1,digits,fc,edge-popup"));
    assert!(root
        .join("tiny/tiny_it/width_0.25--seed_1/summary.json")
        .is_file());
    let again = sweep();
    assert!(
        again.contains("4 finished before, 0 trained now"),
        "{again}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("tiny/results.csv")).unwrap(),
        csv
    );

    let plots = d.path().join("plots");
    let o = succeed(
        Command::new(env!("CARGO_BIN_EXE_figures"))
            .arg("--results")
            .arg(&root)
            .arg("--out")
            .arg(&plots),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Figure 1: no results") && out.contains("Figure 3: no results"),
        "{out}"
    );
    for f in [
        "figure2_fc_width.png",
        "figure2_fc_params.svg",
        "figure2_fc_width.csv",
    ] {
        assert!(plots.join(f).is_file(), "{f}: {out}");
    }

    // A bad key in a sweep file is refused before anything runs, naming it.
    std::fs::write(&file, SWEEP_FILE.replace("rerand_freq", "rerand_frequency")).unwrap();
    let o = fail(
        Command::new(env!("CARGO_BIN_EXE_sweep"))
            .arg(&file)
            .arg("--out")
            .arg(d.path().join("other")),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rerand_frequency") && err.contains("tiny.toml"),
        "{err}"
    );
    assert!(!d.path().join("other/tiny/tiny_ep").exists());
}

/// A CIFAR-10 binary folder of smooth synthetic images (a format test), labels as given.
fn write_cifar(dir: &std::path::Path, train: &[u8], test: &[u8]) {
    let file = |labels: &[u8]| {
        let mut b = Vec::new();
        for &l in labels {
            b.push(l);
            b.extend((0..3072).map(|j| ((j % 32) * 6 + (j / 1024) * 20 + l as usize) as u8));
        }
        b
    };
    for f in iterand_data::cifar::TRAIN_FILES {
        std::fs::write(dir.join(f), file(train)).unwrap();
    }
    std::fs::write(dir.join(iterand_data::cifar::TEST_FILE), file(test)).unwrap();
}

#[test]
fn make_imagefolder_writes_a_folder_the_imagenet_path_reads_back() {
    use iterand_data::Source;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    std::fs::create_dir_all(&data).unwrap();
    write_cifar(&data, &[3, 1], &[7, 2, 2]);
    let out = tmp.path().join("folder");
    succeed(
        Command::new(env!("CARGO_BIN_EXE_make_imagefolder"))
            .args(["--dataset", "cifar10", "--quality", "95", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&out),
    );
    let cache = tmp.path().join("cache");
    let test = iterand_data::folder::ImageFolder::open(&out, "val", &cache).unwrap();
    assert_eq!(test.len(), 3);
    // clist.csv names every class: labels are the dataset's, whatever folders exist
    let labels: Vec<u32> = (0..3).map(|i| test.label(i).unwrap()).collect();
    assert_eq!(labels, vec![2, 2, 7]);
    let train = iterand_data::folder::ImageFolder::open(&out, "train", &cache).unwrap();
    assert_eq!(train.len(), 10);
    // pixels survive the JPEG round trip to within a few grey levels
    let (px, shape) = iterand_data::folder::decode_rgb(&test.path(2)).unwrap();
    assert_eq!((shape.height, shape.width), (32, 32));
    let want = (5 * 6 + 7) as f32 / 255.0; // red plane, column 5, label 7
    assert!((px[5] - want).abs() < 6.0 / 255.0, "{} vs {want}", px[5]);
    // an existing folder is refused, and nothing in it is touched
    let again = fail(
        Command::new(env!("CARGO_BIN_EXE_make_imagefolder"))
            .args(["--dataset", "cifar10", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&out),
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    // the embedded digits too, scaled up
    let digits = tmp.path().join("digits");
    succeed(
        Command::new(env!("CARGO_BIN_EXE_make_imagefolder"))
            .args([
                "--dataset",
                "digits",
                "--size",
                "16",
                "--limit",
                "12",
                "--out",
            ])
            .arg(&digits),
    );
    let val = iterand_data::folder::ImageFolder::open(&digits, "val", &cache).unwrap();
    assert_eq!(val.len(), 12);
    let (_, shape) = iterand_data::folder::decode_rgb(&val.path(0)).unwrap();
    assert_eq!((shape.height, shape.width), (16, 16));
}

/// Every Figure 3 preset's dry run against §2.3 of the reference (weights of the prunable
/// layers, and kept at p = 0.7, in millions to the reference's two decimals) and its R count.
#[test]
fn imagenet_dry_runs_match_section_2_3_and_missing_data_exits_2() {
    let bin = || Command::new(env!("CARGO_BIN_EXE_imagenet"));
    let millions = |s: &str| s.replace(',', "").parse::<f64>().unwrap() / 1e6;
    for (preset, weights, kept, rounds) in [
        ("figure3_resnet18_ku_sgd", 11.68, 11.68, 0),
        ("figure3_resnet34_ku_sgd", 21.78, 21.78, 0),
        ("figure3_resnet34_sc_edgepopup", 21.78, 6.53, 0),
        ("figure3_resnet34_sc_iterand", 21.78, 6.53, 1040),
        ("figure3_resnet50_sc_edgepopup", 25.50, 7.65, 0),
        ("figure3_resnet50_sc_iterand", 25.50, 7.65, 1040),
        ("figure3_resnet101_sc_edgepopup", 44.44, 13.33, 0),
        ("figure3_resnet101_sc_iterand", 44.44, 13.33, 1040),
    ] {
        let out = bin()
            .args(["--preset", preset, "--dry-run"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{preset}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("prunable weights: "))
            .unwrap_or_else(|| panic!("{preset}: {text}"));
        let (all, rest) = line.split_once(" (kept at p = ").unwrap();
        let k = rest.split_once(": ").unwrap().1.trim_end_matches(')');
        let round = |x: f64| (x * 100.0).round() / 100.0;
        assert_eq!(round(millions(all)), weights, "{preset}: {line}");
        assert_eq!(round(millions(k)), kept, "{preset}: {line}");
        assert!(
            text.contains(&format!("randomizations: {rounds}")),
            "{preset}: {text}"
        );
    }
    let out = bin()
        .args([
            "--preset",
            "figure3_resnet50_sc_iterand",
            "--data",
            "/nonexistent/inet",
        ])
        .env_remove("IMAGENET_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/inet/train/<class>/*.JPEG"));
}

/// A tiny JPEG ImageFolder (synthetic pictures, a format test): `n` images a class and split.
fn write_image_folder(root: &std::path::Path, per: &[(&str, usize)]) {
    for &(split, n) in per {
        iterand_data::folder::write_synthetic_folder(root, split, &["n01", "n02"], n).unwrap();
    }
}

/// `sweep configs/figure3.toml` on a tiny ImageFolder, shrunk by `--set`, and `figures` draws
/// Figure 3 (accuracy against kept parameters) from its results.
#[test]
fn figure3_sweeps_on_an_image_folder_and_its_figure_is_drawn() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("folder");
    write_image_folder(&root, &[("train", 6), ("val", 2)]);
    let runs = tmp.path().join("runs");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/figure3.toml");
    succeed(
        Command::new(env!("CARGO_BIN_EXE_sweep"))
            .arg(config)
            .arg("--out")
            .arg(&runs)
            .args([
                "--only",
                "figure3_resnet18_ku_sgd",
                "--only",
                "figure3_resnet34_sc_iterand",
            ])
            .args([
                "--set",
                "epochs=1",
                "--set",
                "warmup_epochs=0",
                "--set",
                "finetune_epochs=0",
            ])
            .args([
                "--set",
                "width=0.0625",
                "--set",
                "image_size=16",
                "--set",
                "batch_size=4",
            ])
            .args([
                "--set",
                "eval_batch_size=4",
                "--set",
                "limit_batches=1",
                "--quiet",
            ])
            .arg("--set")
            .arg(format!("data={:?}", root.display().to_string()))
            .env("ITERAND_CACHE", tmp.path().join("cache")),
    );
    let plots = tmp.path().join("plots");
    succeed(
        Command::new(env!("CARGO_BIN_EXE_figures"))
            .arg("--results")
            .arg(&runs)
            .arg("--out")
            .arg(&plots),
    );
    let csv = std::fs::read_to_string(plots.join("figure3_params.csv")).unwrap();
    assert!(csv.contains("sgd") && csv.contains("iterand"), "{csv}");
    assert!(plots.join("figure3_params.png").is_file());
}

/// `imagenet --preview N`: the PNG grids, and the evaluation batch before normalisation, which
/// equals the evaluation transform applied to the listed file's own pixels.
#[test]
fn imagenet_preview_writes_what_the_network_sees() {
    use iterand_data::{Example, Key, ResizeCrop, Transform};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("folder");
    write_image_folder(&root, &[("train", 5), ("val", 3)]);
    let out = tmp.path().join("preview");
    succeed(
        Command::new(env!("CARGO_BIN_EXE_imagenet"))
            .args([
                "--preset",
                "figure3_resnet50_sc_iterand",
                "--image-size",
                "16",
            ])
            .args(["--preview", "4", "--data"])
            .arg(&root)
            .arg("--out")
            .arg(&out)
            .env("ITERAND_CACHE", tmp.path().join("cache")),
    );
    for f in ["train_preview.png", "eval_preview.png"] {
        let img = image::open(out.join(f)).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (36, 36),
            "{f}: 2 x 2 cells of 16 + 2"
        );
    }
    let t = candle_core::safetensors::load(
        out.join("eval_batch.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert_eq!(t["images"].dims(), &[4, 3, 16, 16]);
    assert_eq!(t["labels"].to_vec1::<u32>().unwrap(), vec![0, 0, 0, 1]);
    let files = std::fs::read_to_string(out.join("eval_files.txt")).unwrap();
    let first = files.lines().next().unwrap().split('\t').next().unwrap();
    assert!(first.ends_with("val/n01/img0.JPEG"), "{files}");
    let (pixels, shape) = iterand_data::folder::decode_rgb(std::path::Path::new(first)).unwrap();
    let ex = Example {
        pixels: pixels.into(),
        shape,
        label: 0,
    };
    let mut want = vec![];
    let key = Key {
        seed: 0,
        epoch: 0,
        index: 0,
    };
    ResizeCrop {
        resize: 18,
        crop: 16,
    }
    .apply(&ex, &[0.0; 3], key, &mut want);
    let got = t["images"]
        .get(0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    // the ImageFolder resamples 8-bit pixels as PIL does: within one grey level of the f32
    // reference (crates/data/tests/fast_path.rs)
    assert!(worst <= 1.0 / 255.0 + 1e-5, "{worst}");
}

/// `ticket`: export a trained IteRand run, read its sizes, evaluate the rebuilt network (the
/// run's own test accuracy, exactly) and write the dense export; a file that is not a ticket
/// is refused by name.
#[test]
fn ticket_exports_inspects_evaluates_and_densifies_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    succeed(
        digits("fc", "iterand")
            .args([
                "--width",
                "0.25",
                "--epochs",
                "2",
                "--rerand-freq",
                "3",
                "-q",
                "--out",
            ])
            .arg(&run),
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let ticket = Command::new(env!("CARGO_BIN_EXE_ticket"));
    let t = dir.path().join("m.ticket");
    let run_ticket = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(ticket.get_program())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run_ticket(&[
        "export".as_ref(),
        run.as_os_str(),
        "-o".as_ref(),
        t.as_os_str(),
    ]);
    let info: serde_json::Value = serde_json::from_str(&run_ticket(&[
        "info".as_ref(),
        t.as_os_str(),
        "--json".as_ref(),
    ]))
    .unwrap();
    assert!(info["rounds"].as_u64().unwrap() >= 5, "{info}");
    assert!(info["generation_bits"].as_f64().unwrap() > 0.0, "{info}");
    let eval: serde_json::Value =
        serde_json::from_str(&run_ticket(&["eval".as_ref(), t.as_os_str()])).unwrap();
    assert_eq!(eval["test_acc"], summary["test_acc"]);
    let dense = dir.path().join("m.safetensors");
    run_ticket(&[
        "dense".as_ref(),
        t.as_os_str(),
        "-o".as_ref(),
        dense.as_os_str(),
    ]);
    let d = candle_core::safetensors::load(&dense, &candle_core::Device::Cpu).unwrap();
    assert!(
        d.contains_key("fc1.weight") && d.contains_key("fc3.weight"),
        "{:?}",
        d.keys()
    );
    assert!(dir.path().join("m.json").is_file());

    let bad = dir.path().join("not.ticket");
    std::fs::write(&bad, b"hello").unwrap();
    let out = fail(Command::new(ticket.get_program()).args(["info".as_ref(), bad.as_os_str()]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not.ticket") && err.contains("not a ticket"),
        "{err}"
    );
}

/// `runs` tells finished, running (lock held) and stopped runs apart, in a table of at most 100
/// columns and as JSON; a second `train` into a locked run folder is refused.
#[test]
fn runs_lists_finished_running_and_stopped_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("runs");
    let tiny = |out: &std::path::Path, extra: &[&str]| {
        succeed(
            digits("fc", "iterand")
                .args(["--width", "0.25", "--epochs", "3", "-q"])
                .args(extra)
                .arg("--out")
                .arg(out),
        );
    };
    tiny(&root.join("a-finished"), &[]);
    tiny(&root.join("b-stopped"), &["--stop-at-step", "15"]);
    let running = root.join("nested").join("c-running");
    tiny(&running, &["--stop-at-step", "5"]);
    let _held = iterand_train::RunLock::acquire(&running).unwrap().unwrap();
    let o = fail(
        train()
            .args([
                "--dataset",
                "digits",
                "--model",
                "fc",
                "--resume",
                "auto",
                "--out",
            ])
            .arg(&running),
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains(".lock"));

    let runs = || Command::new(env!("CARGO_BIN_EXE_runs"));
    let out = succeed(runs().arg(&root));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    let state = |run: &str| {
        let line = table
            .lines()
            .find(|l| l.contains(run))
            .unwrap_or_else(|| panic!("{table}"));
        line.split_whitespace().nth(6).unwrap().to_string()
            + " "
            + line.split_whitespace().nth(7).unwrap()
    };
    assert_eq!(state("a-finished"), "finished 3/3");
    assert_eq!(state("b-stopped"), "stopped 1/3");
    assert_eq!(state("c-running"), "running 0/3");
    let json = runs().arg(&root).arg("--json").output().unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert!(rows[0]["test_acc"].as_f64().unwrap() > 0.0, "{rows}");
    assert!(rows[1]["test_acc"].is_null());
    assert_eq!(rows[0]["state"], "finished");
    assert_eq!(rows[1]["state"], "stopped");
    let csv = runs().arg(&root).arg("--csv").output().unwrap();
    assert_eq!(String::from_utf8(csv.stdout).unwrap().lines().count(), 4);
    assert!(!runs()
        .arg(dir.path().join("none"))
        .status()
        .unwrap()
        .success());
}

/// `sweep FILE --slurm --dry-run` prints an array script a Slurm user recognises, and the
/// command each task runs (`--index N --grid-hash H`) trains exactly the run a local sweep does;
/// an index out of range or an edited file is refused by name. (A real Slurm is issue 39's
/// next step.)
#[test]
fn slurm_array_script_and_its_tasks_match_the_local_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.toml");
    let text = "description = \"synthetic-size digits grid\"\n[base]\ndataset = \"digits\"\n\
                model = \"fc\"\nepochs = 1\nbatch_size = 64\n[grid]\nwidth = [0.25]\n\
                seed = [1, 2, 3]\n[experiments.ep]\nmethod = \"edge-popup\"\n";
    std::fs::write(&file, text).unwrap();
    let sweep = || Command::new(env!("CARGO_BIN_EXE_sweep"));
    let out = succeed(
        sweep()
            .arg(&file)
            .args(["--slurm", "--dry-run", "--array-limit", "2", "--out"])
            .arg(dir.path().join("array")),
    );
    let script = String::from_utf8(out.stdout).unwrap();
    for line in [
        "#SBATCH --array=0-2%2",
        "#SBATCH --requeue",
        "#SBATCH --signal=B:USR2@90",
    ] {
        assert!(script.contains(line), "{line}\n{script}");
    }
    assert!(script.contains("slurm/%A_%a.out"), "{script}");
    assert!(script.contains("#SBATCH --chdir=/"), "{script}");
    assert!(script.contains("#SBATCH --job-name=d-gather"), "{script}");
    assert!(script.contains(" --gather --grid-hash sha256:"), "{script}");
    let hash = script
        .lines()
        .find_map(|l| l.strip_prefix("# grid hash "))
        .unwrap();
    for i in 0..3 {
        succeed(
            sweep()
                .arg(&file)
                .args(["--index", &i.to_string(), "--grid-hash", hash, "--out"])
                .arg(dir.path().join("array")),
        );
    }
    succeed(
        sweep()
            .arg(&file)
            .arg("-q")
            .arg("--out")
            .arg(dir.path().join("local")),
    );
    for id in [
        "width_0.25--seed_1",
        "width_0.25--seed_2",
        "width_0.25--seed_3",
    ] {
        let run = |root: &str| dir.path().join(root).join("d").join("d_ep").join(id);
        assert_eq!(
            common::tensors(&run("array")),
            common::tensors(&run("local")),
            "{id}"
        );
    }
    let e = fail(
        sweep()
            .arg(&file)
            .args(["--index", "3", "--grid-hash", hash]),
    );
    let e = String::from_utf8_lossy(&e.stderr);
    assert!(e.contains("d:") && e.contains("index 3"), "{e}");
    std::fs::write(&file, text.replace("[0.25]", "[0.5]")).unwrap();
    let e = fail(
        sweep()
            .arg(&file)
            .args(["--index", "0", "--grid-hash", hash]),
    );
    assert!(String::from_utf8_lossy(&e.stderr).contains("changed"));
    std::fs::write(&file, text).unwrap();
    let gathered = succeed(
        sweep()
            .arg(&file)
            .args(["--gather", "--grid-hash", hash, "--out"])
            .arg(dir.path().join("array")),
    );
    let gathered = String::from_utf8_lossy(&gathered.stdout);
    assert!(gathered.contains("3 of 3 runs finished"), "{gathered}");
    assert_eq!(
        std::fs::read(dir.path().join("array/d/results.csv"))
            .unwrap()
            .len(),
        std::fs::read(dir.path().join("local/d/results.csv"))
            .unwrap()
            .len()
    );
    let status = succeed(
        sweep()
            .arg(&file)
            .args(["--status", "--out"])
            .arg(dir.path().join("local")),
    );
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.ends_with("3 runs: 3 finished\n"), "{status}");
    assert_eq!(status.matches("finished, test").count(), 3, "{status}");
}

#[test]
fn a_failed_local_run_is_shown_failed_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let text = "[base]\ndataset = \"cifar10\"\ndata = \"/nonexistent/cifar\"\nmodel = \"fc\"\n\
                epochs = 1\n[grid]\nseed = [1, 2]\n[experiments.ep]\nmethod = \"edge-popup\"\n";
    std::fs::write(&file, text).unwrap();
    let sweep = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sweep"));
        c.arg(&file).arg("--out").arg(dir.path()).arg("-q");
        c
    };
    fail(&mut sweep());
    let status = succeed(sweep().arg("--status"));
    let status = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        status.matches("failed (1 time): loading cifar10: ").count(),
        2,
        "{status}"
    );
    assert!(
        status.contains("CIFAR-10 not found in /nonexistent/cifar"),
        "{status}"
    );
    assert!(status.ends_with("2 runs: 2 failed\n"), "{status}");
}
