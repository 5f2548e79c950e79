//! Median images per second of score-mode training steps on random data.
//!
//! cargo run --release -p experiments --bin bench_step -- --model conv6 --width 1 --batch 128 \
//!     --steps 10 --threads 2
//!
//! The last line is `images_per_s=…`, for scripts. `--breakdown` adds the masked-layer,
//! randomizer and data-pipeline costs; `--candle-ops` runs candle's own kernels instead. Each step is what the trainer does: masks
//! from the scores, forward, cross-entropy, backward, SGD with momentum and weight decay.

use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor};
use clap::Parser;
use experiments::cli::{arch_parser, at_least_one, parse_sparsity, parse_width};
use iterand_data::{Augment, Dataset, DatasetName, ImageShape};
use iterand_masking::ParamStore;
use iterand_masking::{Ranking, RankingScope};
use iterand_models::{Arch, InputShape, Network};
use iterand_train::{Method, Sgd, TrainConfig};

/// Time score-mode training steps (edge-popup / IteRand without R) on random CIFAR-shaped data.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[arg(long, default_value = "conv6", value_parser = arch_parser())]
    model: Arch,
    #[arg(long, default_value_t = 1.0, value_parser = parse_width)]
    width: f64,
    #[arg(long, default_value_t = 128, value_parser = at_least_one("batch"))]
    batch: u64,
    /// Timed steps (after the warm-up).
    #[arg(long, default_value_t = 10, value_parser = at_least_one("steps"))]
    steps: u64,
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Worker threads (sets RAYON_NUM_THREADS, which candle's CPU kernels follow).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value_t = 0.5, value_parser = parse_sparsity)]
    sparsity: f64,
    /// cpu, cuda or cuda:N (CUDA needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: iterand_runs::device::DeviceSpec,
    /// Input channels and size (3 and 32: CIFAR).
    #[arg(long, default_value_t = 3)]
    channels: usize,
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Use candle's own convolution, ReLU, pooling and BatchNorm instead of the fast CPU
    /// kernels (for comparison).
    #[arg(long)]
    candle_ops: bool,
    /// Convolve 3×3 stride-1 layers by im2col + GEMM instead of Winograd F(2×2, 3×3)
    #[arg(long)]
    no_winograd: bool,
    /// Winograd F(4×4, 3×3) on planes of 16 and more (off by default).
    #[arg(long)]
    winograd4: bool,
    /// Also measure what surrounds the step: the masks and straight-through weights, one
    /// application of R (as a share of K_per steps), and the augmentation pipeline.
    #[arg(long)]
    breakdown: bool,
    /// K_per for the randomizer's share (official `rerand_freq`).
    #[arg(long, default_value_t = 300, value_parser = at_least_one("rerand_freq"))]
    rerand_freq: u64,
    /// Rank by |S| over all layers together (global edge-popup) instead of signed per layer.
    #[arg(long)]
    global: bool,
}

/// Median seconds of `reps` runs of `f` after one warm-up run.
fn median_secs(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut t = vec![];
    for _ in 0..reps {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn main() -> Result<()> {
    iterand_kernels::retain_freed_memory();
    let cli = Cli::parse();
    if let Some(t) = cli.threads {
        // SAFETY: set before any thread is started.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", t.to_string()) };
    }
    iterand_kernels::set_fast_kernels(!cli.candle_ops);
    iterand_kernels::set_winograd(!cli.no_winograd);
    iterand_kernels::set_winograd4(cli.winograd4);
    let dev = cli.device.open()?;
    // The trainer's own model and optimizer, built from a config as every binary builds them.
    let cfg = TrainConfig {
        model: cli.model,
        width: cli.width,
        sparsity: cli.sparsity,
        method: Method::Iterand,
        rerand_freq: cli.rerand_freq,
        lr: 0.1,
        weight_decay: 5e-4,
        ranking_scope: if cli.global {
            RankingScope::Global
        } else {
            RankingScope::Layer
        },
        ranking: if cli.global {
            Ranking::Magnitude
        } else {
            Ranking::Signed
        },
        ..TrainConfig::default()
    };
    let input = InputShape {
        channels: cli.channels,
        height: cli.size,
        width: cli.size,
    };
    let (store, net) = cfg.build_network(input, 10, &dev)?;
    let median = median_step(&cli, &cfg, &store, net.as_ref(), &dev)?;
    let b = cli.batch as usize;
    println!(
        "model={} width={} batch={b} median_step_s={median:.4}",
        cli.model, cli.width
    );
    if cli.breakdown {
        breakdown(&cli, &cfg, net.as_ref(), median, &dev)?;
    }
    println!("images_per_s={:.2}", b as f64 / median);
    Ok(())
}

/// Median seconds of a training step (forward, cross-entropy, backward, SGD) on random data.
fn median_step(
    cli: &Cli,
    cfg: &TrainConfig,
    store: &ParamStore,
    net: &dyn Network,
    dev: &Device,
) -> Result<f64> {
    let vars = store.trainable().into_iter().map(|(_, v)| v).collect();
    let mut opt = Sgd::new(vars, cfg.sgd());
    let b = cli.batch as usize;
    let x = Tensor::randn(0f32, 1.0, (b, cli.channels, cli.size, cli.size), dev)?;
    let y = Tensor::from_vec((0..b as u32).map(|i| i % 10).collect::<Vec<_>>(), b, dev)?;
    let mut times = vec![];
    for step in 0..cli.warmup + cli.steps {
        let t = Instant::now();
        let logits = net.forward_t(&x, true)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        opt.step(&loss.backward()?)?;
        let s = t.elapsed().as_secs_f64();
        if step >= cli.warmup {
            times.push(s);
        }
        eprintln!("step {step}: {s:.3}s");
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// What surrounds the step, each printed as a share of training: the masks, R, the mask's
/// dynamics and the augmentation pipeline.
fn breakdown(
    cli: &Cli,
    cfg: &TrainConfig,
    net: &dyn Network,
    median: f64,
    dev: &Device,
) -> Result<()> {
    let masks = median_secs(5, || {
        for m in net.masked() {
            m.effective()?;
        }
        Ok(())
    })?;
    let (rr, _) = cfg
        .rerandomization()?
        .ok_or_else(|| anyhow::anyhow!("the iterand config has no R"))?;
    let mut round = 0;
    let rerand = median_secs(5, || {
        round += 1;
        Ok(net.rerandomize(round, &rr)?)
    })?;
    let (count, compare) = dynamics_secs(net, round, &rr)?;
    // against a CIFAR-10 epoch of these steps
    let steps_per_epoch = DatasetName::Cifar10.info().train_images() as f64 / cli.batch as f64;
    let epoch_s = steps_per_epoch * median;
    let dynamics_s = count * steps_per_epoch / cli.rerand_freq as f64 + compare;
    let pipeline = pipeline_secs(cli, dev)?;
    println!(
        "masks_and_ste_s={masks:.4} ({:.2}% of a step, forward part; the backward adds one \
         product per weight)",
        100.0 * masks / median
    );
    println!(
        "rerandomize_s={rerand:.4} ({:.3}% of training at rerand_freq={})",
        100.0 * rerand / (rerand + cli.rerand_freq as f64 * median),
        cli.rerand_freq
    );
    println!(
        "mask_dynamics_s: {count:.4} after each R, {compare:.4} at each epoch's end \
         ({:.3}% of a CIFAR-10 epoch at rerand_freq={})",
        100.0 * dynamics_s / epoch_s,
        cli.rerand_freq
    );
    println!(
        "augment_images_per_s={:.0} ({:.1}x the training step, one thread)",
        cli.batch as f64 / pipeline,
        median / pipeline
    );
    Ok(())
}

/// The mask's dynamics: median seconds of counting R's re-draws after an R, and of comparing
/// masks at an epoch's end.
fn dynamics_secs(
    net: &dyn Network,
    round: u32,
    rr: &iterand_randomizer::Rerandomizer,
) -> Result<(f64, f64)> {
    let recycles = rr.recycle_rate().is_some();
    let mut dynamics = iterand_train::dynamics::MaskDynamics::new(net, recycles)?
        .ok_or_else(|| anyhow::anyhow!("a score-mode network has dynamics"))?;
    let count = median_secs(5, || Ok(dynamics.after_rerand(net, round, rr)?))?;
    let compare = median_secs(5, || dynamics.end_epoch(net).map(drop).map_err(Into::into))?;
    Ok((count, compare))
}

/// Median seconds of the official CIFAR-10 augmentation of one batch of synthetic images of the
/// bench's shape (only the pipeline's speed is measured, so the pixel values do not matter).
fn pipeline_secs(cli: &Cli, dev: &Device) -> Result<f64> {
    let shape = ImageShape {
        channels: cli.channels,
        height: cli.size,
        width: cli.size,
    };
    let n = 1024;
    let data = Dataset {
        name: "synthetic".into(),
        shape,
        classes: 10,
        images: (0..n * shape.numel())
            .map(|i| (i % 251) as f32 / 251.0)
            .collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        black: vec![0.0; cli.channels],
    };
    let aug = Augment {
        size: cli.size,
        ..Augment::cifar10()
    };
    let b = cli.batch as usize;
    let idx: Vec<u32> = (0..b as u32).collect();
    let mut epoch = 0;
    median_secs(5, || {
        epoch += 1;
        let (v, s) = aug.batch(&data, &idx, 1, epoch)?;
        Tensor::from_vec(v, (b, s.channels, s.height, s.width), dev)?;
        Ok(())
    })
}
