//! Datasets as sources: a length and "example i", after burn-dataset's `Dataset` (`get`/`len`).
//!
//! The trainer, the evaluation and the loader read examples only through [`Source`], so a set
//! held in memory (digits, IDX, CIFAR-10) and one read from disk on demand (the ImageFolder of
//! the ImageNet issue) are used the same way. Splits are [`View`]s: index lists over a shared
//! source, never copies of its images.

use std::borrow::Cow;
use std::sync::Arc;

use crate::transform::{Key, Transform};
use crate::{Dataset, Error, Example, ImageShape, Result};

/// A labelled image set that can be read one example at a time, from any thread.
pub trait Source: Send + Sync {
    /// The set's name, for messages.
    fn name(&self) -> &str;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The shape of the stored images (what a transform receives).
    fn shape(&self) -> ImageShape;
    fn classes(&self) -> usize;
    /// The normalised value of a black pixel, per channel: what padding fills with.
    fn black(&self) -> &[f32];
    /// Example `i` (`i < len()`).
    fn get(&self, i: usize) -> Result<Example<'_>>;
    /// Example `i`'s label alone, which a set on disk can give without decoding the image.
    fn label(&self, i: usize) -> Result<u32> {
        Ok(self.get(i)?.label)
    }
    /// Where example `i` comes from, for people and other tools: its file for a set on disk.
    fn origin(&self, i: usize) -> String {
        format!("{} #{i}", self.name())
    }
    /// Example `i` through `transform` as `key` draws it, appended to `out`; returns its
    /// label. A set that decodes files may do both at once (the ImageFolder decodes a
    /// training crop at reduced size); the values depend only on the example and the key.
    fn transformed(
        &self,
        i: usize,
        transform: &dyn Transform,
        key: Key,
        out: &mut Vec<f32>,
    ) -> Result<u32> {
        let ex = self.get(i)?;
        transform.apply(&ex, self.black(), key, out);
        Ok(ex.label)
    }
}

impl Source for Dataset {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn shape(&self) -> ImageShape {
        self.shape
    }
    fn classes(&self) -> usize {
        self.classes
    }
    fn black(&self) -> &[f32] {
        &self.black
    }
    fn get(&self, i: usize) -> Result<Example<'_>> {
        Ok(Example {
            pixels: Cow::Borrowed(self.image(i)),
            shape: self.shape,
            label: self.label(i)?,
        })
    }
    fn label(&self, i: usize) -> Result<u32> {
        self.labels
            .get(i)
            .map(|&l| l as u32)
            .ok_or_else(|| out_of_range(&self.name, i, self.labels.len()))
    }
}

fn out_of_range(name: &str, i: usize, len: usize) -> Error {
    Error::NotFound(format!("{name}: example {i} of {len}"))
}

/// Some examples of a shared source, in a given order: example `j` of the view is example
/// `indices[j]` of the source. Cloning a view shares the source and the index list.
#[derive(Clone)]
pub struct View {
    source: Arc<dyn Source>,
    /// `None`: every example, in the source's order.
    indices: Option<Arc<[u32]>>,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("source", &self.source.name())
            .field("len", &self.len())
            .finish()
    }
}

impl View {
    pub fn len(&self) -> usize {
        Source::len(self)
    }

    pub fn is_empty(&self) -> bool {
        Source::is_empty(self)
    }

    pub fn shape(&self) -> ImageShape {
        self.source.shape()
    }

    pub fn classes(&self) -> usize {
        self.source.classes()
    }

    pub fn name(&self) -> &str {
        self.source.name()
    }

    /// Every example of `source`.
    pub fn all(source: Arc<dyn Source>) -> Self {
        Self {
            source,
            indices: None,
        }
    }

    /// The examples `indices` (positions in this view) of this view, in that order.
    pub fn select(&self, indices: &[u32]) -> Self {
        let mapped: Arc<[u32]> = match &self.indices {
            None => indices.into(),
            Some(own) => indices.iter().map(|&j| own[j as usize]).collect(),
        };
        Self {
            source: self.source.clone(),
            indices: Some(mapped),
        }
    }

    /// Every example of the source this view and `other` both select from, when they do.
    pub fn common_source(&self, other: &View) -> Option<View> {
        Arc::ptr_eq(&self.source, &other.source).then(|| View::all(self.source.clone()))
    }

    /// The source's index of example `j` of this view.
    pub fn source_index(&self, j: usize) -> usize {
        self.indices.as_ref().map_or(j, |ix| ix[j] as usize)
    }

    /// Every label, in the view's order.
    pub fn labels(&self) -> Result<Vec<u32>> {
        (0..self.len()).map(|j| self.label(j)).collect()
    }

    /// Every image, concatenated in the view's order (for small sets and tests).
    pub fn images(&self) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(self.len() * self.shape().numel());
        for j in 0..self.len() {
            out.extend_from_slice(&self.get(j)?.pixels);
        }
        Ok(out)
    }

    /// Examples per class.
    pub fn class_counts(&self) -> Result<Vec<usize>> {
        let mut c = vec![0; self.classes()];
        for l in self.labels()? {
            c[l as usize] += 1;
        }
        Ok(c)
    }
}

impl View {
    /// [`source_index`](Self::source_index) of `j`, or the error naming the set when `j` is
    /// past the view's end.
    fn checked_index(&self, j: usize) -> Result<usize> {
        if j >= self.len() {
            return Err(out_of_range(self.name(), j, self.len()));
        }
        Ok(self.source_index(j))
    }
}

impl Source for View {
    fn name(&self) -> &str {
        self.source.name()
    }
    fn len(&self) -> usize {
        self.indices
            .as_ref()
            .map_or(self.source.len(), |ix| ix.len())
    }
    fn shape(&self) -> ImageShape {
        self.source.shape()
    }
    fn classes(&self) -> usize {
        self.source.classes()
    }
    fn black(&self) -> &[f32] {
        self.source.black()
    }
    fn get(&self, j: usize) -> Result<Example<'_>> {
        self.source.get(self.checked_index(j)?)
    }
    fn label(&self, j: usize) -> Result<u32> {
        self.source.label(self.checked_index(j)?)
    }
    fn origin(&self, j: usize) -> String {
        self.source.origin(self.source_index(j))
    }
    fn transformed(
        &self,
        j: usize,
        t: &dyn Transform,
        key: Key,
        out: &mut Vec<f32>,
    ) -> Result<u32> {
        self.source.transformed(self.checked_index(j)?, t, key, out)
    }
}

impl From<Dataset> for View {
    fn from(d: Dataset) -> Self {
        View::all(Arc::new(d))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A synthetic one-pixel set whose image i is the value i (label i mod 10).
    pub(crate) fn numbered(n: usize) -> Dataset {
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
    fn views_compose_their_index_lists_without_copying_images() {
        let all = View::from(numbered(20));
        let a = all.select(&[5, 6, 7, 8]);
        let b = a.select(&[3, 0]);
        assert_eq!(b.len(), 2);
        assert_eq!(b.get(0).unwrap().pixels.as_ref(), &[8.0]);
        assert_eq!(b.get(1).unwrap().pixels.as_ref(), &[5.0]);
        assert_eq!(b.labels().unwrap(), vec![8, 5]);
        assert_eq!(b.source_index(0), 8);
        // the view borrows the source's images
        assert!(matches!(b.get(0).unwrap().pixels, Cow::Borrowed(_)));
    }

    #[test]
    fn reading_past_the_end_is_an_error_naming_the_set() {
        let v = View::from(numbered(3)).select(&[0, 1]);
        let e = v.get(2).unwrap_err().to_string();
        assert!(
            e.contains("synthetic") && e.contains("example 2 of 2"),
            "{e}"
        );
        assert!(numbered(3).label(3).is_err());
    }
}
