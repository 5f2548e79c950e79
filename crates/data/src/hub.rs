//! MNIST, Fashion-MNIST and CIFAR-10 from the Hugging Face hub, read by candle-datasets (its
//! `vision::{mnist, fashion_mnist, cifar}::load`: download into the standard hub cache, parquet,
//! PNG decoding). The cache is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`, the layout Python's `huggingface_hub` uses; once a set is there,
//! candle-datasets reads it without a request.
//!
//! What is ours, and why (docs/architecture.md, "Data"):
//! - **Offline.** candle-datasets cannot be told to stay offline: it downloads whatever the
//!   cache lacks, and its hf-hub ignores `HF_HUB_OFFLINE`. With `HF_HUB_OFFLINE=1` we look the
//!   files up in the cache first and stop with the path we expected. That needs the files'
//!   names ([`HubFiles`]); the offline test checks them against what candle-datasets reads.
//! - **Orientation.** Its CIFAR-10 images come back transposed (height and width swapped), which
//!   would turn the official horizontal flip into a vertical one: we transpose them back.
//! - **Panics.** It unwraps each image's decoding; a corrupt cached file becomes our typed error.
//! - **Damaged files.** It reads rows with `.flatten()`, which drops errors: on a damaged file
//!   whose row reader fails without ending (one byte inserted into a column chunk does it) it
//!   spins forever, and it reserves `num_rows × image` bytes from the footer's claim before the
//!   first row. So each file is read once here first ([`check_parquet`]): every row must come
//!   back, and as many as the footer says.
//! - **Values.** Pixels go through the same constructors as the IDX and binary files, so a set
//!   from the hub equals the same set from files to the last bit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use candle_datasets::vision;

use crate::{cifar, idx, Dataset, Error, Result};

/// The sets the hub source serves. The registry maps its dataset names onto these and builds
/// the splits, so this module knows nothing of the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HubSet {
    Mnist,
    FashionMnist,
    Cifar10,
}

/// Where candle-datasets 0.11.1 reads a set: `CONFIG/{train,test}/0000.parquet` of a dataset
/// repository's parquet conversion. Used only to check the cache offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubFiles {
    pub repo: &'static str,
    pub revision: &'static str,
    pub config: &'static str,
}

impl HubFiles {
    /// The files of `set`.
    pub fn of(set: HubSet) -> HubFiles {
        let (repo, config) = match set {
            HubSet::Mnist => ("ylecun/mnist", "mnist"),
            HubSet::FashionMnist => ("zalando-datasets/fashion_mnist", "fashion_mnist"),
            HubSet::Cifar10 => ("cifar10", "plain_text"),
        };
        HubFiles {
            repo,
            revision: "refs/convert/parquet",
            config,
        }
    }

    /// The parquet file of a split (`train` or `test`).
    pub fn file(&self, split: &str) -> String {
        format!("{}/{split}/0000.parquet", self.config)
    }

    /// The repository's folder in the hub cache (`datasets--owner--name`).
    pub fn cache_folder(&self) -> PathBuf {
        hf_hub::resolve_cache_dir().join(format!("datasets--{}", self.repo.replace('/', "--")))
    }
}

/// Whether `HF_HUB_OFFLINE` forbids downloads (`1`, `true`, `yes` or `on`, as `huggingface_hub`
/// reads it).
pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .is_ok_and(|v| ["1", "true", "yes", "on"].contains(&v.trim().to_ascii_lowercase().as_str()))
}

/// The training and test sets of `set` from the hub, as the file readers would return them;
/// `name` is what messages call the set.
pub fn load(set: HubSet, name: &str) -> Result<(Dataset, Dataset)> {
    let files = HubFiles::of(set);
    for split in ["train", "test"] {
        check_parquet(&locate(&files, &files.file(split))?)?;
    }
    let raw = fetch(set, name, &files)?;
    let tensors = |e: candle_core::Error| Error::Format {
        path: files.cache_folder(),
        what: format!("candle-datasets returned unexpected tensors: {e}"),
    };
    let train = convert(set, &raw.train_images, &raw.train_labels).map_err(tensors)?;
    let test = convert(set, &raw.test_images, &raw.test_labels).map_err(tensors)?;
    Ok((train, test))
}

/// The cached path of `file`, downloaded first when it is missing and the hub is allowed (the
/// lookup candle-datasets makes, so it then finds the file in the cache), or the error naming
/// where it was expected.
fn locate(files: &HubFiles, file: &str) -> Result<PathBuf> {
    let client = hf_hub::HFClientSync::new().map_err(|e| unreachable_hub(files, file, e))?;
    let (owner, repo) = hf_hub::split_id(files.repo);
    let repo = client.dataset(owner, repo);
    let download = repo.download_file().filename(file).revision(files.revision);
    match download.clone().local_files_only(true).send() {
        Err(hf_hub::HFError::LocalEntryNotFound { .. }) if !offline() => download.send(),
        cached => cached,
    }
    .map_err(|e| unreachable_hub(files, file, e))
}

fn unreachable_hub(files: &HubFiles, file: &str, e: impl std::fmt::Display) -> Error {
    if !offline() {
        return Error::NotFound(format!(
            "{file} of the hub dataset {} at {} (cache {}): {e}",
            files.repo,
            files.revision,
            files.cache_folder().display()
        ));
    }
    Error::NotFound(format!(
        "{file} of the hub dataset {} is not in the cache ({e}; expected under {}/snapshots/, \
         at the commit named by refs/{}) and HF_HUB_OFFLINE is set: run once with the \
         network, or set `data` to a folder holding the set",
        files.repo,
        files.cache_folder().display(),
        files.revision
    ))
}

/// Every row of the parquet file at `path` reads, and there are as many as its footer says
/// (the two things candle-datasets' reader assumes; see the module's notes).
pub fn check_parquet(path: &Path) -> Result<()> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let bad = |what: String| Error::format(path, what);
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let read = AssertUnwindSafe(|| -> std::result::Result<(i64, i64), String> {
        let reader = SerializedFileReader::new(file).map_err(|e| e.to_string())?;
        let claimed = reader.metadata().file_metadata().num_rows();
        let mut rows = 0;
        for row in reader.into_iter() {
            row.map_err(|e| format!("row {rows}: {e}"))?;
            rows += 1;
        }
        Ok((claimed, rows))
    });
    match catch_unwind(read) {
        Ok(Ok((claimed, rows))) if claimed == rows => Ok(()),
        Ok(Ok((claimed, rows))) => Err(bad(format!(
            "the footer's num_rows is {claimed} but the file holds {rows} rows"
        ))),
        Ok(Err(e)) => Err(bad(format!("damaged parquet file: {e}"))),
        Err(panic) => Err(bad(format!(
            "damaged parquet file: {}",
            panic_text(&*panic)
        ))),
    }
}

/// candle-datasets' reader, its errors and panics turned into ours.
fn fetch(set: HubSet, name: &str, files: &HubFiles) -> Result<vision::Dataset> {
    let read = AssertUnwindSafe(|| match set {
        HubSet::Mnist => vision::mnist::load(),
        HubSet::FashionMnist => vision::fashion_mnist::load(),
        HubSet::Cifar10 => vision::cifar::load(),
    });
    let folder = files.cache_folder();
    match catch_unwind(read) {
        Ok(Ok(raw)) => Ok(raw),
        Ok(Err(e)) => Err(Error::NotFound(format!(
            "{name} from the Hugging Face hub ({} at {}, cached in {}): {e}",
            files.repo,
            files.revision,
            folder.display()
        ))),
        Err(panic) => Err(Error::Format {
            path: folder,
            what: format!(
                "candle-datasets could not decode the cached {name}: {}",
                panic_text(&*panic)
            ),
        }),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Our dataset from candle-datasets' tensors: pixels in [0, 1] (MNIST-like: `(n, 784)`;
/// CIFAR-10: `(n, 3, 32, 32)` with height and width swapped) and `u8` labels.
fn convert(set: HubSet, images: &Tensor, labels: &Tensor) -> candle_core::Result<Dataset> {
    let labels: Vec<u8> = labels.to_vec1()?;
    let per_image = if set == HubSet::Cifar10 {
        3 * 32 * 32
    } else {
        28 * 28
    };
    if images.elem_count() != labels.len() * per_image {
        candle_core::bail!("{:?} images for {} labels", images.dims(), labels.len());
    }
    if let Some(bad) = labels.iter().find(|&&l| l >= 10) {
        candle_core::bail!("label {bad} is out of range (0..10)");
    }
    let kind = match set {
        HubSet::Cifar10 => {
            return Ok(cifar::dataset(
                as_files_do(&images.transpose(2, 3)?)?,
                labels,
            ))
        }
        HubSet::Mnist => idx::Kind::Mnist,
        HubSet::FashionMnist => idx::Kind::FashionMnist,
    };
    Ok(idx::dataset(kind, as_files_do(images)?, labels, 28, 28))
}

/// Pixels in [0, 1] as the file readers compute them, `byte / 255`. candle-datasets multiplies
/// by 1/255 instead, which differs in the last bit for some bytes; the byte is recovered first.
fn as_files_do(images: &Tensor) -> candle_core::Result<Vec<f32>> {
    let scaled: Vec<f32> = images.flatten_all()?.to_vec1()?;
    Ok(scaled
        .into_iter()
        .map(|v| (v * 255.0).round().clamp(0.0, 255.0) / 255.0)
        .collect())
}
