//! Images/s of one pass of the ImageNet loader over an ImageFolder: decoding, the official
//! training or evaluation transform and batch assembly on `--workers` threads, as a run reads
//! it. `benches/peer/loader_bench.py` runs it against torchvision's loader, alternating:
//!
//! cargo run -p experiments --bin bench_loader -- --data DIR --transform train --workers 2
//!
//! `--resample reference` measures the f32 row-at-a-time resampling of the full-size image
//! instead of the 8-bit SIMD one, and `--dct-scaling off` full-size decoding of training crops:
//! each move of the fast path alone (the decoder itself is chosen when the build finds
//! libjpeg-turbo; `ITERAND_JPEG=zune` builds with zune-jpeg).
//!
//! Prints one JSON line: transform, workers, decoder, images, seconds, images_per_s.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use iterand_data::{batch_order, jpeg, DatasetName, FastPath, Loader, Transform};

#[derive(Parser, Debug)]
#[command(name = "bench_loader")]
struct Cli {
    /// An ImageFolder in the ImageNet layout (train/ and val/ class folders).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// `train` (RandomResizedCrop + flip over the training split, shuffled) or `eval`
    /// (Resize + CenterCrop over val/, in order).
    #[arg(long, default_value = "train", value_parser = ["train", "eval"])]
    transform: String,
    /// Loader threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// The crop's side (the evaluation resize scales with it by 256/224).
    #[arg(long, default_value_t = 224)]
    image_size: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `simd` (8-bit, fast_image_resize) or `reference` (f32, row at a time).
    #[arg(long, default_value = "simd", value_parser = ["simd", "reference"])]
    resample: String,
    /// Decode training crops at reduced size where they allow (libjpeg-turbo builds).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    dct_scaling: String,
}

fn main() -> Result<()> {
    iterand_kernels::retain_freed_memory();
    let cli = Cli::parse();
    let splits = DatasetName::Imagenet
        .open_sized(Some(&cli.data), Some(cli.image_size))
        .with_context(|| format!("opening {}", cli.data.display()))?;
    let t = splits.transforms(0, true)?;
    let train = cli.transform == "train";
    let (view, inner): (_, Arc<dyn Transform>) = if train {
        (splits.train.clone(), Arc::new(t.train))
    } else {
        (splits.test.clone(), Arc::new(t.eval))
    };
    let transform: Arc<dyn Transform> = Arc::new(FastPath {
        inner,
        resample: cli.resample == "simd",
        dct_scaling: cli.dct_scaling == "on",
    });
    let order: Vec<u32> = if train {
        batch_order(view.len(), cli.seed, 0)
    } else {
        (0..view.len() as u32).collect()
    };
    let batches = order
        .chunks(cli.batch_size.max(1))
        .map(<[u32]>::to_vec)
        .collect();
    let loader = Loader {
        workers: cli.workers,
        ..Loader::default()
    };
    let start = Instant::now();
    let mut images = 0;
    for batch in loader.iter(view, transform, batches, cli.seed, 0) {
        images += batch?.len();
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"transform\":\"{}\",\"workers\":{},\"decoder\":\"{}\",\"images\":{images},\"seconds\":{seconds:.3},\"images_per_s\":{:.1}}}",
        cli.transform,
        cli.workers,
        jpeg::DECODER,
        images as f64 / seconds
    );
    Ok(())
}
