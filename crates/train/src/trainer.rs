//! The training loop of the official `train.py`, for every method.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, D};
use iterand_data::{batch_order, Augment, Dataset, Splits};
use iterand_masking::ParamStore;
use iterand_models::{build, InputShape, ModelSpec, Network};

use crate::config::TrainConfig;
use crate::metrics::{EpochRecord, LayerStats, Summary};
use crate::progress::{Progress, Reporter};
use crate::run_dir::RunDir;
use crate::sgd::Sgd;
use crate::{Error, Result};

/// Number of correct predictions in a batch.
fn correct(logits: &Tensor, labels: &Tensor) -> Result<usize> {
    let pred = logits.argmax(D::Minus1)?;
    Ok(pred
        .eq(labels)?
        .to_dtype(DType::U32)?
        .sum_all()?
        .to_scalar::<u32>()? as usize)
}

/// Accuracy in percent of `net` on `data`, in evaluation mode.
pub fn evaluate(net: &dyn Network, data: &Dataset, batch: usize, device: &Device) -> Result<f64> {
    if data.is_empty() {
        return Ok(f64::NAN);
    }
    let idx: Vec<u32> = (0..data.len() as u32).collect();
    let mut right = 0;
    for chunk in idx.chunks(batch) {
        let (x, y) = data.batch(chunk, device)?;
        let logits = net.forward_t(&x, false)?.detach();
        right += correct(&logits, &y)?;
    }
    Ok(100.0 * right as f64 / data.len() as f64)
}

/// Train one run as `config` says on `splits`; write the run folder at `out` if given.
///
/// Order of events per step, as the official code: R fires (if due) before the batch, with the
/// masks of the current scores; then forward, loss, backward and one SGD step. The learning
/// rate is set at each epoch's start. Test accuracy is that of the last-epoch model.
pub fn train(
    config: &TrainConfig,
    splits: &Splits,
    device: &Device,
    out: Option<&Path>,
    progress: Progress,
) -> Result<Summary> {
    config.validate()?;
    let start = Instant::now();
    let padded;
    let splits = if config.pad > 0 {
        padded = Splits {
            train: splits.train.pad(config.pad),
            val: splits.val.pad(config.pad),
            test: splits.test.pad(config.pad),
        };
        &padded
    } else {
        splits
    };
    let run_dir = out.map(|p| RunDir::create(p, config)).transpose()?;
    let shape = splits.train.shape;
    let spec = ModelSpec {
        arch: config.model,
        width: config.width,
        input: InputShape {
            channels: shape.channels,
            height: shape.height,
            width: shape.width,
        },
        classes: splits.train.classes,
    };
    let store = ParamStore::new(config.seed, device.clone());
    let net = build(&spec, config.mask_config()?, &store.builder())?;
    let vars = store.trainable().into_iter().map(|(_, v)| v).collect();
    let mut opt = Sgd::new(vars, config.sgd());
    let schedule = config.schedule();
    let rerand = config.rerandomization()?;
    let counts = net.param_counts();
    for m in net.masked() {
        tracing::debug!(
            "layer {} {:?}: {} weights",
            m.path(),
            m.weight().dims(),
            m.numel()
        );
    }

    let n = splits.train.len();
    let full_steps = n.div_ceil(config.batch_size);
    let steps_per_epoch = config
        .limit_batches
        .map_or(full_steps, |l| l.min(full_steps));
    let reporter = Reporter::new(progress, (steps_per_epoch * config.epochs) as u64);
    let augment = config.augment.then(|| Augment {
        size: shape.height,
        ..Augment::cifar10()
    });

    let mut global_it: u64 = 0;
    let mut rounds: u32 = 0;
    let mut val_acc = f64::NAN;
    let mut best_val = f64::NAN;
    for epoch in 0..config.epochs {
        let t0 = Instant::now();
        let lr = schedule.at(epoch);
        opt.set_learning_rate(lr);
        let order = batch_order(n, config.seed, epoch as u64);
        let (mut loss_sum, mut right, mut seen) = (0f64, 0usize, 0usize);
        for (step, idx) in order
            .chunks(config.batch_size)
            .take(steps_per_epoch)
            .enumerate()
        {
            if let Some((r, sched)) = &rerand {
                if sched.fires(global_it, epoch as u64, step as u64) {
                    rounds += 1;
                    net.rerandomize(rounds, r)?;
                }
            }
            let (x, y) = match &augment {
                Some(a) => {
                    let (px, s) = a.batch(&splits.train, idx, config.seed, epoch as u64);
                    let labels: Vec<u32> = idx
                        .iter()
                        .map(|&i| splits.train.labels[i as usize] as u32)
                        .collect();
                    (
                        Tensor::from_vec(px, (idx.len(), s.channels, s.height, s.width), device)?,
                        Tensor::from_vec(labels, idx.len(), device)?,
                    )
                }
                None => splits.train.batch(idx, device)?,
            };
            let logits = net.forward_t(&x, true)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            let l = loss.to_scalar::<f32>()?;
            if !l.is_finite() {
                return Err(Error::NonFiniteLoss {
                    value: l,
                    epoch,
                    step,
                });
            }
            let grads = loss.backward()?;
            opt.step(&grads)?;
            loss_sum += l as f64 * idx.len() as f64;
            right += correct(&logits.detach(), &y)?;
            seen += idx.len();
            global_it += 1;
            reporter.step();
        }
        val_acc = evaluate(net.as_ref(), &splits.val, config.eval_batch_size, device)?;
        if best_val.is_nan() || val_acc > best_val {
            best_val = val_acc;
        }
        let record = EpochRecord {
            epoch,
            lr,
            train_loss: loss_sum / seen as f64,
            train_acc: 100.0 * right as f64 / seen as f64,
            val_acc,
            kept_fraction: net.kept_now()? as f64 / counts.weights as f64,
            randomizations: rounds as u64,
            steps: global_it,
            seconds: t0.elapsed().as_secs_f64(),
        };
        reporter.epoch(&record, config.epochs);
        if let Some(d) = &run_dir {
            d.append_epoch(&record)?;
        }
    }
    reporter.finish();
    let test_acc = evaluate(net.as_ref(), &splits.test, config.eval_batch_size, device)?;
    let layers = net
        .masked()
        .iter()
        .map(|m| {
            Ok(LayerStats {
                name: m.path().to_string(),
                shape: m.weight().dims().to_vec(),
                weights: m.numel(),
                kept: m.kept()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let summary = Summary {
        dataset: config.dataset.name().into(),
        model: config.model.name().into(),
        method: config.method.name().into(),
        width: config.width,
        sparsity: config.mask_config()?.effective_sparsity(),
        seed: config.seed,
        test_acc,
        val_acc,
        best_val_acc: best_val,
        kept_params: counts.kept,
        total_params: counts.weights,
        randomizations: rounds as u64,
        steps: global_it,
        epochs: config.epochs,
        seconds: start.elapsed().as_secs_f64(),
        layers,
    };
    if let Some(d) = &run_dir {
        d.write_summary(&summary)?;
    }
    Ok(summary)
}
