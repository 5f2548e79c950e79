//! The networks of the paper, built entirely from masked layers.
//!
//! Every conv and linear layer, the first and the last included, is a masked layer at the same
//! sparsity, as in the official code. A model knows its masked weights (for R, statistics and
//! parameter counts) but nothing of datasets or training: it sees a tensor shape and a class
//! count. Width factors scale every hidden channel count with `int(c·w)`. BatchNorm (ResNets)
//! follows the official code: non-affine with running statistics in score modes.

mod build;
mod conv;
mod counts;
mod error;
mod fc;
mod network;
pub mod norm;
mod resnet;
mod stem;

pub use build::build;
pub use conv::ConvNet;
pub use counts::ParamCounts;
pub use error::{Error, Result};
pub use fc::Fc;
pub use network::{Arch, InputShape, ModelSpec, Network};
pub use norm::BnType;
pub use resnet::ResNet;
pub use stem::Stem;
