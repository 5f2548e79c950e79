//! Compact tickets (issue 15): a trained edge-popup or IteRand network as its seed, mask and
//! generations (docs/ticket-format.md).
//!
//! cargo run -p experiments --bin ticket -- export runs/fc-iterand -o model.ticket
//! cargo run -p experiments --bin ticket -- info model.ticket
//! cargo run -p experiments --bin ticket -- eval model.ticket
//! cargo run -p experiments --bin ticket -- dense model.ticket -o model.safetensors

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use iterand_data::Loader;
use iterand_runs::device::DeviceSpec;
use iterand_ticket::{dense, export, info, rebuild, Info, Ticket};
use iterand_train::write_atomic;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Export, inspect, evaluate and densify compact tickets"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// A run folder's checkpoint as a ticket (edge-popup and IteRand runs).
    Export {
        run: PathBuf,
        #[arg(short, long)]
        out: PathBuf,
        /// Which checkpoint: the last model or the best by validation accuracy.
        #[arg(long, default_value = "last", value_parser = ["last", "best"])]
        slot: String,
    },
    /// Weights, kept weights and bits per weight of the mask, the generations and the rest.
    Info {
        ticket: PathBuf,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the network from the seed and evaluate it on the test split.
    Eval {
        ticket: PathBuf,
        /// The dataset's folder (default: the run's own `data`, else the default folder).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, default_value = "cpu")]
        device: DeviceSpec,
    },
    /// The effective weights (W ⊙ mask), BatchNorm tensors and biases as safetensors, under
    /// the module names, with a JSON file beside it naming the architecture.
    Dense {
        ticket: PathBuf,
        #[arg(short, long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Export { run, out, slot } => {
            let t = export(&run, &slot).with_context(|| format!("exporting {}", run.display()))?;
            t.write(&out)?;
            print_info(&info(&t)?);
            eprintln!("wrote {}", out.display());
        }
        Cmd::Info { ticket, json } => {
            let i = info(&Ticket::read(&ticket)?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&i)?);
            } else {
                print_info(&i);
            }
        }
        Cmd::Eval {
            ticket,
            data,
            device,
        } => eval(&ticket, data, device)?,
        Cmd::Dense { ticket, out } => write_dense(&ticket, &out)?,
    }
    Ok(())
}

fn print_info(i: &Info) {
    println!(
        "{:<28} {:>10} {:>10} {:>7} {:>7} {:>7} {:>9} {:>9}",
        "layer", "weights", "kept", "mask", "H(mask)", "gens", "H(gen)/k", "gens/k"
    );
    for l in &i.layers {
        println!(
            "{:<28} {:>10} {:>10} {:>7.4} {:>7.4} {:>7.4} {:>9.4} {:>9.4}",
            l.path,
            l.weights,
            l.kept,
            l.mask_bits,
            l.mask_entropy,
            l.generation_bits,
            l.generation_entropy_per_kept,
            l.generation_bits_per_kept
        );
    }
    println!(
        "total: {} weights, {} kept, {} rounds; bits per weight: mask {:.4}, generations {:.4}, \
         rest {:.4}, header {:.4}, total {:.4} (dense f32: 32); {} bytes",
        i.weights,
        i.kept,
        i.rounds,
        i.mask_bits,
        i.generation_bits,
        i.rest_bits,
        i.header_bits,
        i.total_bits,
        i.file_bytes
    );
}

fn eval(path: &Path, data: Option<PathBuf>, device: DeviceSpec) -> Result<()> {
    let t = Ticket::read(path)?;
    let dev = device.open()?;
    let r = rebuild(&t, &dev)?;
    let mut cfg = r.config.clone();
    if data.is_some() {
        cfg.data = data;
    }
    let splits = cfg
        .open_data()
        .with_context(|| format!("loading {}", cfg.dataset.name()))?;
    let tf = splits.transforms(cfg.pad, cfg.augment)?;
    let acc = iterand_train::evaluate(
        r.net.as_ref(),
        &splits.test,
        &tf.eval,
        cfg.eval_batch_size,
        Loader::default(),
        &dev,
    )?;
    println!(
        "{}",
        serde_json::json!({"ticket": path, "test_acc": acc, "test_images": splits.test.len()})
    );
    Ok(())
}

fn write_dense(path: &Path, out: &Path) -> Result<()> {
    let t = Ticket::read(path)?;
    let r = rebuild(&t, &candle_core::Device::Cpu)?;
    let tensors = dense(&r)?;
    let tmp = out.with_extension("safetensors.tmp");
    candle_core::safetensors::save(&tensors, &tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    let h = &t.header;
    let side = serde_json::json!({
        "model": r.config.model.name(),
        "width": r.config.width,
        "dataset": r.config.dataset.name(),
        "stem": r.config.stem,
        "input": h.input,
        "classes": h.classes,
        "config": h.config,
    });
    write_atomic(
        &out.with_extension("json"),
        serde_json::to_string_pretty(&side)?.as_bytes(),
    )?;
    eprintln!("wrote {} and its .json", out.display());
    Ok(())
}
