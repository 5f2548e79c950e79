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
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum DatasetName {
    Digits,
    FashionMnist,
    Mnist,
    Cifar10,
    /// ILSVRC-2012 (Figure 3), as an ImageFolder (`train/`, `val/`, optional `list/clist.csv`).
    Imagenet,
}

impl DatasetName {
    /// Every variant, in declaration order (derived).
    pub const ALL: &'static [DatasetName] = <DatasetName as strum::VariantArray>::VARIANTS;

    pub fn name(self) -> &'static str {
        self.into()
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
            .iter()
            .copied()
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

/// What a dry run or a schedule needs to know of a dataset without reading it: the one place
/// these facts are written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DatasetInfo {
    /// As the paper writes it.
    pub title: &'static str,
    /// Images the training and validation splits are drawn from (ImageNet: its train folder;
    /// digits: what its fixed test split leaves).
    pub train_pool: usize,
    /// The share of `train_pool` held out for validation.
    pub val_fraction: f64,
    pub classes: usize,
    pub channels: usize,
    /// The side of the network's input at the official image size.
    pub image_size: usize,
}

impl DatasetInfo {
    /// Training images after the validation hold-out (the split rounds the hold-out down).
    pub fn train_images(&self) -> usize {
        self.train_pool - (self.train_pool as f64 * self.val_fraction).floor() as usize
    }
}

impl DatasetName {
    /// The dataset's sizes and shape, as the official splits give them.
    pub fn info(self) -> DatasetInfo {
        let (title, train_pool, classes, channels, image_size) = match self {
            DatasetName::Digits => ("scikit-learn digits", digits::TRAIN_POOL, 10, 1, 8),
            DatasetName::FashionMnist => ("Fashion-MNIST", 60_000, 10, 1, 28),
            DatasetName::Mnist => ("MNIST", 60_000, 10, 1, 28),
            DatasetName::Cifar10 => ("CIFAR-10", 50_000, 10, 3, 32),
            DatasetName::Imagenet => ("ImageNet", 1_281_167, 1000, 3, 224),
        };
        let val_fraction = match self {
            DatasetName::Imagenet => IMAGENET_VAL_FRACTION,
            _ => crate::VAL_FRACTION,
        };
        DatasetInfo {
            title,
            train_pool,
            val_fraction,
            classes,
            channels,
            image_size,
        }
    }

    /// Whether `dir` has the folders this dataset is read from (only ImageNet's layout is
    /// checked before opening: its index takes minutes to build).
    pub fn check_folder(self, dir: &Path) -> Result<()> {
        if self != DatasetName::Imagenet || (dir.join("train").is_dir() && dir.join("val").is_dir())
        {
            return Ok(());
        }
        Err(Error::NotFound(format!(
            "no ImageNet folder at {0}. Expected\n  {0}/train/<class>/*.JPEG\n  \
             {0}/val/<class>/*.JPEG\n  {0}/list/clist.csv (optional: folder,name,label)",
            dir.display()
        )))
    }
}

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
    DatasetName::Imagenet.check_folder(root)?;
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
        for &d in DatasetName::ALL {
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

    /// The sizes the dry runs print, against the published counts (hand-computed: CIFAR-10
    /// 50,000 − 5,000; ILSVRC-2012 1,281,167 − ⌊12,811.67⌋) and against opened splits.
    #[test]
    fn dataset_info_gives_the_official_training_sizes() {
        assert_eq!(DatasetName::Cifar10.info().train_images(), 45_000);
        assert_eq!(DatasetName::Imagenet.info().train_images(), 1_268_356);
        assert_eq!(DatasetName::FashionMnist.info().train_images(), 54_000);
        let d = DatasetName::Digits.open(None).unwrap();
        let info = DatasetName::Digits.info();
        assert_eq!(info.train_images(), d.train.len());
        assert_eq!(info.train_pool, d.train.len() + d.val.len());
        assert_eq!(info.classes, d.train.classes());
        let shape = d.train.shape();
        assert_eq!(
            (info.channels, info.image_size),
            (shape.channels, shape.width)
        );
        let tmp = tempfile::tempdir().unwrap();
        assert!(DatasetName::Imagenet.check_folder(tmp.path()).is_err());
        assert!(DatasetName::Cifar10.check_folder(tmp.path()).is_ok());
    }

    #[test]
    fn digits_are_embedded_and_cifar10_declares_the_official_augmentation() {
        let s = DatasetName::Digits.open(None).unwrap();
        assert!(s.augmentation.is_none());
        assert_eq!(DatasetName::Digits.default_folder(), None);
    }
}
