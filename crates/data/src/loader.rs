//! Batches assembled on worker threads, delivered in order through a bounded queue.
//!
//! Worker `w` of `W` builds batches `w, w + W, w + 2W, …` and hands each to its own queue of
//! `prefetch` places; the consumer takes batch `k` from queue `k mod W`. So batches arrive in
//! the order asked for, and since every example's transform depends only on its key (seed,
//! epoch, position in the split), a batch is the same bytes whatever the number of workers.
//!
//! Memory: at most `W · (prefetch + 1)` batches exist at once (each queue full, and one being
//! built per worker), plus the one the consumer holds. With `workers = 0` batches are built on
//! the calling thread when asked for, one at a time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use candle_core::{Device, Tensor};

use crate::source::{Source, View};
use crate::transform::{Key, Transform};
use crate::{Error, ImageShape, Result};

/// A batch on the host: images `(len, c, h, w)` and labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub pixels: Vec<f32>,
    pub shape: ImageShape,
    pub labels: Vec<u32>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Images `(b, c, h, w)` f32 and labels `(b,)` u32 on `device`.
    pub fn to_tensors(self, device: &Device) -> Result<(Tensor, Tensor)> {
        let (b, s) = (self.len(), self.shape);
        let x = Tensor::from_vec(self.pixels, (b, s.channels, s.height, s.width), device)?;
        let y = Tensor::from_vec(self.labels, b, device)?;
        Ok((x, y))
    }
}

/// The examples `idx` (positions in `data`) through `transform`, keyed by `seed` and `epoch`.
pub fn assemble(
    data: &dyn Source,
    transform: &dyn Transform,
    idx: &[u32],
    seed: u64,
    epoch: u64,
) -> Result<Batch> {
    let shape = transform.output_shape(data.shape());
    let mut pixels = Vec::with_capacity(idx.len() * shape.numel());
    let mut labels = Vec::with_capacity(idx.len());
    for &index in idx {
        let key = Key { seed, epoch, index };
        labels.push(data.transformed(index as usize, transform, key, &mut pixels)?);
    }
    Ok(Batch {
        pixels,
        shape,
        labels,
    })
}

/// How batches are built: on how many threads, and how far ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loader {
    /// Worker threads; 0 builds each batch on the caller's thread when it is asked for.
    pub workers: usize,
    /// Finished batches each worker may hold before it waits (at least 1).
    pub prefetch: usize,
}

impl Default for Loader {
    /// One worker two batches ahead: enough to hide the in-memory sets' augmentation behind
    /// a training step.
    fn default() -> Self {
        Self {
            workers: 1,
            prefetch: 2,
        }
    }
}

/// What every batch of one pass shares.
#[derive(Clone)]
struct Pass {
    data: View,
    transform: Arc<dyn Transform>,
    batches: Arc<[Vec<u32>]>,
    seed: u64,
    epoch: u64,
}

impl Pass {
    fn build(&self, k: usize) -> Result<Batch> {
        let t = self.transform.as_ref();
        assemble(&self.data, t, &self.batches[k], self.seed, self.epoch)
    }
}

impl Loader {
    /// The batches `batches` (lists of positions in `data`) of one pass, in that order.
    pub fn iter(
        &self,
        data: View,
        transform: Arc<dyn Transform>,
        batches: Vec<Vec<u32>>,
        seed: u64,
        epoch: u64,
    ) -> Batches {
        let pass = Pass {
            data,
            transform,
            batches: batches.into(),
            seed,
            epoch,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (mut queues, mut handles) = (vec![], vec![]);
        for w in 0..self.workers {
            let (tx, rx) = sync_channel(self.prefetch.max(1));
            let (pass, stop) = (pass.clone(), stop.clone());
            let workers = self.workers;
            handles.push(std::thread::spawn(move || {
                for k in (w..pass.batches.len()).step_by(workers) {
                    if stop.load(Ordering::Relaxed) || tx.send(pass.build(k)).is_err() {
                        return;
                    }
                }
            }));
            queues.push(rx);
        }
        Batches {
            pass,
            next: 0,
            queues,
            handles,
            stop,
        }
    }
}

/// One pass's batches, in order. Dropping it early stops the workers.
pub struct Batches {
    pass: Pass,
    next: usize,
    queues: Vec<Receiver<Result<Batch>>>,
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        let k = self.next;
        if k >= self.pass.batches.len() {
            return None;
        }
        self.next += 1;
        if self.queues.is_empty() {
            return Some(self.pass.build(k));
        }
        let q = &self.queues[k % self.queues.len()];
        Some(q.recv().unwrap_or_else(|_| {
            Err(Error::Loader(format!(
                "the worker building batch {k} of {} stopped (it panicked)",
                self.pass.data.name()
            )))
        }))
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // a worker blocked on a full queue wakes with an error once its receiver is gone
        self.queues.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::Compose;
    use crate::Example;
    use crate::{Augment, Dataset};
    use std::sync::atomic::AtomicUsize;

    /// A source that counts how often each example is read.
    struct Counting {
        inner: Dataset,
        reads: Vec<AtomicUsize>,
    }

    impl Source for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn len(&self) -> usize {
            self.inner.len()
        }
        fn shape(&self) -> ImageShape {
            self.inner.shape
        }
        fn classes(&self) -> usize {
            self.inner.classes
        }
        fn black(&self) -> &[f32] {
            &self.inner.black
        }
        fn get(&self, i: usize) -> Result<Example<'_>> {
            self.reads[i].fetch_add(1, Ordering::SeqCst);
            self.inner.get(i)
        }
    }

    fn counting(n: usize) -> Arc<Counting> {
        let shape = ImageShape {
            channels: 3,
            height: 8,
            width: 8,
        };
        let inner = Dataset {
            name: "synthetic".into(),
            shape,
            classes: 10,
            images: (0..n * shape.numel()).map(|v| (v % 89) as f32).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
            black: vec![-1.0; 3],
        };
        let reads = (0..n).map(|_| AtomicUsize::new(0)).collect();
        Arc::new(Counting { inner, reads })
    }

    fn augment() -> Arc<dyn Transform> {
        Arc::new(Augment {
            size: 8,
            ..Augment::cifar10()
        })
    }

    fn epoch(src: &Arc<Counting>, workers: usize, prefetch: usize) -> Vec<Batch> {
        let view = View::all(src.clone());
        let order = crate::batch_order(view.len(), 3, 1);
        let batches = order.chunks(7).map(<[u32]>::to_vec).collect();
        let loader = Loader { workers, prefetch };
        let out = loader.iter(view, augment(), batches, 3, 1);
        out.collect::<Result<_>>().unwrap()
    }

    #[test]
    fn an_epoch_reads_every_example_once_whatever_the_workers() {
        let src = counting(50);
        let one = epoch(&src, 1, 2);
        assert!(src.reads.iter().all(|r| r.load(Ordering::SeqCst) == 1));
        let three = epoch(&src, 3, 1);
        let inline = epoch(&src, 0, 1);
        assert!(src.reads.iter().all(|r| r.load(Ordering::SeqCst) == 3));
        assert_eq!(one.len(), 8);
        assert_eq!(one, three);
        assert_eq!(one, inline);
        // and the batches hold the examples the order names, augmented by their own keys
        let order = crate::batch_order(50, 3, 1);
        let direct = assemble(src.as_ref(), augment().as_ref(), &order[7..14], 3, 1).unwrap();
        assert_eq!(one[1], direct);
    }

    #[test]
    fn dropping_a_pass_early_stops_its_workers() {
        let src = counting(200);
        let view = View::all(src.clone());
        let batches: Vec<Vec<u32>> = (0..200).map(|i| vec![i]).collect();
        let loader = Loader {
            workers: 2,
            prefetch: 1,
        };
        let mut it = loader.iter(view, Arc::new(Compose::default()), batches, 0, 0);
        assert_eq!(it.next().unwrap().unwrap().labels, vec![0]);
        drop(it);
        // each worker holds at most its queue's one batch and the one it was building
        let read: usize = src.reads.iter().map(|r| r.load(Ordering::SeqCst)).sum();
        assert!(read <= 1 + 2 * 2, "{read} examples read");
    }

    #[test]
    fn a_failing_read_reaches_the_consumer_as_an_error() {
        let view = View::from(counting(4).inner.clone()).select(&[0, 1]);
        let batches = vec![vec![0], vec![5]];
        let loader = Loader::default();
        let got: Vec<_> = loader
            .iter(view, Arc::new(Compose::default()), batches, 0, 0)
            .collect();
        assert!(got[0].is_ok());
        let e = got[1].as_ref().unwrap_err().to_string();
        assert!(e.contains("example 5 of 2"), "{e}");
    }
}
