//! An in-memory labelled image set and its batching.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// One image's shape, channels first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    pub fn numel(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// Per-channel `(x − mean) / std` applied to pixels already scaled to [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// The ImageNet statistics the official code uses for CIFAR-10 too.
    pub fn imagenet() -> Self {
        Self {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }
    }

    /// The normalised value of a black (0) pixel, per channel.
    pub fn black(&self) -> Vec<f32> {
        self.mean
            .iter()
            .zip(&self.std)
            .map(|(m, s)| -m / s)
            .collect()
    }

    pub fn grey(mean: f32, std: f32) -> Self {
        Self {
            mean: vec![mean],
            std: vec![std],
        }
    }

    /// Normalise `pixels` (channels-first images of `shape`, values in [0, 1]) in place.
    pub fn apply(&self, pixels: &mut [f32], shape: ImageShape) {
        let plane = shape.height * shape.width;
        for img in pixels.chunks_mut(shape.numel()) {
            for (c, ch) in img.chunks_mut(plane).enumerate() {
                let (m, s) = (self.mean[c], self.std[c]);
                ch.iter_mut().for_each(|v| *v = (*v - m) / s);
            }
        }
    }

    /// The inverse of [`apply`](Self::apply): normalised values back to [0, 1], in place.
    pub fn undo(&self, pixels: &mut [f32], shape: ImageShape) {
        let plane = shape.height * shape.width;
        for img in pixels.chunks_mut(shape.numel()) {
            for (c, ch) in img.chunks_mut(plane).enumerate() {
                let (m, s) = (self.mean[c], self.std[c]);
                ch.iter_mut().for_each(|v| *v = *v * s + m);
            }
        }
    }
}

/// Normalised images and labels, held on the host.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub name: String,
    pub shape: ImageShape,
    pub classes: usize,
    /// `len · shape.numel()` values, image after image, channels first.
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    /// The normalised value of a black pixel, per channel: what padding fills with, as
    /// torchvision's `Pad` (zeros) does before normalisation.
    pub black: Vec<f32>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.shape.numel();
        &self.images[i * n..(i + 1) * n]
    }

    /// The examples at `idx`, in that order.
    pub fn subset(&self, idx: &[u32], name: &str) -> Dataset {
        let n = self.shape.numel();
        let mut images = Vec::with_capacity(idx.len() * n);
        let mut labels = Vec::with_capacity(idx.len());
        for &i in idx {
            images.extend_from_slice(self.image(i as usize));
            labels.push(self.labels[i as usize]);
        }
        Dataset {
            name: name.to_string(),
            shape: self.shape,
            classes: self.classes,
            images,
            labels,
            black: self.black.clone(),
        }
    }

    /// Examples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }
}

/// One labelled example: normalised pixels, channels first.
#[derive(Clone, Debug, PartialEq)]
pub struct Example<'a> {
    pub pixels: Cow<'a, [f32]>,
    pub shape: ImageShape,
    pub label: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_inverts_apply() {
        let shape = ImageShape {
            channels: 3,
            height: 2,
            width: 2,
        };
        let raw: Vec<f32> = (0..24).map(|v| v as f32 / 23.0).collect();
        let mut px = raw.clone();
        let n = Normalization::imagenet();
        n.apply(&mut px, shape);
        assert!(
            (px[4] - (4.0 / 23.0 - 0.456) / 0.224).abs() < 1e-6,
            "{}",
            px[4]
        );
        n.undo(&mut px, shape);
        assert!(px.iter().zip(&raw).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn normalization_per_channel() {
        let shape = ImageShape {
            channels: 3,
            height: 1,
            width: 2,
        };
        let mut px = vec![0.485, 1.0, 0.456, 0.0, 0.406, 0.5];
        Normalization::imagenet().apply(&mut px, shape);
        assert!(px[0].abs() < 1e-6 && px[2].abs() < 1e-6 && px[4].abs() < 1e-6);
        assert!((px[1] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        assert!((px[3] - (0.0 - 0.456) / 0.224).abs() < 1e-5);
        assert!((px[5] - (0.5 - 0.406) / 0.225).abs() < 1e-5);
    }

    #[test]
    fn subset_gathers_in_order() {
        let d = Dataset {
            name: "t".into(),
            shape: ImageShape {
                channels: 1,
                height: 1,
                width: 2,
            },
            classes: 3,
            images: vec![0., 1., 10., 11., 20., 21.],
            labels: vec![0, 1, 2],
            black: vec![-1.0],
        };
        let s = d.subset(&[2, 0], "s");
        assert_eq!(s.images, vec![20., 21., 0., 1.]);
        assert_eq!(s.labels, vec![2, 0]);
        assert_eq!(d.class_counts(), vec![1, 1, 1]);
    }
}
