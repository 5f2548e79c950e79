//! `retain_freed_memory` (its own test binary: it changes the process's allocator): a freed
//! activation-sized buffer is reused without page faults, on the main thread and on
//! workers, and blocks larger than a thread arena's heap are still served from other threads.

fn minor_faults() -> i64 {
    // SAFETY: getrusage fills the struct we pass.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u.ru_minflt
    }
}

/// Allocate and touch `bytes`, then free them.
fn touch(bytes: usize) {
    let v = vec![1u8; bytes];
    std::hint::black_box(&v);
}

#[test]
fn freed_big_buffers_are_reused_without_faults_and_threads_still_allocate() {
    iterand_kernels::retain_freed_memory();
    let size = 48 << 20; // above glibc's largest mmap threshold (32 MiB)
    touch(size);
    let before = minor_faults();
    touch(size);
    let faults = minor_faults() - before;
    // Fresh pages would be 12,288 faults of 4 KiB; reused memory takes none.
    assert!(
        faults < 1_000,
        "{faults} page faults re-allocating a freed 48 MiB buffer"
    );
    // On a worker thread, with 40 MiB still held: in a thread arena of its own the 48 MiB
    // would need a second 64 MiB heap, which glibc unmaps as soon as it empties, so every
    // re-allocation would fault it in afresh (12,288 faults); one shared arena reuses it.
    let faults = std::thread::spawn(move || {
        let held = vec![1u8; 40 << 20];
        touch(size);
        let before = minor_faults();
        touch(size);
        std::hint::black_box(&held);
        minor_faults() - before
    })
    .join()
    .unwrap();
    assert!(
        faults < 1_000,
        "{faults} page faults re-allocating a freed 48 MiB buffer on a worker thread"
    );
    // 200 MiB from another thread: more than a thread arena's 64 MiB heap.
    let ok = std::thread::spawn(|| {
        let v = vec![3u8; 200 << 20];
        v[v.len() - 1] == 3
    })
    .join()
    .unwrap();
    assert!(ok);
}
