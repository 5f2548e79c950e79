//! Checkpoints and exact resume: a run stopped anywhere and continued equals, bit for bit, the
//! run that never stopped (weights, scores, BatchNorm statistics, momentum, metrics), and a
//! folder is only continued with the config it was started with.

mod run_state;
mod tb_reader;

use std::path::Path;

use candle_core::Device;
use iterand_data::{digits, folder::write_synthetic_folder, Loader, Splits};
use iterand_masking::{Ranking, RankingScope, WeightTransform};
use iterand_models::Arch;
use iterand_randomizer::RerandMode;
use iterand_train::{
    train_with, Checkpointer, DatasetName, Error, Method, MetricsLine, Resume, RunDir, RunOptions,
    Summary, TrainConfig,
};
use run_state::{tensor_bits as final_bits, timeless_metrics as metrics};
use tb_reader::timeless_events;

fn config(model: Arch) -> TrainConfig {
    TrainConfig {
        dataset: DatasetName::Digits,
        model,
        method: Method::Iterand,
        width: if model == Arch::Fc { 0.25 } else { 0.125 },
        epochs: 3,
        batch_size: 64,
        lr: 0.1,
        rerand_freq: 3,
        rerand_lambda: 0.5,
        limit_batches: Some(8),
        seed: 5,
        ..Default::default()
    }
}

fn opts(out: &Path, resume: Resume, stop: Option<u64>) -> RunOptions {
    RunOptions {
        out: Some(out.to_path_buf()),
        resume,
        stop_at_iteration: stop,
        log_every: Some(2),
        eval_every: Some(4),
        ..RunOptions::default()
    }
}

fn with_workers(workers: usize, o: RunOptions) -> RunOptions {
    RunOptions {
        loader: Loader {
            workers,
            ..Loader::default()
        },
        ..o
    }
}

fn timeless(mut s: Summary) -> Summary {
    s.seconds = 0.0;
    s
}

fn stopped_and_resumed_equals_uninterrupted(model: Arch, stops: &[u64]) {
    let splits = digits::splits().unwrap();
    resumed_equals_uninterrupted(&config(model), &splits, stops, (1, 1));
}

/// `cfg` on `splits` run whole with `workers.0` loader workers, and stopped at `stops` and
/// resumed with `workers.1`: the two end bit-identical.
fn resumed_equals_uninterrupted(
    cfg: &TrainConfig,
    splits: &Splits,
    stops: &[u64],
    workers: (usize, usize),
) {
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::Cpu;
    let whole = dir.path().join("whole");
    let o = with_workers(workers.0, opts(&whole, Resume::Refuse, None));
    let a = train_with(cfg, splits, &dev, &o).unwrap();

    let parts = dir.path().join("parts");
    for (i, &stop) in stops.iter().enumerate() {
        let resume = if i == 0 { Resume::Refuse } else { Resume::Auto };
        let o = with_workers(workers.1, opts(&parts, resume, Some(stop)));
        let e = train_with(cfg, splits, &dev, &o).unwrap_err();
        assert!(
            matches!(e, Error::Interrupted { iteration, .. } if iteration == stop),
            "{e}"
        );
    }
    let o = with_workers(workers.1, opts(&parts, Resume::Auto, None));
    let b = train_with(cfg, splits, &dev, &o).unwrap();

    assert_eq!(metrics(&whole), metrics(&parts));
    // The TensorBoard file too: each step once, none missing, wall times aside.
    assert_eq!(timeless_events(&whole), timeless_events(&parts));
    // The curve's last point is the final model, whose test accuracy the summary reports.
    let evals: Vec<_> = metrics(&whole)
        .into_iter()
        .filter_map(|l| match l {
            MetricsLine::Eval(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(evals.len() as u64, a.steps / 4);
    assert_eq!(evals.last().unwrap().iteration, a.steps);
    assert_eq!(evals.last().unwrap().test_acc, a.test_acc);
    assert_eq!(evals.last().unwrap().val_acc, a.val_acc);
    assert_eq!(a.device, "cpu");
    assert_eq!(timeless(a), timeless(b));
    // Each part of the run is recorded with where it trained and from which step.
    let sessions = RunDir::existing(&parts).sessions().unwrap();
    let from: Vec<u64> = sessions.iter().map(|s| s.from_step).collect();
    assert_eq!(from, [&[0], stops].concat());
    assert!(sessions.iter().all(|s| s.device == "cpu" && s.threads >= 1));
    assert!(sessions
        .iter()
        .all(|s| s.decoder == iterand_data::jpeg::DECODER));
    assert_eq!(RunDir::existing(&whole).sessions().unwrap().len(), 1);
    let (fa, fb) = (final_bits(&whole), final_bits(&parts));
    assert!(fa.keys().any(|k| k.starts_with("optimizer.momentum.")));
    assert_eq!(fa, fb);
    // The best checkpoint exists and names its own tensor file.
    let best = Checkpointer::new(&parts).info("best").unwrap().unwrap();
    assert!(best.tensors.starts_with("best-"), "{}", best.tensors);
}

#[test]
fn fc_stopped_mid_epoch_twice_resumes_bit_identically() {
    // 8 batches an epoch: stops inside epoch 1, inside epoch 2 right after R fires (it fires
    // before iterations 0, 3, 6, … i.e. before the 10th step), and at an epoch's last batch.
    stopped_and_resumed_equals_uninterrupted(Arch::Fc, &[5, 10, 16]);
}

/// The later methods (docs/methods.md): Iterative Weight Recycling's two modes, biprop and
/// global edge-popup, stopped right after R's third firing (before step 10).
#[test]
fn later_methods_resume_bit_identically() {
    let splits = digits::splits().unwrap();
    let base = TrainConfig {
        rerand_lambda: 0.2,
        ..config(Arch::Fc)
    };
    let configs = [
        TrainConfig {
            rerand_mode: RerandMode::Recycle,
            ..base.clone()
        },
        TrainConfig {
            rerand_mode: RerandMode::IterandRecycle,
            ..base.clone()
        },
        TrainConfig {
            weight_transform: WeightTransform::Biprop,
            ..base.clone()
        },
        TrainConfig {
            ranking_scope: RankingScope::Global,
            ranking: Ranking::Magnitude,
            ..base
        },
    ];
    for cfg in &configs {
        resumed_equals_uninterrupted(cfg, &splits, &[5, 10], (1, 1));
    }
}

#[test]
fn resnet_with_batch_norm_resumes_bit_identically() {
    stopped_and_resumed_equals_uninterrupted(Arch::Resnet18, &[3, 12]);
}

/// BatchNorm's γ and β trained beside the scores (`bn_type = affine`), with their momentum.
#[test]
fn resnet_with_affine_batch_norm_resumes_bit_identically() {
    let cfg = TrainConfig {
        bn_type: Some(iterand_models::BnType::Affine),
        ..config(Arch::Resnet18)
    };
    resumed_equals_uninterrupted(&cfg, &digits::splits().unwrap(), &[3, 12], (1, 1));
}

/// The streamed path: a JPEG ImageFolder (synthetic pictures, a format test) with one
/// unreadable file, decoded and augmented on loader threads. One worker uninterrupted equals two
/// workers stopped twice and resumed.
#[test]
fn an_image_folder_run_resumes_bit_identically_with_other_loader_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("folder");
    for (split, per) in [("train", 50), ("val", 3)] {
        write_synthetic_folder(&root, split, &["n01", "n02"], per).unwrap();
    }
    std::fs::write(root.join("train/n02/img5.JPEG"), b"truncated").unwrap();
    std::env::set_var("ITERAND_CACHE", tmp.path().join("cache"));
    let cfg = TrainConfig {
        dataset: DatasetName::Imagenet,
        data: Some(root),
        image_size: Some(16),
        augment: true,
        epochs: 2,
        batch_size: 5,
        eval_batch_size: 4,
        limit_batches: None,
        ..config(Arch::Fc)
    };
    let splits = cfg.open_data().unwrap();
    assert_eq!((splits.train.len(), splits.val.len()), (99, 1));
    resumed_equals_uninterrupted(&cfg, &splits, &[7, 31], (1, 2));
}

/// Evaluations at chosen steps land at exactly those steps and change nothing the run computes.
#[test]
fn evaluations_at_chosen_steps_leave_the_run_unchanged() {
    let (cfg, splits) = (config(Arch::Fc), digits::splits().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (plain, probed) = (dir.path().join("plain"), dir.path().join("probed"));
    let o = |out: &Path, at: Vec<u64>| RunOptions {
        out: Some(out.to_path_buf()),
        eval_at: at,
        ..RunOptions::default()
    };
    let a = train_with(&cfg, &splits, &Device::Cpu, &o(&plain, vec![])).unwrap();
    let b = train_with(&cfg, &splits, &Device::Cpu, &o(&probed, vec![13, 5, 99])).unwrap();
    let at = |out: &Path| -> Vec<u64> {
        metrics(out)
            .into_iter()
            .filter_map(|l| match l {
                MetricsLine::Eval(e) => Some(e.iteration),
                _ => None,
            })
            .collect()
    };
    assert_eq!(at(&plain), Vec::<u64>::new());
    assert_eq!(at(&probed), [5, 13]);
    assert_eq!(timeless(a), timeless(b));
    assert_eq!(final_bits(&plain), final_bits(&probed));
}

#[test]
fn a_folder_is_continued_only_with_its_own_config() {
    let splits = digits::splits().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cfg = TrainConfig {
        epochs: 2,
        ..config(Arch::Fc)
    };
    let dev = Device::Cpu;
    train_with(&cfg, &splits, &dev, &opts(&out, Resume::Refuse, Some(3))).unwrap_err();

    let other = TrainConfig {
        rerand_lambda: 0.1,
        seed: 6,
        ..cfg.clone()
    };
    let e = train_with(&other, &splits, &dev, &opts(&out, Resume::Auto, None))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("rerand_lambda: 0.5 → 0.1") && e.contains("seed: 5 → 6"),
        "{e}"
    );
    let e = train_with(&cfg, &splits, &dev, &opts(&out, Resume::Refuse, None))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already holds a run") && e.contains("run"),
        "{e}"
    );
    // Nothing of the folder changed: it still continues.
    let done = train_with(&cfg, &splits, &dev, &opts(&out, Resume::Auto, None)).unwrap();
    // A finished run is returned as it is, not trained again.
    let again = train_with(&cfg, &splits, &dev, &opts(&out, Resume::Auto, None)).unwrap();
    assert_eq!(done, again);
    // Starting over is explicit.
    let fresh = train_with(&cfg, &splits, &dev, &opts(&out, Resume::Never, None)).unwrap();
    assert_eq!(timeless(fresh), timeless(done));
    let toml = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        toml.contains(&format!("# hash = {}", cfg.hash().unwrap())),
        "{toml}"
    );
}
