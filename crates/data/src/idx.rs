//! MNIST-format (IDX) folders: MNIST, Fashion-MNIST, plain or gzipped.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::split::{split_dataset, Splits, VAL_FRACTION, VAL_SPLIT_SEED};
use crate::{Dataset, Error, ImageShape, Normalization, Result};

/// Where Debian's `dataset-fashion-mnist` package installs the data.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

const IMAGES_MAGIC: u32 = 2051;
const LABELS_MAGIC: u32 = 2049;

/// Which IDX dataset a folder holds; decides its name and normalisation statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Mnist,
    FashionMnist,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Mnist => "mnist",
            Kind::FashionMnist => "fashion-mnist",
        }
    }

    /// Training-set pixel mean and standard deviation (pixels in [0, 1]).
    pub fn stats(self) -> (f32, f32) {
        match self {
            Kind::Mnist => (0.1307, 0.3081),
            Kind::FashionMnist => (0.2860, 0.3530),
        }
    }
}

/// Read a whole file, gunzipping it when it starts with the gzip magic.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// Images of an IDX3 file as u8 pixels, with (count, rows, cols).
pub fn read_images(path: &Path) -> Result<(Vec<u8>, usize, usize, usize)> {
    let b = read_maybe_gz(path)?;
    if b.len() < 16 {
        return Err(Error::format(
            path,
            format!("truncated header: {} bytes, need 16", b.len()),
        ));
    }
    let magic = be_u32(&b, 0);
    if magic != IMAGES_MAGIC {
        return Err(Error::format(
            path,
            format!("wrong magic number {magic}, expected {IMAGES_MAGIC} (IDX images)"),
        ));
    }
    let (n, rows, cols) = (
        be_u32(&b, 4) as usize,
        be_u32(&b, 8) as usize,
        be_u32(&b, 12) as usize,
    );
    if rows == 0 || cols == 0 {
        return Err(Error::format(
            path,
            format!("images of {rows}×{cols} pixels (the header's sizes must be positive)"),
        ));
    }
    // checked: a damaged header can claim up to 2⁹⁶ bytes
    let need = n
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .and_then(|v| v.checked_add(16))
        .unwrap_or(usize::MAX);
    if b.len() < need {
        return Err(Error::format(
            path,
            format!("truncated: {} bytes, the header promises {n} images of {rows}×{cols} ({need} bytes)", b.len()),
        ));
    }
    Ok((b[16..need].to_vec(), n, rows, cols))
}

/// Labels of an IDX1 file; each must be below `classes`.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<u8>> {
    let b = read_maybe_gz(path)?;
    if b.len() < 8 {
        return Err(Error::format(
            path,
            format!("truncated header: {} bytes, need 8", b.len()),
        ));
    }
    let magic = be_u32(&b, 0);
    if magic != LABELS_MAGIC {
        return Err(Error::format(
            path,
            format!("wrong magic number {magic}, expected {LABELS_MAGIC} (IDX labels)"),
        ));
    }
    let n = be_u32(&b, 4) as usize;
    if b.len() - 8 < n {
        return Err(Error::format(
            path,
            format!(
                "truncated: {} labels present, the header promises {n}",
                b.len() - 8
            ),
        ));
    }
    let labels = b[8..8 + n].to_vec();
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)
    {
        return Err(Error::format(
            path,
            format!("label {l} of example {i} is out of range (0..{classes})"),
        ));
    }
    Ok(labels)
}

/// `dir/<stem>` or `dir/<stem>.gz`, whichever exists.
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::NotFound(format!(
        "{}: no {stem} or {stem}.gz (an MNIST-format folder holds train-images-idx3-ubyte, \
         train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each \
         plain or .gz)",
        dir.display()
    )))
}

fn load_pair(dir: &Path, prefix: &str, kind: Kind) -> Result<Dataset> {
    let img_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lab_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let (px, n, rows, cols) = read_images(&img_path)?;
    let labels = read_labels(&lab_path, 10)?;
    if labels.len() != n {
        return Err(Error::format(
            &lab_path,
            format!(
                "{} labels for {n} images in {}",
                labels.len(),
                img_path.display()
            ),
        ));
    }
    let images = px.iter().map(|&v| v as f32 / 255.0).collect();
    Ok(dataset(kind, images, labels, rows, cols))
}

/// An MNIST-like dataset from grey pixels in [0, 1], normalised with the set's statistics.
/// Shared by the IDX and hub sources, so both give the same values for the same pixels.
pub(crate) fn dataset(
    kind: Kind,
    mut images: Vec<f32>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
) -> Dataset {
    let shape = ImageShape {
        channels: 1,
        height: rows,
        width: cols,
    };
    let (m, s) = kind.stats();
    Normalization::grey(m, s).apply(&mut images, shape);
    Dataset {
        name: kind.name().into(),
        shape,
        classes: 10,
        images,
        labels,
        black: Normalization::grey(m, s).black(),
    }
}

/// The official split: 10 % of the training images (seed 777) for validation; no augmentation.
pub(crate) fn splits(train_full: Dataset, test: Dataset) -> Splits {
    let (train, val) = split_dataset(train_full, VAL_FRACTION, VAL_SPLIT_SEED);
    Splits::plain(train, val, test.into())
}

/// Train (minus a 10 % validation split, seed 777) and test sets of an IDX folder.
pub fn load_dir(dir: &Path, kind: Kind) -> Result<Splits> {
    if !dir.is_dir() {
        let hint = match kind {
            Kind::FashionMnist => format!(
                " (install Debian's copy with `apt-get update && apt-get install -y \
                 dataset-fashion-mnist`, which puts it in {DEBIAN_FASHION_MNIST}, or set `data` to its folder)"
            ),
            Kind::Mnist => " (set `data` to the folder of the four MNIST IDX files)".to_string(),
        };
        return Err(Error::NotFound(format!(
            "{} data folder {} does not exist{hint}",
            kind.name(),
            dir.display()
        )));
    }
    let train_full = load_pair(dir, "train", kind)?;
    let test = load_pair(dir, "t10k", kind)?;
    Ok(splits(train_full, test))
}

/// The folder the Debian package installed, found with `dpkg -L`, else its usual place.
pub fn default_fashion_mnist_dir() -> PathBuf {
    let listed = std::process::Command::new("dpkg")
        .args(["-L", "dataset-fashion-mnist"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.ends_with("train-images-idx3-ubyte.gz"))
                .and_then(|l| Path::new(l).parent().map(Path::to_path_buf))
        });
    listed.unwrap_or_else(|| PathBuf::from(DEBIAN_FASHION_MNIST))
}
