//! Run any official CIFAR-10 experiment by name.
//!
//! cargo run --release -p experiments --bin cifar10 -- --preset figure2_resnet18_sc_iterand \
//!     --width 0.5 --seed 1 [--dry-run]
//!
//! `--data` is the CIFAR-10 binary folder (data_batch_1.bin … test_batch.bin; default
//! data/cifar-10-batches-bin), or `hub`: download it from the Hugging Face hub (the parquet
//! conversion of `cifar10`) into the hub cache, or read it from there (offline with
//! HF_HUB_OFFLINE=1).

use anyhow::Result;
use clap::Parser;
use experiments::preset_cmd::{self, PresetArgs};
use iterand_train::DatasetName;

/// Run an experiment of the official config.yaml on CIFAR-10 by name, with every
/// hyper-parameter as the paper's; the grid values (width, seed, r) come from the flags.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    args: PresetArgs,
}

fn main() -> Result<()> {
    preset_cmd::main(Cli::parse().args, DatasetName::Cifar10)
}
