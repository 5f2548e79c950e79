//! What the run-comparing tests share: a run's state with wall times taken out.
//!
//! Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

/// The independent TensorBoard reader of the train crate's tests.
#[path = "../../../crates/train/tests/tb_reader/mod.rs"]
pub mod tb_reader;

use std::collections::HashMap;
use std::path::Path;

use candle_core::Device;
use iterand_train::{Checkpointer, MetricsLine, RunDir};

/// Every metrics line, wall times zeroed (they are the only thing two equal runs differ in).
pub fn timeless_metrics(out: &Path) -> Vec<MetricsLine> {
    RunDir::existing(out)
        .metrics()
        .unwrap()
        .into_iter()
        .map(MetricsLine::timeless)
        .collect()
}

/// Every tensor of the `last` checkpoint as bit patterns.
pub fn tensors(out: &Path) -> HashMap<String, Vec<u32>> {
    let (_, t) = Checkpointer::new(out)
        .load("last", &Device::Cpu)
        .unwrap()
        .unwrap();
    t.into_iter()
        .map(|(k, v)| {
            let v = v
                .flatten_all()
                .unwrap()
                .to_dtype(candle_core::DType::F32)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (k, v.iter().map(|x| x.to_bits()).collect())
        })
        .collect()
}

/// The first tensor that differs between two runs, for a readable failure.
pub fn first_difference(a: &Path, b: &Path) -> Option<String> {
    let (ta, tb) = (tensors(a), tensors(b));
    if ta.len() != tb.len() {
        return Some(format!("{} vs {} tensors", ta.len(), tb.len()));
    }
    let mut names: Vec<&String> = ta.keys().collect();
    names.sort();
    names.into_iter().find_map(|name| {
        let (x, y) = (&ta[name], tb.get(name)?);
        let i = x.iter().zip(y).position(|(x, y)| x != y)?;
        Some(format!(
            "{name}[{i}]: {} vs {}",
            f32::from_bits(x[i]),
            f32::from_bits(y[i])
        ))
    })
}
