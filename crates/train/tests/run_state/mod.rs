//! A run folder's state as two equal runs share it: every tensor of its `last` checkpoint as
//! bit patterns, and its metrics with the wall times zeroed (the one thing a resumed or
//! re-threaded run does not reproduce). Shared by the train crate's resume tests and the
//! experiments' kill, fault and thread tests (through `#[path]`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use candle_core::Device;
use iterand_train::{Checkpointer, MetricsLine, RunDir};

/// Every tensor of the `last` checkpoint of the run in `out`, as bits.
pub fn tensor_bits(out: &Path) -> HashMap<String, Vec<u32>> {
    let (_, tensors) = Checkpointer::new(out)
        .load("last", &Device::Cpu)
        .unwrap()
        .unwrap();
    tensors
        .into_iter()
        .map(|(k, t)| {
            let v = t
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

/// Every metrics line of the run in `out`, wall times zeroed.
pub fn timeless_metrics(out: &Path) -> Vec<MetricsLine> {
    RunDir::existing(out)
        .metrics()
        .unwrap()
        .into_iter()
        .map(MetricsLine::timeless)
        .collect()
}
