//! The hub source of CIFAR-10, read offline from a hub cache this test builds: the folder layout
//! of `huggingface_hub` (`datasets--uoft-cs--cifar10/refs/main`, `snapshots/<rev>/…`) holding
//! parquet files in the schema of the real repository (`img` = {bytes: PNG, path}, `label`).
//! The images are synthetic (a known pattern), made only to exercise the file format.
#![cfg(feature = "hub")]

use std::path::Path;
use std::sync::Arc;

use iterand_data::hub::{load_cifar10, HubOptions, TEST_PARQUET, TRAIN_PARQUET};
use iterand_data::Normalization;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

const REV: &str = "0123456789abcdef0123456789abcdef01234567";

/// Synthetic image `i`: pixel (y, x) of channel c is (i + 3c + y + 2x) mod 256.
fn pixel(i: usize, c: usize, y: usize, x: usize) -> u8 {
    ((i + 3 * c + y + 2 * x) % 256) as u8
}

fn png_of(i: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 32, 32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let data: Vec<u8> = (0..32 * 32 * 3)
            .map(|k| pixel(i, k % 3, k / 96, (k / 3) % 32))
            .collect();
        w.write_image_data(&data).unwrap();
    }
    out
}

fn write_parquet(path: &Path, first: usize, n: usize) {
    let schema = Arc::new(
        parse_message_type(
            "message schema {
                optional group img {
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
    let pngs: Vec<ByteArray> = (first..first + n).map(|i| png_of(i).into()).collect();
    let labels: Vec<i64> = (first..first + n).map(|i| (i % 10) as i64).collect();
    // img.bytes: group and field present (definition level 2).
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&pngs, Some(&vec![2; n]), None)
        .unwrap();
    col.close().unwrap();
    // img.path: null inside a present group (definition level 1).
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

/// A hub cache holding CIFAR-10's two files at revision REV, as `huggingface_hub` lays it out.
fn build_cache(root: &Path, train: usize, test: usize) {
    let repo = root.join("datasets--uoft-cs--cifar10");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), REV).unwrap();
    let snap = repo.join("snapshots").join(REV);
    write_parquet(&snap.join(TRAIN_PARQUET), 0, train);
    write_parquet(&snap.join(TEST_PARQUET), 1000, test);
}

#[test]
fn reads_cifar10_from_an_offline_hub_cache() {
    let dir = tempfile::tempdir().unwrap();
    build_cache(dir.path(), 40, 7);
    let opts = HubOptions {
        repo: "uoft-cs/cifar10".into(),
        cache: Some(dir.path().to_path_buf()),
        offline: true,
    };
    let s = load_cifar10(&opts).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (36, 4, 7));
    // Test rows keep file order: labels and pixels of synthetic image 1000 + i.
    let want: Vec<u32> = (1000..1007).map(|i| i % 10).collect();
    assert_eq!(s.test.labels().unwrap(), want);
    let norm = Normalization::imagenet();
    let numel = 3 * 32 * 32;
    let images = s.test.images().unwrap();
    for (i, c, y, x) in [(0, 0, 0, 0), (3, 1, 5, 7), (6, 2, 31, 31)] {
        let raw = pixel(1000 + i, c, y, x) as f32 / 255.0;
        let want = (raw - norm.mean[c]) / norm.std[c];
        let got = images[i * numel + c * 1024 + y * 32 + x];
        assert!(
            (got - want).abs() < 1e-6,
            "image {i} ({c},{y},{x}): {got} vs {want}"
        );
    }
    // The train/validation split is a partition of the 40 training rows.
    let mut all: Vec<u32> = s.train.labels().unwrap();
    all.extend(s.val.labels().unwrap());
    all.sort();
    let mut want: Vec<u32> = (0..40).map(|i| i % 10).collect();
    want.sort();
    assert_eq!(all, want);
}

#[test]
fn offline_without_the_files_names_the_expected_place() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HubOptions {
        repo: "uoft-cs/cifar10".into(),
        cache: Some(dir.path().to_path_buf()),
        offline: true,
    };
    let err = load_cifar10(&opts).unwrap_err().to_string();
    assert!(err.contains("HF_HUB_OFFLINE"), "{err}");
    assert!(
        err.contains("datasets--uoft-cs--cifar10/snapshots"),
        "{err}"
    );
    assert!(err.contains("--data DIR"), "{err}");
}

#[test]
fn a_corrupt_image_names_the_file_and_row() {
    let dir = tempfile::tempdir().unwrap();
    build_cache(dir.path(), 4, 2);
    let path = dir
        .path()
        .join("datasets--uoft-cs--cifar10/snapshots")
        .join(REV)
        .join(TEST_PARQUET);
    std::fs::write(&path, b"not a parquet file").unwrap();
    let opts = HubOptions {
        repo: "uoft-cs/cifar10".into(),
        cache: Some(dir.path().to_path_buf()),
        offline: true,
    };
    let err = load_cifar10(&opts).unwrap_err().to_string();
    assert!(
        err.contains("test-00000-of-00001.parquet") && err.contains("not parquet"),
        "{err}"
    );
}
