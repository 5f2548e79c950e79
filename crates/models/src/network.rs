//! The model interface: the spec of a network and the trait every architecture implements.

use candle_core::Tensor;
use iterand_masking::MaskedWeight;
use iterand_randomizer::Rerandomizer;
use serde::{Deserialize, Serialize};

use crate::counts::ParamCounts;
use crate::{Error, Result};

/// Architectures by their command-line names.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Arch {
    Fc,
    Conv2,
    Conv4,
    Conv6,
    Conv8,
    Resnet18,
    Resnet34,
    Resnet50,
    Resnet101,
}

impl Arch {
    /// Every variant, in declaration order (derived).
    pub const ALL: &'static [Arch] = <Arch as strum::VariantArray>::VARIANTS;

    /// Whether this is one of the ResNets, the only architectures with a [`crate::stem::Stem`].
    pub fn is_resnet(self) -> bool {
        matches!(
            self,
            Arch::Resnet18 | Arch::Resnet34 | Arch::Resnet50 | Arch::Resnet101
        )
    }

    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Arch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Arch::ALL
            .iter().copied()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::InvalidParameter {
                name: "model",
                value: s.to_string(),
                why: "expected one of fc, conv2, conv4, conv6, conv8, resnet18, resnet34, resnet50, resnet101"
                    .into(),
            })
    }
}

/// One image's shape, channels first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// What to build.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub arch: Arch,
    /// The width factor w.
    pub width: f64,
    pub input: InputShape,
    pub classes: usize,
    /// The ResNets' stem; `None` chooses by input size as the official code
    /// ([`crate::stem::Stem::for_height`]). Other architectures have none.
    pub stem: Option<crate::stem::Stem>,
    /// BatchNorm statistics over this many torch.chunk pieces of each batch, as DataParallel
    /// on that many devices (the official `num_gpus`); 1 is the whole batch. Only the ResNets
    /// have BatchNorm.
    pub bn_replicas: usize,
    /// Whether BatchNorm learns γ and β; `None` is the official choice for the mode
    /// ([`crate::norm::BnType::default_for`]). Only the ResNets have BatchNorm.
    pub bn_type: Option<crate::norm::BnType>,
}

/// `int(c·w)` as the official code scales channels; at least one unit.
pub(crate) fn scaled(c: usize, w: f64) -> usize {
    ((c as f64 * w) as usize).max(1)
}

/// A network of masked layers.
pub trait Network: Send + Sync {
    /// Logits of shape (batch, classes). `train` selects batch statistics in normalisation
    /// layers; the masked layers behave the same either way.
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor>;

    /// Every masked weight, in forward order.
    fn masked(&self) -> Vec<&MaskedWeight>;

    /// Apply R to every masked layer at once, as its `round`-th application.
    fn rerandomize(&self, round: u32, r: &Rerandomizer) -> Result<()> {
        for m in self.masked() {
            m.rerandomize(round, r)?;
        }
        Ok(())
    }

    /// Weights, kept weights (by the sparsity rule) and other parameters.
    fn param_counts(&self) -> ParamCounts {
        ParamCounts::of(&self.masked())
    }

    /// Kept weights right now, from the current masks (ties at a threshold count).
    fn kept_now(&self) -> Result<usize> {
        let mut kept = 0;
        for m in self.masked() {
            kept += m.kept()?;
        }
        Ok(kept)
    }
}
