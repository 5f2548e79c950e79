//! Keeping freed activation memory in the process.
//!
//! A training step allocates and frees dozens of activation-sized buffers (tens of MiB each).
//! glibc hands buffers above its mmap threshold back to the kernel on free, so the next step
//! page-faults them in again, zeroed: measured on a Conv6 step, sys time 3.3 s of 21 s CPU and
//! 10–15 % of the wall time. Binaries call [`retain_freed_memory`] once at start-up.

/// Stops glibc from serving large blocks with mmap and from trimming its heap, so freed buffers
/// are reused rather than returned to the kernel and faulted in again. Raising the mmap
/// threshold is not enough: its maximum is 32 MiB, exactly one Conv6 activation at batch 128
/// (measured: 352k page faults in a 6-step Conv6 bench with the threshold raised, 139k with mmap
/// off; median images/s against PyTorch 0.71 → 0.76, peak RSS 466 → 478 MiB; ResNet-18 1.37M →
/// 0.47M faults, RSS +0.6 %). Memory in use is unchanged; the peak resident size can grow by
/// what the allocator keeps. A no-op on other C libraries.
///
/// All threads share the main arena too (`M_ARENA_MAX` 1): a worker thread's own arena lives
/// in 64 MiB heaps that glibc unmaps whenever one empties, whatever the trim threshold, and the
/// kernels' scratch buffers and weight-gradient accumulators emptied them every step (measured:
/// a 4-step ResNet-18 bench took 714k page faults, and the unmapping's TLB shootdowns and the
/// faults' page clearing were 10 % of its samples). The allocations are few and large, so the
/// one lock costs nothing measurable.
pub fn retain_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator tunables; called before heavy allocation.
        // With mmap off and one arena, every block comes from the main arena's heap.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
            libc::mallopt(libc::M_MMAP_MAX, 0);
        }
    }
}

/// A vector of `len` floats filled in parallel, `piece` floats at a time: `write(index, piece)`
/// gets each piece (the last may be shorter) zeroed just before, while it sits in cache, and
/// overwrites what it computes. `vec![0.0; len]` zeroed the whole activation in a pass of its
/// own first (glibc's calloc memsets reused heap memory, for large blocks with non-temporal
/// stores that the writes then fetched back from memory).
pub(crate) fn filled_by_pieces(
    len: usize,
    piece: usize,
    write: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    use rayon::prelude::*;
    let mut v: Vec<f32> = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(piece.max(1))
        .enumerate()
        .for_each(|(i, p)| write(i, zeroed(p)));
    // SAFETY: the pieces cover the first `len` elements, and `zeroed` initialised each of them.
    unsafe { v.set_len(len) };
    v
}

/// Zeroes `p` and returns it as the floats it now holds.
pub(crate) fn zeroed(p: &mut [std::mem::MaybeUninit<f32>]) -> &mut [f32] {
    for x in p.iter_mut() {
        x.write(0.0);
    }
    // SAFETY: every element was just initialised, and MaybeUninit<f32> has f32's layout.
    unsafe { &mut *(p as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_vector_and_start_from_zero() {
        for (len, piece) in [(0, 4), (1, 4), (10, 3), (12, 4), (1000, 1 << 15)] {
            let v = filled_by_pieces(len, piece, |i, p| {
                assert!(p.iter().all(|&x| x == 0.0) && p.len() <= piece);
                p.iter_mut().step_by(2).for_each(|x| *x = i as f32 + 1.0);
            });
            let want: Vec<f32> = (0..len)
                .map(|j| {
                    if (j % piece) % 2 == 0 {
                        (j / piece) as f32 + 1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            assert_eq!(v, want, "len {len}, piece {piece}");
        }
    }
}
