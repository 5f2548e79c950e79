//! The masked weight shared by every prunable layer: random weights, scores, and their mask.

use candle_core::{DType, Tensor, Var};
use iterand_randomizer::{
    coins, draw, layer_key, moved, recycle_moves, recycled_count, rerandomize, InitMode, Purpose,
    RerandMode, Rerandomizer, Stream,
};
use serde::{Deserialize, Serialize};

use crate::global::GlobalRanking;
use crate::store::{Builder, Role};
use crate::threshold::{self, Ranking, RankingScope};
use crate::transform::{self, WeightTransform};
use crate::{ste, Error, Result};

/// What trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// edge-popup / IteRand (official `score_only`): only the scores train; weights stay at
    /// their random values except when R re-draws pruned ones; biases stay zero.
    Scores,
    /// The SGD baseline (official `normal`): a dense trainable layer, p = 0.
    Weights,
}

/// Settings every masked layer of a model shares.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskConfig {
    pub mode: Mode,
    /// p, the fraction of each layer's weights that is pruned (ignored in weight mode).
    pub sparsity: f64,
    pub ranking: Ranking,
    /// The weight distribution (official `init_mode`), used again by every re-draw.
    pub init_mode: InitMode,
    /// The score distribution (official `init_mode_mask`).
    pub init_mode_mask: InitMode,
    /// What the kept weights compute as (score mode): themselves, or biprop's α·sign(w).
    #[serde(default)]
    pub weight_transform: WeightTransform,
    /// Per layer (IteRand), or one threshold over all layers (global edge-popup).
    #[serde(default, skip_serializing_if = "RankingScope::is_default")]
    pub ranking_scope: RankingScope,
}

impl MaskConfig {
    pub fn new(mode: Mode, sparsity: f64, init_mode: InitMode) -> Result<Self> {
        if !(0.0..1.0).contains(&sparsity) {
            return Err(Error::InvalidParameter {
                name: "sparsity",
                value: sparsity.to_string(),
                why: "the pruned fraction must lie in [0, 1)",
            });
        }
        Ok(Self {
            mode,
            sparsity,
            ranking: Ranking::Signed,
            init_mode,
            init_mode_mask: InitMode::KaimingUniform,
            weight_transform: WeightTransform::None,
            ranking_scope: RankingScope::Layer,
        })
    }

    /// The sparsity the layers actually apply: weight mode is dense.
    pub fn effective_sparsity(&self) -> f64 {
        match self.mode {
            Mode::Scores => self.sparsity,
            Mode::Weights => 0.0,
        }
    }
}

/// A prunable weight tensor with its scores.
///
/// Weights are drawn from stream `(seed, Weight, layer_key(path), round 0)` and scores from
/// `(seed, Score, layer_key(path), 0)`, so a layer's initial values depend only on the seed and
/// its name.
pub struct MaskedWeight {
    path: String,
    key: u32,
    weight: Var,
    scores: Option<Var>,
    /// Score mode: the round of each weight's current value, as `I16` holding a `u16`
    /// (2 bytes a weight; the paper's longest run has 1,040 rounds).
    generations: Option<Var>,
    fan_in: usize,
    config: MaskConfig,
    /// The group this layer ranks with (`ranking_scope = "global"`, score mode).
    global: Option<GlobalRanking>,
}

/// The most rounds a generation records.
pub const MAX_GENERATION: u32 = u16::MAX as u32;

impl MaskedWeight {
    /// Create `<path>.weight` (and `<path>.scores` in score mode) with `dims`, whose first
    /// dimension is the output and the rest multiply to `fan_in`.
    pub fn new(b: &Builder, dims: &[usize], config: MaskConfig) -> Result<Self> {
        let n: usize = dims.iter().product();
        let fan_in = n / dims[0];
        let path = b.path().to_string();
        let key = layer_key(&path);
        let seed = b.seed();
        let w = draw(
            config.init_mode,
            fan_in,
            &Stream::new(seed, Purpose::Weight, key, 0),
            n,
        )?;
        let trainable_weight = config.mode == Mode::Weights;
        let weight = b.var_from_vec("weight", w, dims, Role::Weight, trainable_weight)?;
        let scores = match config.mode {
            Mode::Scores => {
                let s = draw(
                    config.init_mode_mask,
                    fan_in,
                    &Stream::new(seed, Purpose::Score, key, 0),
                    n,
                )?;
                Some(b.var_from_vec("scores", s, dims, Role::Score, true)?)
            }
            Mode::Weights => None,
        };
        let generations = match config.mode {
            Mode::Scores => {
                let zeros = Tensor::zeros(dims, DType::I16, &candle_core::Device::Cpu)?;
                Some(b.var_tensor("generations", zeros, Role::Generation, false)?)
            }
            Mode::Weights => None,
        };
        let global = match (&scores, config.ranking_scope) {
            (Some(s), RankingScope::Global) => {
                let g = b.store().global_ranking();
                g.join(&path, s, config.sparsity, config.ranking)?;
                Some(g.clone())
            }
            _ => None,
        };
        Ok(Self {
            path,
            key,
            weight,
            scores,
            generations,
            fan_in,
            config,
            global,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The layer's random-stream key.
    pub fn key(&self) -> u32 {
        self.key
    }

    pub fn weight(&self) -> &Var {
        &self.weight
    }

    pub fn scores(&self) -> Option<&Var> {
        self.scores.as_ref()
    }

    /// Score mode: the round of each weight's current value (see [`Self::generation_values`]).
    pub fn generations(&self) -> Option<&Var> {
        self.generations.as_ref()
    }

    /// The round of each weight's current value, in order: weight `i` is element `i` of stream
    /// `(seed, Weight, key, round)` under `init_mode`. `None` in weight mode.
    pub fn generation_values(&self) -> Result<Option<Vec<u16>>> {
        let Some(g) = &self.generations else {
            return Ok(None);
        };
        let v = g.as_tensor().flatten_all()?.to_vec1::<i16>()?;
        Ok(Some(v.into_iter().map(|x| x as u16).collect()))
    }

    /// Set every generation (a ticket's rebuild); `values` has one per weight.
    pub fn set_generation_values(&self, values: &[u16]) -> Result<()> {
        let Some(g) = &self.generations else {
            return Ok(());
        };
        let v: Vec<i16> = values.iter().map(|&x| x as i16).collect();
        g.set(&Tensor::from_vec(v, g.shape(), g.device())?)?;
        Ok(())
    }

    pub fn numel(&self) -> usize {
        self.weight.elem_count()
    }

    pub fn fan_in(&self) -> usize {
        self.fan_in
    }

    pub fn config(&self) -> &MaskConfig {
        &self.config
    }

    /// Whether this layer's mask comes from the global ranking (`ranking_scope = "global"`,
    /// score mode), so its kept count follows the other layers' scores.
    pub fn ranks_globally(&self) -> bool {
        self.global.is_some()
    }

    /// The current mask (`U8`, 1 = kept), from the current scores (of every layer of the
    /// global ranking when it has one); all ones in weight mode.
    pub fn mask(&self) -> Result<Tensor> {
        let Some(scores) = &self.scores else {
            return Ok(Tensor::ones(
                self.weight.shape(),
                DType::U8,
                self.weight.device(),
            )?);
        };
        let s = scores.as_tensor();
        let ranking = self.config.ranking;
        let thr = match &self.global {
            Some(g) => g.threshold()?,
            None => {
                let host = s.flatten_all()?.to_vec1::<f32>()?;
                threshold::threshold(host, self.config.sparsity, ranking).ok_or_else(|| {
                    Error::NanScores {
                        layer: self.path.clone(),
                    }
                })?
            }
        };
        let keyed = match ranking {
            Ranking::Signed => s.clone(),
            Ranking::Magnitude => s.abs()?,
        };
        Ok(keyed.ge(thr)?)
    }

    /// The number of weights the current mask keeps (ties at the threshold included).
    pub fn kept(&self) -> Result<usize> {
        if self.scores.is_none() {
            return Ok(self.numel());
        }
        let mask = self.mask()?.to_dtype(DType::U32)?;
        Ok(mask.sum_all()?.to_scalar::<u32>()? as usize)
    }

    /// biprop's α under the current mask; `None` unless the layer computes with α·sign(w).
    pub fn alpha(&self) -> Result<Option<f32>> {
        if self.scores.is_none() || self.config.weight_transform != WeightTransform::Biprop {
            return Ok(None);
        }
        transform::alpha(self.weight.as_tensor(), &self.mask()?)
    }

    /// The weight the layer computes with: `W ⊙ mask` with the straight-through gradient to
    /// the scores in score mode (through |S| when ranked by magnitude, as edge-popup's code),
    /// the trainable weight itself in weight mode.
    pub fn effective(&self) -> Result<Tensor> {
        match &self.scores {
            None => Ok(self.weight.as_tensor().clone()),
            Some(scores) => {
                let mask = self.mask()?.to_dtype(self.weight.dtype())?;
                let (w, s) = (self.weight.as_tensor(), scores.as_tensor());
                let value = match self.config.weight_transform {
                    WeightTransform::None => None,
                    WeightTransform::Biprop => Some(transform::binary_weight(w, &mask)?),
                };
                Ok(match (self.config.ranking, value) {
                    (Ranking::Signed, None) => ste::masked_weight(w, s, &mask)?,
                    (Ranking::Magnitude, None) => ste::magnitude_masked_weight(w, s, &mask)?,
                    (Ranking::Signed, Some(v)) => ste::straight_through(&v, w, s, &mask)?,
                    (Ranking::Magnitude, Some(v)) => {
                        ste::magnitude_straight_through(&v, w, s, &mask)?
                    }
                })
            }
        }
    }

    /// Apply R as its `round`-th application: pruned weights are re-drawn from `init_mode`;
    /// kept weights, scores and everything else stay as they are. In the recycling modes the
    /// lowest-ranked weights then take the highest-ranked ones' values (the ranking of the
    /// mask, so under `ranking = magnitude` the authors' |score|). No-op in weight mode.
    pub fn rerandomize(&self, round: u32, r: &Rerandomizer) -> Result<()> {
        if self.scores.is_none() || r.is_noop() {
            return Ok(());
        }
        if round > MAX_GENERATION {
            return Err(Error::GenerationOverflow {
                layer: self.path.clone(),
                round,
                max: MAX_GENERATION,
            });
        }
        let kept = self.mask()?;
        self.record_generation(&kept, round, r)?;
        let mut new = rerandomize(
            self.weight.as_tensor(),
            &kept,
            self.config.init_mode,
            self.fan_in,
            self.key,
            round,
            r,
        )?;
        if let Some(rate) = r.recycle_rate() {
            new = self.recycled(&new, rate)?;
        }
        self.weight.set(&new)?;
        Ok(())
    }

    /// `weight` after one recycling of `rate` of the layer ([`Self::recycle_moves`]), with
    /// each moved weight's generation moving along (the round its value was drawn in; a ticket
    /// cannot describe the move itself and refuses such runs).
    fn recycled(&self, weight: &Tensor, rate: f64) -> Result<Tensor> {
        let moves = self.recycle_moves(rate)?;
        let w = moved(&weight.flatten_all()?.to_vec1::<f32>()?, &moves);
        if let Some(gens) = self.generation_values()? {
            self.set_generation_values(&moved(&gens, &moves))?;
        }
        Ok(Tensor::from_vec(w, weight.shape(), weight.device())?.to_dtype(weight.dtype())?)
    }

    /// The `(destination, source)` moves one recycling of `rate` makes in this layer, by its
    /// scores' ranking keys (the mask's: under `ranking = magnitude` the authors' |score|);
    /// none in weight mode. The mask dynamics recount them after R, whose scores stay.
    pub fn recycle_moves(&self, rate: f64) -> Result<Vec<(usize, usize)>> {
        let Some(scores) = &self.scores else {
            return Ok(vec![]);
        };
        let ranking = self.config.ranking;
        let keys: Vec<f32> = scores.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        let keys: Vec<f32> = keys.into_iter().map(|s| ranking.key(s)).collect();
        recycle_moves(&keys, recycled_count(keys.len(), rate)).ok_or_else(|| Error::NanScores {
            layer: self.path.clone(),
        })
    }

    /// Mark the weights R's `round` re-draws (pruned, and in `bernoulli` mode hit by their
    /// coin) as of that round. In `manual` mode every pruned weight changes, to a blend that no
    /// generation describes; a ticket refuses such runs.
    fn record_generation(&self, kept: &Tensor, round: u32, r: &Rerandomizer) -> Result<()> {
        let Some(mut gens) = self.generation_values()? else {
            return Ok(());
        };
        let kept = kept.flatten_all()?.to_vec1::<u8>()?;
        let Some(r) = r.redraw() else {
            return Ok(());
        };
        let heads = match r.mode {
            RerandMode::Manual => vec![1; gens.len()],
            // `redraw` gives `bernoulli` for every mode but `manual`.
            _ => coins(r.seed, self.key, round, r.lambda, gens.len()),
        };
        for ((g, &k), &h) in gens.iter_mut().zip(&kept).zip(&heads) {
            if k == 0 && h == 1 {
                *g = round as u16;
            }
        }
        self.set_generation_values(&gens)
    }
}
