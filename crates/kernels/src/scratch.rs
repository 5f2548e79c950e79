//! Per-thread reusable work buffers.
//!
//! Every convolution call needs a handful of multi-MiB buffers per chunk (channel-last images,
//! im2col matrices, GEMM outputs). Fresh allocations cost a memset or a page fault per page, about
//! a tenth of a Conv6 step when measured; the shapes repeat every step, so the buffers are kept
//! per thread and handed out again. Contents are stale: callers overwrite or zero what they use.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Buffers kept per thread; more than a chunk ever holds at once.
const KEEP: usize = 8;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` floats with unspecified contents, returned to the current thread's pool
/// when dropped.
pub(crate) struct Scratch {
    buf: Vec<f32>,
    len: usize,
}

impl Scratch {
    /// Takes the smallest pooled buffer that fits, else grows the largest one.
    pub fn take(len: usize) -> Scratch {
        let mut buf = POOL.with(|p| {
            let mut pool = p.borrow_mut();
            let fit = pool
                .iter()
                .enumerate()
                .filter(|(_, b)| b.len() >= len)
                .min_by_key(|(_, b)| b.len())
                .map(|(i, _)| i);
            let pick = fit.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].len()));
            pick.map(|i| pool.swap_remove(i)).unwrap_or_default()
        });
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        Scratch { buf, len }
    }
}

impl Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[..self.len]
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[..self.len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        // A thread being torn down has no pool left; the buffer is then simply freed.
        let _ = POOL.try_with(|p| {
            let mut pool = p.borrow_mut();
            pool.push(buf);
            if pool.len() > KEEP {
                let smallest = (0..pool.len()).min_by_key(|&i| pool[i].len()).unwrap_or(0);
                pool.swap_remove(smallest);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_sized() {
        let a = Scratch::take(1000);
        assert_eq!(a.len(), 1000);
        let ptr = a.as_ptr();
        drop(a);
        let b = Scratch::take(10);
        assert_eq!(b.len(), 10);
        assert_eq!(b.as_ptr(), ptr, "the pooled buffer is handed out again");
        let c = Scratch::take(2000);
        assert_eq!(c.len(), 2000);
    }
}
