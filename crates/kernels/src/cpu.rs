//! Access to the f32 data behind CPU tensors, shared by the custom ops, and the switch that
//! decides whether they run at all.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Error, Layout, Result, Storage, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};

static FAST_ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the fast kernels off (or back on) for the whole process, so benchmarks and checks can
/// compare against candle's own ops in the same binary.
pub fn set_fast_kernels(enabled: bool) {
    FAST_ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether the ops of this crate take their fast path for CPU f32 tensors.
pub fn fast_kernels_enabled() -> bool {
    FAST_ENABLED.load(Ordering::Relaxed)
}

/// The fast path applies: switched on, CPU, f32.
pub(crate) fn fast_path(t: &Tensor) -> bool {
    fast_kernels_enabled() && t.device().is_cpu() && t.dtype() == DType::F32
}

/// The contiguous f32 slice a layout describes.
pub(crate) fn cpu_slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        return Err(Error::Msg(format!(
            "iterand-kernels: the fast kernels take f32, got {:?}",
            s.dtype()
        )));
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => Err(Error::Msg(
            "iterand-kernels: the fast kernels need contiguous tensors".into(),
        )),
    }
}

/// Runs `f` on the f32 data of a contiguous CPU tensor.
pub(crate) fn with_data<T>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<T>) -> Result<T> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => f(cpu_slice(s, layout)?),
        _ => Err(Error::Msg(
            "iterand-kernels: the fast kernels run on the CPU only".into(),
        )),
    }
}
