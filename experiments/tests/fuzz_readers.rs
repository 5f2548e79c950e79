//! Every reader fed mutated files: flipped bits, truncation, oversized header counts, wrong
//! magic, spliced bytes, non-UTF-8 and non-finite numbers. Whatever the damage, the answer is
//! the data or a typed error naming the file, within seconds: never a panic, an abort, an
//! unbounded allocation or a hang. Synthetic files (format tests only).
//!
//! `FUZZ_CASES` sets proptest's cases per reader (default 48); a long run:
//! `FUZZ_CASES=20000 cargo test -p experiments --test fuzz_readers`.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One change to a file's bytes; positions are taken modulo the length.
#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        at: usize,
        bit: u8,
    },
    Truncate {
        at: usize,
    },
    /// A big-endian u32 written over a header field (counts, sizes, magic).
    Put32 {
        at: usize,
        value: u32,
    },
    /// A little-endian u64 (safetensors' header length).
    Put64 {
        at: usize,
        value: u64,
    },
    Splice {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Text where numbers are: NaN, infinities, overlong values, invalid UTF-8.
    Text {
        at: usize,
        text: &'static [u8],
    },
}

fn mutation(header: usize) -> impl Strategy<Value = Mutation> {
    let huge = prop_oneof![Just(u32::MAX), Just(1u32 << 31), Just(0u32), any::<u32>()];
    let texts: &[&'static [u8]] = &[
        b"NaN",
        b"inf",
        b"-inf",
        b"1e999",
        b"\xff\xfe",
        b"\xc3",
        b"\"",
        b"]",
        b"}",
        b"\n[x]\n",
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (0..header.max(1), huge).prop_map(|(at, value)| Mutation::Put32 { at, value }),
        (
            0..header.max(1),
            prop_oneof![Just(u64::MAX), Just(1u64 << 60), any::<u64>()]
        )
            .prop_map(|(at, value)| Mutation::Put64 { at, value }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Splice { at, bytes }),
        (any::<usize>(), prop::sample::select(texts.to_vec()))
            .prop_map(|(at, text)| Mutation::Text { at, text }),
    ]
}

fn apply(m: &Mutation, b: &mut Vec<u8>) {
    let at = |p: usize, len: usize| if len == 0 { 0 } else { p % len };
    match m {
        Mutation::Flip { at: p, bit } if !b.is_empty() => {
            let i = at(*p, b.len());
            b[i] ^= 1 << bit;
        }
        Mutation::Truncate { at: p } => b.truncate(at(*p, b.len())),
        Mutation::Put32 { at: p, value } => put(b, *p, &value.to_be_bytes()),
        Mutation::Put64 { at: p, value } => put(b, *p, &value.to_le_bytes()),
        Mutation::Splice { at: p, bytes } => {
            let i = at(*p, b.len() + 1);
            b.splice(i..i, bytes.iter().copied());
        }
        Mutation::Text { at: p, text } => {
            let i = at(*p, b.len() + 1);
            b.splice(i..i, text.iter().copied());
        }
        _ => {}
    }
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    if at + v.len() <= b.len() {
        b[at..at + v.len()].copy_from_slice(v);
    }
}

fn mutate_file(path: &Path, m: &Mutation) {
    let mut b = std::fs::read(path).unwrap();
    apply(m, &mut b);
    std::fs::write(path, b).unwrap();
}

/// Runs `read` on its own thread: a panic or ten seconds without an answer fails the case.
/// An error must name `file`.
fn survives(file: &Path, read: impl FnOnce() -> Result<(), String> + Send + 'static) {
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    survives_naming(&name, read)
}

/// [`survives`], the error naming `name`.
fn survives_naming(name: &str, read: impl FnOnce() -> Result<(), String> + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => assert!(e.contains(name), "the error does not name {name}: {e}"),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("no answer in 10 s: a hang"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the reader panicked"),
    }
}

// ---------------------------------------------------------------- IDX and CIFAR-10 binary

fn idx_files(dir: &Path, gzip: bool) -> Vec<PathBuf> {
    let images = |n: u32| {
        let mut b: Vec<u8> = [2051u32, n, 28, 28]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        b.extend((0..n * 784).map(|i| (i * 7 % 251) as u8));
        b
    };
    let labels = |n: u32| {
        let mut b: Vec<u8> = [2049u32, n].iter().flat_map(|v| v.to_be_bytes()).collect();
        b.extend((0..n).map(|i| (i % 10) as u8));
        b
    };
    let files = [
        ("train-images-idx3-ubyte", images(20)),
        ("train-labels-idx1-ubyte", labels(20)),
        ("t10k-images-idx3-ubyte", images(5)),
        ("t10k-labels-idx1-ubyte", labels(5)),
    ];
    files
        .into_iter()
        .map(|(name, bytes)| {
            let (path, bytes) = if gzip {
                use std::io::Write;
                let mut e = flate2::write::GzEncoder::new(Vec::new(), Default::default());
                e.write_all(&bytes).unwrap();
                (dir.join(format!("{name}.gz")), e.finish().unwrap())
            } else {
                (dir.join(name), bytes)
            };
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

fn read_idx(dir: PathBuf) -> impl FnOnce() -> Result<(), String> + Send + 'static {
    move || {
        iterand_data::idx::load_dir(&dir, iterand_data::idx::Kind::FashionMnist)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn idx_files_plain_or_gzip(which in 0usize..4, gzip: bool, m in mutation(16)) {
        let d = tempfile::tempdir().unwrap();
        let file = idx_files(d.path(), gzip)[which].clone();
        mutate_file(&file, &m);
        survives(&file, read_idx(d.path().to_path_buf()));
    }

    #[test]
    fn idx_contents_under_gzip(which in 0usize..4, m in mutation(16)) {
        // the damage inside a sound gzip stream reaches the IDX parser itself
        let d = tempfile::tempdir().unwrap();
        let plain = idx_files(d.path(), false)[which].clone();
        mutate_file(&plain, &m);
        let bytes = std::fs::read(&plain).unwrap();
        std::fs::remove_file(&plain).unwrap();
        let gz = PathBuf::from(format!("{}.gz", plain.display()));
        let mut e = flate2::write::GzEncoder::new(Vec::new(), Default::default());
        std::io::Write::write_all(&mut e, &bytes).unwrap();
        std::fs::write(&gz, e.finish().unwrap()).unwrap();
        survives(&gz, read_idx(d.path().to_path_buf()));
    }

    #[test]
    fn cifar10_binary(which in 0usize..6, m in mutation(4)) {
        let d = tempfile::tempdir().unwrap();
        let names: Vec<&str> = iterand_data::cifar::TRAIN_FILES
            .iter()
            .copied()
            .chain([iterand_data::cifar::TEST_FILE])
            .collect();
        for name in &names {
            let rec = |l: u8| std::iter::once(l).chain((0..3072).map(|j| (j % 256) as u8));
            let bytes: Vec<u8> = (0..3).flat_map(|i| rec(i as u8 * 3)).collect();
            std::fs::write(d.path().join(name), bytes).unwrap();
        }
        let file = d.path().join(names[which]);
        mutate_file(&file, &m);
        let dir = d.path().to_path_buf();
        survives(&file, move || {
            iterand_data::cifar::load_dir(&dir).map(drop).map_err(|e| e.to_string())
        });
    }
}

#[test]
fn idx_truncated_at_every_region_boundary() {
    for which in 0..4 {
        let cuts: &[usize] = if which % 2 == 0 {
            &[0, 3, 4, 8, 12, 15, 16, 17, 16 + 784, 16 + 4 * 784 - 1]
        } else {
            &[0, 3, 4, 7, 8, 9, 12]
        };
        for &cut in cuts {
            let d = tempfile::tempdir().unwrap();
            let file = idx_files(d.path(), false)[which].clone();
            mutate_file(&file, &Mutation::Truncate { at: cut });
            survives(&file, read_idx(d.path().to_path_buf()));
            let err = read_idx(d.path().to_path_buf())().unwrap_err();
            assert!(err.contains("truncated"), "cut at {cut}: {err}");
        }
    }
}

#[test]
fn an_idx_header_claiming_2_to_the_60_bytes_allocates_nothing() {
    let d = tempfile::tempdir().unwrap();
    let file = idx_files(d.path(), false)[0].clone();
    for (at, value) in [(4, u32::MAX), (8, u32::MAX), (12, u32::MAX)] {
        mutate_file(&file, &Mutation::Put32 { at, value });
    }
    let err = read_idx(d.path().to_path_buf())().unwrap_err();
    assert!(
        err.contains("truncated") && err.contains("train-images"),
        "{err}"
    );
}

// ---------------------------------------------------------------- experiment files (TOML)

fn experiment_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------- checkpoints

/// A checkpoint as a run writes it: JSON and safetensors, both with checksums.
fn write_checkpoint(run: &Path) -> iterand_train::Checkpointer {
    use candle_core::{Device, Tensor};
    let ck = iterand_train::Checkpointer::new(run);
    let info: iterand_train::CheckpointInfo = serde_json::from_value(serde_json::json!({
        "format": 1, "config_hash": "sha256:00", "tensors": "",
        "position": {"epoch": 1, "step": 3, "iteration": 7, "randomizations": 2,
                     "val_acc": 50.5, "best_val_acc": 50.5, "loss_sum": 1.25, "correct": 3,
                     "seen": 9, "epoch_seconds": 0.5, "elapsed_seconds": 2.0,
                     "metrics_lines": 4},
        "streams": {"seed": 1, "data_epoch": 1, "data_batch": 3, "rerand_round": 2}
    }))
    .unwrap();
    let t = |v: f32, n: usize| Tensor::new(vec![v; n], &Device::Cpu).unwrap();
    let tensors = std::collections::HashMap::from([
        ("fc.weight".to_string(), t(0.5, 40)),
        ("fc.scores".to_string(), t(-0.25, 40)),
        ("optimizer.momentum.fc.scores".to_string(), t(0.125, 40)),
    ]);
    ck.save(iterand_train::LAST, &tensors, &info).unwrap();
    ck
}

/// The checksums taken out: a checkpoint from before they were recorded, read unchecked, so
/// the damage reaches the JSON and safetensors parsers themselves.
fn strip_checksums(ck: &iterand_train::Checkpointer) {
    let json = ck.dir().join("last.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("checksum");
    o.remove("tensors_sha256");
    std::fs::write(&json, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn load_last(run: PathBuf) -> impl FnOnce() -> Result<(), String> + Send + 'static {
    move || {
        iterand_train::Checkpointer::new(&run)
            .load(iterand_train::LAST, &candle_core::Device::Cpu)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------- ImageFolder

/// A two-class JPEG folder with its index cached and a class list.
fn image_folder(root: &Path) -> (PathBuf, PathBuf) {
    use iterand_data::folder::{write_synthetic_folder, ImageFolder};
    write_synthetic_folder(root, "train", &["n01", "n02"], 3).unwrap();
    std::fs::create_dir_all(root.join("list")).unwrap();
    std::fs::write(
        root.join("list/clist.csv"),
        "folder,name,label\nn01,one,1\nn02,two,0\n",
    )
    .unwrap();
    let cache = root.join("cache");
    ImageFolder::open(root, "train", &cache).unwrap();
    let index = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    (cache, index)
}

fn read_folder(root: PathBuf, cache: PathBuf) -> impl FnOnce() -> Result<(), String> + Send {
    move || {
        use iterand_data::Source;
        let f = iterand_data::folder::ImageFolder::open(&root, "train", &cache)
            .map_err(|e| e.to_string())?;
        for i in 0..f.len() {
            f.get(i).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn experiment_toml(which in 0usize..8, m in mutation(0)) {
        let files = experiment_files();
        let src = &files[which % files.len()];
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join(src.file_name().unwrap());
        std::fs::copy(src, &file).unwrap();
        mutate_file(&file, &m);
        let path = file.clone();
        survives(&file, move || {
            iterand_runs::spec::ExperimentFile::load(&path)
                .and_then(|f| f.runs(&toml::Table::new()))
                .map(drop)
                .map_err(|e| format!("{e:#}"))
        });
    }

    #[test]
    fn checkpoint_json_and_safetensors(tensors: bool, checked: bool, m in mutation(8)) {
        let d = tempfile::tempdir().unwrap();
        let ck = write_checkpoint(d.path());
        if !checked {
            strip_checksums(&ck);
        }
        let file = ck.dir().join(if tensors { "last-7.safetensors" } else { "last.json" });
        mutate_file(&file, &m);
        let read = load_last(d.path().to_path_buf());
        if checked {
            survives(&file, read);
        } else {
            // unchecked, a changed `tensors` field sends the reader to another file
            survives_naming("checkpoints", read);
        }
    }

    #[test]
    fn image_folder_files_index_and_class_list(which in 0usize..3, m in mutation(16)) {
        let d = tempfile::tempdir().unwrap();
        let (cache, index) = image_folder(d.path());
        let file = [
            d.path().join("train/n01/img1.JPEG"),
            index,
            d.path().join("list/clist.csv"),
        ][which]
            .clone();
        mutate_file(&file, &m);
        survives(&file, read_folder(d.path().to_path_buf(), cache));
        if which == 0 {
            let f = file.clone();
            survives(&file, move || {
                iterand_data::folder::decode_rgb(&f).map(drop).map_err(|e| e.to_string())
            });
        }
    }
}

#[test]
fn a_checkpoint_holding_nan_or_infinity_is_refused_by_name() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let d = tempfile::tempdir().unwrap();
        let ck = write_checkpoint(d.path());
        strip_checksums(&ck);
        let file = ck.dir().join("last-7.safetensors");
        let mut b = std::fs::read(&file).unwrap();
        let at = b.len() - 4;
        b[at..].copy_from_slice(&bad.to_le_bytes());
        std::fs::write(&file, b).unwrap();
        let err = load_last(d.path().to_path_buf())().unwrap_err();
        assert!(
            err.contains("last-7.safetensors") && err.contains("NaN or an infinity"),
            "{err}"
        );
    }
}
