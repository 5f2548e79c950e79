//! Train/validation splits and mini-batch orders from seeded streams.

use std::sync::Arc;

use iterand_randomizer::{permutation, torch_randperm, Purpose, Stream, TORCH_RANDPERM_LIMIT};
use serde::{Deserialize, Serialize};

use crate::source::View;
use crate::transform::{Compose, Pad, Transform, Transforms};
use crate::{Dataset, Error, Result};

/// The official code holds out 10 % of the training set for validation…
pub const VAL_FRACTION: f64 = 0.1;
/// …with a permutation drawn from seed 777, whatever the run's seed.
pub const VAL_SPLIT_SEED: u64 = 777;

/// The generator that draws the train/validation split (always from seed 777).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitDraw {
    /// Our Philox stream, as every other draw of a run.
    #[default]
    Philox,
    /// The official code's `torch.randperm` under `manual_seed(777)`: a run trains and
    /// validates on exactly the images it does. Every seed shares the split, so this is the
    /// one data draw whose difference more seeds do not average away.
    Torch,
}

impl SplitDraw {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl std::fmt::Display for SplitDraw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SplitDraw::Philox => "philox",
            SplitDraw::Torch => "torch",
        })
    }
}

/// A dataset's three parts, and the transforms the dataset declares for them.
#[derive(Clone, Debug)]
pub struct Splits {
    pub train: View,
    pub val: View,
    pub test: View,
    /// The dataset's training augmentation (the official code's, where it has one).
    pub augmentation: Option<Arc<dyn Transform>>,
    /// What evaluation applies to every validation and test image.
    pub eval_transform: Compose,
}

impl Splits {
    /// Three parts with no augmentation and images evaluated as stored.
    pub fn plain(train: View, val: View, test: View) -> Self {
        Self {
            train,
            val,
            test,
            augmentation: None,
            eval_transform: Compose::default(),
        }
    }

    /// The same parts with the train/validation split drawn by `draw` (sizes unchanged).
    pub fn with_split_draw(self, draw: SplitDraw) -> Result<Self> {
        if draw == SplitDraw::Philox {
            return Ok(self);
        }
        let n = self.train.len() + self.val.len();
        let all = self
            .train
            .common_source(&self.val)
            .filter(|all| all.len() == n && n < TORCH_RANDPERM_LIMIT)
            .ok_or_else(|| Error::InvalidParameter {
                name: "split",
                value: format!(
                    "{draw} for {} ({n} training and validation images; torch's limit is \
                     {TORCH_RANDPERM_LIMIT})",
                    self.train.name()
                ),
                why: "its training and validation images must be one set split in two, \
                      within torch's 32-bit randperm",
            })?;
        let (kept, held) = drawn_split(n, self.val.len(), VAL_SPLIT_SEED, draw);
        Ok(Self {
            train: all.select(&kept),
            val: all.select(&held),
            ..self
        })
    }

    /// The run's pipelines: `pad` black pixels a side first (both), then the dataset's
    /// training augmentation if `augment`, or its evaluation transform.
    pub fn transforms(&self, pad: usize, augment: bool) -> Result<Transforms> {
        let padding: Vec<Arc<dyn Transform>> = match pad {
            0 => vec![],
            p => vec![Arc::new(Pad(p))],
        };
        let mut train = padding.clone();
        if augment {
            let a = self
                .augmentation
                .clone()
                .ok_or_else(|| Error::InvalidParameter {
                    name: "augment",
                    value: format!("true for {}", self.train.name()),
                    why: "this dataset declares no training augmentation (the official code \
                      augments CIFAR-10 and ImageNet only)",
                })?;
            train.push(a);
        }
        let mut eval = padding;
        eval.extend(self.eval_transform.0.iter().cloned());
        Ok(Transforms {
            train: Compose(train),
            eval: Compose(eval),
        })
    }
}

/// Split `data` into (train, held-out) views with a permutation of `seed`: as `random_split`,
/// the first `n − ⌊n·fraction⌋` permuted indices train and the rest are held out.
pub fn split_off(data: &View, fraction: f64, seed: u64) -> (View, View) {
    let (a, b) = split_indices(data.len(), fraction, seed);
    (data.select(&a), data.select(&b))
}

/// The whole of `data` split as [`split_off`] does.
pub fn split_dataset(data: Dataset, fraction: f64, seed: u64) -> (View, View) {
    split_off(&View::from(data), fraction, seed)
}

/// The indices `split_off` keeps and holds out, in the order the two parts hold them.
pub fn split_indices(n: usize, fraction: f64, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let held = (n as f64 * fraction).floor() as usize;
    drawn_split(n, held, seed, SplitDraw::Philox)
}

/// `n` indices permuted by `draw` from `seed`: the first `n − held` train, the rest are held
/// out (`random_split`'s order of parts).
pub fn drawn_split(n: usize, held: usize, seed: u64, draw: SplitDraw) -> (Vec<u32>, Vec<u32>) {
    let mut kept = match draw {
        SplitDraw::Philox => permutation(n, &Stream::new(seed, Purpose::Split, 0, 0)),
        SplitDraw::Torch => torch_randperm(n, seed),
    };
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
    use crate::source::tests::numbered;
    use crate::Source;

    /// The value of every image of `v`, in order (the toy's image i is the value i).
    fn values(v: &View) -> Vec<f32> {
        (0..v.len()).map(|j| v.get(j).unwrap().pixels[0]).collect()
    }

    #[test]
    fn split_sizes_are_disjoint_and_fixed() {
        let (tr, va) = split_dataset(numbered(50_000), VAL_FRACTION, VAL_SPLIT_SEED);
        assert_eq!((tr.len(), va.len()), (45_000, 5_000));
        let mut all: Vec<u32> = values(&tr)
            .into_iter()
            .chain(values(&va))
            .map(|v| v as u32)
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..50_000).collect::<Vec<_>>());
        let (tr2, _) = split_dataset(numbered(50_000), VAL_FRACTION, VAL_SPLIT_SEED);
        assert_eq!(values(&tr), values(&tr2));
        let (a, b) = split_indices(50_000, VAL_FRACTION, VAL_SPLIT_SEED);
        let as_f32 = |v: &[u32]| v.iter().map(|&i| i as f32).collect::<Vec<_>>();
        assert_eq!((as_f32(&a), as_f32(&b)), (values(&tr), values(&va)));
    }

    #[test]
    fn transforms_pad_first_and_refuse_an_augmentation_the_dataset_lacks() {
        let v = View::from(numbered(4));
        let mut s = Splits::plain(v.clone(), v.clone(), v);
        let t = s.transforms(2, false).unwrap();
        assert_eq!((t.train.0.len(), t.eval.0.len()), (1, 1));
        let e = s.transforms(0, true).unwrap_err().to_string();
        assert!(e.contains("augment") && e.contains("synthetic"), "{e}");
        s.augmentation = Some(Arc::new(crate::Augment::cifar10()));
        let t = s.transforms(2, true).unwrap();
        assert_eq!((t.train.0.len(), t.eval.0.len()), (2, 1));
        let shape = t.train.output_shape(s.train.shape());
        assert_eq!((shape.height, shape.width), (32, 32));
    }

    /// The official code's validation images: `torch.randperm(50000)[45000:]` under
    /// `manual_seed(777)`, its first four printed by PyTorch 2.
    #[test]
    fn the_torch_split_holds_out_the_official_code_s_images() {
        let (tr, va) = split_dataset(numbered(50_000), VAL_FRACTION, VAL_SPLIT_SEED);
        let ours = Splits::plain(tr, va, View::from(numbered(3)));
        let same = ours.clone().with_split_draw(SplitDraw::Philox).unwrap();
        assert_eq!(values(&same.val), values(&ours.val));
        let torch = ours.clone().with_split_draw(SplitDraw::Torch).unwrap();
        assert_eq!((torch.train.len(), torch.val.len()), (45_000, 5_000));
        assert_eq!(&values(&torch.val)[..4], TORCH_VAL_HEAD);
        assert_eq!(values(&torch.test), values(&ours.test));
        let mut all: Vec<f32> = values(&torch.train);
        all.extend(values(&torch.val));
        all.sort_by(f32::total_cmp);
        assert!(all.iter().enumerate().all(|(i, &v)| v == i as f32));
        let apart = Splits::plain(
            View::from(numbered(9)),
            View::from(numbered(1)),
            View::from(numbered(1)),
        );
        let e = apart
            .with_split_draw(SplitDraw::Torch)
            .unwrap_err()
            .to_string();
        assert!(e.contains("split") && e.contains("torch"), "{e}");
    }

    const TORCH_VAL_HEAD: [f32; 4] = [47409.0, 20746.0, 28217.0, 16632.0];

    #[test]
    fn batch_order_depends_on_seed_and_epoch() {
        assert_eq!(batch_order(100, 1, 0), batch_order(100, 1, 0));
        assert_ne!(batch_order(100, 1, 0), batch_order(100, 1, 1));
        assert_ne!(batch_order(100, 1, 0), batch_order(100, 2, 0));
    }
}
