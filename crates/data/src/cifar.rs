//! The CIFAR-10 binary version: `data_batch_1..5.bin` and `test_batch.bin`, records of one
//! label byte and 3,072 pixel bytes (R, G, B planes, 32×32 each, row-major).
//!
//! Unlike candle-datasets' reader this accepts files of any record count, so the tests can
//! write small files in the real format.

use std::path::Path;

use std::sync::Arc;

use crate::split::{split_dataset, Splits, VAL_FRACTION, VAL_SPLIT_SEED};
use crate::Augment;
use crate::{Dataset, Error, ImageShape, Normalization, Result};

pub const RECORD: usize = 3073;
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
pub const TEST_FILE: &str = "test_batch.bin";

const SHAPE: ImageShape = ImageShape {
    channels: 3,
    height: 32,
    width: 32,
};

/// Append the records of one file to `images` (scaled to [0, 1]) and `labels`.
fn read_file(path: &Path, images: &mut Vec<f32>, labels: &mut Vec<u8>) -> Result<()> {
    let b = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if b.is_empty() || b.len() % RECORD != 0 {
        return Err(Error::format(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD}-byte records (truncated or not CIFAR-10 binary)",
                b.len()
            ),
        ));
    }
    for (i, rec) in b.chunks_exact(RECORD).enumerate() {
        if rec[0] >= 10 {
            return Err(Error::format(
                path,
                format!("record {i}: label {} is out of range (0..10)", rec[0]),
            ));
        }
        labels.push(rec[0]);
        images.extend(rec[1..].iter().map(|&v| v as f32 / 255.0));
    }
    Ok(())
}

fn load_files(dir: &Path, files: &[&str]) -> Result<Dataset> {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for f in files {
        read_file(&dir.join(f), &mut images, &mut labels)?;
    }
    Ok(dataset(images, labels))
}

/// A CIFAR-10 dataset from pixels in [0, 1] (channels first) and labels, normalised with the
/// ImageNet statistics as the official code does. Shared by the binary and hub sources.
pub(crate) fn dataset(mut images: Vec<f32>, labels: Vec<u8>) -> Dataset {
    Normalization::imagenet().apply(&mut images, SHAPE);
    Dataset {
        name: "cifar10".into(),
        shape: SHAPE,
        classes: 10,
        images,
        labels,
        black: Normalization::imagenet().black(),
    }
}

/// The official split: 10 % of the 50k training images (seed 777) for validation.
/// CIFAR-10 declares the official training augmentation (pad 4, random resized crop, flip)
/// and evaluates the images as they are.
pub(crate) fn splits(train_full: Dataset, test: Dataset) -> Splits {
    let (train, val) = split_dataset(train_full, VAL_FRACTION, VAL_SPLIT_SEED);
    Splits {
        augmentation: Some(Arc::new(Augment::cifar10())),
        ..Splits::plain(train, val, test.into())
    }
}

/// Train (45k of 50k; 10 % validation with seed 777) and test sets, normalised with the
/// ImageNet statistics as the official code does.
pub fn load_dir(dir: &Path) -> Result<Splits> {
    let missing: Vec<&str> = TRAIN_FILES
        .iter()
        .chain(std::iter::once(&TEST_FILE))
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(Error::NotFound(format!(
            "CIFAR-10 not found in {}: missing {}. Expected the binary version (the folder \
             `cifar-10-batches-bin` of cifar-10-binary.tar.gz, with data_batch_1.bin … \
             data_batch_5.bin and test_batch.bin from \
             https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz); set `data` to its folder, \
             or to `hub` to download CIFAR-10 from the Hugging Face hub (the parquet \
             conversion of its `cifar10` dataset, cached for offline use)",
            dir.display(),
            missing.join(", ")
        )));
    }
    let train_full = load_files(dir, &TRAIN_FILES)?;
    let test = load_files(dir, &[TEST_FILE])?;
    Ok(splits(train_full, test))
}
