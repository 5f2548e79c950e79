//! Tile transforms written once, run eight lanes at a time, compiled for the CPU at hand.
//!
//! The Winograd transforms walk rows of 2–16 tiles doing a handful of additions per value; left
//! to itself the compiler kept those loops scalar (about five cycles per value written, a fifth
//! of a Conv6 step). A transform is a [`Kernel`] generic over its [`Lane`]: [`sweep_over`] runs it
//! on blocks of sixteen as [`F16`] and then of eight as [`F8`] (arrays the compiler turns into
//! vector registers: one AVX-512 or one AVX register), the last one overhanging, so every width
//! shares one formula (and plain `f32` runs it too, in tests).
//!
//! The crate is built for baseline x86-64 (SSE2, 16 registers), where a tile's sixteen values
//! spill to the stack; [`multiversion!`] compiles a function body again for AVX2 and AVX-512
//! and picks the best the running CPU has, as the `gemm` crate does for its kernels.

use std::ops::{Add, Neg, Sub};

/// Defines `fn` so that its body is compiled three times on x86-64 (baseline, AVX2 + FMA,
/// AVX-512) and each call runs the variant the CPU supports; elsewhere it is a plain function.
/// The body is an `#[inline(always)]` function, so everything it inlines (the [`Kernel`]s)
/// is compiled with the variant's instruction set.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                unsafe fn v4($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v3($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                match $crate::lanes::level() {
                    // SAFETY: the CPU has the features each variant was compiled for.
                    $crate::lanes::Level::V4 => return unsafe { v4($($arg),*) },
                    $crate::lanes::Level::V3 => return unsafe { v3($($arg),*) },
                    $crate::lanes::Level::Base => {}
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// The instruction sets [`multiversion!`] compiles for (x86-64; elsewhere only `Base`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) enum Level {
    Base,
    V3,
    V4,
}

/// A cap on [`level`] for tests, so every variant runs on a CPU that has them all: 0 none,
/// 1 baseline, 2 up to AVX2.
#[cfg(test)]
static CAP: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Runs `f` with [`multiversion!`] functions limited to `cap` (tests only; the cap is
/// process-wide, so concurrent tests merely run another correct variant meanwhile).
#[cfg(test)]
pub(crate) fn with_level_cap<T>(cap: Level, f: impl FnOnce() -> T) -> T {
    use std::sync::atomic::Ordering;
    let code = match cap {
        Level::Base => 1,
        Level::V3 => 2,
        Level::V4 => 0,
    };
    CAP.store(code, Ordering::SeqCst);
    let out = f();
    CAP.store(0, Ordering::SeqCst);
    out
}

/// What the running CPU supports (std caches the detection).
#[inline]
pub(crate) fn level() -> Level {
    let detected = detect();
    #[cfg(test)]
    match CAP.load(std::sync::atomic::Ordering::SeqCst) {
        1 => return Level::Base,
        2 if detected == Level::V4 => return Level::V3,
        _ => {}
    }
    detected
}

fn detect() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return Level::V4;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::V3;
        }
    }
    Level::Base
}

/// A value, or eight consecutive values, that the transforms compute with.
pub(crate) trait Lane:
    Copy + Add<Output = Self> + Sub<Output = Self> + Neg<Output = Self>
{
    /// The lane starting at `s[i]`.
    fn load(s: &[f32], i: usize) -> Self;
    /// Writes the lane to `s[i..]`.
    fn store(self, s: &mut [f32], i: usize);
    /// max(v, 0) per element.
    fn relu(self) -> Self;
    /// `c · v` per element.
    fn scale(self, c: f32) -> Self;
    /// Zero in every element.
    fn zero() -> Self;
}

impl Lane for f32 {
    #[inline(always)]
    fn load(s: &[f32], i: usize) -> f32 {
        s[i]
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], i: usize) {
        s[i] = self;
    }
    #[inline(always)]
    fn relu(self) -> f32 {
        self.max(0.0)
    }
    #[inline(always)]
    fn scale(self, c: f32) -> f32 {
        c * self
    }
    #[inline(always)]
    fn zero() -> f32 {
        0.0
    }
}

/// Elements of an [`F8`].
const WIDTH: usize = 8;

/// `N` consecutive f32 values, which the compiler keeps in vector registers: [`F8`] is one AVX
/// register (two SSE), [`F16`] one AVX-512 register (two AVX).
#[derive(Clone, Copy)]
pub(crate) struct Lanes<const N: usize>([f32; N]);

/// Eight consecutive f32 values.
pub(crate) type F8 = Lanes<WIDTH>;

/// Sixteen consecutive f32 values.
pub(crate) type F16 = Lanes<{ 2 * WIDTH }>;

// Plain indexed loops: closures through `array::from_fn` or `map` were not always inlined in
// the transforms, which then ran as calls per element.
impl<const N: usize> Add for Lanes<N> {
    type Output = Self;
    #[inline(always)]
    fn add(mut self, o: Self) -> Self {
        for i in 0..N {
            self.0[i] += o.0[i];
        }
        self
    }
}

impl<const N: usize> Sub for Lanes<N> {
    type Output = Self;
    #[inline(always)]
    fn sub(mut self, o: Self) -> Self {
        for i in 0..N {
            self.0[i] -= o.0[i];
        }
        self
    }
}

impl<const N: usize> Neg for Lanes<N> {
    type Output = Self;
    #[inline(always)]
    fn neg(mut self) -> Self {
        for i in 0..N {
            self.0[i] = -self.0[i];
        }
        self
    }
}

impl<const N: usize> Lane for Lanes<N> {
    #[inline(always)]
    fn load(s: &[f32], i: usize) -> Self {
        Lanes(s[i..i + N].try_into().expect("N elements"))
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], i: usize) {
        s[i..i + N].copy_from_slice(&self.0);
    }
    #[inline(always)]
    fn relu(mut self) -> Self {
        for i in 0..N {
            self.0[i] = self.0[i].max(0.0);
        }
        self
    }
    #[inline(always)]
    fn scale(mut self, c: f32) -> Self {
        for i in 0..N {
            self.0[i] *= c;
        }
        self
    }
    #[inline(always)]
    fn zero() -> Self {
        Lanes([0.0; N])
    }
}

/// A loop body over element index `i`, at any lane width.
pub(crate) trait Kernel {
    fn run<L: Lane>(&mut self, i: usize);
}

/// `len` rounded up to whole lanes of eight.
#[inline(always)]
pub(crate) fn whole_lanes(len: usize) -> usize {
    len.next_multiple_of(WIDTH)
}

/// Runs `k` on eight-wide lanes covering `0..len`, the last one overhanging up to
/// [`whole_lanes`]`(len)`: for rows of a few tiles this beats finishing one element at a time by
/// far, and the callers lay their buffers out so the overhang reads slack and its results land
/// where later writes (or nothing) go.
///
/// Whole blocks of sixteen go first as [`F16`]: one AVX-512 instruction where eights took two,
/// on rows of 16 and more tiles (32² planes) and the blocks of 32 of F(4×4). Every element's
/// formula is the same at any width, so the values do not depend on how a row was cut.
#[inline(always)]
pub(crate) fn sweep_over<K: Kernel>(len: usize, k: &mut K) {
    let mut i = 0;
    while i + 2 * WIDTH <= len {
        k.run::<F16>(i);
        i += 2 * WIDTH;
    }
    while i < len {
        k.run::<F8>(i);
        i += WIDTH;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Axpy<'a> {
        x: &'a [f32],
        y: &'a mut [f32],
    }

    impl Kernel for Axpy<'_> {
        fn run<L: Lane>(&mut self, i: usize) {
            let x = L::load(self.x, i);
            let v = x + x - L::load(self.y, i);
            (-v).relu().store(self.y, i);
        }
    }

    #[test]
    fn lanes_cover_every_element_and_overhang_only_into_slack() {
        for len in [1, 7, 8, 9, 16, 21, 32, 33, 40] {
            let slack = whole_lanes(len) - len;
            let x: Vec<f32> = (0..len + slack).map(|i| i as f32 - 10.0).collect();
            let mut y: Vec<f32> = (0..len + slack).map(|i| (i % 3) as f32).collect();
            let want: Vec<f32> = x
                .iter()
                .zip(&y)
                .map(|(x, y)| (y - 2.0 * x).max(0.0))
                .collect();
            sweep_over(len, &mut Axpy { x: &x, y: &mut y });
            assert_eq!(y, want, "len {len}");
        }
        // A scalar lane computes the same formula.
        let (x, mut y) = ([3.0f32], [1.0f32]);
        Axpy { x: &x, y: &mut y }.run::<f32>(0);
        assert_eq!(y, [0.0]);
    }
}
