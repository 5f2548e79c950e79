//! Which Winograd variant a 3×3 stride-1 layer takes, F(2×2, 3×3) or F(4×4, 3×3), and the calls
//! that go to the one its tile grid names. The two modules stay unaware of each other's
//! choice; the convolution asks here.

use crate::layout::Geometry;
use crate::winograd::{self, Chunk, Tiles};
use crate::winograd4;
use std::sync::atomic::{AtomicBool, Ordering};

/// Off by default: on this project's 2-core reference machine F(4×4)'s forward is about 8 %
/// faster than F(2×2)'s on 16² and 32² planes but its backward is slower on 32², and whole
/// training steps came out between −11 % and +6 %, within the machine's noise
/// (docs/performance.md). It stays until its transforms make it pay.
static F4: AtomicBool = AtomicBool::new(false);

/// Turns F(4×4, 3×3) on (or back off) for the whole process: with it on, Winograd layers on
/// planes of at least [`F4_MIN_SIDE`] take it. Both variants compute the same convolution.
pub fn set_winograd4(enabled: bool) {
    F4.store(enabled, Ordering::Relaxed);
}

/// Planes smaller than this on a side take F(2×2, 3×3): with few 4×4 tiles per image, the
/// transforms' per-tile work and the 36 thin GEMMs cost more than F(4×4) saves (measured on
/// 8×8 and 4×4 ResNet layers; docs/performance.md).
const F4_MIN_SIDE: usize = 16;

/// The tile grid a Winograd layer of `g` takes: F(4×4, 3×3) on planes of at least
/// [`F4_MIN_SIDE`] when it is on, else F(2×2, 3×3).
pub(crate) fn tiles_for(g: &Geometry) -> Tiles {
    let big = g.h.min(g.w) >= F4_MIN_SIDE;
    let m = if big && F4.load(Ordering::Relaxed) {
        4
    } else {
        2
    };
    Tiles::of(m, g.h, g.w)
}

/// The transformed kernel of `w (O, C, 3, 3)` for `tiles`' variant (see [`winograd::transform_kernel`]).
pub(crate) fn kernel_for(tiles: Tiles, w: &[f32], o: usize, c: usize, flip: bool) -> Vec<f32> {
    let mut u = vec![0f32; tiles.xi() * o * c];
    if tiles.m == 4 {
        winograd4::transform_kernel(w, o, c, flip, &mut u);
    } else {
        winograd::transform_kernel(w, o, c, flip, &mut u);
    }
    u
}

/// The transforms of `tiles`' variant.
fn transforms(tiles: Tiles) -> &'static winograd::Transforms {
    if tiles.m == 4 {
        &winograd4::F4
    } else {
        &winograd::F2
    }
}

/// [`winograd::convolve_chunk`] in the chunk's variant.
pub(crate) fn convolve(x: &[f32], u: &[f32], chunk: Chunk, relu: bool, y: &mut [f32]) {
    winograd::convolve_chunk(x, u, chunk, relu, y, transforms(chunk.tiles));
}

/// [`winograd::accumulate_kernel_gradient`] in the chunk's variant.
pub(crate) fn accumulate(x: &[f32], dy: &[f32], chunk: Chunk, du: &mut [f32]) {
    winograd::accumulate_kernel_gradient(x, dy, chunk, du, transforms(chunk.tiles));
}

/// [`winograd::kernel_gradient`] in `tiles`' variant.
pub(crate) fn gradient_for(tiles: Tiles, du: &[f32], o: usize, c: usize, dw: &mut [f32]) {
    if tiles.m == 4 {
        winograd4::kernel_gradient(du, o, c, dw);
    } else {
        winograd::kernel_gradient(du, o, c, dw);
    }
}
