//! The mask's own dynamics, what makes IteRand different while it trains: how much of each
//! layer's mask changed since the previous epoch, how many weights R has re-drawn, and for the
//! kept weights how many values each has had (the paper's R in practice, against the theory's
//! R_eff).
//!
//! The state is two arrays per masked layer, kept beside the model rather than in it: the mask
//! at the last epoch's end, and how often R re-drew each weight. R re-draws exactly the weights
//! whose generation becomes the round's number, so the counts follow from the generations after
//! each R without touching the randomizer. Both arrays travel in the checkpoint (under
//! [`PREFIX`]), so a resumed run reports what an uninterrupted one does.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use iterand_models::Network;
use iterand_randomizer::Rerandomizer;
use serde::{Deserialize, Serialize};

use crate::Result;

/// Checkpoint names: `dynamics.<layer>.epoch_mask` and `dynamics.<layer>.redraws`.
pub const PREFIX: &str = "dynamics.";

/// One layer at an epoch's end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerDynamics {
    pub name: String,
    pub weights: usize,
    /// Weights whose mask bit differs from the previous epoch's end (the initial mask for the
    /// first epoch).
    pub changed: usize,
    /// Re-draws by R so far, summed over the layer's weights.
    pub redrawn: u64,
    /// `kept_values[k]`: kept weights that have had `k + 1` values (the initial one and `k`
    /// re-draws).
    pub kept_values: Vec<u64>,
    /// Iterative Weight Recycling: values R has copied onto this layer's positions so far.
    /// Absent (0) in runs that do not recycle, whose records stay as they were.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub recycled: u64,
    /// Kept weights now at a position that has received a recycled value.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kept_recycled: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The per-layer counts from the masks and the re-draw counts (the rule, on plain arrays).
pub fn layer_dynamics(name: &str, previous: &[u8], mask: &[u8], redraws: &[u16]) -> LayerDynamics {
    let changed = previous.iter().zip(mask).filter(|(a, b)| a != b).count();
    let mut kept_values = vec![];
    for (&m, &r) in mask.iter().zip(redraws) {
        if m == 1 {
            let k = r as usize;
            if kept_values.len() <= k {
                kept_values.resize(k + 1, 0);
            }
            kept_values[k] += 1;
        }
    }
    LayerDynamics {
        name: name.to_string(),
        weights: mask.len(),
        changed,
        redrawn: redraws.iter().map(|&r| r as u64).sum(),
        kept_values,
        recycled: 0,
        kept_recycled: 0,
    }
}

/// The recycling counts of a layer: copies received in all, and kept weights at positions that
/// received one.
pub fn recycling_counts(mask: &[u8], recycled: &[u16]) -> (u64, u64) {
    let total = recycled.iter().map(|&r| r as u64).sum();
    let kept = mask
        .iter()
        .zip(recycled)
        .filter(|(&m, &r)| m == 1 && r > 0)
        .count();
    (total, kept as u64)
}

struct Layer {
    name: String,
    epoch_mask: Vec<u8>,
    redraws: Vec<u16>,
    /// Copies each position received from recycling; empty when the run does not recycle.
    recycled: Vec<u16>,
}

/// The dynamics state of a network's masked layers (score mode only).
pub struct MaskDynamics {
    layers: Vec<Layer>,
}

fn host_mask(m: &iterand_masking::MaskedWeight) -> Result<Vec<u8>> {
    Ok(m.mask()?.flatten_all()?.to_vec1::<u8>()?)
}

impl MaskDynamics {
    /// Start from the initial masks and no re-draws; `None` when the network trains weights.
    /// `recycles`: whether R recycles (Iterative Weight Recycling), so copies are counted.
    pub fn new(net: &dyn Network, recycles: bool) -> Result<Option<Self>> {
        let mut layers = vec![];
        for m in net.masked() {
            if m.scores().is_none() {
                return Ok(None);
            }
            layers.push(Layer {
                name: m.path().to_string(),
                epoch_mask: host_mask(m)?,
                redraws: vec![0; m.numel()],
                recycled: if recycles { vec![0; m.numel()] } else { vec![] },
            });
        }
        Ok(Some(Self { layers }))
    }

    /// After R's `round`-th application `r`: count a re-draw for every weight it re-drew
    /// (whose generation is now the round; a recycled copy of such a weight counts too), and
    /// a copy for every position recycling wrote, its moves recomputed from the unchanged
    /// scores.
    pub fn after_rerand(&mut self, net: &dyn Network, round: u32, r: &Rerandomizer) -> Result<()> {
        for (l, m) in self.layers.iter_mut().zip(net.masked()) {
            if let Some(g) = m.generation_values()? {
                for (r, &g) in l.redraws.iter_mut().zip(&g) {
                    *r += (g as u32 == round) as u16;
                }
            }
            if let (Some(rate), false) = (r.recycle_rate(), l.recycled.is_empty()) {
                for (dst, _) in m.recycle_moves(rate)? {
                    l.recycled[dst] = l.recycled[dst].saturating_add(1);
                }
            }
        }
        Ok(())
    }

    /// The epoch's counts per layer; the current masks become the next epoch's reference.
    pub fn end_epoch(&mut self, net: &dyn Network) -> Result<Vec<LayerDynamics>> {
        let mut out = vec![];
        for (l, m) in self.layers.iter_mut().zip(net.masked()) {
            let mask = host_mask(m)?;
            let mut d = layer_dynamics(&l.name, &l.epoch_mask, &mask, &l.redraws);
            (d.recycled, d.kept_recycled) = recycling_counts(&mask, &l.recycled);
            out.push(d);
            l.epoch_mask = mask;
        }
        Ok(out)
    }

    /// The state as checkpoint tensors.
    pub fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for l in &self.layers {
            let n = l.redraws.len();
            let mask = Tensor::from_vec(l.epoch_mask.clone(), n, &Device::Cpu)?;
            let r: Vec<i16> = l.redraws.iter().map(|&r| r as i16).collect();
            out.insert(format!("{PREFIX}{}.epoch_mask", l.name), mask);
            out.insert(
                format!("{PREFIX}{}.redraws", l.name),
                Tensor::from_vec(r, n, &Device::Cpu)?,
            );
            if !l.recycled.is_empty() {
                let c: Vec<i16> = l.recycled.iter().map(|&r| r as i16).collect();
                out.insert(
                    format!("{PREFIX}{}.recycled", l.name),
                    Tensor::from_vec(c, n, &Device::Cpu)?,
                );
            }
        }
        Ok(out)
    }

    /// Take the state back from a checkpoint. One from before the dynamics were recorded keeps
    /// the fresh state: masks as they are now, no re-draws counted.
    pub fn restore(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for l in &mut self.layers {
            let mask = tensors.get(&format!("{PREFIX}{}.epoch_mask", l.name));
            let redraws = tensors.get(&format!("{PREFIX}{}.redraws", l.name));
            let (Some(mask), Some(redraws)) = (mask, redraws) else {
                continue;
            };
            let mask = mask.to_dtype(DType::U8)?.to_vec1::<u8>()?;
            let redraws = redraws.to_vec1::<i16>()?;
            if mask.len() == l.epoch_mask.len() && redraws.len() == l.redraws.len() {
                l.epoch_mask = mask;
                l.redraws = redraws.into_iter().map(|r| r as u16).collect();
            }
            if let Some(c) = tensors.get(&format!("{PREFIX}{}.recycled", l.name)) {
                let c = c.to_vec1::<i16>()?;
                if c.len() == l.recycled.len() {
                    l.recycled = c.into_iter().map(|r| r as u16).collect();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counted by hand: weights 1 and 2 swap in and out; re-draws 0 + 2 + 1 + 0 + 3 = 6; the
    /// kept weights 0, 1 and 4 have had 1, 3 and 4 values.
    #[test]
    fn the_counts_of_a_hand_made_case() {
        let previous = [1, 0, 1, 0, 1];
        let mask = [1, 1, 0, 0, 1];
        let redraws = [0, 2, 1, 0, 3];
        let d = layer_dynamics("fc", &previous, &mask, &redraws);
        assert_eq!(d.weights, 5);
        assert_eq!(d.changed, 2);
        assert_eq!(d.redrawn, 6);
        assert_eq!(d.kept_values, [1, 0, 1, 1]);
    }
}
