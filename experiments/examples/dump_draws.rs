//! Every random input of a run of the `figure2_conv6_ku_iterand` preset at width 0.25 on a
//! CIFAR-10-format folder: initial weights and scores, every augmented batch in training order,
//! and R's coins and fresh values. `benches/official/replay.py` applies the official code's
//! rules to exactly these draws, so the two implementations can be compared step by step and
//! run by run without their random number generators standing between them (issue 19).
//!
//! `cargo run -p experiments --example dump_draws -- OUT CIFAR_BIN SEED R EPOCHS K_PER`
//!
//! Writes OUT/init.safetensors, OUT/x.f32 (batches, f32 NCHW), OUT/y.u8 (labels),
//! OUT/sizes.txt (epoch and size of each batch), OUT/order.u32 (each epoch's example order) and
//! OUT/split.u32 (which of the 50,000 training-file images our split trains on, in the order the
//! training set holds them). 3 epochs are 1.7 GB.
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use iterand_data::{
    batch_order, split_indices, Augment, Source, Splits, VAL_FRACTION, VAL_SPLIT_SEED,
};
use iterand_models::InputShape;
use iterand_randomizer::{coins, fresh_values};
use iterand_train::{load_splits, TrainConfig};

fn main() -> Result<()> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 7 {
        anyhow::bail!("usage: dump_draws OUT CIFAR_BIN SEED R EPOCHS K_PER");
    }
    let out = PathBuf::from(&a[1]);
    let data = PathBuf::from(&a[2]);
    let (seed, lambda): (u64, f64) = (a[3].parse()?, a[4].parse()?);
    let (epochs, freq): (usize, usize) = (a[5].parse()?, a[6].parse()?);
    std::fs::create_dir_all(&out)?;
    let mut cfg = iterand_runs::presets::find("figure2_conv6_ku_iterand")
        .context("the preset figure2_conv6_ku_iterand")?
        .config;
    cfg.width = 0.25;
    cfg.seed = seed;
    let splits = load_splits(cfg.dataset, Some(&data))?;
    let n = splits.train.len();
    let steps = n.div_ceil(cfg.batch_size) * epochs;
    let init = init_draws(&cfg, (steps / freq) as u32, lambda)?;
    candle_core::safetensors::save(&init, out.join("init.safetensors"))?;
    let orders = write_batches(&cfg, &splits, epochs as u64, &out)?;
    let le = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    std::fs::write(out.join("order.u32"), le(&orders))?;
    let (kept, _) = split_indices(n + splits.val.len(), VAL_FRACTION, VAL_SPLIT_SEED);
    std::fs::write(out.join("split.u32"), le(&kept))?;
    Ok(())
}

/// Each masked layer's initial weights and scores, and R's fresh values and coins for every
/// round the run reaches.
fn init_draws(cfg: &TrainConfig, rounds: u32, lambda: f64) -> Result<HashMap<String, Tensor>> {
    let dev = Device::Cpu;
    let input = InputShape {
        channels: 3,
        height: 32,
        width: 32,
    };
    let (_store, net) = cfg.build_network(input, 10, &dev)?;
    let mut t: HashMap<String, Tensor> = HashMap::new();
    for m in net.masked() {
        let (p, k) = (m.path(), m.numel());
        t.insert(format!("{p}.weight"), m.weight().as_tensor().clone());
        let scores = m.scores().context("a score-mode layer")?;
        t.insert(format!("{p}.scores"), scores.as_tensor().clone());
        for round in 1..=rounds {
            let fresh = fresh_values(cfg.init_mode, m.fan_in(), cfg.seed, m.key(), round, k)?;
            let heads = coins(cfg.seed, m.key(), round, lambda, k);
            t.insert(
                format!("{p}.fresh{round}"),
                Tensor::from_vec(fresh, k, &dev)?,
            );
            t.insert(
                format!("{p}.coin{round}"),
                Tensor::from_vec(heads, k, &dev)?,
            );
        }
    }
    Ok(t)
}

/// Every augmented training batch in order (x.f32, y.u8, sizes.txt); returns each epoch's
/// example order, concatenated.
fn write_batches(cfg: &TrainConfig, splits: &Splits, epochs: u64, out: &Path) -> Result<Vec<u32>> {
    let aug = Augment {
        size: 32,
        ..Augment::cifar10()
    };
    let create = |name: &str| -> Result<_> {
        Ok(std::io::BufWriter::new(std::fs::File::create(
            out.join(name),
        )?))
    };
    let (mut xs, mut ys, mut sizes) = (create("x.f32")?, create("y.u8")?, create("sizes.txt")?);
    let (seed, n) = (cfg.seed, splits.train.len());
    let mut orders = Vec::new();
    for epoch in 0..epochs {
        let order = batch_order(n, seed, epoch);
        orders.extend_from_slice(&order);
        for idx in order.chunks(cfg.batch_size) {
            let (px, _) = aug.batch(&splits.train, idx, seed, epoch)?;
            xs.write_all(&px.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
            let l = idx
                .iter()
                .map(|&i| Ok(splits.train.label(i as usize)? as u8))
                .collect::<anyhow::Result<Vec<u8>>>()?;
            ys.write_all(&l)?;
            writeln!(sizes, "{epoch} {}", idx.len())?;
        }
    }
    Ok(orders)
}
