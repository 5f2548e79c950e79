//! The masked weight shared by every prunable layer: random weights, scores, and their mask.

use candle_core::{DType, Tensor, Var};
use iterand_randomizer::{draw, layer_key, rerandomize, InitMode, Purpose, Rerandomizer, Stream};
use serde::{Deserialize, Serialize};

use crate::store::{Builder, Role};
use crate::threshold::{self, Ranking};
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
    fan_in: usize,
    config: MaskConfig,
}

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
        Ok(Self {
            path,
            key,
            weight,
            scores,
            fan_in,
            config,
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

    pub fn numel(&self) -> usize {
        self.weight.elem_count()
    }

    pub fn fan_in(&self) -> usize {
        self.fan_in
    }

    pub fn config(&self) -> &MaskConfig {
        &self.config
    }

    /// The current mask (`U8`, 1 = kept), from the current scores; all ones in weight mode.
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
        let host = s.flatten_all()?.to_vec1::<f32>()?;
        let thr = threshold::threshold(host, self.config.sparsity, ranking).ok_or_else(|| {
            Error::NanScores {
                layer: self.path.clone(),
            }
        })?;
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

    /// The weight the layer computes with: `W ⊙ mask` with the straight-through gradient to
    /// the scores in score mode, the trainable weight itself in weight mode.
    pub fn effective(&self) -> Result<Tensor> {
        match &self.scores {
            None => Ok(self.weight.as_tensor().clone()),
            Some(scores) => {
                let mask = self.mask()?.to_dtype(self.weight.dtype())?;
                Ok(ste::masked_weight(
                    self.weight.as_tensor(),
                    scores.as_tensor(),
                    &mask,
                )?)
            }
        }
    }

    /// Apply R as its `round`-th application: pruned weights are re-drawn from `init_mode`;
    /// kept weights, scores and everything else stay as they are. No-op in weight mode.
    pub fn rerandomize(&self, round: u32, r: &Rerandomizer) -> Result<()> {
        if self.scores.is_none() || r.is_noop() {
            return Ok(());
        }
        let kept = self.mask()?;
        let new = rerandomize(
            self.weight.as_tensor(),
            &kept,
            self.config.init_mode,
            self.fan_in,
            self.key,
            round,
            r,
        )?;
        self.weight.set(&new)?;
        Ok(())
    }
}
