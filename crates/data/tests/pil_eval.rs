//! The ImageNet evaluation transform against torchvision's on PIL, on real JPEGs of the kinds
//! ILSVRC-2012 holds (baseline, progressive, greyscale, CMYK): decode, Resize(256),
//! CenterCrop(224), before normalisation. The references were written by
//! benches/peer/make_jpeg_fixtures.py; the test needs no Python.

use std::path::Path;

use iterand_data::folder::decode_rgb;
use iterand_data::{Example, Key, ResizeCrop, Transform};

const KEY: Key = Key {
    seed: 0,
    epoch: 0,
    index: 0,
};

/// Mean and largest absolute difference, in grey levels of 255, of ours against PIL's.
fn difference(name: &str) -> (f64, f64) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg");
    let (pixels, shape) = decode_rgb(&dir.join(format!("{name}.jpg"))).unwrap();
    let ex = Example {
        pixels: pixels.into(),
        shape,
        label: 0,
    };
    let mut ours = vec![];
    ResizeCrop::imagenet().apply(&ex, &[0.0; 3], KEY, &mut ours);
    let reference = image::open(dir.join(format!("{name}_eval.png")))
        .unwrap()
        .to_rgb8();
    assert_eq!((reference.width(), reference.height()), (224, 224));
    let plane = 224 * 224;
    let (mut sum, mut max) = (0.0f64, 0.0f64);
    for (p, px) in reference.pixels().enumerate() {
        for c in 0..3 {
            let d = (ours[c * plane + p] as f64 * 255.0 - px.0[c] as f64).abs();
            sum += d;
            max = max.max(d);
        }
    }
    (sum / (3 * plane) as f64, max)
}

#[test]
fn evaluation_transform_matches_torchvision_on_pil() {
    for photo in ["landscape", "portrait"] {
        for kind in ["baseline", "progressive", "grey", "cmyk"] {
            let name = format!("{photo}_{kind}");
            let (mean, max) = difference(&name);
            eprintln!("{name}: mean {mean:.3}, max {max:.2} grey levels");
            assert!(mean <= 1.0 && max <= 4.0, "{name}: mean {mean}, max {max}");
        }
    }
}
