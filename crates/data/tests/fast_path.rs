//! The ImageFolder's fast path (8-bit resampling with fast_image_resize, libjpeg-turbo with
//! DCT-domain scaling where the build has it) against the references, on real photographs:
//! the committed fixtures (crates/data/tests/fixtures/jpeg, ImageNet-sized JPEGs of the kinds
//! ILSVRC-2012 holds, and torchvision's evaluation output for each).
//!
//! - the evaluation batch against torchvision's Resize(256) + CenterCrop(224) on PIL;
//! - the fast resampling against the f32 row-at-a-time code (`augment.rs`), for the
//!   evaluation transform and for training crops;
//! - DCT-scaled training crops against full-size decoding and the same resampling;
//! - libjpeg-turbo against zune-jpeg on the same files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iterand_data::folder::{decode_rgb, ImageFolder};
use iterand_data::{
    assemble, jpeg, Augment, Example, FastPath, ImageShape, Key, Normalization, ResizeCrop,
    Transform, View,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg")
}

const JPEGS: [&str; 8] = [
    "landscape_baseline",
    "landscape_progressive",
    "landscape_grey",
    "landscape_cmyk",
    "portrait_baseline",
    "portrait_progressive",
    "portrait_grey",
    "portrait_cmyk",
];

/// An ImageFolder whose `val` (and `train`) split holds `files` (fixture file names) in one
/// class, in that order, each copied under a `.JPEG` name.
fn folder(files: &[&str]) -> (tempfile::TempDir, View) {
    let root = tempfile::tempdir().unwrap();
    for split in ["train", "val"] {
        let dir = root.path().join(split).join("n00000000");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, f) in files.iter().enumerate() {
            std::fs::copy(fixtures().join(f), dir.join(format!("{i:03}.JPEG"))).unwrap();
        }
    }
    let cache = root.path().join("cache");
    let set = ImageFolder::open(root.path(), "val", &cache).unwrap();
    (root, View::all(Arc::new(set)))
}

fn switch(inner: Arc<dyn Transform>, resample: bool, dct_scaling: bool) -> FastPath {
    FastPath {
        inner,
        resample,
        dct_scaling,
    }
}

/// Normalised values back to grey levels of 255.
fn levels(values: &[f32], plane: usize) -> Vec<f64> {
    let n = Normalization::imagenet();
    let c = |i: usize| (i / plane) % 3;
    let at = |(i, &v): (usize, &f32)| (v as f64 * n.std[c(i)] as f64 + n.mean[c(i)] as f64) * 255.0;
    values.iter().enumerate().map(at).collect()
}

/// Mean and largest absolute difference.
fn difference(a: &[f64], b: &[f64]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let d = a.iter().zip(b).map(|(x, y)| (x - y).abs());
    let (sum, max) = d.fold((0.0, 0.0f64), |(s, m), v| (s + v, m.max(v)));
    (sum / a.len() as f64, max)
}

fn key(index: u32) -> Key {
    Key {
        seed: 11,
        epoch: 0,
        index,
    }
}

#[test]
fn the_evaluation_batch_matches_torchvision_on_pil() {
    let mut files: Vec<String> = JPEGS.iter().map(|n| format!("{n}.jpg")).collect();
    files.push("landscape_png.JPEG".into());
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let (_root, view) = folder(&names);
    let idx: Vec<u32> = (0..names.len() as u32).collect();
    let batch = assemble(&view, &ResizeCrop::imagenet(), &idx, 0, 0).unwrap();
    let plane = 224 * 224;
    for (i, name) in names.iter().enumerate() {
        let stem = name.split('.').next().unwrap();
        let ours = levels(&batch.pixels[i * 3 * plane..(i + 1) * 3 * plane], plane);
        let png = image::open(fixtures().join(format!("{stem}_eval.png"))).unwrap();
        let theirs: Vec<f64> = planes_of(&png.to_rgb8());
        let (mean, max) = difference(&ours, &theirs);
        eprintln!(
            "{stem}: mean {mean:.3}, max {max:.2} grey levels ({})",
            jpeg::DECODER
        );
        assert!(mean <= 0.5 && max <= 4.0, "{stem}: mean {mean}, max {max}");
    }
}

fn planes_of(img: &image::RgbImage) -> Vec<f64> {
    (0..3)
        .flat_map(|c| img.pixels().map(move |p| p.0[c] as f64))
        .collect()
}

/// The largest and the mean difference of the fast resampling from the f32 reference, over
/// `keys` draws of `t` on every fixture, with full-size decoding on both sides.
fn fast_against_reference(t: Arc<dyn Transform>, keys: u32) -> (f64, f64) {
    let names: Vec<String> = JPEGS.iter().map(|n| format!("{n}.jpg")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (_root, view) = folder(&names);
    let fast = switch(t.clone(), true, false);
    let (mut worst, mut sum, mut n) = (0.0f64, 0.0, 0.0);
    for (i, name) in names.iter().enumerate() {
        let (mut pixels, shape) = decode_rgb(&fixtures().join(name)).unwrap();
        Normalization::imagenet().apply(&mut pixels, shape);
        let ex = Example {
            pixels: pixels.into(),
            shape,
            label: 0,
        };
        let plane = t.output_shape(shape).height * t.output_shape(shape).width;
        for k in 0..keys {
            let mut reference = vec![];
            t.apply(&ex, &[0.0; 3], key(k), &mut reference);
            let mut ours = vec![];
            view_one(&view, &fast, i, key(k), &mut ours);
            let (mean, max) = difference(&levels(&ours, plane), &levels(&reference, plane));
            worst = worst.max(max);
            (sum, n) = (sum + mean, n + 1.0);
        }
    }
    (worst, sum / n)
}

/// Example `i` of `view` through `t`, keyed by `key`.
fn view_one(view: &View, t: &dyn Transform, i: usize, key: Key, out: &mut Vec<f32>) {
    use iterand_data::Source;
    view.transformed(i, t, key, out).unwrap();
}

#[test]
fn the_fast_resampling_matches_the_reference_within_one_grey_level() {
    let eval = fast_against_reference(Arc::new(ResizeCrop::imagenet()), 1);
    let train = Arc::new(Augment {
        pad: 0,
        size: 224,
        ..Augment::cifar10()
    });
    let crops = fast_against_reference(train, 24);
    eprintln!("evaluation: max {:.3}, mean {:.3}", eval.0, eval.1);
    eprintln!("training crops: max {:.3}, mean {:.3}", crops.0, crops.1);
    for (max, mean) in [eval, crops] {
        // within one level, plus the f32 reference's own rounding
        assert!(max <= 1.0 + 1e-4 && mean <= 0.3, "max {max}, mean {mean}");
    }
}

/// Skip the calling test, loudly (on stderr itself, which the harness does not capture); with
/// `CI=true` (`.ci/run`, which installs libturbojpeg0-dev) fail it.
fn skip_without_libjpeg_turbo() -> bool {
    use std::io::Write;
    if jpeg::DCT_SCALING {
        return false;
    }
    let line = "*".repeat(78);
    let _ = writeln!(
        std::io::stderr(),
        "\n{line}\nSKIPPED: this build has no libjpeg-turbo.\nInstall Debian's \
         libturbojpeg0-dev and pkg-config to test DCT scaling; .ci/run does.\n{line}\n"
    );
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "CI=true and the libjpeg-turbo tests were skipped"
    );
    true
}

/// The fixture's full size: the landscapes are 500×375, the portraits 375×500.
fn full_shape(name: &str) -> ImageShape {
    let (height, width) = if name.starts_with("land") {
        (375, 500)
    } else {
        (500, 375)
    };
    ImageShape {
        channels: 3,
        height,
        width,
    }
}

#[test]
fn dct_scaled_training_crops_stay_within_one_grey_level_of_full_size_decoding() {
    if skip_without_libjpeg_turbo() {
        return;
    }
    let names: Vec<String> = JPEGS.iter().map(|n| format!("{n}.jpg")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (_root, view) = folder(&names);
    let (mut scaled, mut worst) = ([0usize; 9], 0.0f64);
    for size in [32, 64, 112] {
        let t: Arc<dyn Transform> = Arc::new(Augment {
            pad: 0,
            size,
            ..Augment::cifar10()
        });
        let (with, without) = (switch(t.clone(), true, true), switch(t, true, false));
        for (i, name) in names.iter().enumerate() {
            for k in 0..64 {
                let plan = with.resample_plan(full_shape(name), key(k)).unwrap();
                let (mut a, mut b) = (vec![], vec![]);
                view_one(&view, &with, i, key(k), &mut a);
                view_one(&view, &without, i, key(k), &mut b);
                // CMYK files are decoded by zune-jpeg, at full size
                if plan.eighths() == 8 || name.contains("cmyk") {
                    assert_eq!(a, b, "{name}: not scaled, yet different");
                    continue;
                }
                let plane = size * size;
                let (mean, max) = difference(&levels(&a, plane), &levels(&b, plane));
                assert!(
                    mean <= 1.0,
                    "{name} at {}/8: mean {mean}, max {max}",
                    plan.eighths()
                );
                scaled[plan.eighths() as usize] += 1;
                worst = worst.max(mean);
            }
        }
    }
    let (two, four) = (scaled[2], scaled[4]);
    eprintln!("crops decoded at 2/8 and 4/8: {two} and {four}; largest mean {worst:.3} levels");
    assert!(two > 0 && four > 0, "{scaled:?}");
}

#[test]
fn libjpeg_turbo_and_zune_jpeg_decode_the_same_photographs() {
    if skip_without_libjpeg_turbo() {
        return;
    }
    for name in JPEGS {
        let path = fixtures().join(format!("{name}.jpg"));
        let bytes = std::fs::read(&path).unwrap();
        let turbo = jpeg::decode(&bytes, &path).unwrap();
        let zune = jpeg::decode_portable(&bytes, &path).unwrap();
        assert_eq!((turbo.width, turbo.height), (zune.width, zune.height));
        let a: Vec<f64> = turbo.pixels.iter().map(|&v| v as f64).collect();
        let b: Vec<f64> = zune.pixels.iter().map(|&v| v as f64).collect();
        let (mean, max) = difference(&a, &b);
        eprintln!("{name}: mean {mean:.3}, max {max} grey levels");
        assert!(mean <= 1.0, "{name}: mean {mean}, max {max}");
        let cmyk = name.contains("cmyk");
        assert_eq!(jpeg::scalable_size(&bytes).is_none(), cmyk, "{name}");
    }
}

#[test]
fn a_header_naming_a_giant_image_is_an_unreadable_file_not_an_allocation() {
    // the landscape fixture with its frame header's height and width set to 40,000 (within
    // libjpeg's 65,500, so only the decoded-size limit stops it: 4.8 GB of RGB)
    let mut bytes = std::fs::read(fixtures().join("landscape_baseline.jpg")).unwrap();
    let sof = (0..bytes.len() - 1)
        .find(|&i| bytes[i] == 0xFF && matches!(bytes[i + 1], 0xC0 | 0xC2))
        .unwrap();
    bytes[sof + 5..sof + 9].copy_from_slice(&[0x9C, 0x40, 0x9C, 0x40]);
    let path = Path::new("giant.JPEG");
    let e = match jpeg::scalable_size(&bytes) {
        Some(size) => {
            assert_eq!(size, (40000, 40000));
            jpeg::decode_scaled(&bytes, 8, path).unwrap_err()
        }
        None => jpeg::decode(&bytes, path).unwrap_err(),
    };
    let e = e.to_string();
    assert!(e.starts_with("giant.JPEG: cannot decode"), "{e}");
}
