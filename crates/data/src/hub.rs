//! CIFAR-10 from the Hugging Face hub: the `uoft-cs/cifar10` dataset repository, whose
//! `plain_text/{train,test}-00000-of-00001.parquet` files hold one row per image: `img`, a struct
//! with the PNG's `bytes`, and `label`, an integer 0–9.
//!
//! Files are looked up in the standard hub cache first (`$HF_HOME/hub`, default
//! `~/.cache/huggingface/hub`, the layout Python's `huggingface_hub` uses) and downloaded into it
//! only when missing, so once cached a run needs no network. `HF_HUB_OFFLINE=1` forbids the
//! download outright. Behind the `hub` feature: it brings an HTTP client and parquet.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use crate::cifar::{dataset, splits};
use crate::{Dataset, Error, Result, Splits};

/// The dataset repository the official CIFAR-10 parquet conversion lives in.
pub const CIFAR10_REPO: &str = "uoft-cs/cifar10";
pub const TRAIN_PARQUET: &str = "plain_text/train-00000-of-00001.parquet";
pub const TEST_PARQUET: &str = "plain_text/test-00000-of-00001.parquet";

/// Where to look and whether the network may be used.
#[derive(Clone, Debug)]
pub struct HubOptions {
    pub repo: String,
    /// The hub cache folder (the one holding `datasets--…` folders); `None`: `$HF_HOME/hub` or
    /// `~/.cache/huggingface/hub`.
    pub cache: Option<PathBuf>,
    /// Never download; a missing file is an error.
    pub offline: bool,
}

impl HubOptions {
    /// CIFAR-10's repository, the default cache, offline when `HF_HUB_OFFLINE` is set to 1.
    pub fn from_env() -> Self {
        let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v == "true");
        HubOptions {
            repo: CIFAR10_REPO.into(),
            cache: None,
            offline,
        }
    }

    fn cache(&self) -> Cache {
        match &self.cache {
            Some(p) => Cache::new(p.clone()),
            None => Cache::from_env(),
        }
    }
}

/// Train (45k), validation (5k, the official split) and test (10k) sets from the hub.
pub fn load_cifar10(opts: &HubOptions) -> Result<Splits> {
    let train_full = read_parquet(&locate(opts, TRAIN_PARQUET)?)?;
    let test = read_parquet(&locate(opts, TEST_PARQUET)?)?;
    Ok(splits(train_full, test))
}

/// The cached file, downloading it first when allowed.
fn locate(opts: &HubOptions, file: &str) -> Result<PathBuf> {
    let cache = opts.cache();
    let repo = Repo::new(opts.repo.clone(), RepoType::Dataset);
    if let Some(path) = cache.repo(repo.clone()).get(file) {
        return Ok(path);
    }
    let expected = format!(
        "{}/datasets--{}/snapshots/<revision>/{file}",
        cache.path().display(),
        opts.repo.replace('/', "--")
    );
    if opts.offline {
        return Err(Error::NotFound(format!(
            "{file} of {} is not in the hub cache (expected {expected}) and HF_HUB_OFFLINE is \
             set: run once with the network, or use the binary CIFAR-10 with --data DIR",
            opts.repo
        )));
    }
    let api = hf_hub::api::sync::ApiBuilder::from_cache(cache)
        .with_progress(true)
        .build()
        .map_err(|e| Error::NotFound(format!("cannot start the hub client: {e}")))?;
    api.repo(repo).get(file).map_err(|e| {
        Error::NotFound(format!(
            "downloading {file} of {} failed: {e}. Without network, put the file at {expected}, \
             or use the binary CIFAR-10 with --data DIR",
            opts.repo
        ))
    })
}

/// The images and labels of one parquet file, in file order.
pub fn read_parquet(path: &Path) -> Result<Dataset> {
    let bad = |what: String| Error::format(path, what);
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = SerializedFileReader::new(file).map_err(|e| bad(format!("not parquet: {e}")))?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| bad(format!("unreadable rows: {e}")))?;
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| bad(format!("row {i}: {e}")))?;
        let (mut png, mut label) = (None, None);
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("img" | "image", Field::Group(img)) => {
                    for (n, f) in img.get_column_iter() {
                        if let ("bytes", Field::Bytes(b)) = (n.as_str(), f) {
                            png = Some(b.data());
                        }
                    }
                }
                ("label", Field::Long(v)) => label = Some(*v),
                ("label", Field::Int(v)) => label = Some(*v as i64),
                _ => {}
            }
        }
        let png = png.ok_or_else(|| bad(format!("row {i}: no img.bytes column")))?;
        let label = label.ok_or_else(|| bad(format!("row {i}: no integer label column")))?;
        if !(0..10).contains(&label) {
            return Err(bad(format!(
                "row {i}: label {label} is out of range (0..10)"
            )));
        }
        decode_png(png, &mut images).map_err(|e| bad(format!("row {i}: {e}")))?;
        labels.push(label as u8);
    }
    if labels.is_empty() {
        return Err(bad("no images".into()));
    }
    Ok(dataset(images, labels))
}

/// Appends a 32×32 RGB PNG as channel-first values in [0, 1].
fn decode_png(bytes: &[u8], out: &mut Vec<f32>) -> std::result::Result<(), String> {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().map_err(|e| format!("bad PNG: {e}"))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| "PNG too large".to_string())?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("bad PNG: {e}"))?;
    let (w, h) = (info.width as usize, info.height as usize);
    if (w, h) != (32, 32)
        || info.color_type != png::ColorType::Rgb
        || info.bit_depth != png::BitDepth::Eight
    {
        return Err(format!(
            "expected a 32×32 8-bit RGB PNG, got {w}×{h} {:?} {:?}",
            info.color_type, info.bit_depth
        ));
    }
    let px = &buf[..info.buffer_size()];
    for c in 0..3 {
        out.extend((0..w * h).map(|i| px[i * 3 + c] as f32 / 255.0));
    }
    Ok(())
}
