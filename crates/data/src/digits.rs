//! scikit-learn's digits, embedded: 1,797 real handwritten digits, 8×8, 17 grey levels.
//!
//! Small enough (57 KB) to ship inside the binary, so the quickstart and the tests need no
//! download and no install. There is no official split, so one is fixed here: a stratified
//! 20 % test set drawn with [`TEST_SPLIT_SEED`], the same on every machine. Licence and origin:
//! `crates/data/assets/LICENSE-digits.md`.

use std::io::Read;

use iterand_randomizer::{permutation, Purpose, Stream};

use crate::split::{split_dataset, Splits, VAL_FRACTION, VAL_SPLIT_SEED};
use crate::{Dataset, Error, ImageShape, Normalization, Result};

const DIGITS_GZ: &[u8] = include_bytes!("../assets/digits.csv.gz");
const SOURCE: &str = "<embedded digits.csv.gz>";

/// Seed of the fixed stratified train/test split.
pub const TEST_SPLIT_SEED: u64 = 1998;
/// Fraction of each class that is held out as the test set.
pub const TEST_FRACTION: f64 = 0.2;

/// Mean and standard deviation of the pixels (scaled to [0, 1]) over all 1,797 images.
const MEAN: f32 = 0.305_26;
const STD: f32 = 0.376_05;

/// The normalisation the digits are stored with (pixel mean and standard deviation in [0, 1]).
pub fn normalization() -> Normalization {
    Normalization::grey(MEAN, STD)
}

/// All 1,797 images, normalised.
pub fn load() -> Result<Dataset> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .map_err(|e| Error::format(SOURCE, format!("cannot decompress: {e}")))?;
    parse_csv(&text, SOURCE)
}

/// Parse the CSV: 64 pixel counts in 0..=16, then the label in 0..=9, per line.
pub fn parse_csv(text: &str, source: &str) -> Result<Dataset> {
    let shape = ImageShape {
        channels: 1,
        height: 8,
        width: 8,
    };
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |what: String| Error::format(source, format!("line {}: {what}", line_no + 1));
        let vals: Vec<u32> = line
            .split(',')
            .map(|v| v.trim().parse::<u32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(format!("not an integer list ({e})")))?;
        if vals.len() != 65 {
            return Err(bad(format!("{} values, expected 65", vals.len())));
        }
        if let Some(v) = vals[..64].iter().find(|&&v| v > 16) {
            return Err(bad(format!("pixel {v} outside 0..=16")));
        }
        if vals[64] > 9 {
            return Err(bad(format!("label {} outside 0..=9", vals[64])));
        }
        images.extend(vals[..64].iter().map(|&v| v as f32 / 16.0));
        labels.push(vals[64] as u8);
    }
    normalization().apply(&mut images, shape);
    Ok(Dataset {
        name: "digits".into(),
        shape,
        classes: 10,
        images,
        labels,
        black: normalization().black(),
    })
}

/// Images left for training and validation after the fixed test split (1,797 − 359); a test
/// checks it against the split.
pub const TRAIN_POOL: usize = 1_438;

/// The fixed splits: a stratified 20 % test set, then 10 % of the rest held out for
/// validation with the official seed 777.
pub fn splits() -> Result<Splits> {
    let all = load()?;
    let (train_idx, test_idx) = stratified(&all, TEST_FRACTION, TEST_SPLIT_SEED);
    let train_full = all.subset(&train_idx, "digits");
    let test = all.subset(&test_idx, "digits");
    let (train, val) = split_dataset(train_full, VAL_FRACTION, VAL_SPLIT_SEED);
    Ok(Splits::plain(train, val, test.into()))
}

/// Per class, hold out `round(count·fraction)` examples chosen by a seeded permutation.
fn stratified(d: &Dataset, fraction: f64, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let (mut keep, mut held) = (Vec::new(), Vec::new());
    for class in 0..d.classes {
        let members: Vec<u32> = (0..d.len() as u32)
            .filter(|&i| d.labels[i as usize] as usize == class)
            .collect();
        let perm = permutation(
            members.len(),
            &Stream::new(seed, Purpose::Split, class as u32 + 1, 0),
        );
        let n_held = (members.len() as f64 * fraction).round() as usize;
        for (j, &p) in perm.iter().enumerate() {
            let i = members[p as usize];
            if j < n_held {
                held.push(i);
            } else {
                keep.push(i);
            }
        }
    }
    keep.sort_unstable();
    held.sort_unstable();
    (keep, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_digits_are_the_real_set() {
        let d = load().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.images.len(), 1797 * 64);
        assert_eq!(
            d.class_counts(),
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        assert_eq!(&d.labels[..5], &[0, 1, 2, 3, 4]);
        let mean = d.images.iter().sum::<f32>() / d.images.len() as f32;
        assert!(mean.abs() < 1e-3, "normalised mean {mean}");
    }

    #[test]
    fn splits_are_fixed_stratified_and_disjoint() {
        let s = splits().unwrap();
        // per class round(0.2·count): 36+36+35+37+36+36+36+36+35+36
        assert_eq!(s.test.len(), 359);
        assert_eq!(s.train.len() + s.val.len(), 1797 - 359);
        assert_eq!(s.train.len() + s.val.len(), TRAIN_POOL);
        assert_eq!(s.val.len(), 143);
        for (c, n) in s.test.class_counts().unwrap().into_iter().enumerate() {
            assert!((34..=37).contains(&n), "class {c}: {n}");
        }
        let again = splits().unwrap();
        assert_eq!(s.test.images().unwrap(), again.test.images().unwrap());
        assert_eq!(s.val.images().unwrap(), again.val.images().unwrap());
    }

    #[test]
    fn bad_csv_names_the_line() {
        let good = vec!["0"; 64].join(",") + ",3";
        assert_eq!(parse_csv(&good, "x.csv").unwrap().len(), 1);
        let cases = [
            (vec!["0"; 64].join(",") + ",12", "label 12"),
            (vec!["0"; 63].join(",") + ",3", "64 values"),
            (vec!["17"; 64].join(",") + ",3", "pixel 17"),
            ("a,b".to_string(), "not an integer"),
        ];
        for (text, want) in cases {
            let e = parse_csv(&format!("{good}\n{text}"), "x.csv")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("x.csv") && e.contains("line 2") && e.contains(want),
                "{e}"
            );
        }
    }
}
