//! What a ticket costs, layer by layer (`ticket info`), and its dense weights (`ticket dense`).

use std::collections::HashMap;

use candle_core::{DType, Tensor};
use iterand_masking::Role;
use serde::Serialize;

use crate::codec::entropy;
use crate::format::{Coded, Ticket};
use crate::rebuild::Rebuilt;
use crate::Result;

/// One layer's cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerInfo {
    pub path: String,
    pub weights: u64,
    pub kept: u64,
    /// Coded mask, bits per weight, and the mask's binary entropy (the bound for i.i.d. bits).
    pub mask_bits: f64,
    pub mask_entropy: f64,
    /// Coded generations, bits per weight of the layer.
    pub generation_bits: f64,
    /// Per kept weight: the generations' empirical entropy, and what the coder spent.
    pub generation_entropy_per_kept: f64,
    pub generation_bits_per_kept: f64,
    pub distinct_generations: usize,
}

/// The whole ticket's cost, in bits per weight of all masked layers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Info {
    pub layers: Vec<LayerInfo>,
    pub weights: u64,
    pub kept: u64,
    pub mask_bits: f64,
    pub generation_bits: f64,
    /// BatchNorm tensors and non-zero biases.
    pub rest_bits: f64,
    /// Magic, version, JSON header (config, layer table, generation histograms), checksum.
    pub header_bits: f64,
    pub total_bits: f64,
    pub file_bytes: u64,
    pub rounds: u32,
}

pub fn info(t: &Ticket) -> Result<Info> {
    let mut layers = vec![];
    for (h, (m, g)) in t.header.layers.iter().zip(&t.layers) {
        let n = crate::format::numel(&h.shape).unwrap_or(usize::MAX) as u64;
        let per = |bytes: usize, of: u64| 8.0 * bytes as f64 / of.max(1) as f64;
        layers.push(LayerInfo {
            path: h.path.clone(),
            weights: n,
            kept: h.kept,
            mask_bits: per(m.len(), n),
            mask_entropy: entropy(&[n.saturating_sub(h.kept), h.kept]),
            generation_bits: per(g.len(), n),
            generation_entropy_per_kept: entropy(&h.generation_counts),
            generation_bits_per_kept: per(g.len(), h.kept),
            distinct_generations: h.generation_values.len(),
        });
    }
    let sizes = t.sizes()?;
    // saturating: a crafted header may claim any counts
    let weights = layers.iter().fold(0u64, |a, l| a.saturating_add(l.weights));
    let bits = |b: f64| b / weights.max(1) as f64;
    let coded = |f: fn(&Coded) -> usize| 8.0 * t.layers.iter().map(f).sum::<usize>() as f64;
    Ok(Info {
        weights,
        kept: layers.iter().fold(0u64, |a, l| a.saturating_add(l.kept)),
        mask_bits: bits(coded(|l| l.0.len())),
        generation_bits: bits(coded(|l| l.1.len())),
        rest_bits: bits(8.0 * sizes.rest as f64),
        header_bits: bits(8.0 * sizes.framing as f64),
        total_bits: bits(8.0 * sizes.total as f64),
        file_bytes: sizes.total,
        rounds: t.header.rounds,
        layers,
    })
}

/// The effective weights (`W ⊙ mask`) under the layers' names, and every BatchNorm tensor and
/// bias, as a state dict for the same architecture in PyTorch.
pub fn dense(r: &Rebuilt) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for m in r.net.masked() {
        let mask = m.mask()?.to_dtype(DType::F32)?;
        let w = (m.weight().as_tensor() * mask)?;
        out.insert(format!("{}.weight", m.path()), w);
    }
    for role in [Role::NormStat, Role::NormAffine, Role::Bias] {
        for (name, var) in r.store.by_role(role) {
            out.insert(name, var.as_tensor().clone());
        }
    }
    Ok(out)
}
