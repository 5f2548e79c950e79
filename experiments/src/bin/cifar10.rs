//! Run any official CIFAR-10 experiment by name.
//!
//! cargo run --release -p experiments --bin cifar10 -- --preset figure2_resnet18_sc_iterand \
//!     --width 0.5 --seed 1 [--dry-run]

use std::path::PathBuf;

use anyhow::{bail, Result};
use candle_core::Device;
use clap::Parser;
use experiments::cli::{
    init_logging, parse_at_least_one, parse_probability, parse_width, run_and_print, RunFlags,
};
use experiments::presets;
use iterand_models::InputShape;
use iterand_train::Method;

/// The official CIFAR-10 training set is 50,000 images; 10 % is held out for validation.
const CIFAR10_TRAIN: usize = 45_000;

/// Run an experiment of the official config.yaml on CIFAR-10 by name, with every
/// hyper-parameter as the paper's; the grid values (width, seed, r) come from the flags.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Experiment name (see --list-presets).
    #[arg(long, required_unless_present = "list_presets")]
    preset: Option<String>,
    /// List the presets with their settings and exit.
    #[arg(long)]
    list_presets: bool,
    /// Print the model (per-layer shapes, total and kept weights) and the planned schedule,
    /// without data or training.
    #[arg(long)]
    dry_run: bool,
    /// Width factor (Figure 2 sweeps 0.25, 0.5, 1, 2).
    #[arg(long, value_parser = parse_width)]
    width: Option<f64>,
    /// Seed (the paper uses 1, 2, 3).
    #[arg(long)]
    seed: Option<u64>,
    /// r (Figure 1 sweeps 0, 0.01, 0.1, 1).
    #[arg(long, value_parser = parse_probability)]
    rerand_lambda: Option<f64>,
    /// Fewer epochs (smoke tests).
    #[arg(long, value_parser = parse_at_least_one)]
    epochs: Option<u64>,
    /// Stop every epoch after this many batches (smoke tests).
    #[arg(long, value_parser = parse_at_least_one)]
    limit_batches: Option<u64>,
    /// The CIFAR-10 binary folder (data_batch_1.bin … test_batch.bin), or `hub`: download it
    /// from the Hugging Face hub (uoft-cs/cifar10) into the hub cache, or read it from there
    /// (offline with HF_HUB_OFFLINE=1); a folder named hub is `./hub`.
    /// Default: data/cifar-10-batches-bin.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Run folder. Default: runs/<preset>-w<width>-s<seed>.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    run: RunFlags,
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

fn main() -> Result<()> {
    iterand_kernels::retain_freed_memory();
    let cli = Cli::parse();
    if cli.list_presets || cli.dry_run {
        init_logging(cli.run.verbose, cli.run.quiet, None);
    }
    if cli.list_presets {
        for p in presets::all() {
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
        return Ok(());
    }
    let name = cli.preset.as_deref().expect("clap requires --preset");
    let Some(preset) = presets::find(name) else {
        bail!("unknown preset `{name}` for --preset; --list-presets prints the names");
    };
    let mut cfg = preset.config;
    if let Some(w) = cli.width {
        cfg.width = w;
    }
    if let Some(s) = cli.seed {
        cfg.seed = s;
    }
    if let Some(r) = cli.rerand_lambda {
        cfg.rerand_lambda = r;
    }
    if let Some(e) = cli.epochs {
        cfg.epochs = e as usize;
    }
    cfg.limit_batches = cli.limit_batches.map(|v| v as usize);
    cfg.data = cli.data.clone();
    let cfg = cli.run.apply(&cfg)?;
    cfg.validate()?;

    if cli.dry_run {
        let input = InputShape {
            channels: 3,
            height: 32,
            width: 32,
        };
        let (_store, net) = cfg.build_network(input, 10, &Device::Cpu)?;
        println!(
            "{name}: {} ×{} on CIFAR-10, {} ({}), seed {}",
            cfg.model, cfg.width, cfg.method, cfg.init_mode, cfg.seed
        );
        println!(
            "{:<28} {:>20} {:>12} {:>12}",
            "layer", "shape", "weights", "kept"
        );
        for m in net.masked() {
            let n = m.numel();
            let kept = iterand_masking::threshold::kept_count(n, m.config().effective_sparsity());
            println!(
                "{:<28} {:>20} {:>12} {:>12}",
                m.path(),
                format!("{:?}", m.weight().dims()),
                n,
                kept
            );
        }
        let c = net.param_counts();
        println!(
            "prunable weights: {} (kept at p = {}: {})",
            thousands(c.weights),
            cfg.mask_config()?.effective_sparsity(),
            thousands(c.kept)
        );
        let steps = CIFAR10_TRAIN.div_ceil(cfg.batch_size);
        let limited = cfg.limit_batches.map_or(steps, |l| l.min(steps));
        let rerand = cfg.rerandomization()?;
        let fires = rerand.map_or(0, |(_, s)| s.count(cfg.epochs as u64, limited as u64));
        println!(
            "schedule: {} epochs × {} steps = {} iterations (batch {}, {} train images), cosine lr {}, wd {}",
            cfg.epochs, limited, limited * cfg.epochs, cfg.batch_size, CIFAR10_TRAIN, cfg.lr, cfg.weight_decay
        );
        if let (Method::Iterand, Some((_, k))) = (cfg.method, rerand) {
            println!(
                "randomizations: {fires} (every {} iterations, r = {}; R_eff ≈ 1 + r·T/K_per = {:.1}; full run {})",
                k.period(limited as u64)?,
                cfg.rerand_lambda,
                1.0 + cfg.rerand_lambda * fires as f64,
                k.count(cfg.epochs as u64, steps as u64)
            );
        } else {
            println!("randomizations: 0 ({})", cfg.method);
        }
        return Ok(());
    }

    let out = cli
        .out
        .unwrap_or_else(|| PathBuf::from(format!("runs/{name}-w{}-s{}", cfg.width, cfg.seed)));
    init_logging(cli.run.verbose, cli.run.quiet, Some(&out.join("train.log")));
    run_and_print(&cfg, &out, &cli.run)
}
