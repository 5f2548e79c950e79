//! Run any Figure 3 ImageNet experiment by name.
//!
//! cargo run --release -p experiments --bin imagenet -- --preset figure3_resnet50_sc_iterand \
//!     --data /data/imagenet [--dry-run]
//!
//! `--data` (or `IMAGENET_DIR`) is an ImageFolder: `DIR/train/<class>/*.JPEG`,
//! `DIR/val/<class>/*.JPEG` and optionally `DIR/list/clist.csv` (folder,name,label). Without
//! it, `data/imagenet`. `make_imagefolder` writes Fashion-MNIST or CIFAR-10 in this layout.

use anyhow::Result;
use clap::Parser;
use experiments::preset_cmd::{self, PresetArgs};
use iterand_train::DatasetName;

/// Run an experiment of Figure 3 (configs/figure3.toml) on ImageNet by name, with every
/// hyper-parameter as the paper's.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    args: PresetArgs,
}

fn main() -> Result<()> {
    let mut cli = Cli::parse();
    if cli.args.train.data.is_none() {
        cli.args.train.data = std::env::var_os("IMAGENET_DIR").map(Into::into);
    }
    if !cli.args.list_presets && !cli.args.dry_run {
        let dir = (cli.args.train.data.clone())
            .or_else(|| DatasetName::Imagenet.default_folder())
            .unwrap_or_default();
        if let Err(e) = DatasetName::Imagenet.check_folder(&dir) {
            eprintln!(
                "error: {e}\nPass it with --data DIR or IMAGENET_DIR; `make_imagefolder` writes \
                 Fashion-MNIST or CIFAR-10 in this layout."
            );
            std::process::exit(2);
        }
    }
    preset_cmd::main(cli.args, DatasetName::Imagenet)
}
