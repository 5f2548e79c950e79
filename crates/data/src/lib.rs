//! Datasets for IteRand experiments, from bytes on disk (or embedded) to batches of tensors.
//!
//! Readers turn files into a [`Dataset`] (normalised f32 images, channels first, and u8
//! labels) and name the file and the fault when a file is wrong. Everything downstream reads
//! through the [`Source`] trait: splits are [`View`]s (index lists), a dataset declares its
//! [`Transforms`], and the [`Loader`] builds batches on worker threads. [`registry`] maps a
//! dataset's name (and an optional folder) to its splits. Splits and mini-batch orders
//! come from the randomizer's counter-based streams, so a run's data order depends on its seed
//! alone. This crate knows nothing of models: it reports an image shape and a class count.
//!
//! Sources: scikit-learn's digits embedded in the binary ([`digits`]), MNIST-format IDX folders
//! such as Debian's Fashion-MNIST ([`idx`]), and the CIFAR-10 binary version ([`cifar`]).

pub mod augment;
pub mod cifar;
mod dataset;
pub mod digits;
mod error;
pub mod folder;
#[cfg(feature = "hub")]
pub mod hub;
pub mod idx;
pub mod jpeg;
mod loader;
pub mod registry;
pub mod resize;
mod source;
mod split;
mod transform;

pub use augment::{Augment, AugmentCrop, ResizeCrop};
pub use dataset::{Dataset, Example, ImageShape, Normalization};
pub use error::{Error, Result};
pub use loader::{assemble, Batch, Batches, Loader};
pub use registry::{DatasetInfo, DatasetName};
pub use source::{Source, View};
pub use split::{
    batch_order, drawn_split, split_dataset, split_indices, split_off, SplitDraw, Splits,
    VAL_FRACTION, VAL_SPLIT_SEED,
};
pub use transform::{Compose, FastPath, Key, Pad, Transform, Transforms};
