//! A masked Conv6 forward + backward (batch 128, 3×32×32, p = 0.5, score mode) on the CPU:
//! the cost every CIFAR-10 Conv6 training step pays before the optimizer.

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use iterand_masking::{MaskConfig, Mode, ParamStore};
use iterand_models::{build, Arch, InputShape, ModelSpec};
use iterand_randomizer::InitMode;

fn bench_conv6(c: &mut Criterion) {
    let store = ParamStore::new(1, Device::Cpu);
    let spec = ModelSpec {
        arch: Arch::Conv6,
        width: 1.0,
        input: InputShape {
            channels: 3,
            height: 32,
            width: 32,
        },
        classes: 10,
        stem: None,
        bn_replicas: 1,
        bn_type: None,
    };
    let cfg = MaskConfig::new(Mode::Scores, 0.5, InitMode::KaimingUniform).unwrap();
    let net = build(&spec, cfg, &store.builder()).unwrap();
    let x = Tensor::ones((128, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
    let y = Tensor::zeros(128, DType::U32, &Device::Cpu).unwrap();
    let mut g = c.benchmark_group("conv6");
    g.sample_size(10);
    g.bench_function("forward_backward_b128", |b| {
        b.iter(|| {
            let logits = net.forward_t(&x, true).unwrap();
            let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
            loss.backward().unwrap()
        })
    });
    g.bench_function("forward_b128", |b| {
        b.iter(|| net.forward_t(&x, true).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_conv6);
criterion_main!(benches);
