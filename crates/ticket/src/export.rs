//! A run folder's checkpoint as a ticket.

use std::path::Path;

use candle_core::Device;
use iterand_masking::{MaskedWeight, Mode, ParamStore, Role};
use iterand_randomizer::{Purpose, RerandMode, Stream};
use iterand_train::{load_variables, Checkpointer, Method, NetworkIo, RunDir, TrainConfig};

use crate::codec::encode;
use crate::format::{Coded, Header, LayerHeader, TensorHeader, Ticket, VERSION};
use crate::{Error, Result};

/// The ticket of the run in `run` at its checkpoint `slot` (`last` or `best`).
///
/// Refused for runs that cannot be regenerated: the SGD baseline (its weights are trained, not
/// drawn) and IteRand's `manual` mode (a blend of old and new values has no round). Every kept
/// weight is checked against the stream its generation names before anything is written.
pub fn export(run: &Path, slot: &str) -> Result<Ticket> {
    let dir = RunDir::existing(run);
    let cfg = dir.config()?.ok_or_else(|| Error::Run {
        run: run.to_path_buf(),
        why: "no config.toml: not a run folder".into(),
    })?;
    regenerable(&cfg, run)?;
    let io = network_io(&dir, &cfg)?;
    let (info, tensors) = Checkpointer::new(run)
        .load(slot, &Device::Cpu)?
        .ok_or_else(|| Error::Run {
            run: run.to_path_buf(),
            why: format!("no `{slot}` checkpoint"),
        })?;
    let (store, net) = cfg.build_network(io.input, io.classes, &Device::Cpu)?;
    let path = Checkpointer::new(run).dir().join(&info.tensors);
    load_variables(&store, &tensors, &path, info.position.randomizations)?;
    let mut headers = vec![];
    let mut layers = vec![];
    for m in net.masked() {
        let (h, coded) = layer(m, &cfg, run)?;
        headers.push(h);
        layers.push(coded);
    }
    let (rest_headers, rest) = rest(&store)?;
    let header = Header {
        format_version: VERSION,
        config: cfg.to_toml()?,
        input: io.input,
        classes: io.classes,
        seed: cfg.seed,
        init_mode: cfg.init_mode.name().into(),
        init_scale: 1.0,
        sparsity: cfg.sparsity,
        ranking: cfg.ranking.name().into(),
        rounds: info.position.randomizations,
        slot: slot.into(),
        step: info.position.iteration,
        layers: headers,
        rest: rest_headers,
    };
    Ok(Ticket {
        header,
        layers,
        rest,
    })
}

fn regenerable(cfg: &TrainConfig, run: &Path) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::NotRegenerable {
            run: run.to_path_buf(),
            why: why.into(),
        })
    };
    if cfg.mask_config()?.mode != Mode::Scores {
        return refuse(
            "the SGD baseline trains its weights; only a supermask is a seed and a mask",
        );
    }
    if cfg.method != Method::Iterand || cfg.rerandomization()?.is_none() {
        return Ok(());
    }
    match cfg.rerand_mode {
        RerandMode::Bernoulli => Ok(()),
        RerandMode::Manual => {
            refuse("rerand_mode = manual blends old and new values, which no round describes")
        }
        RerandMode::Recycle | RerandMode::IterandRecycle => refuse(&format!(
            "rerand_mode = {} copies weights between positions, which a position's round does \
             not describe",
            cfg.rerand_mode.name()
        )),
    }
}

/// The network's input and classes: recorded by the run, else from its dataset.
fn network_io(dir: &RunDir, cfg: &TrainConfig) -> Result<NetworkIo> {
    if let Some(io) = dir.network()? {
        return Ok(io);
    }
    use iterand_data::Transform;
    let splits = cfg.open_data()?;
    let t = cfg.transforms(&splits)?;
    let shape = t.train.output_shape(splits.train.shape());
    Ok(NetworkIo {
        input: iterand_models::InputShape {
            channels: shape.channels,
            height: shape.height,
            width: shape.width,
        },
        classes: splits.train.classes(),
    })
}

/// One layer's header and coded (mask, generations), after checking that every kept weight is
/// the draw its generation names.
fn layer(m: &MaskedWeight, cfg: &TrainConfig, run: &Path) -> Result<(LayerHeader, Coded)> {
    let mask = m.mask()?.flatten_all()?.to_vec1::<u8>()?;
    let gens = m
        .generation_values()?
        .unwrap_or_else(|| vec![0; mask.len()]);
    let w = m.weight().as_tensor().flatten_all()?.to_vec1::<f32>()?;
    let kept_gens: Vec<u16> = (0..mask.len())
        .filter(|&i| mask[i] == 1)
        .map(|i| gens[i])
        .collect();
    for i in (0..mask.len()).filter(|&i| mask[i] == 1) {
        let s = Stream::new(cfg.seed, Purpose::Weight, m.key(), gens[i] as u32);
        let want = cfg.init_mode.sample(m.fan_in(), &s, i as u32);
        if want.to_bits() != w[i].to_bits() {
            return Err(Error::NotRegenerable {
                run: run.to_path_buf(),
                why: format!(
                    "{} weight {i} is {} but its generation {} draws {want}",
                    m.path(),
                    w[i],
                    gens[i]
                ),
            });
        }
    }
    let kept = kept_gens.len() as u64;
    let n = mask.len() as u64;
    let mask_counts: Vec<u64> = [n - kept, kept].into_iter().filter(|&c| c > 0).collect();
    let mask_syms: Vec<u32> = if mask_counts.len() == 2 {
        mask.iter().map(|&b| b as u32).collect()
    } else {
        vec![0; mask.len()]
    };
    let mask_bytes = encode(&mask_syms, &mask_counts)?;
    let (values, counts) = histogram(&kept_gens);
    let syms: Vec<u32> = kept_gens
        .iter()
        .map(|g| values.binary_search(g).unwrap() as u32)
        .collect();
    let gen_bytes = encode(&syms, &counts)?;
    let h = LayerHeader {
        path: m.path().into(),
        shape: m.weight().dims().to_vec(),
        kept,
        mask_bytes: mask_bytes.len() as u64,
        generation_values: values,
        generation_counts: counts,
        generation_bytes: gen_bytes.len() as u64,
        alpha: m.alpha()?,
    };
    Ok((h, (mask_bytes, gen_bytes)))
}

/// The distinct values, ascending, and their counts.
pub(crate) fn histogram(v: &[u16]) -> (Vec<u16>, Vec<u64>) {
    let mut counts = std::collections::BTreeMap::new();
    for &g in v {
        *counts.entry(g).or_insert(0u64) += 1;
    }
    counts.into_iter().unzip()
}

/// The tensors that cannot be regenerated: BatchNorm statistics and affine parameters, and
/// biases that are not all zero.
fn rest(store: &ParamStore) -> Result<(Vec<TensorHeader>, Vec<Vec<f32>>)> {
    let mut headers = vec![];
    let mut values = vec![];
    for role in [Role::NormStat, Role::NormAffine, Role::Bias] {
        for (name, var) in store.by_role(role) {
            let v = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            if role == Role::Bias && v.iter().all(|&x| x == 0.0) {
                continue;
            }
            headers.push(TensorHeader {
                name,
                shape: var.dims().to_vec(),
            });
            values.push(v);
        }
    }
    Ok((headers, values))
}
