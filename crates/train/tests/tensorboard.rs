//! The TensorBoard event file of a short digits run, read back by an independent reader
//! (`tb_reader`): one event per metrics line after the file version, the same steps, tags and
//! values, and histograms that count the final scores and generations of every layer.

mod tb_reader;

use candle_core::{DType, Device};
use iterand_data::digits;
use iterand_models::Arch;
use iterand_train::{
    train_with, Checkpointer, DatasetName, Method, MetricsLine, RunDir, RunOptions, TrainConfig,
};
use tb_reader::{events, Val};

fn run(out: &std::path::Path) {
    let cfg = TrainConfig {
        dataset: DatasetName::Digits,
        model: Arch::Fc,
        method: Method::Iterand,
        width: 0.25,
        epochs: 2,
        batch_size: 64,
        lr: 0.1,
        rerand_freq: 3,
        rerand_lambda: 0.5,
        limit_batches: Some(9),
        seed: 4,
        ..Default::default()
    };
    let opts = RunOptions {
        out: Some(out.to_path_buf()),
        log_every: Some(2),
        eval_every: Some(5),
        ..RunOptions::default()
    };
    train_with(&cfg, &digits::splits().unwrap(), &Device::Cpu, &opts).unwrap();
}

fn scalars(pairs: &[(&str, f64)]) -> Vec<(String, Val)> {
    pairs
        .iter()
        .map(|(t, v)| (t.to_string(), Val::Scalar(*v as f32)))
        .collect()
}

/// The tags and values each kind of line must carry.
fn expected(line: &MetricsLine) -> (u64, Vec<(String, Val)>) {
    match line {
        MetricsLine::Step(s) => (
            s.iteration,
            scalars(&[
                ("train/loss", s.loss),
                ("train/batch_acc", s.batch_acc),
                ("train/lr", s.lr),
                ("rerand/randomizations", s.randomizations as f64),
            ]),
        ),
        MetricsLine::Eval(e) => (
            e.iteration,
            scalars(&[("eval/val_acc", e.val_acc), ("eval/test_acc", e.test_acc)]),
        ),
        MetricsLine::Epoch(e) => (
            e.steps,
            scalars(&[
                ("epoch/train_loss", e.train_loss),
                ("epoch/train_acc", e.train_acc),
                ("epoch/val_acc", e.val_acc),
                ("epoch/lr", e.lr),
                ("epoch/images_per_second", e.images_per_second),
                ("mask/kept_fraction", e.kept_fraction),
                ("rerand/randomizations", e.randomizations as f64),
            ]),
        ),
        MetricsLine::Mask(m) => (m.iteration, mask_values(m)),
        MetricsLine::Histograms(h) => (
            h.iteration,
            h.histograms
                .iter()
                .map(|x| {
                    let v = Val::Histo {
                        min: x.min,
                        max: x.max,
                        num: x.bucket.iter().sum(),
                        sum: x.sum,
                        sum_squares: x.sum_squares,
                        limits: x.bucket_limit.clone(),
                        buckets: x.bucket.clone(),
                    };
                    (x.tag.clone(), v)
                })
                .collect(),
        ),
    }
}

/// A mask line's values, computed again here: totals, per-layer scalars, then per layer the
/// histogram of the kept weights' number of values (bucket k holds the value k + 1).
fn mask_values(m: &iterand_train::MaskRecord) -> Vec<(String, Val)> {
    let (mut changed, mut weights, mut redrawn, mut kept, mut values) = (0, 0, 0, 0, 0);
    for l in &m.layers {
        changed += l.changed;
        weights += l.weights;
        redrawn += l.redrawn;
        for (k, &c) in l.kept_values.iter().enumerate() {
            kept += c;
            values += (k as u64 + 1) * c;
        }
    }
    let mut out = scalars(&[
        ("mask/changed_fraction", changed as f64 / weights as f64),
        ("rerand/redrawn", redrawn as f64),
        ("rerand/kept_values_mean", values as f64 / kept as f64),
    ]);
    for l in &m.layers {
        out.extend(scalars(&[
            (
                &format!("mask/changed_fraction/{}", l.name),
                l.changed as f64 / l.weights as f64,
            ),
            (&format!("rerand/redrawn/{}", l.name), l.redrawn as f64),
        ]));
    }
    for l in &m.layers {
        let n = l.kept_values.len();
        let mut limits: Vec<f64> = (1..n).map(|k| k as f64 + 0.5).collect();
        limits.push(n as f64);
        let at = |k: usize| k as f64 + 1.0;
        let first = l.kept_values.iter().position(|&c| c > 0).unwrap();
        let last = l.kept_values.iter().rposition(|&c| c > 0).unwrap();
        let sum = |p: i32| -> f64 {
            let k = l.kept_values.iter().enumerate();
            k.map(|(k, &c)| c as f64 * at(k).powi(p)).sum()
        };
        let h = Val::Histo {
            min: at(first),
            max: at(last),
            num: l.kept_values.iter().sum::<u64>() as f64,
            sum: sum(1),
            sum_squares: sum(2),
            limits,
            buckets: l.kept_values.iter().map(|&c| c as f64).collect(),
        };
        out.push((format!("kept_values/{}", l.name), h));
    }
    out
}

#[test]
fn every_metrics_line_is_one_event_with_its_step_tags_and_values() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path());
    let ev = events(dir.path());
    let lines = RunDir::existing(dir.path()).metrics().unwrap();
    assert_eq!(ev[0].file_version.as_deref(), Some("brain.Event:2"));
    assert_eq!(ev.len(), lines.len() + 1);
    for (e, l) in ev[1..].iter().zip(&lines) {
        let (step, values) = expected(l);
        assert_eq!((e.step as u64, &e.values), (step, &values), "{l:?}");
        assert!(e.wall_time > 1.7e9, "wall time {}", e.wall_time);
    }
    let kinds = |k: &str| {
        ev.iter()
            .filter(|e| e.values.iter().any(|v| v.0.starts_with(k)))
            .count()
    };
    assert_eq!(kinds("train/loss"), 9);
    assert_eq!(kinds("eval/"), 3);
    assert_eq!(kinds("epoch/"), 2);
    assert_eq!(kinds("scores/"), 2);
    assert_eq!(kinds("mask/changed_fraction"), 2);
}

/// The last histograms, counted again from the final checkpoint's tensors.
#[test]
fn the_last_histograms_count_the_final_scores_and_generations() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path());
    let (_, tensors) = Checkpointer::new(dir.path())
        .load("last", &Device::Cpu)
        .unwrap()
        .unwrap();
    let ev = events(dir.path());
    let last = ev[ev.len() - 2].clone(); // the last histograms, before the last mask event
    let layers = ["layers.0", "layers.1", "layers.2"];
    assert_eq!(last.values.len(), 2 * layers.len(), "{:?}", last.values);
    for (tag, val) in &last.values {
        let (what, layer) = tag.split_once('/').unwrap();
        let key = if what == "scores" {
            format!("{layer}.scores")
        } else {
            format!("{layer}.generations")
        };
        let t = &tensors[&key];
        let v: Vec<f64> = t
            .flatten_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_vec1()
            .unwrap();
        let Val::Histo {
            min,
            max,
            num,
            sum,
            limits,
            buckets,
            ..
        } = val
        else {
            panic!("{tag} is not a histogram")
        };
        assert_eq!(*num as usize, v.len(), "{tag}");
        assert_eq!(
            *min,
            v.iter().cloned().fold(f64::INFINITY, f64::min),
            "{tag}"
        );
        assert_eq!(
            *max,
            v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            "{tag}"
        );
        assert!(
            (sum - v.iter().sum::<f64>()).abs() < 1e-9 * v.len() as f64,
            "{tag}"
        );
        assert_eq!(limits.last(), Some(max), "{tag}");
        // bucket i holds (limits[i-1], limits[i]], the first from min
        for (i, &count) in buckets.iter().enumerate() {
            let lo = if i == 0 {
                f64::NEG_INFINITY
            } else {
                limits[i - 1]
            };
            let n = v.iter().filter(|&&x| x > lo && x <= limits[i]).count();
            assert_eq!(count as usize, n, "{tag} bucket {i}");
        }
        if what == "generations" {
            // rounds of R so far, one bucket per round that occurs
            assert!(
                *max >= 1.0 && limits.len() as f64 == max - min + 1.0,
                "{tag}: {limits:?}"
            );
        }
    }
}
