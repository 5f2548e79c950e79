//! The IDX and CIFAR-10 readers on good and broken files written here (synthetic data, only to
//! test the formats).

use std::io::Write;
use std::path::Path;

use iterand_data::Source;
use iterand_data::{cifar, idx};

fn idx_images(n: u32, rows: u32, cols: u32, magic: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [magic, n, rows, cols] {
        b.extend(v.to_be_bytes());
    }
    b.extend((0..n * rows * cols).map(|i| (i % 256) as u8));
    b
}

fn idx_labels(labels: &[u8], magic: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(magic.to_be_bytes());
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write_mnist_dir(dir: &Path, gzip: bool) {
    let files = [
        ("train-images-idx3-ubyte", idx_images(20, 28, 28, 2051)),
        ("train-labels-idx1-ubyte", idx_labels(&[3; 20], 2049)),
        ("t10k-images-idx3-ubyte", idx_images(5, 28, 28, 2051)),
        ("t10k-labels-idx1-ubyte", idx_labels(&[1, 2, 3, 4, 9], 2049)),
    ];
    for (name, bytes) in files {
        if gzip {
            std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn idx_folder_plain_and_gz() {
    for gzip in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_mnist_dir(dir.path(), gzip);
        let s = idx::load_dir(dir.path(), idx::Kind::FashionMnist).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (18, 2, 5));
        assert_eq!(s.test.labels().unwrap(), vec![1, 2, 3, 4, 9]);
        assert_eq!(s.test.shape().height, 28);
        // pixel 1 of test image 0 is byte 1: (1/255 − 0.286)/0.353
        let want = (1.0 / 255.0 - 0.2860) / 0.3530;
        assert!((s.test.images().unwrap()[1] - want).abs() < 1e-5);
    }
}

#[test]
fn idx_errors_name_the_file_and_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("imgs");
    std::fs::write(&p, idx_images(2, 4, 4, 2049)).unwrap();
    let e = idx::read_images(&p).unwrap_err().to_string();
    assert!(e.contains("imgs") && e.contains("magic number 2049"), "{e}");

    let mut t = idx_images(3, 4, 4, 2051);
    t.truncate(30);
    std::fs::write(&p, &t).unwrap();
    let e = idx::read_images(&p).unwrap_err().to_string();
    assert!(e.contains("imgs") && e.contains("truncated"), "{e}");

    std::fs::write(&p, [1u8, 2]).unwrap();
    assert!(idx::read_images(&p)
        .unwrap_err()
        .to_string()
        .contains("truncated header"));

    let l = dir.path().join("labs.gz");
    std::fs::write(&l, gz(&idx_labels(&[1, 12], 2049))).unwrap();
    let e = idx::read_labels(&l, 10).unwrap_err().to_string();
    assert!(e.contains("labs.gz") && e.contains("label 12"), "{e}");

    std::fs::write(&l, [0x1f, 0x8b, 0, 1, 2]).unwrap();
    assert!(idx::read_labels(&l, 10)
        .unwrap_err()
        .to_string()
        .contains("corrupt gzip"));

    let missing = dir.path().join("nope");
    let e = idx::read_labels(&missing, 10).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");

    let empty = tempfile::tempdir().unwrap();
    let e = idx::load_dir(empty.path(), idx::Kind::Mnist)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
    let e = idx::load_dir(&empty.path().join("absent"), idx::Kind::FashionMnist)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("dataset-fashion-mnist"), "{e}");

    // label count disagreeing with image count
    let d = tempfile::tempdir().unwrap();
    write_mnist_dir(d.path(), false);
    std::fs::write(
        d.path().join("t10k-labels-idx1-ubyte"),
        idx_labels(&[1, 2], 2049),
    )
    .unwrap();
    let e = idx::load_dir(d.path(), idx::Kind::Mnist)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("t10k-labels") && e.contains("2 labels for 5 images"),
        "{e}"
    );
}

fn cifar_file(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        b.push(l);
        b.extend((0..3072).map(|j| ((i * 7 + j) % 256) as u8));
    }
    b
}

#[test]
fn cifar_binary_folder() {
    let dir = tempfile::tempdir().unwrap();
    for (k, f) in cifar::TRAIN_FILES.iter().enumerate() {
        std::fs::write(dir.path().join(f), cifar_file(&[k as u8, 9, 0, 1])).unwrap();
    }
    std::fs::write(dir.path().join(cifar::TEST_FILE), cifar_file(&[4, 5, 6])).unwrap();
    let s = cifar::load_dir(dir.path()).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (18, 2, 3));
    assert_eq!(s.test.labels().unwrap(), vec![4, 5, 6]);
    assert_eq!(s.test.shape().channels, 3);
    // test image 1, red plane pixel 0 is byte (1·7 + 0) = 7; green plane pixel 0 is byte 1031 % 256
    let r = (7.0 / 255.0 - 0.485) / 0.229;
    let g = ((1024 + 7) % 256) as f32 / 255.0;
    let g = (g - 0.456) / 0.224;
    let img = s.test.get(1).unwrap().pixels;
    assert!((img[0] - r).abs() < 1e-5 && (img[1024] - g).abs() < 1e-5);
}

#[test]
fn cifar_errors_name_the_file_and_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let e = cifar::load_dir(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("data_batch_1.bin") && e.contains("test_batch.bin"),
        "{e}"
    );
    for f in cifar::TRAIN_FILES {
        std::fs::write(dir.path().join(f), cifar_file(&[1])).unwrap();
    }
    let mut t = cifar_file(&[1, 2]);
    t.pop();
    std::fs::write(dir.path().join(cifar::TEST_FILE), &t).unwrap();
    let e = cifar::load_dir(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("test_batch.bin") && e.contains("3073-byte records"),
        "{e}"
    );
    std::fs::write(dir.path().join(cifar::TEST_FILE), cifar_file(&[1, 10])).unwrap();
    let e = cifar::load_dir(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("test_batch.bin") && e.contains("record 1: label 10"),
        "{e}"
    );
}
