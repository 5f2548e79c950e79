//! The hub source (candle-datasets) read from a hub cache this test builds, with no network:
//! the `huggingface_hub` folder layout (`datasets--owner--name/refs/refs/convert/parquet`,
//! `snapshots/<rev>/CONFIG/{train,test}/0000.parquet`) holding parquet files in the schema of
//! the real conversions (`image` = {bytes: PNG, path}, `label`). The hub endpoint points at a
//! closed local port, so any request candle-datasets made would fail the test.
//!
//! The images are synthetic (a known pattern, different along rows and columns), made only to
//! exercise the formats. The same pixels are also written as IDX and CIFAR-10 binary files, and
//! each set read from the hub must equal the set read from those files to the last bit.
#![cfg(feature = "hub")]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use iterand_data::hub::HubFiles;
use iterand_data::registry::{DatasetName, HUB};
use iterand_data::Splits;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

const REV: &str = "0123456789abcdef0123456789abcdef01234567";

/// The hub client reads its cache and endpoint from the environment: one test at a time.
static ENV: Mutex<()> = Mutex::new(());

/// Synthetic image `i`: channel c, row y, column x.
fn pixel(i: usize, c: usize, y: usize, x: usize) -> u8 {
    ((7 * i + 50 * c + 3 * y + 11 * x) % 256) as u8
}

/// (channels, side) of a set's images.
fn geometry(name: DatasetName) -> (usize, usize) {
    if name == DatasetName::Cifar10 {
        (3, 32)
    } else {
        (1, 28)
    }
}

/// Image `i` as interleaved bytes (row-major, channels last), the order PNG stores.
fn interleaved(name: DatasetName, i: usize) -> Vec<u8> {
    let (c, side) = geometry(name);
    (0..c * side * side)
        .map(|k| pixel(i, k % c, k / (c * side), (k / c) % side))
        .collect()
}

fn png_of(name: DatasetName, i: usize, corrupt: bool) -> Vec<u8> {
    if corrupt {
        return b"not a PNG".to_vec();
    }
    let (c, side) = geometry(name);
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
    enc.set_color(if c == 3 {
        png::ColorType::Rgb
    } else {
        png::ColorType::Grayscale
    });
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&interleaved(name, i)).unwrap();
    w.finish().unwrap();
    out
}

fn label(i: usize) -> u8 {
    (i * 3 % 10) as u8
}

/// Rows `first..first + n` as one parquet file; `corrupt` replaces one image by junk.
fn write_parquet(path: &Path, name: DatasetName, first: usize, n: usize, corrupt: bool) {
    let schema = Arc::new(
        parse_message_type(
            "message schema {
                optional group image {
                    optional binary bytes;
                    optional binary path (STRING);
                }
                optional int64 label;
            }",
        )
        .unwrap(),
    );
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
    let mut rg = writer.next_row_group().unwrap();
    let pngs: Vec<ByteArray> = (first..first + n)
        .map(|i| png_of(name, i, corrupt && i == first + 1).into())
        .collect();
    let labels: Vec<i64> = (first..first + n).map(|i| label(i) as i64).collect();
    // image.bytes: group and field present (definition level 2).
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&pngs, Some(&vec![2; n]), None)
        .unwrap();
    col.close().unwrap();
    // image.path: null inside a present group (definition level 1).
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&[], Some(&vec![1; n]), None)
        .unwrap();
    col.close().unwrap();
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<Int64Type>()
        .write_batch(&labels, Some(&vec![1; n]), None)
        .unwrap();
    col.close().unwrap();
    rg.close().unwrap();
    writer.close().unwrap();
}

const TRAIN: usize = 50;
const TEST: usize = 10;
const TEST_FIRST: usize = 1000;

/// The set's two files in a hub cache at `cache`, as `huggingface_hub` lays them out.
fn cache_set(cache: &Path, name: DatasetName, corrupt: bool) {
    let files = HubFiles::of(name.hub_set().unwrap());
    let repo = cache.join(format!("datasets--{}", files.repo.replace('/', "--")));
    let refs = repo.join("refs").join(files.revision);
    std::fs::create_dir_all(refs.parent().unwrap()).unwrap();
    std::fs::write(&refs, REV).unwrap();
    let snap = repo.join("snapshots").join(REV);
    write_parquet(&snap.join(files.file("train")), name, 0, TRAIN, corrupt);
    write_parquet(
        &snap.join(files.file("test")),
        name,
        TEST_FIRST,
        TEST,
        false,
    );
}

/// The same pixels as IDX files (MNIST-like) or CIFAR-10 binary batches, in a new folder.
fn file_set(root: &Path, name: DatasetName) -> PathBuf {
    let dir = root.join(name.name());
    std::fs::create_dir_all(&dir).unwrap();
    if name == DatasetName::Cifar10 {
        let record = |i: usize| {
            let mut r = vec![label(i)];
            for c in 0..3 {
                r.extend((0..32 * 32).map(|k| pixel(i, c, k / 32, k % 32)));
            }
            r
        };
        for b in 0..5 {
            let bytes: Vec<u8> = (b * 10..b * 10 + 10).flat_map(record).collect();
            std::fs::write(dir.join(format!("data_batch_{}.bin", b + 1)), bytes).unwrap();
        }
        let test: Vec<u8> = (TEST_FIRST..TEST_FIRST + TEST).flat_map(record).collect();
        std::fs::write(dir.join("test_batch.bin"), test).unwrap();
        return dir;
    }
    for (prefix, first, n) in [("train", 0, TRAIN), ("t10k", TEST_FIRST, TEST)] {
        let mut img = [2051u32, n as u32, 28, 28]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>();
        img.extend((first..first + n).flat_map(|i| interleaved(name, i)));
        let mut lab = [2049u32, n as u32]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>();
        lab.extend((first..first + n).map(label));
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), img).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), lab).unwrap();
    }
    dir
}

/// Points the hub client at `cache` and at an endpoint nothing listens on.
fn hub_env(cache: &Path, offline: bool) {
    std::env::set_var("HF_HUB_CACHE", cache);
    std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");
    if offline {
        std::env::set_var("HF_HUB_OFFLINE", "1");
    } else {
        std::env::remove_var("HF_HUB_OFFLINE");
    }
}

fn assert_same(a: &Splits, b: &Splits, name: DatasetName) {
    for (x, y, part) in [
        (&a.train, &b.train, "train"),
        (&a.val, &b.val, "val"),
        (&a.test, &b.test, "test"),
    ] {
        assert_eq!(x.len(), y.len(), "{name} {part}");
        assert_eq!(x.shape(), y.shape(), "{name} {part}");
        assert_eq!(x.labels().unwrap(), y.labels().unwrap(), "{name} {part}");
        let (p, q) = (x.images().unwrap(), y.images().unwrap());
        assert!(
            p.iter().zip(&q).all(|(u, v)| u.to_bits() == v.to_bits()),
            "{name} {part}: pixels differ"
        );
    }
    assert_eq!(a.augmentation.is_some(), b.augmentation.is_some(), "{name}");
}

#[test]
fn each_hub_set_equals_the_same_set_read_from_files_with_no_network() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");
    for name in [
        DatasetName::Mnist,
        DatasetName::FashionMnist,
        DatasetName::Cifar10,
    ] {
        cache_set(&cache, name, false);
        let files = name.open(Some(&file_set(tmp.path(), name))).unwrap();
        for offline in [false, true] {
            hub_env(&cache, offline);
            let hub = name.open(Some(Path::new(HUB))).unwrap();
            assert_eq!((hub.train.len(), hub.val.len()), (45, 5), "{name}");
            assert_same(&hub, &files, name);
        }
    }
}

#[test]
fn offline_without_the_files_names_the_expected_place() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    hub_env(tmp.path(), true);
    let err = DatasetName::FashionMnist
        .open(Some(Path::new(HUB)))
        .unwrap_err()
        .to_string();
    let folder = tmp.path().join("datasets--zalando-datasets--fashion_mnist");
    assert!(err.contains(&folder.display().to_string()), "{err}");
    assert!(
        err.contains("HF_HUB_OFFLINE") && err.contains("`data`"),
        "{err}"
    );
}

#[test]
fn a_missing_set_online_and_a_corrupt_image_are_typed_errors() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    hub_env(tmp.path(), false);
    // The download is attempted and refused by the closed port.
    let err = DatasetName::Mnist
        .open(Some(Path::new(HUB)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mnist") && err.contains("ylecun/mnist"),
        "{err}"
    );
    cache_set(tmp.path(), DatasetName::Cifar10, true);
    let err = DatasetName::Cifar10
        .open(Some(Path::new(HUB)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("could not decode") && err.contains("datasets--cifar10"),
        "{err}"
    );
}

/// The fashion-mnist train file in a fresh cache at `cache`, for damaging.
fn cached_train_file(cache: &Path) -> PathBuf {
    let name = DatasetName::FashionMnist;
    cache_set(cache, name, false);
    let files = HubFiles::of(name.hub_set().unwrap());
    cache
        .join(format!("datasets--{}", files.repo.replace('/', "--")))
        .join("snapshots")
        .join(REV)
        .join(files.file("train"))
}

/// One byte inserted into the images' column chunk shifts every offset the footer records:
/// parquet's row reader then fails on every call without ending, which candle-datasets'
/// `.flatten()` would turn into an endless loop (the fuzzing below found it). It must come back
/// as a typed error naming the file.
#[test]
fn a_byte_inserted_into_a_column_chunk_is_an_error_not_an_endless_read() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let file = cached_train_file(&tmp.path().join("hub"));
    let mut b = std::fs::read(&file).unwrap();
    b.insert(b.len() / 2, 0xe2);
    std::fs::write(&file, b).unwrap();
    hub_env(&tmp.path().join("hub"), true);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = DatasetName::FashionMnist.open(Some(Path::new(HUB)));
        tx.send(r.map(|_| ()).map_err(|e| e.to_string())).unwrap();
    });
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("reading the damaged file did not end within a minute");
    let err = r.unwrap_err();
    assert!(
        err.contains(&file.display().to_string()) && err.contains("row 0"),
        "{err}"
    );
}

/// Proptest cases for the fuzzing below: `FUZZ_CASES`, as for the other readers.
fn fuzz_cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: fuzz_cases(),
        failure_persistence: None,
        ..Default::default()
    })]

    /// A cached parquet file damaged on disk (flipped bits, truncation, spliced bytes) reads as
    /// the set or as a typed error naming the cache: parquet's and candle-datasets' panics are
    /// caught, and nothing aborts or reads forever.
    #[test]
    fn a_damaged_cached_parquet_file_is_a_typed_error(
        at: usize,
        cut: usize,
        bit in 0u8..8,
        how in 0u8..3,
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..12),
    ) {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("hub");
        let file = cached_train_file(&cache);
        let mut b = std::fs::read(&file).unwrap();
        let i = at % b.len();
        match how {
            0 => b[i] ^= 1 << bit,
            1 => b.truncate(cut % b.len()),
            _ => drop(b.splice(i..i, bytes)),
        }
        std::fs::write(&file, b).unwrap();
        hub_env(&cache, true);
        if let Err(e) = DatasetName::FashionMnist.open(Some(Path::new(HUB))) {
            let e = e.to_string();
            proptest::prop_assert!(e.contains("datasets--zalando-datasets--fashion_mnist"), "{}", e);
        }
    }
}
