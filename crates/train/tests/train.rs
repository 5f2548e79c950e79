//! End-to-end runs on the embedded digits: the run folder, determinism, R's count, divergence.

use candle_core::Device;
use iterand_data::{digits, folder::write_synthetic_folder};
use iterand_models::Arch;
use iterand_randomizer::{RerandSchedule, RerandUnit};
use iterand_train::{train, DatasetName, EpochRecord, Method, Progress, Summary, TrainConfig};

fn config(method: Method) -> TrainConfig {
    TrainConfig {
        dataset: DatasetName::Digits,
        model: Arch::Fc,
        method,
        width: 0.25,
        epochs: 3,
        batch_size: 64,
        lr: if method == Method::Sgd { 0.05 } else { 0.1 },
        rerand_freq: 7,
        seed: 11,
        ..Default::default()
    }
}

#[test]
fn run_folder_holds_config_metrics_and_summary() {
    let splits = digits::splits().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cfg = TrainConfig {
        epochs: 8,
        ..config(Method::Iterand)
    };
    let s = train(&cfg, &splits, &Device::Cpu, Some(&out), Progress::Quiet).unwrap();

    let toml = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert_eq!(TrainConfig::from_toml(&toml).unwrap(), cfg);
    let lines = raw_epoch_lines(&out);
    assert_eq!(lines.len(), 8);
    let steps_per_epoch = splits.train.len().div_ceil(64) as u64;
    assert_eq!(lines[7].steps, 8 * steps_per_epoch);
    let sched = RerandSchedule::new(7, RerandUnit::Iteration).unwrap();
    assert_eq!(lines[7].randomizations, sched.count(8, steps_per_epoch));
    assert!(lines[0].lr > lines[7].lr);
    assert!((lines[7].kept_fraction - 0.5).abs() < 0.01);
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary, s);
    assert_eq!(s.total_params, 64 * 75 + 75 * 25 + 25 * 10);
    assert!(s.kept_params < s.total_params);
    let names: Vec<&str> = s.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, vec!["fc1", "fc2", "fc3"]);
    assert_eq!(
        s.layers.iter().map(|l| l.weights).sum::<usize>(),
        s.total_params
    );
    // with continuous scores no ties: each layer keeps exactly what the k rule says
    assert_eq!(
        s.layers.iter().map(|l| l.kept).sum::<usize>(),
        s.kept_params
    );
    // eight epochs on digits already learn something (chance is 10 %)
    assert!(s.test_acc > 60.0, "test accuracy {}", s.test_acc);
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let splits = digits::splits().unwrap();
    for method in [Method::Sgd, Method::EdgePopup, Method::Iterand] {
        let a = train(
            &config(method),
            &splits,
            &Device::Cpu,
            None,
            Progress::Quiet,
        )
        .unwrap();
        let b = train(
            &config(method),
            &splits,
            &Device::Cpu,
            None,
            Progress::Quiet,
        )
        .unwrap();
        assert_eq!((a.test_acc, a.val_acc), (b.test_acc, b.val_acc), "{method}");
        let c = train(
            &TrainConfig {
                seed: 12,
                ..config(method)
            },
            &splits,
            &Device::Cpu,
            None,
            Progress::Quiet,
        )
        .unwrap();
        assert_eq!(c.seed, 12);
        if method == Method::Sgd {
            assert_eq!(a.kept_params, a.total_params);
        } else {
            assert_eq!(a.randomizations > 0, method == Method::Iterand);
        }
    }
}

#[test]
fn a_diverging_run_stops_with_a_clear_error() {
    let splits = digits::splits().unwrap();
    let cfg = TrainConfig {
        lr: 1e30,
        ..config(Method::Sgd)
    };
    let e = train(&cfg, &splits, &Device::Cpu, None, Progress::Quiet)
        .unwrap_err()
        .to_string();
    assert!(e.contains("diverged") && e.contains("epoch 0"), "{e}");
}

/// A generation is a u16: a run with more rounds of R is refused before its first step.
#[test]
fn more_rounds_than_a_generation_records_are_refused_up_front() {
    let splits = digits::splits().unwrap();
    let cfg = TrainConfig {
        rerand_freq: 1,
        epochs: 4_000,
        ..config(Method::Iterand)
    };
    let e = train(&cfg, &splits, &Device::Cpu, None, Progress::Quiet)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rerand_freq") && e.contains("65535"), "{e}");
}

#[test]
fn invalid_config_is_refused_before_anything_is_written() {
    let splits = digits::splits().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cfg = TrainConfig {
        sparsity: 1.2,
        ..config(Method::Iterand)
    };
    let e = train(&cfg, &splits, &Device::Cpu, Some(&out), Progress::Quiet).unwrap_err();
    assert!(e.to_string().contains("sparsity"));
    assert!(!out.exists());
}

/// The epoch lines of `metrics.jsonl`, as written.
/// Iterative Weight Recycling's two schedules in a run, counted by hand (cumulative at each
/// epoch's end): digits has 21 steps an epoch at batch 64. `epoch_end` with K = 1 over 5 epochs
/// fires after epochs 1, 2 and 3 (not 0, not the last), each before the next epoch's first
/// step. `batch_index` with K = 10 fires after batches 0, 10 and 20 of epochs 1–4; after batch
/// 20, the last of its epoch, it fires before the next epoch's first step, and not at all after
/// the run's last step.
#[test]
fn recycling_schedules_fire_per_epoch_as_the_authors_code() {
    let splits = digits::splits().unwrap();
    assert_eq!(splits.train.len().div_ceil(64), 21);
    for (unit, freq, per_epoch) in [
        (RerandUnit::EpochEnd, 1, [0, 0, 1, 2, 3]),
        (RerandUnit::BatchIndex, 10, [0, 2, 5, 8, 11]),
    ] {
        let cfg = TrainConfig {
            epochs: 5,
            rerand_freq: freq,
            rerand_freq_unit: unit,
            rerand_mode: iterand_randomizer::RerandMode::Recycle,
            ..config(Method::Iterand)
        };
        let dir = tempfile::tempdir().unwrap();
        train(
            &cfg,
            &splits,
            &Device::Cpu,
            Some(dir.path()),
            Progress::Quiet,
        )
        .unwrap();
        let counts: Vec<u64> = raw_epoch_lines(dir.path())
            .iter()
            .map(|l| l.randomizations)
            .collect();
        assert_eq!(counts, per_epoch, "{unit:?}");
    }
}

fn raw_epoch_lines(out: &std::path::Path) -> Vec<EpochRecord> {
    iterand_train::RunDir::existing(out)
        .metrics()
        .unwrap()
        .into_iter()
        .filter_map(|l| match l {
            iterand_train::MetricsLine::Epoch(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// Every epoch line, with the wall-clock fields (the only ones allowed to differ) zeroed.
fn epoch_lines(out: &std::path::Path) -> Vec<EpochRecord> {
    raw_epoch_lines(out)
        .into_iter()
        .map(|e| EpochRecord {
            seconds: 0.0,
            data_wait: 0.0,
            images_per_second: 0.0,
            ..e
        })
        .collect()
}

#[test]
fn loader_workers_change_nothing_a_run_computes_and_the_wait_share_is_reported() {
    let mut splits = digits::splits().unwrap();
    // digits declare no augmentation; give them a small one so the workers have work to do
    splits.augmentation = Some(std::sync::Arc::new(iterand_data::Augment {
        pad: 1,
        size: 8,
        ..iterand_data::Augment::cifar10()
    }));
    let cfg = TrainConfig {
        augment: true,
        ..config(Method::Iterand)
    };
    let dir = tempfile::tempdir().unwrap();
    let mut runs = vec![];
    for workers in [0, 1, 3] {
        let out = dir.path().join(format!("w{workers}"));
        let opts = iterand_train::RunOptions {
            out: Some(out.clone()),
            loader: iterand_data::Loader {
                workers,
                prefetch: 2,
            },
            ..Default::default()
        };
        let s = iterand_train::train_with(&cfg, &splits, &Device::Cpu, &opts).unwrap();
        let raw = raw_epoch_lines(&out);
        assert!(raw.iter().all(|e| (0.0..=1.0).contains(&e.data_wait)));
        runs.push((epoch_lines(&out), Summary { seconds: 0.0, ..s }));
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
    // and the augmentation did change the run
    let plain = train(
        &config(Method::Iterand),
        &splits,
        &Device::Cpu,
        None,
        Progress::Quiet,
    );
    assert_ne!(plain.unwrap().test_acc, runs[0].1.test_acc);
}

#[test]
fn augmenting_a_dataset_that_declares_no_augmentation_is_refused() {
    let splits = digits::splits().unwrap();
    let cfg = TrainConfig {
        augment: true,
        ..config(Method::EdgePopup)
    };
    let e = train(&cfg, &splits, &Device::Cpu, None, Progress::Quiet)
        .unwrap_err()
        .to_string();
    assert!(e.contains("augment") && e.contains("digits"), "{e}");
}

#[test]
fn a_tiny_jpeg_image_folder_trains_end_to_end_at_a_small_image_size() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("folder");
    for (split, per) in [("train", 8), ("val", 2)] {
        write_synthetic_folder(&root, split, &["n01", "n02"], per).unwrap();
    }
    std::env::set_var("ITERAND_CACHE", tmp.path().join("cache"));
    let cfg = TrainConfig {
        dataset: DatasetName::Imagenet,
        data: Some(root),
        image_size: Some(16),
        augment: true,
        epochs: 2,
        batch_size: 4,
        eval_batch_size: 4,
        ..config(Method::Iterand)
    };
    let splits = cfg.open_data().unwrap();
    assert_eq!((splits.train.len(), splits.test.len()), (16, 4));
    let s = train(&cfg, &splits, &Device::Cpu, None, Progress::Quiet).unwrap();
    assert_eq!(s.steps, 8);
    assert!(s.test_acc.is_finite());
    // fc on 16×16×3 inputs: the first layer sees the crop the config asked for
    assert_eq!(s.layers[0].shape, vec![75, 16 * 16 * 3]);
}

#[test]
fn an_image_size_is_refused_for_datasets_that_are_not_resized() {
    let cfg = TrainConfig {
        image_size: Some(32),
        ..config(Method::EdgePopup)
    };
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("image_size") && e.contains("digits"), "{e}");
    // ImageNet's files differ in size: only its training transform makes them one
    let cfg = TrainConfig {
        dataset: DatasetName::Imagenet,
        augment: false,
        ..config(Method::EdgePopup)
    };
    let e = cfg.validate().unwrap_err().to_string();
    assert!(
        e.contains("augment = false") && e.contains("RandomResizedCrop"),
        "{e}"
    );
}

/// Any observer can watch a run (`Progress::With`): it is told the run's length once, gets a
/// line per step when it asks for them (the epoch's last step marked), one line per epoch,
/// and the end.
#[test]
fn a_custom_observer_sees_the_start_every_step_every_epoch_and_the_end() {
    use std::sync::{Arc, Mutex};
    #[derive(Default)]
    struct Record(Mutex<Vec<String>>);
    impl iterand_train::Observer for Record {
        fn start(&self, done: u64, total: u64) {
            self.0.lock().unwrap().push(format!("start {done}/{total}"));
        }
        fn watches_steps(&self) -> bool {
            true
        }
        fn step(&self, line: &str, last: bool) {
            let tag = if last { "last" } else { "step" };
            self.0.lock().unwrap().push(format!("{tag} {line}"));
        }
        fn epoch(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
        fn finish(&self) {
            self.0.lock().unwrap().push("finish".into());
        }
    }
    let splits = digits::splits().unwrap();
    let record = Arc::new(Record::default());
    let cfg = config(Method::Iterand);
    let progress = Progress::With(record.clone());
    train(&cfg, &splits, &Device::Cpu, None, progress).unwrap();
    let seen = record.0.lock().unwrap().clone();
    let per_epoch = splits.train.len().div_ceil(64);
    assert_eq!(seen[0], format!("start 0/{}", 3 * per_epoch));
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("step ")).count(),
        3 * (per_epoch - 1)
    );
    assert_eq!(seen.iter().filter(|l| l.starts_with("last ")).count(), 3);
    let epochs: Vec<&String> = seen.iter().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(epochs.len(), 3);
    assert!(epochs[2].starts_with("epoch 3/3: lr"), "{}", epochs[2]);
    assert_eq!(seen.last().map(String::as_str), Some("finish"));
}
