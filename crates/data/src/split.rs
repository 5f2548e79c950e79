//! Train/validation splits and mini-batch orders from seeded streams.

use iterand_randomizer::{permutation, Purpose, Stream};

use crate::Dataset;

/// The official code holds out 10 % of the training set for validation…
pub const VAL_FRACTION: f64 = 0.1;
/// …with a permutation drawn from seed 777, whatever the run's seed.
pub const VAL_SPLIT_SEED: u64 = 777;

/// A dataset's three parts.
#[derive(Clone, Debug)]
pub struct Splits {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
}

/// Split `data` into (train, held-out) with a permutation of `seed`: as `random_split`, the
/// first `n − ⌊n·fraction⌋` permuted indices train and the rest are held out.
pub fn split_off(data: &Dataset, fraction: f64, seed: u64) -> (Dataset, Dataset) {
    let (a, b) = split_indices(data.len(), fraction, seed);
    (data.subset(&a, &data.name), data.subset(&b, &data.name))
}

/// The indices `split_off` keeps and holds out, in the order the two parts hold them.
pub fn split_indices(n: usize, fraction: f64, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let held = (n as f64 * fraction).floor() as usize;
    let mut kept = permutation(n, &Stream::new(seed, Purpose::Split, 0, 0));
    let out = kept.split_off(n - held);
    (kept, out)
}

/// The order of training examples in `epoch`: a permutation that depends only on
/// `(seed, epoch)`, so a resumed run sees the same batches.
pub fn batch_order(n: usize, seed: u64, epoch: u64) -> Vec<u32> {
    permutation(n, &Stream::new(seed, Purpose::DataOrder, 0, epoch as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageShape;

    fn toy(n: usize) -> Dataset {
        Dataset {
            name: "synthetic".into(),
            shape: ImageShape {
                channels: 1,
                height: 1,
                width: 1,
            },
            classes: 10,
            images: (0..n).map(|i| i as f32).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
            black: vec![0.0],
        }
    }

    #[test]
    fn split_sizes_are_disjoint_and_fixed() {
        let d = toy(50_000);
        let (tr, va) = split_off(&d, VAL_FRACTION, VAL_SPLIT_SEED);
        assert_eq!((tr.len(), va.len()), (45_000, 5_000));
        let mut all: Vec<u32> = tr
            .images
            .iter()
            .chain(&va.images)
            .map(|&v| v as u32)
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..50_000).collect::<Vec<_>>());
        let (tr2, _) = split_off(&d, VAL_FRACTION, VAL_SPLIT_SEED);
        assert_eq!(tr.images, tr2.images);
        // the toy's image i is the value i, so the images name the indices split_indices reports
        let (a, b) = split_indices(50_000, VAL_FRACTION, VAL_SPLIT_SEED);
        let as_f32 = |v: &[u32]| v.iter().map(|&i| i as f32).collect::<Vec<_>>();
        assert_eq!((as_f32(&a), as_f32(&b)), (tr.images, va.images));
    }

    #[test]
    fn batch_order_depends_on_seed_and_epoch() {
        assert_eq!(batch_order(100, 1, 0), batch_order(100, 1, 0));
        assert_ne!(batch_order(100, 1, 0), batch_order(100, 1, 1));
        assert_ne!(batch_order(100, 1, 0), batch_order(100, 2, 0));
    }
}
