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
use std::path::PathBuf;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use iterand_data::{batch_order, split_indices, Augment, Source, VAL_FRACTION, VAL_SPLIT_SEED};
use iterand_models::InputShape;
use iterand_randomizer::{coins, fresh_values};
use iterand_train::load_splits;

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
    let mut cfg = experiments::presets::find("figure2_conv6_ku_iterand")
        .context("the preset figure2_conv6_ku_iterand")?
        .config;
    cfg.width = 0.25;
    cfg.seed = seed;
    let splits = load_splits(cfg.dataset, Some(&data))?;
    let n = splits.train.len();
    let steps = n.div_ceil(cfg.batch_size) * epochs;
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
        t.insert(
            format!("{p}.scores"),
            m.scores()
                .context("a score-mode layer")?
                .as_tensor()
                .clone(),
        );
        for round in 1..=(steps / freq) as u32 {
            let fresh = fresh_values(cfg.init_mode, m.fan_in(), seed, m.key(), round, k)?;
            let heads = coins(seed, m.key(), round, lambda, k);
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
    candle_core::safetensors::save(&t, out.join("init.safetensors"))?;
    let aug = Augment {
        size: 32,
        ..Augment::cifar10()
    };
    let mut xs = std::io::BufWriter::new(std::fs::File::create(out.join("x.f32"))?);
    let mut ys = std::io::BufWriter::new(std::fs::File::create(out.join("y.u8"))?);
    let mut sizes = std::io::BufWriter::new(std::fs::File::create(out.join("sizes.txt"))?);
    let mut orders = Vec::new();
    for epoch in 0..epochs as u64 {
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
    let le = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    std::fs::write(out.join("order.u32"), le(&orders))?;
    let (kept, _) = split_indices(n + splits.val.len(), VAL_FRACTION, VAL_SPLIT_SEED);
    std::fs::write(out.join("split.u32"), le(&kept))?;
    Ok(())
}
