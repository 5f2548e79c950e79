//! Convolution passes per shape class, fast kernel vs candle's (and, for 3×3 stride-1 layers,
//! Winograd vs im2col): forward, and forward + backward (both gradients).
//! `cargo bench -p iterand-kernels`.

use candle_core::{Device, Var};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use iterand_kernels::{
    conv2d, max_pool2d, set_fast_kernels, set_winograd, set_winograd4, Conv2dParams,
};

struct Shape {
    name: &'static str,
    b: usize,
    c: usize,
    o: usize,
    hw: usize,
    k: usize,
    stride: usize,
    padding: usize,
}

const SHAPES: &[Shape] = &[
    // Conv6's second layer and the reference shape.
    Shape {
        name: "3x3s1_64to64_32px_b64",
        b: 64,
        c: 64,
        o: 64,
        hw: 32,
        k: 3,
        stride: 1,
        padding: 1,
    },
    // Conv6's fourth layer and a ResNet-18 stage-2 body conv (16×16 planes).
    Shape {
        name: "3x3s1_128to128_16px_b64",
        b: 64,
        c: 128,
        o: 128,
        hw: 16,
        k: 3,
        stride: 1,
        padding: 1,
    },
    // A ResNet-18 stage-4 body conv (4×4 planes).
    Shape {
        name: "3x3s1_512to512_4px_b64",
        b: 64,
        c: 512,
        o: 512,
        hw: 4,
        k: 3,
        stride: 1,
        padding: 1,
    },
    // A ResNet-18 stage-3 body conv (Winograd, 8×8 planes).
    Shape {
        name: "3x3s1_256to256_8px_b64",
        b: 64,
        c: 256,
        o: 256,
        hw: 8,
        k: 3,
        stride: 1,
        padding: 1,
    },
    // ResNet-18 stage 3 downsampling conv and its projection shortcut.
    Shape {
        name: "3x3s2_128to256_16px_b64",
        b: 64,
        c: 128,
        o: 256,
        hw: 16,
        k: 3,
        stride: 2,
        padding: 1,
    },
    Shape {
        name: "1x1s2_128to256_16px_b64",
        b: 64,
        c: 128,
        o: 256,
        hw: 16,
        k: 1,
        stride: 2,
        padding: 0,
    },
    // The ImageNet stem.
    Shape {
        name: "7x7s2_3to64_224px_b8",
        b: 8,
        c: 3,
        o: 64,
        hw: 224,
        k: 7,
        stride: 2,
        padding: 3,
    },
];

fn flops(s: &Shape) -> u64 {
    let out = (s.hw + 2 * s.padding - s.k) / s.stride + 1;
    2 * (s.b * out * out * s.o * s.c * s.k * s.k) as u64
}

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    for s in SHAPES {
        let x = Var::randn(0f32, 1.0, (s.b, s.c, s.hw, s.hw), &dev).unwrap();
        let w = Var::randn(0f32, 0.1, (s.o, s.c, s.k, s.k), &dev).unwrap();
        let p = Conv2dParams {
            stride: s.stride,
            padding: s.padding,
        };
        let mut group = c.benchmark_group(format!("conv/{}", s.name));
        group.sample_size(10);
        group.throughput(Throughput::Elements(flops(s)));
        // 3×3 stride-1 layers take the Winograd path; "im2col" times the path they took before.
        let winograd = s.k == 3 && s.stride == 1 && s.padding == 1;
        // "f4" is F(4×4, 3×3) (on planes of 16 and more) where "fast" takes F(2×2, 3×3).
        let variants: &[(&str, bool, bool, bool)] = if winograd {
            &[
                ("fast", true, true, false),
                ("f4", true, true, true),
                ("im2col", true, false, false),
                ("candle", false, false, false),
            ]
        } else {
            &[("fast", true, true, false), ("candle", false, false, false)]
        };
        for &(label, fast, wino, f4) in variants {
            set_fast_kernels(fast);
            set_winograd(wino);
            set_winograd4(f4);
            group.bench_function(format!("forward/{label}"), |bch| {
                bch.iter(|| conv2d(x.as_tensor(), w.as_tensor(), p).unwrap())
            });
            group.bench_function(format!("forward_backward/{label}"), |bch| {
                bch.iter(|| {
                    let y = conv2d(x.as_tensor(), w.as_tensor(), p).unwrap();
                    y.sum_all().unwrap().backward().unwrap()
                })
            });
        }
        set_fast_kernels(true);
        set_winograd(true);
        set_winograd4(false);
        group.finish();
    }
}

/// The practical ceiling: a square f32 GEMM through candle's matmul (the same `gemm` crate, with
/// its AVX-512 kernels), on the threads rayon is given.
fn bench_gemm(c: &mut Criterion) {
    let dev = Device::Cpu;
    let n = 1024;
    let a = Var::randn(0f32, 1.0, (n, n), &dev).unwrap();
    let b = Var::randn(0f32, 1.0, (n, n), &dev).unwrap();
    let mut group = c.benchmark_group("gemm");
    group.sample_size(20);
    group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
    group.bench_function("f32_1024x1024x1024", |bch| {
        bch.iter(|| a.as_tensor().matmul(b.as_tensor()).unwrap())
    });
    group.finish();
}

/// 2×2 max-pooling of Conv6's first block output (batch 128, 64 × 32 × 32), each way.
fn bench_pool(c: &mut Criterion) {
    let x = Var::randn(0f32, 1.0, (128, 64, 32, 32), &Device::Cpu).unwrap();
    let mut group = c.benchmark_group("max_pool/2x2_64ch_32x32_b128");
    group.sample_size(20);
    group.bench_function("forward", |bch| {
        bch.iter(|| max_pool2d(x.as_tensor(), 2, 2).unwrap())
    });
    group.bench_function("forward_backward", |bch| {
        bch.iter(|| {
            let y = max_pool2d(x.as_tensor(), 2, 2).unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench, bench_gemm, bench_pool);
criterion_main!(benches);
