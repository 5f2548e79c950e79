//! From a dataset name and an optional folder to splits, with errors that say where we looked.

use std::path::PathBuf;

use iterand_data::{cifar, digits, idx, Splits};

use crate::config::DatasetName;
use crate::Result;

/// The `data` value that selects the Hugging Face hub (CIFAR-10 only).
pub const HUB: &str = "hub";

#[cfg(feature = "hub")]
fn hub_cifar10() -> Result<Splits> {
    Ok(iterand_data::hub::load_cifar10(
        &iterand_data::hub::HubOptions::from_env(),
    )?)
}

#[cfg(not(feature = "hub"))]
fn hub_cifar10() -> Result<Splits> {
    Err(iterand_data::Error::NotFound(
        "data = \"hub\" needs the `hub` feature (the experiments binaries have it); use the \
         binary CIFAR-10 with --data DIR"
            .into(),
    )
    .into())
}

/// Load the train/validation/test splits of `name`, from `data` or the dataset's default place:
/// embedded (digits), Debian's package folder (Fashion-MNIST), `data/mnist` and
/// `data/cifar-10-batches-bin` under the working directory; `data = "hub"` downloads (or
/// reads the cached) CIFAR-10 from the Hugging Face hub.
pub fn load_splits(name: DatasetName, data: Option<&PathBuf>) -> Result<Splits> {
    Ok(match name {
        DatasetName::Digits => digits::splits()?,
        DatasetName::FashionMnist => {
            let dir = data.cloned().unwrap_or_else(idx::default_fashion_mnist_dir);
            idx::load_dir(&dir, idx::Kind::FashionMnist)?
        }
        DatasetName::Mnist => {
            let dir = data.cloned().unwrap_or_else(|| PathBuf::from("data/mnist"));
            idx::load_dir(&dir, idx::Kind::Mnist)?
        }
        DatasetName::Imagenet => {
            return Err(iterand_data::Error::NotFound(
                "ImageNet: this build has no ImageFolder loader yet (Figure 3's configs are \
                 complete; loading ILSVRC-2012 is open work)"
                    .into(),
            )
            .into())
        }
        DatasetName::Cifar10 if data.is_some_and(|d| d.as_os_str() == HUB) => hub_cifar10()?,
        DatasetName::Cifar10 => {
            let dir = data
                .cloned()
                .unwrap_or_else(|| PathBuf::from("data/cifar-10-batches-bin"));
            cifar::load_dir(&dir)?
        }
    })
}
