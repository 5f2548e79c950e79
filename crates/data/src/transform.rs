//! Per-example transforms, and the training and evaluation pipelines a dataset declares.
//!
//! A transform's randomness may depend only on its [`Key`] (seed, epoch and the example's
//! position in the split), never on the batch it falls in or the thread that runs it: that is
//! what keeps a loader's output the same for any number of workers and a resumed run equal to
//! an uninterrupted one.

use std::fmt::Debug;
use std::sync::Arc;

use crate::resize::Resample;
use crate::{Example, ImageShape};

/// What a transform's random draws may depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub seed: u64,
    pub epoch: u64,
    /// The example's position in its split (not in the batch).
    pub index: u32,
}

/// A function of one example (and its key) to a fixed-shape image.
pub trait Transform: Send + Sync + Debug {
    fn output_shape(&self, input: ImageShape) -> ImageShape;
    /// Append the transformed pixels of `example` to `out`; `black` is the normalised black.
    fn apply(&self, example: &Example<'_>, black: &[f32], key: Key, out: &mut Vec<f32>);
    /// The transform of an image of `input`'s shape as a crop and resize, when it is one (the
    /// ImageNet transforms): a source that decodes files can then resample 8-bit pixels
    /// directly, and decode a training crop at reduced size. It draws what `apply` draws.
    fn resample_plan(&self, input: ImageShape, key: Key) -> Option<Resample> {
        let _ = (input, key);
        None
    }
}

/// Black pixels added on each side (2 turns 28×28 Fashion-MNIST into CIFAR's 32×32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pad(pub usize);

impl Transform for Pad {
    fn output_shape(&self, s: ImageShape) -> ImageShape {
        ImageShape {
            channels: s.channels,
            height: s.height + 2 * self.0,
            width: s.width + 2 * self.0,
        }
    }

    fn apply(&self, ex: &Example<'_>, black: &[f32], _: Key, out: &mut Vec<f32>) {
        let (p, s) = (self.0, ex.shape);
        let w = s.width + 2 * p;
        let plane = s.height * s.width;
        for (c, &fill) in black.iter().enumerate().take(s.channels) {
            out.extend(std::iter::repeat_n(fill, p * w));
            for row in ex.pixels[c * plane..(c + 1) * plane].chunks(s.width) {
                out.extend(std::iter::repeat_n(fill, p));
                out.extend_from_slice(row);
                out.extend(std::iter::repeat_n(fill, p));
            }
            out.extend(std::iter::repeat_n(fill, p * w));
        }
    }
}

/// Transforms applied one after the other; none is the identity.
#[derive(Clone, Debug, Default)]
pub struct Compose(pub Vec<Arc<dyn Transform>>);

impl Compose {
    pub fn is_identity(&self) -> bool {
        self.0.is_empty()
    }
}

impl Transform for Compose {
    fn output_shape(&self, s: ImageShape) -> ImageShape {
        self.0.iter().fold(s, |s, t| t.output_shape(s))
    }

    fn apply(&self, ex: &Example<'_>, black: &[f32], key: Key, out: &mut Vec<f32>) {
        let Some((last, first)) = self.0.split_last() else {
            out.extend_from_slice(&ex.pixels);
            return;
        };
        let mut cur = ex.clone();
        for t in first {
            let mut next = Vec::with_capacity(t.output_shape(cur.shape).numel());
            t.apply(&cur, black, key, &mut next);
            cur = Example {
                shape: t.output_shape(cur.shape),
                pixels: next.into(),
                label: cur.label,
            };
        }
        last.apply(&cur, black, key, out);
    }

    fn resample_plan(&self, input: ImageShape, key: Key) -> Option<Resample> {
        match self.0.as_slice() {
            [one] => one.resample_plan(input, key),
            _ => None,
        }
    }
}

/// A transform with a file source's fast path cut back, to measure and test each part alone:
/// without `resample` the ImageFolder decodes at full size and runs the f32 reference
/// resampling (`augment.rs`); without `dct_scaling` it resamples 8-bit pixels of the
/// full-size image. The values `apply` computes are the inner transform's.
#[derive(Debug)]
pub struct FastPath {
    pub inner: Arc<dyn Transform>,
    pub resample: bool,
    pub dct_scaling: bool,
}

impl Transform for FastPath {
    fn output_shape(&self, input: ImageShape) -> ImageShape {
        self.inner.output_shape(input)
    }

    fn apply(&self, ex: &Example<'_>, black: &[f32], key: Key, out: &mut Vec<f32>) {
        self.inner.apply(ex, black, key, out)
    }

    fn resample_plan(&self, input: ImageShape, key: Key) -> Option<Resample> {
        let plan = self.inner.resample_plan(input, key)?;
        self.resample.then_some(Resample {
            dct_scaling: plan.dct_scaling && self.dct_scaling,
            ..plan
        })
    }
}

/// The two pipelines of a run: training (augmented if asked) and evaluation.
#[derive(Clone, Debug, Default)]
pub struct Transforms {
    pub train: Compose,
    pub eval: Compose,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn example(pixels: Vec<f32>, shape: ImageShape) -> Example<'static> {
        Example {
            pixels: Cow::Owned(pixels),
            shape,
            label: 0,
        }
    }

    const KEY: Key = Key {
        seed: 1,
        epoch: 0,
        index: 0,
    };

    #[test]
    fn pad_surrounds_each_channel_with_its_black() {
        let s = ImageShape {
            channels: 2,
            height: 1,
            width: 2,
        };
        let mut out = vec![];
        Pad(1).apply(
            &example(vec![1., 2., 3., 4.], s),
            &[-1., -2.],
            KEY,
            &mut out,
        );
        #[rustfmt::skip]
        let want = vec![
            -1., -1., -1., -1.,  -1., 1., 2., -1.,  -1., -1., -1., -1.,
            -2., -2., -2., -2.,  -2., 3., 4., -2.,  -2., -2., -2., -2.,
        ];
        assert_eq!(out, want);
        assert_eq!(Pad(1).output_shape(s).numel(), want.len());
    }

    #[test]
    fn compose_chains_shapes_and_values_and_empty_is_identity() {
        let s = ImageShape {
            channels: 1,
            height: 1,
            width: 1,
        };
        let ex = example(vec![5.], s);
        let two = Compose(vec![Arc::new(Pad(1)), Arc::new(Pad(1))]);
        let mut a = vec![];
        two.apply(&ex, &[0.], KEY, &mut a);
        let mut b = vec![];
        Pad(2).apply(&ex, &[0.], KEY, &mut b);
        assert_eq!(a, b);
        assert_eq!(two.output_shape(s), Pad(2).output_shape(s));
        let mut c = vec![];
        Compose::default().apply(&ex, &[0.], KEY, &mut c);
        assert_eq!(c, vec![5.]);
    }
}
