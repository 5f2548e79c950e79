//! The ImageNet transforms on 8-bit RGB, as PIL and torchvision run them: a crop box resampled
//! with PIL's antialiased bilinear filter (fast_image_resize's SIMD convolution, fixed point,
//! 8-bit between its two passes and at the end, as PIL's is), then `ToTensor` and the
//! normalisation, channels first.
//!
//! A [`Resample`] describes the transform geometrically, so a source that decodes files can
//! decode a training crop at reduced size (libjpeg-turbo's DCT scaling, [`Resample::eighths`])
//! and resample the same box of the smaller image. The f32 code in `augment.rs` stays the
//! reference, and the in-memory sets' path.

use std::cell::RefCell;

use fast_image_resize::images::{CroppedImage, Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::jpeg::{scaled, Rgb8};
use crate::Normalization;

/// One axis of a [`Resample`]: source pixels `start..start + len` resampled onto `size`
/// outputs, of which `keep` outputs from `skip` are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    pub start: usize,
    pub len: usize,
    pub size: usize,
    pub skip: usize,
    pub keep: usize,
}

impl Axis {
    /// The box `start..start + len` resized onto `size` outputs, all kept.
    pub fn crop(start: usize, len: usize, size: usize) -> Self {
        Self {
            start,
            len,
            size,
            skip: 0,
            keep: size,
        }
    }

    /// Whether the box decoded at `eighths`/8 still has [`SOURCE_PER_OUTPUT`] source pixels
    /// per output.
    fn fits(&self, eighths: u32) -> bool {
        self.len * eighths as usize >= SOURCE_PER_OUTPUT * 8 * self.size
    }

    /// In an image of side `n` decoded at `eighths`/8: the whole pixels the filter may read
    /// (the box's, or the image's when `clip` is false) as (first, count), and the kept
    /// outputs' source span inside them as (offset, length), in (fractional) scaled pixels.
    fn source(&self, n: usize, eighths: u32, clip: bool) -> ((u32, u32), (f64, f64)) {
        let f = eighths as f64 / 8.0;
        let per_output = self.len as f64 / self.size as f64;
        let lo = (self.start as f64 + self.skip as f64 * per_output) * f;
        let len = self.keep as f64 * per_output * f;
        let side = scaled(n, eighths);
        let (first, end) = if clip {
            let first = ((self.start as f64 * f).floor() as usize).min(side - 1);
            let end = (((self.start + self.len) as f64 * f).ceil() as usize).clamp(first + 1, side);
            (first, end)
        } else {
            (0, side)
        };
        let (count, offset) = ((end - first) as f64, (lo - first as f64).max(0.0));
        // in exact arithmetic offset + len ≤ count; the floating point may pass it by an ulp
        let span = (first as u32, (end - first) as u32);
        (span, (offset, len.min(count - offset)))
    }
}

/// A crop-and-resize transform, per axis, and whether the output is mirrored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resample {
    pub rows: Axis,
    pub cols: Axis,
    pub flip: bool,
    /// The filter reads only the box (a crop, then a resize: torchvision's RandomResizedCrop),
    /// not the whole image (a resize, then a crop: Resize + CenterCrop).
    pub crop_first: bool,
    /// The source may be decoded at reduced size (training crops; never the evaluation).
    pub dct_scaling: bool,
}

/// The libjpeg-turbo scales (in eighths) a crop may be decoded at: those with SIMD inverse
/// DCTs, which decode faster than full size (3/8, 5/8, 6/8 and 7/8 decode slower than 8/8:
/// docs/performance.md, bench_decode). 1/8 keeps only each block's mean, a box filter on the
/// file's 8-pixel grid, and moved single crops by up to 1.15 grey levels even at 2×.
const FAST_EIGHTHS: [u32; 2] = [2, 4];

/// Source pixels per output a DCT-scaled box must keep on both axes. At 1× the reduced
/// image is resampled almost 1:1 and the crops moved by 1.2–1.8 grey levels on average from
/// full-size decoding; from 2× on by at most 1 in any crop (docs/performance.md).
pub const SOURCE_PER_OUTPUT: usize = 2;

impl Resample {
    /// The smallest fast DCT scale at which the box keeps [`SOURCE_PER_OUTPUT`] source pixels
    /// per output on both axes, so the antialiased resize still averages and loses nothing
    /// that full-size decoding would keep; 8 (full size) otherwise and for the evaluation.
    pub fn eighths(&self) -> u32 {
        if !self.dct_scaling {
            return 8;
        }
        FAST_EIGHTHS
            .into_iter()
            .find(|&k| self.rows.fits(k) && self.cols.fits(k))
            .unwrap_or(8)
    }
}

thread_local! {
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// `img` (the file decoded at `eighths`/8 of its full size `full` = (height, width)) through
/// `plan`, then `ToTensor` and `norm`: appends 3 channel planes of `plan`'s kept outputs.
pub(crate) fn resample_rgb8(
    img: &Rgb8,
    full: (usize, usize),
    eighths: u32,
    plan: &Resample,
    norm: &Normalization,
    out: &mut Vec<f32>,
) -> Result<(), String> {
    let (h, w) = (img.height as u32, img.width as u32);
    let src = ImageRef::new(w, h, &img.pixels, PixelType::U8x3).map_err(|e| e.to_string())?;
    let ((top, rows), (y0, dy)) = plan.rows.source(full.0, eighths, plan.crop_first);
    let ((left, cols), (x0, dx)) = plan.cols.source(full.1, eighths, plan.crop_first);
    let region = CroppedImage::new(&src, left, top, cols, rows).map_err(|e| e.to_string())?;
    let (kh, kw) = (plan.rows.keep, plan.cols.keep);
    let mut dst = Image::new(kw as u32, kh as u32, PixelType::U8x3);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(x0, y0, dx, dy);
    RESIZER
        .with(|r| r.borrow_mut().resize(&region, &mut dst, &options))
        .map_err(|e| e.to_string())?;
    to_tensor(dst.buffer(), kw, plan.flip, norm, out);
    Ok(())
}

/// Interleaved 8-bit RGB rows of `width` pixels to normalised planes, mirrored if `flip`:
/// `(v / 255 − mean) / std`, torchvision's `ToTensor` then `Normalize`, by table.
fn to_tensor(rgb: &[u8], width: usize, flip: bool, norm: &Normalization, out: &mut Vec<f32>) {
    out.reserve(rgb.len());
    for c in 0..3 {
        let (m, s) = (norm.mean[c], norm.std[c]);
        let table: Vec<f32> = (0..=255u8).map(|v| (v as f32 / 255.0 - m) / s).collect();
        for row in rgb.chunks_exact(3 * width) {
            let at = |x: usize| table[row[3 * x + c] as usize];
            if flip {
                out.extend((0..width).rev().map(at));
            } else {
                out.extend((0..width).map(at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(start: usize, len: usize, size: usize) -> Resample {
        Resample {
            rows: Axis::crop(start, len, size),
            cols: Axis::crop(0, 1000, size),
            flip: false,
            crop_first: true,
            dct_scaling: true,
        }
    }

    #[test]
    fn a_crop_is_decoded_at_the_smallest_fast_scale_keeping_two_pixels_per_output() {
        // 16 outputs: 1/4 needs a box of 128 pixels, 1/2 one of 64
        assert_eq!(train(0, 128, 16).eighths(), 2);
        assert_eq!(train(0, 127, 16).eighths(), 4);
        assert_eq!(train(0, 64, 16).eighths(), 4);
        assert_eq!(train(0, 63, 16).eighths(), 8);
        let eval = Resample {
            dct_scaling: false,
            ..train(0, 1000, 16)
        };
        assert_eq!(eval.eighths(), 8);
    }

    #[test]
    fn the_box_maps_into_the_scaled_image_by_hand() {
        // box 13..113 of 500 at 1/4: pixels 3.25..28.25 of 125; the filter reads 3..29
        let a = Axis::crop(13, 100, 10);
        assert_eq!(a.source(500, 2, true), ((3, 26), (0.25, 25.0)));
        // at full size, the box itself
        assert_eq!(a.source(500, 8, true), ((13, 100), (0.0, 100.0)));
        // Resize(256) of 375 + CenterCrop(224): outputs 16..240 of 256, read from the whole
        // side: source 16·375/256 = 23.4375 for 224·375/256 = 328.125 pixels
        let eval = Axis {
            start: 0,
            len: 375,
            size: 256,
            skip: 16,
            keep: 224,
        };
        assert_eq!(eval.source(375, 8, false), ((0, 375), (23.4375, 328.125)));
    }
}
