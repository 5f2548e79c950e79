//! Supermask layers: the part of IteRand that decides which random weights a network uses.
//!
//! A masked layer owns three tensors: random weights that never train in score mode, a score
//! per weight that does, and a zero bias. Each forward pass keeps the layer's top-(1−p) weights
//! by score, with the official threshold rule ([`threshold`]), and multiplies through a
//! straight-through estimator so the scores receive `W ⊙ ∂L/∂W_eff` ([`ste`]). The same layer
//! in weight mode is an ordinary dense trainable layer, which is how the SGD baseline runs
//! through identical code.
//!
//! Parameters live in a [`ParamStore`] (a candle `VarMap` plus the order and role of every
//! variable), reached through a [`Builder`] with candle-style `pp("name")` prefixes, so
//! checkpoint names follow the module tree and each layer's random stream is keyed by its path.
//! Models build on this crate; the trainer reads the store; the randomizer supplies values.

mod error;
mod global;
mod layers;
mod masked;
pub mod radix;
pub mod ste;
mod store;
pub mod threshold;
pub mod transform;

pub use error::{Error, Result};
pub use global::GlobalRanking;
pub use layers::{Conv2dSpec, MaskedConv2d, MaskedLinear};
pub use masked::{MaskConfig, MaskedWeight, Mode, MAX_GENERATION};
pub use store::{Builder, ParamStore, Role};
pub use threshold::{Ranking, RankingScope};
pub use transform::WeightTransform;
