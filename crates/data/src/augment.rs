//! CIFAR-10 training augmentation exactly as the official code composes it:
//! zero `Pad(4)` → `RandomResizedCrop(32, scale = (0.08, 1), ratio = (3/4, 4/3))` with bilinear
//! resampling → `RandomHorizontalFlip` → normalisation.
//!
//! Works on normalised images: padding fills with the normalised black value, and cropping,
//! resampling (convex weights) and flipping commute with the per-channel affine normalisation,
//! so the result equals augmenting the raw pixels and normalising after. Every random number of
//! example i in epoch e comes from the stream (seed, Augment, i, e), so a batch's augmentation
//! depends neither on the batch's order nor on the thread that computes it.

use iterand_randomizer::{Purpose, Stream};

use crate::resize::{Axis, Resample};
use crate::source::Source;
use crate::transform::{Key, Transform};
use crate::{ImageShape, Result};

/// The crop box inside the padded image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

/// Which crop a CIFAR-10 training augmentation takes (config key `augment_crop`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AugmentCrop {
    /// The official IteRand code's `Pad(4)` + `RandomResizedCrop(32)` ([`Augment::cifar10`]).
    #[default]
    RandomResized,
    /// hidden-networks' `RandomCrop(32, padding = 4)` ([`Augment::cifar10_random_crop`]), the
    /// transform of the later methods' codes.
    Random,
}

impl AugmentCrop {
    /// Every variant, in declaration order (derived).
    pub const ALL: &'static [AugmentCrop] = <AugmentCrop as strum::VariantArray>::VARIANTS;

    /// The name config files use.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether this is the default, which configs leave unwritten.
    pub fn is_default(&self) -> bool {
        *self == AugmentCrop::RandomResized
    }
}

/// The augmentation's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    pub pad: usize,
    pub size: usize,
    pub scale: (f64, f64),
    pub ratio: (f64, f64),
    pub flip: bool,
}

impl Augment {
    /// The official CIFAR-10 training transform.
    pub fn cifar10() -> Self {
        Self {
            pad: 4,
            size: 32,
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip: true,
        }
    }

    /// hidden-networks' CIFAR-10 training transform, which biprop, Iterative Weight Recycling
    /// and global edge-popup keep: `RandomCrop(size, padding = pad)` and a flip. A crop of
    /// exactly size² pixels at ratio 1 is `RandomCrop`'s box (offsets uniform over the padded
    /// image), and resampling it to its own size copies it.
    pub fn random_crop(pad: usize, size: usize) -> Self {
        let s = (size * size) as f64 / ((size + 2 * pad) * (size + 2 * pad)) as f64;
        Self {
            pad,
            size,
            scale: (s, s),
            ratio: (1.0, 1.0),
            flip: true,
        }
    }

    /// [`Self::random_crop`] with the official CIFAR-10 padding and size.
    pub fn cifar10_random_crop() -> Self {
        let c = Self::cifar10();
        Self::random_crop(c.pad, c.size)
    }

    /// torchvision's `RandomResizedCrop.get_params`: up to ten tries at a random area and
    /// log-uniform aspect ratio, else a central crop clamped to the ratio range.
    pub fn crop_box(&self, height: usize, width: usize, s: &Stream) -> CropBox {
        let area = (height * width) as f64;
        let (lr0, lr1) = (self.ratio.0.ln(), self.ratio.1.ln());
        for attempt in 0..10u32 {
            let u = |k: u32| s.uniform(4 * attempt + k);
            let target = area * (self.scale.0 + (self.scale.1 - self.scale.0) * u(0));
            let aspect = (lr0 + (lr1 - lr0) * u(1)).exp();
            let w = (target * aspect).sqrt().round() as usize;
            let h = (target / aspect).sqrt().round() as usize;
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = s.below(4 * attempt + 2, (height - h + 1) as u64) as usize;
                let left = s.below(4 * attempt + 3, (width - w + 1) as u64) as usize;
                return CropBox {
                    top,
                    left,
                    height: h,
                    width: w,
                };
            }
        }
        let in_ratio = width as f64 / height as f64;
        let (h, w) = if in_ratio < self.ratio.0 {
            ((width as f64 / self.ratio.0).round() as usize, width)
        } else if in_ratio > self.ratio.1 {
            (height, (height as f64 * self.ratio.1).round() as usize)
        } else {
            (height, width)
        };
        CropBox {
            top: (height - h) / 2,
            left: (width - w) / 2,
            height: h,
            width: w,
        }
    }

    /// The crop box in a (padded) image of `height`×`width` and whether to mirror it, as
    /// `key` draws them.
    fn draw(&self, height: usize, width: usize, key: Key) -> (CropBox, bool) {
        let s = Stream::new(key.seed, Purpose::Augment, key.index, key.epoch as u32);
        let bx = self.crop_box(height, width, &s);
        (bx, self.flip && s.uniform(1000) < 0.5)
    }

    /// Augment one image of `shape` (normalised, channels first) as `key` draws it, appending
    /// `channels·size·size` values to `out`.
    pub fn apply_to(
        &self,
        img: &[f32],
        shape: ImageShape,
        black: &[f32],
        key: Key,
        out: &mut Vec<f32>,
    ) {
        let sh = shape;
        let (ph, pw) = (sh.height + 2 * self.pad, sh.width + 2 * self.pad);
        let (bx, flip) = self.draw(ph, pw, key);
        let plane = sh.height * sh.width;
        // the weights depend on the crop box only: once per image, shared by the channels
        let rows = resample_weights(bx.height, self.size, bx.top);
        let mut cols = resample_weights(bx.width, self.size, bx.left);
        if flip {
            cols.reverse();
        }
        let mut padded = Vec::new();
        for c in 0..sh.channels {
            let src = &img[c * plane..(c + 1) * plane];
            if self.pad == 0 {
                resample(&rows, &cols, src, sh.width, out);
                continue;
            }
            // the padded channel, black around the image (small: CIFAR-10 pads 32 to 40)
            padded.clear();
            padded.resize(ph * pw, black[c]);
            for (y, line) in src.chunks_exact(sh.width).enumerate() {
                let at = (y + self.pad) * pw + self.pad;
                padded[at..at + sh.width].copy_from_slice(line);
            }
            resample(&rows, &cols, &padded, pw, out);
        }
    }

    /// The augmented examples `idx` of `data` in `epoch`, as `(b, c, size, size)` values.
    pub fn batch(
        &self,
        data: &dyn Source,
        idx: &[u32],
        seed: u64,
        epoch: u64,
    ) -> Result<(Vec<f32>, ImageShape)> {
        let shape = Transform::output_shape(self, data.shape());
        let mut out = Vec::with_capacity(idx.len() * shape.numel());
        for &i in idx {
            let key = Key {
                seed,
                epoch,
                index: i,
            };
            Transform::apply(self, &data.get(i as usize)?, data.black(), key, &mut out);
        }
        Ok((out, shape))
    }
}

/// The official ImageNet evaluation transform: resize the shorter side to `resize` (bilinear
/// with PIL's antialiasing; the longer side scales to `int(resize·long/short)` as torchvision's
/// `Resize(int)`), then the central `crop`×`crop` (torchvision's rounding of the offsets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResizeCrop {
    pub resize: usize,
    pub crop: usize,
}

impl ResizeCrop {
    /// Figure 3's: 256 then 224.
    pub fn imagenet() -> Self {
        Self {
            resize: 256,
            crop: 224,
        }
    }

    /// The resized size of a side of `n` pixels when the shorter side is `short`.
    fn resized(&self, n: usize, short: usize) -> usize {
        if n == short {
            self.resize
        } else {
            (self.resize as f64 * n as f64 / short as f64) as usize
        }
    }

    /// A side of `n` input pixels: its resized length and the first of the `crop` central
    /// outputs.
    fn window(&self, n: usize, short: usize) -> (usize, usize) {
        let out = self.resized(n, short);
        // Python's round: half to even (341 − 224 = 117 → offset 58, not 59)
        let start = ((out as f64 - self.crop as f64) / 2.0)
            .round_ties_even()
            .max(0.0) as usize;
        (out, start)
    }

    /// The side as an [`Axis`]: the whole side resized, the window kept.
    fn axis(&self, n: usize, short: usize) -> Axis {
        let (size, skip) = self.window(n, short);
        Axis {
            start: 0,
            len: n,
            size,
            skip,
            keep: self.crop.min(size - skip),
        }
    }

    /// Resampling weights of the `crop` central outputs of a side of `n` input pixels.
    fn side(&self, n: usize, short: usize) -> Weights {
        let (out, start) = self.window(n, short);
        let mut w = resample_weights(n, out, 0);
        w.drain(..start.min(w.len()));
        w.truncate(self.crop);
        w
    }
}

impl Transform for Augment {
    fn output_shape(&self, s: ImageShape) -> ImageShape {
        ImageShape {
            channels: s.channels,
            height: self.size,
            width: self.size,
        }
    }

    fn apply(&self, ex: &crate::Example<'_>, black: &[f32], key: Key, out: &mut Vec<f32>) {
        self.apply_to(&ex.pixels, ex.shape, black, key, out);
    }

    /// Without padding, the crop is a box of the image resized to `size`.
    fn resample_plan(&self, s: ImageShape, key: Key) -> Option<Resample> {
        if self.pad != 0 {
            return None;
        }
        let (bx, flip) = self.draw(s.height, s.width, key);
        Some(Resample {
            rows: Axis::crop(bx.top, bx.height, self.size),
            cols: Axis::crop(bx.left, bx.width, self.size),
            flip,
            crop_first: true,
            dct_scaling: true,
        })
    }
}

impl Transform for ResizeCrop {
    fn output_shape(&self, s: ImageShape) -> ImageShape {
        ImageShape {
            channels: s.channels,
            height: self.crop,
            width: self.crop,
        }
    }

    fn apply(&self, ex: &crate::Example<'_>, _: &[f32], _: Key, out: &mut Vec<f32>) {
        let s = ex.shape;
        let short = s.height.min(s.width);
        let (rows, cols) = (self.side(s.height, short), self.side(s.width, short));
        let plane = s.height * s.width;
        for c in 0..s.channels {
            resample(
                &rows,
                &cols,
                &ex.pixels[c * plane..(c + 1) * plane],
                s.width,
                out,
            );
        }
    }

    fn resample_plan(&self, s: ImageShape, _: Key) -> Option<Resample> {
        let short = s.height.min(s.width);
        Some(Resample {
            rows: self.axis(s.height, short),
            cols: self.axis(s.width, short),
            flip: false,
            crop_first: false,
            dct_scaling: false,
        })
    }
}

/// The weights of one output row (or column): source pixels `start`, `start + 1`, … in turn.
#[derive(Clone, Debug, PartialEq)]
struct Taps {
    start: usize,
    w: Vec<f32>,
}

/// One [`Taps`] per output row (or column).
type Weights = Vec<Taps>;

/// Output pixel (r, c) = Σ_y Σ_x wy·wx·plane[y][x] over row r's and column c's taps, summed in
/// that order (which fixes the rounding), appended row by row: the separable resampling both
/// the augmentation and the evaluation transform use. `plane` is one channel, `width` a row.
///
/// A whole output row is accumulated at once, tap by tap: every output still adds its own
/// terms in its own order, so the sums are bit for bit those of one pixel at a time, but the
/// innermost loop runs over the row's outputs without branches. Columns with fewer taps than
/// the widest add zero-weight terms, which leave a finite sum unchanged.
fn resample(rows: &[Taps], cols: &[Taps], plane: &[f32], width: usize, out: &mut Vec<f32>) {
    let taps = cols.iter().map(|c| c.w.len()).max().unwrap_or(0);
    // tap k of every column: its weight (0 past the column's own taps) and source pixel
    let mut wx = vec![0f32; taps * cols.len()];
    let mut ix = vec![0usize; taps * cols.len()];
    for (c, col) in cols.iter().enumerate() {
        for k in 0..taps {
            let at = k * cols.len() + c;
            wx[at] = col.w.get(k).copied().unwrap_or(0.0);
            ix[at] = (col.start + k).min(width - 1);
        }
    }
    let mut acc = vec![0f32; cols.len()];
    out.reserve(rows.len() * cols.len());
    for row in rows {
        acc.fill(0.0);
        for (dy, &wy) in row.w.iter().enumerate() {
            let line = &plane[(row.start + dy) * width..][..width];
            for (w, i) in wx.chunks_exact(cols.len()).zip(ix.chunks_exact(cols.len())) {
                for ((v, &w), &i) in acc.iter_mut().zip(w).zip(i) {
                    *v += wy * w * line[i];
                }
            }
        }
        out.extend_from_slice(&acc);
    }
}

/// Bilinear (triangle-filter) weights mapping `n_in` source pixels starting at `offset` onto
/// `n_out` outputs, as PIL's resampling does: pixel centres aligned, and when shrinking the
/// filter widens by the scale so it averages instead of skipping (antialiasing).
fn resample_weights(n_in: usize, n_out: usize, offset: usize) -> Weights {
    let scale = n_in as f64 / n_out as f64;
    let support = scale.max(1.0);
    (0..n_out)
        .map(|o| {
            let centre = (o as f64 + 0.5) * scale;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = ((centre + support).ceil() as usize).min(n_in);
            let tri = |k: usize| (1.0 - ((k as f64 + 0.5 - centre) / support).abs()).max(0.0);
            // the triangle is positive on one run of pixels: drop the zero ends
            let first = (lo..hi).find(|&k| tri(k) > 0.0).unwrap_or(lo);
            let last = (lo..hi).rev().find(|&k| tri(k) > 0.0).unwrap_or(first);
            let w: Vec<f64> = (first..=last).map(tri).collect();
            let total: f64 = w.iter().sum();
            Taps {
                start: first + offset,
                w: w.into_iter().map(|v| (v / total) as f32).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dataset;

    /// Example 0 of `d` augmented with `seed` in `epoch`.
    fn first(a: &Augment, d: &Dataset, seed: u64, epoch: u64) -> Vec<f32> {
        a.batch(d, &[0], seed, epoch).unwrap().0
    }

    fn image_set(n: usize) -> Dataset {
        let shape = ImageShape {
            channels: 3,
            height: 32,
            width: 32,
        };
        Dataset {
            name: "synthetic".into(),
            shape,
            classes: 10,
            images: (0..n * shape.numel())
                .map(|v| (v % 97) as f32 / 97.0)
                .collect(),
            labels: vec![0; n],
            black: vec![-2.0, -2.5, -3.0],
        }
    }

    #[test]
    fn crop_boxes_stay_inside_and_respect_scale_and_ratio() {
        let a = Augment::cifar10();
        for i in 0..5000 {
            let b = a.crop_box(40, 40, &Stream::new(1, Purpose::Augment, i, 0));
            assert!(b.height >= 1 && b.width >= 1);
            assert!(b.top + b.height <= 40 && b.left + b.width <= 40, "{b:?}");
            let area = (b.height * b.width) as f64 / 1600.0;
            // rounding of w and h moves the area and ratio slightly past the nominal bounds
            assert!((0.06..=1.0).contains(&area), "{b:?}");
            let r = b.width as f64 / b.height as f64;
            assert!((0.6..=1.5).contains(&r), "{b:?}");
        }
    }

    /// `RandomCrop(32, padding = 4)`: every box is 32×32 at one of the 9 × 9 offsets, each
    /// offset appears, and the augmented image is the padded image's window there, copied
    /// (mirrored when flipped), not resampled.
    #[test]
    fn random_crop_copies_a_window_of_the_padded_image() {
        let a = Augment::cifar10_random_crop();
        let mut seen = [[false; 9]; 9];
        for i in 0..2000 {
            let b = a.crop_box(40, 40, &Stream::new(3, Purpose::Augment, i, 0));
            assert_eq!((b.height, b.width), (32, 32), "{b:?}");
            seen[b.top][b.left] = true;
        }
        assert!(seen.iter().flatten().all(|&s| s));
        let d = image_set(1);
        let shape = d.shape;
        for epoch in 0..6 {
            let key = Key {
                seed: 5,
                index: 0,
                epoch,
            };
            let (bx, flip) = a.draw(40, 40, key);
            let mut out = vec![];
            a.apply_to(&d.images, shape, &d.black, key, &mut out);
            for c in 0..3 {
                for y in 0..32 {
                    for x in 0..32 {
                        let (py, px) = (bx.top + y, bx.left + if flip { 31 - x } else { x });
                        let inside = (4..36).contains(&py) && (4..36).contains(&px);
                        let want = if inside {
                            d.images[c * 1024 + (py - 4) * 32 + (px - 4)]
                        } else {
                            d.black[c]
                        };
                        assert_eq!(out[c * 1024 + y * 32 + x], want, "epoch {epoch}");
                    }
                }
            }
        }
    }

    #[test]
    fn same_seed_same_crops_other_epoch_other_crops() {
        let a = Augment::cifar10();
        let d = image_set(4);
        let (x1, shape) = a.batch(&d, &[0, 1, 2, 3], 7, 0).unwrap();
        let (x2, _) = a.batch(&d, &[0, 1, 2, 3], 7, 0).unwrap();
        let (x3, _) = a.batch(&d, &[0, 1, 2, 3], 7, 1).unwrap();
        assert_eq!(
            shape,
            ImageShape {
                channels: 3,
                height: 32,
                width: 32
            }
        );
        assert_eq!(x1.len(), 4 * 3 * 32 * 32);
        assert_eq!(x1, x2);
        assert_ne!(x1, x3);
        // an example's augmentation does not depend on its position in the batch
        let (y, _) = a.batch(&d, &[2, 0], 7, 0).unwrap();
        assert_eq!(&y[3072..6144], &x1[..3072]);
    }

    #[test]
    fn full_crop_without_padding_is_the_identity_and_flip_mirrors() {
        let d = image_set(1);
        let a = Augment {
            pad: 0,
            size: 32,
            scale: (1.0, 1.0),
            ratio: (1.0, 1.0),
            flip: false,
        };
        let out = first(&a, &d, 1, 0);
        for (x, y) in out.iter().zip(d.image(0)) {
            assert!((x - y).abs() < 1e-6);
        }
        // find an epoch whose coin flips, and check the mirror image
        let f = Augment { flip: true, ..a };
        let flipped = (0..20)
            .map(|e| first(&f, &d, 1, e))
            .find(|o| o != &out)
            .expect("a flip within 20 epochs");
        for row in 0..32 {
            for col in 0..32 {
                assert!((flipped[row * 32 + col] - d.image(0)[row * 32 + 31 - col]).abs() < 1e-6);
            }
        }
    }

    /// The resampling as first written: one closure per pixel with the padding test inside,
    /// each output summed over its rows' and columns' taps in order.
    fn reference(a: &Augment, img: &[f32], sh: ImageShape, black: &[f32], key: Key) -> Vec<f32> {
        let s = Stream::new(key.seed, Purpose::Augment, key.index, key.epoch as u32);
        let bx = a.crop_box(sh.height + 2 * a.pad, sh.width + 2 * a.pad, &s);
        let flip = a.flip && s.uniform(1000) < 0.5;
        let pairs = |t: &Taps| -> Vec<(usize, f32)> {
            t.w.iter()
                .enumerate()
                .map(|(k, &w)| (t.start + k, w))
                .collect()
        };
        let rows: Vec<_> = resample_weights(bx.height, a.size, bx.top)
            .iter()
            .map(pairs)
            .collect();
        let mut cols: Vec<_> = resample_weights(bx.width, a.size, bx.left)
            .iter()
            .map(pairs)
            .collect();
        if flip {
            cols.reverse();
        }
        let plane = sh.height * sh.width;
        let mut out = vec![];
        for c in 0..sh.channels {
            let px = |y: usize, x: usize| -> f32 {
                let inside =
                    y >= a.pad && x >= a.pad && y < a.pad + sh.height && x < a.pad + sh.width;
                if inside {
                    img[c * plane + (y - a.pad) * sh.width + (x - a.pad)]
                } else {
                    black[c]
                }
            };
            for row in &rows {
                for col in &cols {
                    let mut v = 0.0f32;
                    for &(y, wy) in row {
                        for &(x, wx) in col {
                            v += wy * wx * px(y, x);
                        }
                    }
                    out.push(v);
                }
            }
        }
        out
    }

    #[test]
    fn the_resampling_loop_computes_bit_for_bit_what_the_per_pixel_form_does() {
        let black = [-2.0, -2.5, -3.0];
        for (h, w, pad, size) in [(32, 32, 4, 32), (37, 50, 0, 24), (50, 37, 0, 64)] {
            let sh = ImageShape {
                channels: 3,
                height: h,
                width: w,
            };
            let img: Vec<f32> = (0..sh.numel())
                .map(|v| ((v * 7919) % 1013) as f32 / 97.0 - 5.0)
                .collect();
            let a = Augment {
                pad,
                size,
                ..Augment::cifar10()
            };
            for index in 0..200 {
                let key = Key {
                    seed: 3,
                    epoch: 1,
                    index,
                };
                let mut out = vec![];
                a.apply_to(&img, sh, &black, key, &mut out);
                let want = reference(&a, &img, sh, &black, key);
                assert!(
                    out.iter()
                        .zip(&want)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{h}x{w} {index}"
                );
            }
        }
    }

    #[test]
    fn padding_shows_the_black_value_and_resampling_weights_sum_to_one() {
        for (n_in, n_out) in [(11, 32), (40, 32), (32, 32), (17, 32)] {
            for t in resample_weights(n_in, n_out, 0) {
                let s: f32 = t.w.iter().sum();
                assert!((s - 1.0).abs() < 1e-5);
                assert!(t.start + t.w.len() <= n_in && t.w.iter().all(|&w| w > 0.0));
            }
        }
        // a 4×4 crop that lies inside the 4-pixel padding band is entirely black
        let d = image_set(1);
        let a = Augment {
            pad: 4,
            size: 4,
            scale: (0.01, 0.01),
            ratio: (1.0, 1.0),
            flip: false,
        };
        let mut hits = 0;
        for seed in 0..300 {
            let b = a.crop_box(40, 40, &Stream::new(seed, Purpose::Augment, 0, 0));
            assert_eq!((b.height, b.width), (4, 4));
            let in_band = b.top == 0 || b.left == 0 || b.top == 36 || b.left == 36;
            if in_band {
                let out = first(&a, &d, seed, 0);
                // channel 0's black value is −2
                assert!(
                    out[..16].iter().all(|&v| v == -2.0),
                    "{b:?}: {:?}",
                    &out[..16]
                );
                hits += 1;
            }
        }
        assert!(hits > 5, "only {hits} crops in the band");
    }

    #[test]
    fn resize_crop_scales_the_shorter_side_and_takes_the_centre() {
        let t = ResizeCrop { resize: 4, crop: 2 };
        // an 8×4 (h×w) image whose shorter side is already 4: only the central 2×2 is taken
        let shape = ImageShape {
            channels: 1,
            height: 8,
            width: 4,
        };
        let px: Vec<f32> = (0..32).map(|v| v as f32).collect();
        let ex = crate::Example {
            pixels: px.into(),
            shape,
            label: 0,
        };
        let key = Key {
            seed: 0,
            epoch: 0,
            index: 0,
        };
        let mut out = vec![];
        t.apply(&ex, &[0.0], key, &mut out);
        // no scaling: rows 3..5, columns 1..3 of the image
        assert_eq!(out, vec![13., 14., 17., 18.]);
        // halving (shorter side 4 → 2): the 4×2 result is the crop, averaged over the source
        let half = ResizeCrop { resize: 2, crop: 2 };
        let mut out = vec![];
        half.apply(&ex, &[0.0], key, &mut out);
        assert_eq!(out.len(), 4);
        assert!(out[0] > 4.0 && out[0] < 20.0, "{out:?}");
        assert_eq!(t.output_shape(shape).numel(), 4);
    }

    /// torchvision's `RandomResizedCrop.get_params`, transcribed, on an independent generator
    /// (splitmix64): the reference our crop boxes are compared with in distribution.
    fn torchvision_box(a: &Augment, h: usize, w: usize, state: &mut u64) -> CropBox {
        let mut u = || {
            *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let area = (h * w) as f64;
        let (l0, l1) = (a.ratio.0.ln(), a.ratio.1.ln());
        for _ in 0..10 {
            let target = area * (a.scale.0 + (a.scale.1 - a.scale.0) * u());
            let aspect = (l0 + (l1 - l0) * u()).exp();
            let cw = (target * aspect).sqrt().round() as usize;
            let ch = (target / aspect).sqrt().round() as usize;
            if cw > 0 && cw <= w && ch > 0 && ch <= h {
                let top = (u() * (h - ch + 1) as f64) as usize;
                let left = (u() * (w - cw + 1) as f64) as usize;
                return CropBox {
                    top,
                    left,
                    height: ch,
                    width: cw,
                };
            }
        }
        let r = w as f64 / h as f64;
        let (ch, cw) = if r < a.ratio.0 {
            ((w as f64 / a.ratio.0).round() as usize, w)
        } else if r > a.ratio.1 {
            (h, (h as f64 * a.ratio.1).round() as usize)
        } else {
            (h, w)
        };
        CropBox {
            top: (h - ch) / 2,
            left: (w - cw) / 2,
            height: ch,
            width: cw,
        }
    }

    /// Mean area fraction, mean log aspect ratio, fallback rate and mean top offset share.
    fn box_stats(boxes: &[CropBox], h: usize, w: usize, fallback: CropBox) -> [f64; 4] {
        let n = boxes.len() as f64;
        let mean = |f: &dyn Fn(&CropBox) -> f64| boxes.iter().map(f).sum::<f64>() / n;
        [
            mean(&|b| (b.height * b.width) as f64 / (h * w) as f64),
            mean(&|b| (b.width as f64 / b.height as f64).ln()),
            mean(&|b| (*b == fallback) as u8 as f64),
            mean(&|b| b.top as f64 / (h - b.height + 1) as f64),
        ]
    }

    /// The boxes the ImageFolder resamples (the plans', keyed as a loader keys them) for `n`
    /// examples of an `h`×`w` image, and the share of them mirrored.
    fn planned_boxes(a: &Augment, h: usize, w: usize, n: u32) -> (Vec<CropBox>, f64) {
        let shape = ImageShape {
            channels: 3,
            height: h,
            width: w,
        };
        let key = |index| Key {
            seed: 9,
            epoch: 0,
            index,
        };
        let plans: Vec<Resample> = (0..n)
            .map(|i| a.resample_plan(shape, key(i)).unwrap())
            .collect();
        let boxes = plans.iter().map(|p| CropBox {
            top: p.rows.start,
            left: p.cols.start,
            height: p.rows.len,
            width: p.cols.len,
        });
        let flips = plans.iter().filter(|p| p.flip).count() as f64 / n as f64;
        (boxes.collect(), flips)
    }

    #[test]
    fn random_resized_crop_matches_torchvision_in_distribution() {
        let a = Augment {
            pad: 0,
            size: 224,
            ..Augment::cifar10()
        };
        // a typical ImageNet photo, and a narrow one that often falls back
        for (h, w) in [(375usize, 500usize), (500, 120)] {
            let n = 100_000;
            let fallback = {
                let mut never = 0u64;
                let tight = Augment {
                    scale: (2.0, 2.0),
                    ..a
                };
                torchvision_box(&tight, h, w, &mut never)
            };
            let (ours, flips) = planned_boxes(&a, h, w, n);
            // RandomHorizontalFlip's rate, 0.5: sd of a rate of 100,000 draws 0.0016, five of it
            assert!((flips - 0.5).abs() < 0.008, "flip rate {flips}");
            let mut state = 12345;
            let theirs: Vec<CropBox> = (0..n)
                .map(|_| torchvision_box(&a, h, w, &mut state))
                .collect();
            let (o, t) = (
                box_stats(&ours, h, w, fallback),
                box_stats(&theirs, h, w, fallback),
            );
            // sampling error of a difference of two means of 100,000: area sd ≈ 0.27 → 0.0012;
            // log-ratio sd ≈ 0.17 → 0.0008; a 10 % rate → 0.0013; the top share (sd ≈ 0.29) →
            // 0.0013. About five of each.
            let tol = [0.006, 0.004, 0.006, 0.006];
            for k in 0..4 {
                assert!(
                    (o[k] - t[k]).abs() < tol[k],
                    "{h}x{w} stat {k}: ours {o:?} torchvision {t:?}"
                );
            }
            if w < h {
                assert!(
                    t[2] > 0.02,
                    "the narrow image should fall back sometimes: {t:?}"
                );
            }
        }
    }
}
