//! Model shapes, parameter counts against the reference table, and R at the model level.

use candle_core::{DType, Device, Tensor};
use iterand_masking::{MaskConfig, Mode, ParamStore};
use iterand_models::{build, Arch, InputShape, ModelSpec};
use iterand_randomizer::{InitMode, RerandMode, Rerandomizer};

const CIFAR: InputShape = InputShape {
    channels: 3,
    height: 32,
    width: 32,
};

fn spec(arch: Arch, width: f64, input: InputShape) -> ModelSpec {
    ModelSpec {
        arch,
        width,
        input,
        classes: 10,
    }
}

fn scores(p: f64) -> MaskConfig {
    MaskConfig::new(Mode::Scores, p, InitMode::KaimingUniform).unwrap()
}

#[test]
fn conv6_counts_match_the_reference_table() {
    // iterand-algorithm.md §2.3: Conv6 weights, kept at p = 0.5.
    let table = [
        (0.25, 142_128usize),
        (0.5, 566_368),
        (1.0, 2_261_184),
        (2.0, 9_036_160),
    ];
    for (w, weights) in table {
        let store = ParamStore::new(1, Device::Cpu);
        let net = build(&spec(Arch::Conv6, w, CIFAR), scores(0.5), &store.builder()).unwrap();
        let c = net.param_counts();
        assert_eq!(c.weights, weights, "width {w}");
        // each layer keeps n − round(0.5(n−1)); summed this is within a unit per layer of n/2
        let layers = net.masked().len();
        assert_eq!(layers, 9);
        assert!(
            c.kept.abs_diff(weights / 2) <= layers,
            "width {w}: kept {}",
            c.kept
        );
    }
}

#[test]
fn output_shapes_for_every_arch_and_input() {
    let grey = InputShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    for arch in Arch::ALL {
        for input in [grey, CIFAR] {
            let store = ParamStore::new(2, Device::Cpu);
            let net = build(&spec(arch, 0.25, input), scores(0.5), &store.builder()).unwrap();
            let x = Tensor::zeros(
                (3, input.channels, input.height, input.width),
                DType::F32,
                &Device::Cpu,
            )
            .unwrap();
            let y = net.forward_t(&x, true).unwrap();
            assert_eq!(y.dims(), &[3, 10], "{arch} on {input:?}");
        }
    }
}

#[test]
fn too_small_inputs_and_bad_widths_are_rejected() {
    let digits = InputShape {
        channels: 1,
        height: 8,
        width: 8,
    };
    let store = ParamStore::new(2, Device::Cpu);
    let e = build(
        &spec(Arch::Conv8, 1.0, digits),
        scores(0.5),
        &store.builder(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("conv8") && e.contains("8×8"), "{e}");
    let store = ParamStore::new(2, Device::Cpu);
    let e = build(&spec(Arch::Fc, 0.0, digits), scores(0.5), &store.builder())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("width"), "{e}");
    assert!("resnet7"
        .parse::<Arch>()
        .unwrap_err()
        .to_string()
        .contains("model"));
}

#[test]
fn fc_widths_scale_hidden_layers() {
    let digits = InputShape {
        channels: 1,
        height: 8,
        width: 8,
    };
    let store = ParamStore::new(2, Device::Cpu);
    let net = build(
        &spec(Arch::Fc, 0.125, digits),
        scores(0.5),
        &store.builder(),
    )
    .unwrap();
    let dims: Vec<Vec<usize>> = net
        .masked()
        .iter()
        .map(|m| m.weight().dims().to_vec())
        .collect();
    assert_eq!(dims, vec![vec![37, 64], vec![12, 37], vec![10, 12]]);
}

#[test]
fn same_seed_same_model_and_r_leaves_the_function_unchanged() {
    let input = InputShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    let s = spec(Arch::Conv4, 0.25, input);
    let x = Tensor::rand(0f32, 1.0, (4, 1, 28, 28), &Device::Cpu).unwrap();
    let a_store = ParamStore::new(9, Device::Cpu);
    let a = build(&s, scores(0.5), &a_store.builder()).unwrap();
    let b_store = ParamStore::new(9, Device::Cpu);
    let b = build(&s, scores(0.5), &b_store.builder()).unwrap();
    let ya = a
        .forward_t(&x, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let yb = b
        .forward_t(&x, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(ya, yb);
    let r = Rerandomizer::new(RerandMode::Bernoulli, 0.5, 0.0, 9).unwrap();
    a.rerandomize(1, &r).unwrap();
    let ya2 = a
        .forward_t(&x, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(ya, ya2, "R changed the network function");
    let changed: usize = a
        .masked()
        .iter()
        .zip(b.masked())
        .map(|(ma, mb)| {
            let wa = ma
                .weight()
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let wb = mb
                .weight()
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            wa.iter().zip(&wb).filter(|(x, y)| x != y).count()
        })
        .sum();
    assert!(changed > 0, "R changed nothing");
}

#[test]
fn weight_mode_is_dense() {
    let store = ParamStore::new(2, Device::Cpu);
    let cfg = MaskConfig::new(Mode::Weights, 0.5, InitMode::KaimingUniform).unwrap();
    let net = build(&spec(Arch::Conv6, 0.25, CIFAR), cfg, &store.builder()).unwrap();
    let c = net.param_counts();
    assert_eq!(c.kept, c.weights);
    assert_eq!(net.kept_now().unwrap(), c.weights);
}
