//! What a run records: one line per epoch and a summary at the end.

use serde::{Deserialize, Deserializer, Serialize};

/// An accuracy over an empty split is NaN, which JSON writes as `null`: read `null` back as NaN,
/// so a run folder with an empty validation split (a tiny ImageFolder's 1 % hold-out) reopens.
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One line of `metrics.jsonl`, tagged by `"kind"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MetricsLine {
    Epoch(EpochRecord),
    Step(StepRecord),
    Eval(EvalRecord),
    Histograms(HistogramsRecord),
    Mask(MaskRecord),
}

impl MetricsLine {
    /// The line with its wall times zeroed: the one thing a resumed run, or the same run on
    /// another thread count, does not reproduce. What the exactness tests compare.
    pub fn timeless(self) -> Self {
        match self {
            MetricsLine::Epoch(mut e) => {
                e.seconds = 0.0;
                e.data_wait = 0.0;
                e.images_per_second = 0.0;
                MetricsLine::Epoch(e)
            }
            other => other,
        }
    }
}

/// Every `eval_every` optimizer steps (when asked): the accuracy of the model as it stands.
/// A curve to look at, not a model selection: the summary's test accuracy stays the last model's.
/// Short runs end anywhere on an oscillation of a point or more, so the mean over the last
/// epoch's points compares two implementations with far less noise than the final value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub epoch: usize,
    /// Optimizer steps so far.
    pub iteration: u64,
    /// Percent.
    #[serde(deserialize_with = "nan_if_null")]
    pub val_acc: f64,
    /// Percent.
    #[serde(deserialize_with = "nan_if_null")]
    pub test_acc: f64,
}

/// Every `log_every` optimizer steps (when asked): the training loss of that step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub epoch: usize,
    /// Optimizer steps so far, this one included.
    pub iteration: u64,
    pub lr: f64,
    pub loss: f64,
    /// Percent of this batch classified right.
    pub batch_acc: f64,
    pub randomizations: u64,
}

/// The end of an epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    /// Percent.
    pub train_acc: f64,
    /// Percent.
    #[serde(deserialize_with = "nan_if_null")]
    pub val_acc: f64,
    /// Kept weights over all weights, from the current masks.
    pub kept_fraction: f64,
    /// Applications of R so far.
    pub randomizations: u64,
    /// Optimizer steps so far.
    pub steps: u64,
    /// Wall time of the epoch, evaluation included. This and `data_wait` are the fields a
    /// resumed run does not reproduce.
    pub seconds: f64,
    /// Share of the epoch's training time spent waiting for the loader's next batch (of the
    /// part trained since the last start, when resumed mid-epoch).
    #[serde(default)]
    pub data_wait: f64,
    /// Images trained over the epoch's wall time (evaluation included).
    #[serde(default)]
    pub images_per_second: f64,
}

/// At the end of each epoch, after its epoch line: per masked layer, the histogram of the
/// scores and, under R, of the generations (the round of each weight's current value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistogramsRecord {
    pub epoch: usize,
    /// Optimizer steps so far.
    pub iteration: u64,
    pub histograms: Vec<Histogram>,
}

/// At the end of each epoch of a score-training run, after its histograms: the mask's dynamics
/// per masked layer (`train::dynamics`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskRecord {
    pub epoch: usize,
    /// Optimizer steps so far.
    pub iteration: u64,
    pub layers: Vec<crate::dynamics::LayerDynamics>,
}

/// A histogram as TensorBoard's `HistogramProto` holds it: bucket `i` counts the values in
/// `(bucket_limit[i - 1], bucket_limit[i]]`, the first from `min`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// `scores/<layer>` or `generations/<layer>`.
    pub tag: String,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub sum_squares: f64,
    pub bucket_limit: Vec<f64>,
    pub bucket: Vec<f64>,
}

impl Histogram {
    /// `buckets` equal-width buckets over `[min, max]` of `values` (one bucket when they are all
    /// equal); sums in f64, in order.
    pub fn of(tag: String, values: &[f64], buckets: usize) -> Self {
        let (min, max) = if values.is_empty() {
            (0.0, 0.0)
        } else {
            range(values)
        };
        let n = if max > min { buckets.max(1) } else { 1 };
        let width = (max - min) / n as f64;
        let mut bucket_limit: Vec<f64> = (1..n).map(|i| min + width * i as f64).collect();
        bucket_limit.push(max);
        Self::with_limits(tag, values, min, max, bucket_limit)
    }

    /// `counts[k]` values equal to `k + 1` (a kept weight's number of values), one bucket each.
    pub fn of_counts(tag: String, counts: &[u64]) -> Self {
        let n = counts.len().max(1);
        let mut bucket_limit: Vec<f64> = (1..n).map(|k| k as f64 + 0.5).collect();
        bucket_limit.push(n as f64);
        let bucket: Vec<f64> = (0..n)
            .map(|k| counts.get(k).copied().unwrap_or(0) as f64)
            .collect();
        let value = |f: fn(f64) -> f64| -> f64 {
            counts
                .iter()
                .enumerate()
                .map(|(k, &c)| c as f64 * f(k as f64 + 1.0))
                .sum()
        };
        let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
        let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        Self {
            tag,
            min: first as f64 + 1.0,
            max: last as f64 + 1.0,
            sum: value(|v| v),
            sum_squares: value(|v| v * v),
            bucket_limit,
            bucket,
        }
    }

    /// Whole numbers (generations): one bucket per value from the least to the greatest, or 64
    /// equal-width buckets when they span more.
    pub fn of_integers(tag: String, values: &[f64]) -> Self {
        let (min, max) = range(values);
        if values.is_empty() || max - min > 64.0 {
            return Self::of(tag, values, 64);
        }
        let mut limits: Vec<f64> = (0..(max - min) as usize)
            .map(|i| min + i as f64 + 0.5)
            .collect();
        limits.push(max);
        Self::with_limits(tag, values, min, max, limits)
    }

    fn with_limits(
        tag: String,
        values: &[f64],
        min: f64,
        max: f64,
        bucket_limit: Vec<f64>,
    ) -> Self {
        let n = bucket_limit.len();
        let mut bucket = vec![0.0; n];
        for &v in values {
            // the first limit at or above v
            bucket[bucket_limit.partition_point(|&l| l < v).min(n - 1)] += 1.0;
        }
        Self {
            tag,
            min,
            max,
            sum: values.iter().sum(),
            sum_squares: values.iter().map(|v| v * v).sum(),
            bucket_limit,
            bucket,
        }
    }
}

/// The least and greatest of `values` (±∞ reversed when there are none).
fn range(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        })
}

impl MaskRecord {
    /// Weights whose mask bit changed this epoch, over all masked weights.
    pub fn changed_fraction(&self) -> f64 {
        let weights: usize = self.layers.iter().map(|l| l.weights).sum();
        let changed: usize = self.layers.iter().map(|l| l.changed).sum();
        changed as f64 / weights.max(1) as f64
    }

    /// The mean number of values the kept weights of every layer have had.
    pub fn kept_values_mean(&self) -> f64 {
        let (mut kept, mut values) = (0u64, 0u64);
        for l in &self.layers {
            for (k, &c) in l.kept_values.iter().enumerate() {
                kept += c;
                values += (k as u64 + 1) * c;
            }
        }
        values as f64 / kept.max(1) as f64
    }
}

/// One masked layer at the end of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    pub name: String,
    pub shape: Vec<usize>,
    pub weights: usize,
    /// Kept by the final mask (ties at the threshold included).
    pub kept: usize,
}

/// `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub dataset: String,
    pub model: String,
    pub method: String,
    pub width: f64,
    pub sparsity: f64,
    pub seed: u64,
    /// Test accuracy of the last-epoch model, percent (as the official code reports).
    #[serde(deserialize_with = "nan_if_null")]
    pub test_acc: f64,
    /// Validation accuracy of the last epoch, percent.
    #[serde(deserialize_with = "nan_if_null")]
    pub val_acc: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub best_val_acc: f64,
    pub kept_params: usize,
    pub total_params: usize,
    pub randomizations: u64,
    pub steps: u64,
    pub epochs: usize,
    /// Wall time of the whole run, resumed parts added.
    pub seconds: f64,
    /// The resolved config's hash (as in `config.toml`).
    #[serde(default)]
    pub config_hash: String,
    /// Where the run's last part trained (`cpu`, `cuda:N`); every part is in `sessions.jsonl`.
    #[serde(default)]
    pub device: String,
    /// Per masked layer, in forward order.
    pub layers: Vec<LayerStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accuracy_over_an_empty_split_round_trips_as_null() {
        let line = MetricsLine::Eval(EvalRecord {
            epoch: 1,
            iteration: 4,
            val_acc: f64::NAN,
            test_acc: 50.0,
        });
        let text = serde_json::to_string(&line).unwrap();
        assert!(text.contains("\"val_acc\":null"), "{text}");
        match serde_json::from_str::<MetricsLine>(&text).unwrap() {
            MetricsLine::Eval(e) => assert!(e.val_acc.is_nan() && e.test_acc == 50.0),
            other => panic!("{other:?}"),
        }
    }
}
