//! A ticket back into a network: the seed's draws at each kept weight's generation, the mask
//! as 0/1 scores (which the threshold rule maps back to exactly that mask), and the stored
//! BatchNorm tensors.

use candle_core::{Device, Tensor};
use iterand_masking::{MaskedWeight, ParamStore};
use iterand_models::Network;
use iterand_randomizer::{Purpose, Stream};
use iterand_train::TrainConfig;

use crate::codec::decode;
use crate::format::{Coded, LayerHeader, Ticket};
use crate::{Error, Result};

/// A rebuilt network, with its config and store.
pub struct Rebuilt {
    pub config: TrainConfig,
    pub store: ParamStore,
    pub net: Box<dyn Network>,
}

/// One layer's mask (1 = kept) and the generation of every weight (0 where pruned).
pub fn layer_values(h: &LayerHeader, coded: &Coded) -> Result<(Vec<u8>, Vec<u16>)> {
    let n = crate::format::numel(&h.shape).ok_or_else(|| Error::Format {
        what: format!("{} shape", h.path),
        why: format!("{:?} is too large", h.shape),
    })?;
    let kept = h.kept as usize;
    if kept > n {
        return Err(Error::Format {
            what: format!("{} kept", h.path),
            why: format!("{kept} of {n} weights"),
        });
    }
    let mask: Vec<u8> = match kept {
        0 => vec![0; n],
        k if k == n => vec![1; n],
        _ => {
            let counts = [(n - kept) as u64, kept as u64];
            let m = decode(&coded.0, n, &counts, &format!("{} mask", h.path))?;
            m.into_iter().map(|b| b as u8).collect()
        }
    };
    if mask.iter().filter(|&&b| b == 1).count() != kept {
        return Err(Error::Format {
            what: format!("{} mask", h.path),
            why: format!("does not keep the header's {kept} weights"),
        });
    }
    let counts = &h.generation_counts;
    let total = counts.iter().try_fold(0u64, |a, &c| a.checked_add(c));
    if counts.len() != h.generation_values.len() || total != Some(h.kept) {
        return Err(Error::Format {
            what: format!("{} generations", h.path),
            why: "counts do not match the values or the kept weights".into(),
        });
    }
    let syms = decode(&coded.1, kept, counts, &format!("{} generations", h.path))?;
    let mut gens = vec![0u16; n];
    let kept_idx = (0..n).filter(|&i| mask[i] == 1);
    for (i, s) in kept_idx.zip(syms) {
        gens[i] = h.generation_values[s as usize];
    }
    Ok((mask, gens))
}

/// The network of `ticket` on `device`, ready to evaluate.
pub fn rebuild(ticket: &Ticket, device: &Device) -> Result<Rebuilt> {
    let h = &ticket.header;
    let config = TrainConfig::from_toml(&h.config)?;
    let (store, net) = config.build_network(h.input, h.classes, device)?;
    let masked = net.masked();
    if masked.len() != h.layers.len() {
        return Err(Error::Format {
            what: "layers".into(),
            why: format!(
                "{} in the ticket, {} in its model",
                h.layers.len(),
                masked.len()
            ),
        });
    }
    for ((m, lh), coded) in masked.iter().zip(&h.layers).zip(&ticket.layers) {
        if m.path() != lh.path || m.weight().dims() != lh.shape.as_slice() {
            return Err(Error::Format {
                what: format!("layer {}", lh.path),
                why: format!("the model has {} {:?} there", m.path(), m.weight().dims()),
            });
        }
        let (mask, gens) = layer_values(lh, coded)?;
        set_layer(m, &config, &mask, &gens)?;
    }
    // after every layer: under a global ranking each mask depends on all layers' scores
    for (m, lh) in masked.iter().zip(&h.layers) {
        check_alpha(m, lh)?;
    }
    let vars = store.varmap().data().lock().unwrap().clone();
    for (th, values) in h.rest.iter().zip(&ticket.rest) {
        let var = vars.get(&th.name).ok_or_else(|| Error::Format {
            what: format!("tensor {}", th.name),
            why: "the model has no such tensor".into(),
        })?;
        if var.dims() != th.shape.as_slice() {
            return Err(Error::Format {
                what: format!("tensor {}", th.name),
                why: format!("shape {:?}, the model's {:?}", th.shape, var.dims()),
            });
        }
        var.set(&Tensor::from_vec(values.clone(), var.shape(), device)?)?;
    }
    drop(masked);
    Ok(Rebuilt { config, store, net })
}

/// The rebuilt layer's biprop α against the header's, bit for bit.
fn check_alpha(m: &MaskedWeight, lh: &LayerHeader) -> Result<()> {
    let got = m.alpha()?;
    if got.map(f32::to_bits) == lh.alpha.map(f32::to_bits) {
        return Ok(());
    }
    Err(Error::Format {
        what: format!("layer {} alpha", lh.path),
        why: format!(
            "the header has {:?}, the rebuilt layer gives {got:?}",
            lh.alpha
        ),
    })
}

/// Weights drawn at their generations (pruned ones keep the initial draw), scores = mask.
fn set_layer(m: &MaskedWeight, cfg: &TrainConfig, mask: &[u8], gens: &[u16]) -> Result<()> {
    let mut w = m.weight().as_tensor().flatten_all()?.to_vec1::<f32>()?;
    for (i, &g) in gens.iter().enumerate().filter(|(_, &g)| g != 0) {
        let s = Stream::new(cfg.seed, Purpose::Weight, m.key(), g as u32);
        w[i] = cfg.init_mode.sample(m.fan_in(), &s, i as u32);
    }
    let dev = m.weight().device();
    let shape = m.weight().shape();
    m.weight().set(&Tensor::from_vec(w, shape, dev)?)?;
    let scores: Vec<f32> = mask.iter().map(|&b| b as f32).collect();
    if let Some(s) = m.scores() {
        s.set(&Tensor::from_vec(scores, shape, dev)?)?;
    }
    m.set_generation_values(gens)?;
    Ok(())
}
