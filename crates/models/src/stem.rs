//! The ResNets' stem: part of a model's spec, so a leaf that both the spec and the ResNet use.

use serde::{Deserialize, Serialize};

/// The layers before the first stage, as the official resnet.py builds them (lines 87–90 and
/// 112–115). It only knows 28, 32, 64, 84 and 224 pixels; [`Stem::for_height`] extends its
/// choice to every size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stem {
    /// 3×3 convolution, stride 1 (28 and 32 pixels).
    Cifar,
    /// 3×3 convolution, stride 1, then 3×3 max-pool, stride 2, padding 1 (64 and 84 pixels).
    Small,
    /// 7×7 convolution, stride 2, then 3×3 max-pool, stride 2, padding 1 (224 pixels).
    Imagenet,
}

impl Stem {
    pub fn name(self) -> &'static str {
        match self {
            Stem::Cifar => "cifar",
            Stem::Small => "small",
            Stem::Imagenet => "imagenet",
        }
    }

    /// The official choice by input height: under 64 pixels `cifar`, from 64 up to 224 `small`,
    /// from 224 `imagenet`.
    pub fn for_height(height: usize) -> Stem {
        match height {
            h if h >= 224 => Stem::Imagenet,
            h if h >= 64 => Stem::Small,
            _ => Stem::Cifar,
        }
    }

    /// (kernel, stride) of the stem's convolution.
    pub(crate) fn conv(self) -> (usize, usize) {
        match self {
            Stem::Imagenet => (7, 2),
            Stem::Cifar | Stem::Small => (3, 1),
        }
    }
}

impl std::fmt::Display for Stem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
