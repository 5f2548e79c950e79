//! Every dataset by name: where it is looked for by default, and how it is opened.
//!
//! The one place that knows the names, the default folders and the `hub` value, so the
//! trainer, the binaries and the error for a missing folder all agree.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{cifar, digits, idx, Error, Result, Splits};

/// The `data` value that selects the Hugging Face hub (MNIST, Fashion-MNIST and CIFAR-10).
pub const HUB: &str = "hub";

/// Datasets by their configuration names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    Digits,
    FashionMnist,
    Mnist,
    Cifar10,
    /// ILSVRC-2012 (Figure 3), as an ImageFolder (`train/`, `val/`, optional `list/clist.csv`).
    Imagenet,
}

impl DatasetName {
    pub const ALL: [DatasetName; 5] = [
        DatasetName::Digits,
        DatasetName::FashionMnist,
        DatasetName::Mnist,
        DatasetName::Cifar10,
        DatasetName::Imagenet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DatasetName::Digits => "digits",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Mnist => "mnist",
            DatasetName::Cifar10 => "cifar10",
            DatasetName::Imagenet => "imagenet",
        }
    }

    /// The set of the hub source with this name, if it serves one.
    #[cfg(feature = "hub")]
    pub fn hub_set(self) -> Option<crate::hub::HubSet> {
        use crate::hub::HubSet;
        match self {
            DatasetName::Mnist => Some(HubSet::Mnist),
            DatasetName::FashionMnist => Some(HubSet::FashionMnist),
            DatasetName::Cifar10 => Some(HubSet::Cifar10),
            DatasetName::Digits | DatasetName::Imagenet => None,
        }
    }

    /// Where the dataset is read from when no folder is given (`None`: embedded).
    pub fn default_folder(self) -> Option<PathBuf> {
        match self {
            DatasetName::Digits => None,
            DatasetName::FashionMnist => Some(idx::default_fashion_mnist_dir()),
            DatasetName::Mnist => Some(PathBuf::from("data/mnist")),
            DatasetName::Cifar10 => Some(PathBuf::from("data/cifar-10-batches-bin")),
            DatasetName::Imagenet => Some(PathBuf::from("data/imagenet")),
        }
    }

    /// The train/validation/test splits, from `data` or the default folder; `data = "hub"`
    /// reads the set from the Hugging Face hub's cache (downloading it unless offline).
    pub fn open(self, data: Option<&Path>) -> Result<Splits> {
        self.open_sized(data, None)
    }

    /// As [`open`](Self::open), with ImageFolder images cropped to `image_size` pixels (the
    /// official 224 when `None`; other datasets keep their size and ignore it).
    pub fn open_sized(self, data: Option<&Path>, image_size: Option<usize>) -> Result<Splits> {
        if data.is_some_and(|d| d.as_os_str() == HUB) {
            return hub(self);
        }
        // digits are embedded: the only set without a folder
        let Some(dir) = data
            .map(Path::to_path_buf)
            .or_else(|| self.default_folder())
        else {
            return digits::splits();
        };
        match self {
            DatasetName::Digits => digits::splits(),
            DatasetName::FashionMnist => idx::load_dir(&dir, idx::Kind::FashionMnist),
            DatasetName::Mnist => idx::load_dir(&dir, idx::Kind::Mnist),
            DatasetName::Cifar10 => cifar::load_dir(&dir),
            DatasetName::Imagenet => imagenet(&dir, image_size.unwrap_or(224)),
        }
    }
}

impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DatasetName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        DatasetName::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| Error::InvalidParameter {
                name: "dataset",
                value: s.to_string(),
                why: "expected digits, fashion-mnist, mnist, cifar10 or imagenet",
            })
    }
}

/// The fraction of ImageNet's training folder held out for validation (official: 1 %).
pub const IMAGENET_VAL_FRACTION: f64 = 0.01;

/// Where ImageFolder indices are cached: `$ITERAND_CACHE`, else `$XDG_CACHE_HOME/iterand`, else
/// `~/.cache/iterand`, else the system's temporary folder.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("ITERAND_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("iterand")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/iterand")))
        .unwrap_or_else(|| std::env::temp_dir().join("iterand"))
}

/// ILSVRC-2012 (or any folder in its layout): train minus a 1 % hold-out (seed 777) for
/// validation, the val folder as the test set; the official RandomResizedCrop(224) and flip
/// for training, Resize(256) and CenterCrop(224) for evaluation.
fn imagenet(root: &Path, size: usize) -> Result<Splits> {
    if !root.join("train").is_dir() || !root.join("val").is_dir() {
        return Err(Error::NotFound(format!(
            "ImageNet not found in {}: expected {0}/train/<class>/*.JPEG and \
             {0}/val/<class>/*.JPEG (and optionally {0}/list/clist.csv with folder,name,label \
             rows); pass the folder with --data DIR",
            root.display()
        )));
    }
    let cache = cache_dir();
    let train_full = crate::folder::ImageFolder::open(root, "train", &cache)?;
    let test = crate::folder::ImageFolder::open(root, "val", &cache)?;
    let (train, val) = crate::split_off(
        &crate::View::all(std::sync::Arc::new(train_full)),
        IMAGENET_VAL_FRACTION,
        crate::VAL_SPLIT_SEED,
    );
    Ok(Splits {
        augmentation: Some(std::sync::Arc::new(crate::Augment {
            pad: 0,
            size,
            ..crate::Augment::cifar10()
        })),
        eval_transform: crate::Compose(vec![std::sync::Arc::new(crate::ResizeCrop {
            // 256/224 of the crop, rounded: 64 → 73
            resize: (size * 256 + 112) / 224,
            crop: size,
        })]),
        ..Splits::plain(train, val, crate::View::all(std::sync::Arc::new(test)))
    })
}

#[cfg(feature = "hub")]
fn hub(name: DatasetName) -> Result<Splits> {
    let set = name.hub_set().ok_or_else(|| Error::InvalidParameter {
        name: "data",
        value: format!("{HUB} for {name}"),
        why: "the Hugging Face hub serves mnist, fashion-mnist and cifar10",
    })?;
    let (train, test) = crate::hub::load(set, name.name())?;
    Ok(match set {
        crate::hub::HubSet::Cifar10 => cifar::splits(train, test),
        _ => idx::splits(train, test),
    })
}

#[cfg(not(feature = "hub"))]
fn hub(name: DatasetName) -> Result<Splits> {
    Err(Error::NotFound(format!(
        "data = \"{HUB}\" for {name} needs the `hub` feature (the experiments binaries have \
         it); read the set from a folder instead"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Transform;

    #[test]
    fn names_round_trip_and_an_unknown_one_lists_the_valid_ones() {
        for d in DatasetName::ALL {
            assert_eq!(d.name().parse::<DatasetName>().unwrap(), d);
        }
        let e = "cifar100".parse::<DatasetName>().unwrap_err().to_string();
        assert!(
            e.contains("cifar100") && e.contains("fashion-mnist, mnist"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_folder_says_where_it_looked() {
        let e = DatasetName::Cifar10
            .open(Some(Path::new("/nonexistent/cifar")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/cifar"), "{e}");
        let e = DatasetName::Mnist
            .open(Some(Path::new("/nonexistent/mnist")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/mnist"), "{e}");
        let e = DatasetName::Digits
            .open(Some(Path::new(HUB)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("hub") && e.contains("digits"), "{e}");
    }

    #[test]
    fn an_imagenet_folder_opens_with_its_transforms_and_a_missing_one_shows_the_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("inet");
        let e = DatasetName::Imagenet
            .open(Some(&root))
            .unwrap_err()
            .to_string();
        assert!(e.contains("train/<class>/*.JPEG"), "{e}");
        crate::folder::write_synthetic_folder(&root, "train", &["a", "b"], 50).unwrap();
        crate::folder::write_synthetic_folder(&root, "val", &["a", "b"], 2).unwrap();
        std::env::set_var("ITERAND_CACHE", tmp.path().join("cache"));
        let s = DatasetName::Imagenet.open(Some(&root)).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (99, 1, 4));
        let t = s.transforms(0, true).unwrap();
        let shape = s.train.shape();
        assert_eq!(t.train.output_shape(shape).height, 224);
        assert_eq!(t.eval.output_shape(shape).height, 224);
        let batch = crate::assemble(&s.test, &t.eval, &[0, 3], 1, 0).unwrap();
        assert_eq!(batch.pixels.len(), 2 * 3 * 224 * 224);
        assert_eq!(batch.labels, vec![0, 1]);
        let small = DatasetName::Imagenet
            .open_sized(Some(&root), Some(64))
            .unwrap();
        let t = small.transforms(0, true).unwrap();
        assert_eq!(t.train.output_shape(shape).height, 64);
        assert_eq!(t.eval.output_shape(shape).width, 64);
    }

    #[test]
    fn digits_are_embedded_and_cifar10_declares_the_official_augmentation() {
        let s = DatasetName::Digits.open(None).unwrap();
        assert!(s.augmentation.is_none());
        assert_eq!(DatasetName::Digits.default_folder(), None);
    }
}
