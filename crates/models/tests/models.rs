//! Model shapes, parameter counts against the reference table, and R at the model level.

use candle_core::{DType, Device, Tensor};
use iterand_masking::threshold::kept_count;
use iterand_masking::{MaskConfig, Mode, ParamStore, RankingScope};
use iterand_models::{build, Arch, InputShape, ModelSpec, Network, ResNet, Stem};
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
        stem: None,
        bn_replicas: 1,
        bn_type: None,
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

/// Under a global ranking the model keeps the k rule's count over all its weights together
/// (its initial scores do not tie), and the layers keep different fractions: ranked by |S| as
/// global edge-popup's code, the Kaiming-uniform scores of a layer with a large fan-in are
/// smaller, so the first conv (fan-in 27) keeps more than half and the widest layer less.
#[test]
fn a_global_ranking_keeps_the_count_over_all_layers() {
    let store = ParamStore::new(1, Device::Cpu);
    let mut cfg = scores(0.5);
    cfg.ranking_scope = RankingScope::Global;
    cfg.ranking = iterand_masking::Ranking::Magnitude;
    let net = build(&spec(Arch::Conv6, 0.25, CIFAR), cfg, &store.builder()).unwrap();
    let c = net.param_counts();
    assert_eq!(c.weights, 142_128);
    assert_eq!(c.kept, kept_count(142_128, 0.5));
    let kept: Vec<usize> = net.masked().iter().map(|m| m.kept().unwrap()).collect();
    assert_eq!(kept.iter().sum::<usize>(), c.kept);
    let per_layer: Vec<usize> = net
        .masked()
        .iter()
        .map(|m| kept_count(m.numel(), 0.5))
        .collect();
    assert_ne!(kept, per_layer);
    let x = Tensor::zeros((2, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(net.forward_t(&x, false).unwrap().dims(), [2, 10]);
}

#[test]
fn output_shapes_for_every_arch_and_input() {
    let grey = InputShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    for &arch in Arch::ALL {
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

fn weights_mode() -> MaskConfig {
    MaskConfig::new(Mode::Weights, 0.0, InitMode::KaimingUniform).unwrap()
}

#[test]
fn resnet_counts_match_the_reference_tables() {
    // iterand-algorithm.md §2.3, prunable weights on CIFAR shapes
    let table = [
        (
            Arch::Resnet18,
            [708_288usize, 2_804_928, 11_164_352, 44_576_448],
        ),
        (
            Arch::Resnet34,
            [1_339_584, 5_330_112, 21_265_088, 84_979_392],
        ),
    ];
    for (arch, counts) in table {
        for (w, want) in [0.25, 0.5, 1.0, 2.0].into_iter().zip(counts) {
            let store = ParamStore::new(1, Device::Cpu);
            let net = build(&spec(arch, w, CIFAR), weights_mode(), &store.builder()).unwrap();
            assert_eq!(net.param_counts().weights, want, "{arch} ×{w}");
        }
    }
    // ImageNet stem, width 1, 1000 classes: every trainable parameter of the SGD baseline
    // (weights, the classifier's bias, BN γ and β), torchvision's totals
    let imagenet = InputShape {
        channels: 3,
        height: 224,
        width: 224,
    };
    for (arch, want) in [
        (Arch::Resnet18, 11_689_512usize),
        (Arch::Resnet34, 21_797_672),
        (Arch::Resnet50, 25_557_032),
        (Arch::Resnet101, 44_549_160),
    ] {
        let store = ParamStore::new(1, Device::Cpu);
        let s = ModelSpec {
            classes: 1000,
            ..spec(arch, 1.0, imagenet)
        };
        build(&s, weights_mode(), &store.builder()).unwrap();
        let total: usize = store.trainable().iter().map(|(_, v)| v.elem_count()).sum();
        assert_eq!(total, want, "{arch}");
    }
}

#[test]
fn resnet_output_shapes_for_both_stems_and_every_depth() {
    let small_imagenet = InputShape {
        channels: 3,
        height: 64,
        width: 64,
    };
    for arch in [
        Arch::Resnet18,
        Arch::Resnet34,
        Arch::Resnet50,
        Arch::Resnet101,
    ] {
        for input in [CIFAR, small_imagenet] {
            let store = ParamStore::new(3, Device::Cpu);
            let net = build(&spec(arch, 0.25, input), scores(0.6), &store.builder()).unwrap();
            let x =
                Tensor::zeros((2, 3, input.height, input.width), DType::F32, &Device::Cpu).unwrap();
            for train in [true, false] {
                assert_eq!(
                    net.forward_t(&x, train).unwrap().dims(),
                    &[2, 10],
                    "{arch} {input:?}"
                );
            }
        }
    }
}

#[test]
fn resnet_prunes_every_conv_shortcut_and_classifier() {
    let store = ParamStore::new(3, Device::Cpu);
    let net = build(
        &spec(Arch::Resnet18, 0.5, CIFAR),
        scores(0.6),
        &store.builder(),
    )
    .unwrap();
    let names: Vec<&str> = net.masked().iter().map(|m| m.path()).collect();
    // stem + 8 blocks × 2 convs + 4 projection shortcuts (the first too: 64 → 32 channels)
    assert_eq!(names.len(), 1 + 16 + 4 + 1);
    assert_eq!(names[0], "conv1");
    assert!(names.contains(&"layer1.0.shortcut.0") && names.contains(&"layer4.0.shortcut.0"));
    assert_eq!(*names.last().unwrap(), "linear");
    // non-affine BN: only scores train; running statistics are stored
    assert!(store
        .trainable()
        .iter()
        .all(|(n, _)| n.ends_with(".scores")));
    assert_eq!(
        store.by_role(iterand_masking::Role::NormStat).len(),
        2 * (1 + 16 + 4)
    );
}

/// `bn_type = affine` in score mode: each of the 21 BatchNorms adds a trainable γ (ones) and β
/// (zeros) beside the scores; `non_affine` with SGD leaves only the dense weights and biases.
#[test]
fn bn_type_chooses_learned_scale_and_shift_for_any_mode() {
    use iterand_masking::Role;
    use iterand_models::BnType;
    let affine = |cfg: MaskConfig, bn_type| {
        let store = ParamStore::new(3, Device::Cpu);
        let s = ModelSpec {
            bn_type: Some(bn_type),
            ..spec(Arch::Resnet18, 0.25, CIFAR)
        };
        build(&s, cfg, &store.builder()).unwrap();
        let trainable: Vec<String> = store.trainable().into_iter().map(|(n, _)| n).collect();
        (store.by_role(Role::NormAffine), trainable)
    };
    let (norm, trainable) = affine(scores(0.5), BnType::Affine);
    assert_eq!(norm.len(), 2 * 21);
    assert!(
        trainable.contains(&"bn1.weight".to_string()) && trainable.contains(&"bn1.bias".into())
    );
    assert_eq!(
        trainable.iter().filter(|n| n.ends_with(".scores")).count(),
        22
    );
    let first: Vec<f32> = norm[0].1.as_tensor().to_vec1().unwrap();
    assert!(norm[0].0 == "bn1.weight" && first.iter().all(|&g| g == 1.0));
    let (norm, trainable) = affine(weights_mode(), BnType::NonAffine);
    assert!(norm.is_empty());
    assert!(trainable
        .iter()
        .all(|n| n.ends_with(".weight") || n.ends_with(".bias")));
    assert!(!trainable.iter().any(|n| n.starts_with("bn1.")));
}

#[test]
fn resnet_stem_follows_the_official_rule_by_input_size_unless_named() {
    // resnet.py: 7×7 stride 2 only at 224; at 64 and 84 a 3×3 stride-1 convolution then
    // max-pooling; at 28 and 32 the 3×3 alone.
    for (size, want) in [
        (28, Stem::Cifar),
        (32, Stem::Cifar),
        (64, Stem::Small),
        (84, Stem::Small),
        (224, Stem::Imagenet),
    ] {
        assert_eq!(Stem::for_height(size), want, "{size}");
    }
    let dev = Device::Cpu;
    // (input size, named stem, stem kernel, spatial size entering layer1)
    for (size, named, kernel, after) in [
        (32, None, 3, 32),
        (64, None, 3, 32),
        (84, None, 3, 42),
        (224, None, 7, 56),
        (64, Some(Stem::Imagenet), 7, 16),
        (64, Some(Stem::Cifar), 3, 64),
    ] {
        let input = InputShape {
            channels: 3,
            height: size,
            width: size,
        };
        let s = ModelSpec {
            stem: named,
            ..spec(Arch::Resnet18, 0.25, input)
        };
        let store = ParamStore::new(1, dev.clone());
        let net = ResNet::new(&s, scores(0.5), &store.builder()).unwrap();
        assert_eq!(net.stem(), named.unwrap_or(Stem::for_height(size)));
        let stem_w = net.masked()[0].weight().dims().to_vec();
        assert_eq!(stem_w, [64, 3, kernel, kernel], "{size} {named:?}");
        // layer1's first conv is stride 1: its output size is the stem's
        let x = Tensor::zeros((1, 3, size, size), DType::F32, &dev).unwrap();
        assert_eq!(net.stem_output(&x).unwrap().dims(), &[1, 64, after, after]);
    }
}

#[test]
fn resnet_with_two_bn_replicas_trains_as_two_half_batches() {
    // Everything but BatchNorm is per example, so with the batch statistics taken per
    // torch.chunk half, the network's training output on a batch of 4 is its output on each half.
    let dev = Device::Cpu;
    let x = Tensor::arange(0f32, (4 * 3 * 32 * 32) as f32, &dev)
        .unwrap()
        .reshape((4, 3, 32, 32))
        .unwrap()
        .sin()
        .unwrap();
    let net = |replicas| {
        let store = ParamStore::new(7, dev.clone());
        let s = ModelSpec {
            bn_replicas: replicas,
            bn_type: None,
            ..spec(Arch::Resnet18, 0.25, CIFAR)
        };
        let net = build(&s, scores(0.5), &store.builder()).unwrap();
        (store, net)
    };
    let ((_a, ghost), (_b, plain)) = (net(2), net(1));
    let y = ghost.forward_t(&x, true).unwrap();
    let halves = Tensor::cat(
        &[
            plain.forward_t(&x.narrow(0, 0, 2).unwrap(), true).unwrap(),
            plain.forward_t(&x.narrow(0, 2, 2).unwrap(), true).unwrap(),
        ],
        0,
    )
    .unwrap();
    let whole = plain.forward_t(&x, true).unwrap();
    let gap = |a: &Tensor, b: &Tensor| {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    assert!(gap(&y, &halves) < 1e-4, "{}", gap(&y, &halves));
    assert!(gap(&y, &whole) > 1e-3);
}
