//! The command behind the `cifar10` and `imagenet` binaries: run an official experiment of
//! `configs/` by name, any of its keys (width, seed, r …) from flags, or print it (`--dry-run`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use candle_core::Device;
use clap::Args;
use iterand_models::InputShape;
use iterand_randomizer::{RerandSchedule, RerandUnit};
use iterand_train::{DatasetName, Method, TrainConfig};

use crate::cli::{at_least_one, init_logging, run_and_print, RunFlags, TrainArgs};
use iterand_runs::presets;

/// The flags of a preset command.
#[derive(Args, Debug)]
pub struct PresetArgs {
    /// Experiment name (see --list-presets).
    #[arg(long, required_unless_present = "list_presets")]
    pub preset: Option<String>,
    /// List the presets with their settings and exit.
    #[arg(long)]
    pub list_presets: bool,
    /// Print the model (per-layer shapes, total and kept weights) and the planned schedule,
    /// without data or training.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the first N augmented training images and the first N evaluation images as PNG
    /// grids, and the evaluation batch before normalisation (safetensors, with its files), into
    /// the run folder, then exit: what the network sees.
    #[arg(long, value_name = "N", value_parser = at_least_one("preview"))]
    pub preview: Option<u64>,
    /// Run folder. Default: runs/<preset>-w<width>-s<seed>.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Any key of the preset, as `train` takes it (width, seed, rerand_lambda, epochs, data …).
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub run: RunFlags,
}

/// 2804928 → "2,804,928".
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Every preset of `dataset`, one line each.
fn list(dataset: DatasetName) {
    for p in presets::of(dataset) {
        let c = &p.config;
        println!(
            "{:<32} {:<9} {:<10} init {:<15} lr {:<5} wd {:<7} p {:<4} K_per {} r {}  grid: {}",
            p.name,
            c.model.name(),
            c.method.name(),
            c.init_mode.name(),
            c.lr,
            c.weight_decay,
            c.sparsity,
            c.rerand_freq,
            c.rerand_lambda,
            p.grid
        );
    }
}

/// The preset's config: its keys, then the flags', then `--set`, resolved once.
fn config(args: &PresetArgs, dataset: DatasetName) -> Result<(String, TrainConfig)> {
    let name = args.preset.clone().unwrap_or_default();
    let Some(preset) = presets::find_in(dataset, &name) else {
        bail!("unknown preset `{name}` for --preset; --list-presets prints the names");
    };
    let cfg = args.run.resolve(&[&preset.keys, &args.train.to_layer()?])?;
    Ok((name, cfg))
}

/// The model and the planned schedule, without data.
fn dry_run(name: &str, cfg: &TrainConfig, dataset: DatasetName) -> Result<()> {
    let info = dataset.info();
    let side = cfg.image_size.unwrap_or(info.image_size);
    let input = InputShape {
        channels: info.channels,
        height: side,
        width: side,
    };
    let (_store, net) = cfg.build_network(input, info.classes, &Device::Cpu)?;
    println!(
        "{name}: {} ×{} on {}, {} ({}), seed {}",
        cfg.model, cfg.width, info.title, cfg.method, cfg.init_mode, cfg.seed
    );
    println!(
        "{:<28} {:>20} {:>12} {:>12}",
        "layer", "shape", "weights", "kept"
    );
    for m in net.masked() {
        let n = m.numel();
        // under a global ranking a layer's share follows the scores: its initial mask's
        let kept = if m.ranks_globally() {
            m.kept()?
        } else {
            iterand_masking::threshold::kept_count(n, m.config().effective_sparsity())
        };
        let shape = format!("{:?}", m.weight().dims());
        println!("{:<28} {shape:>20} {n:>12} {kept:>12}", m.path());
    }
    let c = net.param_counts();
    println!(
        "prunable weights: {} (kept at p = {}: {})",
        thousands(c.weights),
        cfg.mask_config()?.effective_sparsity(),
        thousands(c.kept)
    );
    print_schedule(cfg, dataset)
}

/// The dry run's schedule lines: iterations, learning rate and how often R fires.
fn print_schedule(cfg: &TrainConfig, dataset: DatasetName) -> Result<()> {
    let train_images = dataset.info().train_images();
    let steps = train_images.div_ceil(cfg.batch_size);
    let limited = cfg.limit_batches.map_or(steps, |l| l.min(steps));
    let rerand = cfg.rerandomization()?;
    let fires = rerand.map_or(0, |(_, s)| s.count(cfg.epochs as u64, limited as u64));
    println!(
        "schedule: {} epochs × {} steps = {} iterations (batch {}, {} train images), {}, wd {}",
        cfg.epochs,
        limited,
        limited * cfg.epochs,
        cfg.batch_size,
        train_images,
        lr_text(cfg),
        cfg.weight_decay
    );
    if let (Method::Iterand, Some((_, k))) = (cfg.method, rerand) {
        println!(
            "randomizations: {fires} ({}, r = {}; R_eff ≈ 1 + r·T/K_per = {:.1}; full run {})",
            rule_text(&k, limited as u64)?,
            cfg.rerand_lambda,
            1.0 + cfg.rerand_lambda * fires as f64,
            k.count(cfg.epochs as u64, steps as u64)
        );
    } else {
        println!("randomizations: 0 ({})", cfg.method);
    }
    Ok(())
}

/// When R fires, in words.
fn rule_text(k: &RerandSchedule, steps_per_epoch: u64) -> Result<String> {
    Ok(match k.unit {
        RerandUnit::Iteration | RerandUnit::Epoch => {
            format!("every {} iterations", k.period(steps_per_epoch)?)
        }
        RerandUnit::BatchIndex => format!(
            "after batches 0, {}, … of every epoch but the first",
            k.freq
        ),
        RerandUnit::EpochEnd => format!(
            "after epochs {}, {}, … but the last (0-based)",
            k.freq,
            2 * k.freq
        ),
    })
}

/// The learning-rate plan in words: warm-up, cosine, fine-tuning.
fn lr_text(cfg: &TrainConfig) -> String {
    let mut lr = format!("cosine lr {}", cfg.lr);
    if cfg.warmup_epochs > 0 {
        lr = format!("{} warm-up epochs, {lr}", cfg.warmup_epochs);
    }
    if cfg.finetune_epochs > 0 {
        lr = format!(
            "{lr}, {} fine-tune epochs at {}",
            cfg.finetune_epochs, cfg.finetune_lr
        );
    }
    lr
}

/// `--preview`: both preset datasets are normalised with the ImageNet statistics, as the
/// official code does, which the preview undoes.
fn preview(cfg: &TrainConfig, n: usize, out: &std::path::Path) -> Result<()> {
    let splits = cfg.open_data()?;
    let transforms = cfg.transforms(&splits)?;
    let norm = iterand_data::Normalization::imagenet();
    for p in iterand_report::preview::write(&splits, &transforms, &norm, n, cfg.seed, out)? {
        println!("{}", p.display());
    }
    Ok(())
}

/// List, dry-run or train the preset `args` names, on `dataset`.
pub fn main(args: PresetArgs, dataset: DatasetName) -> Result<()> {
    iterand_kernels::retain_freed_memory();
    if args.list_presets || args.dry_run {
        init_logging(args.run.verbose, args.run.quiet, None);
    }
    if args.list_presets {
        list(dataset);
        return Ok(());
    }
    let (name, cfg) = config(&args, dataset)?;
    if args.dry_run {
        return dry_run(&name, &cfg, dataset);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{name}-w{}-s{}", cfg.width, cfg.seed)));
    if let Some(n) = args.preview {
        init_logging(args.run.verbose, args.run.quiet, None);
        return preview(&cfg, n as usize, &out);
    }
    init_logging(
        args.run.verbose,
        args.run.quiet,
        Some(&out.join(iterand_train::RunDir::LOG)),
    );
    run_and_print(&cfg, &out, &args.run)
}
