//! Train → export → rebuild reproduces the trained model: the same logits bit for bit and the
//! same test accuracy, for edge-popup and IteRand, on an FC and a ResNet with BatchNorm (the
//! embedded digits). And what cannot be a ticket is refused by name.

use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use iterand_data::{digits, Loader, Splits};
use iterand_masking::{Ranking, RankingScope, WeightTransform};
use iterand_models::{Arch, Network};
use iterand_randomizer::RerandMode;
use iterand_ticket::{export, info, rebuild, Error, Ticket};
use iterand_train::{train_with, Checkpointer, DatasetName, Method, RunOptions, TrainConfig};

fn config(model: Arch, method: Method) -> TrainConfig {
    TrainConfig {
        dataset: DatasetName::Digits,
        model,
        method,
        width: if model == Arch::Fc { 0.25 } else { 0.125 },
        epochs: 2,
        batch_size: 32,
        lr: 0.1,
        rerand_freq: 2,
        rerand_lambda: 0.3,
        limit_batches: Some(20),
        seed: 11,
        ..Default::default()
    }
}

fn train(cfg: &TrainConfig, splits: &Splits, out: &Path) -> iterand_train::Summary {
    let o = RunOptions {
        out: Some(out.to_path_buf()),
        ..RunOptions::default()
    };
    train_with(cfg, splits, &Device::Cpu, &o).unwrap()
}

/// The logits of every test image, as bits, and the accuracy (percent).
fn logits(net: &dyn Network, cfg: &TrainConfig, splits: &Splits) -> (Vec<u32>, f64) {
    let t = splits.transforms(cfg.pad, cfg.augment).unwrap();
    let idx: Vec<u32> = (0..splits.test.len() as u32).collect();
    let batches = idx
        .chunks(cfg.eval_batch_size)
        .map(<[u32]>::to_vec)
        .collect();
    let (mut bits, mut right) = (vec![], 0usize);
    for b in Loader::default().iter(splits.test.clone(), Arc::new(t.eval), batches, 0, 0) {
        let (x, y) = b.unwrap().to_tensors(&Device::Cpu).unwrap();
        let l: Tensor = net.forward_t(&x, false).unwrap();
        let pred = l.argmax(1).unwrap().to_vec1::<u32>().unwrap();
        let y = y.to_vec1::<u32>().unwrap();
        right += pred.iter().zip(&y).filter(|(p, y)| p == y).count();
        let v = l.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        bits.extend(v.iter().map(|x| x.to_bits()));
    }
    (bits, 100.0 * right as f64 / splits.test.len() as f64)
}

/// The trained model itself: its config's network with the last checkpoint loaded.
fn trained(cfg: &TrainConfig, out: &Path, splits: &Splits) -> Box<dyn Network> {
    let io = iterand_train::RunDir::existing(out)
        .network()
        .unwrap()
        .unwrap();
    assert_eq!(io.classes, splits.train.classes());
    let (store, net) = cfg
        .build_network(io.input, io.classes, &Device::Cpu)
        .unwrap();
    let (_, tensors) = Checkpointer::new(out)
        .load("last", &Device::Cpu)
        .unwrap()
        .unwrap();
    for (name, var) in store.varmap().data().lock().unwrap().iter() {
        var.set(&tensors[name]).unwrap();
    }
    net
}

fn round_trip(model: Arch, method: Method) {
    round_trip_config(config(model, method));
}

/// A run of `cfg` exported, written, read and rebuilt: the same logits, bit for bit, and the
/// run's test accuracy. Returns the ticket.
fn round_trip_config(cfg: TrainConfig) -> Ticket {
    let (model, method) = (cfg.model, cfg.method);
    let splits = digits::splits().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let summary = train(&cfg, &splits, &out);
    let ticket = export(&out, "last").unwrap();
    if method == Method::Iterand {
        assert_eq!(ticket.header.rounds, 20, "R fires every 2 of 40 steps");
        let distinct = ticket
            .header
            .layers
            .iter()
            .map(|l| l.generation_values.len());
        assert!(distinct.max().unwrap() > 5, "kept weights of many rounds");
    } else {
        assert!(ticket
            .header
            .layers
            .iter()
            .all(|l| l.generation_values == [0]));
    }
    let file = dir.path().join("model.ticket");
    ticket.write(&file).unwrap();
    let back = Ticket::read(&file).unwrap();
    assert_eq!(back, ticket);
    let rebuilt = rebuild(&back, &Device::Cpu).unwrap();
    let (want, acc_want) = logits(trained(&cfg, &out, &splits).as_ref(), &cfg, &splits);
    let (got, acc_got) = logits(rebuilt.net.as_ref(), &rebuilt.config, &splits);
    assert_eq!(acc_want, summary.test_acc);
    assert_eq!(acc_got, summary.test_acc);
    assert!(want == got, "{model:?} {method:?}: logits differ");
    // BatchNorm statistics travel as they are; the FC has none and zero biases.
    let rest = &back.header.rest;
    assert_eq!(rest.is_empty(), model == Arch::Fc, "{rest:?}");
    let i = info(&back).unwrap();
    assert!(i.mask_bits < 1.05, "{i:?}");
    let biprop = cfg.weight_transform == WeightTransform::Biprop;
    assert!(back
        .header
        .layers
        .iter()
        .all(|l| l.alpha.is_some() == biprop));
    back
}

#[test]
fn edge_popup_fc_round_trips_bit_for_bit() {
    round_trip(Arch::Fc, Method::EdgePopup);
}

#[test]
fn iterand_fc_round_trips_bit_for_bit() {
    round_trip(Arch::Fc, Method::Iterand);
}

/// biprop's α·sign(w) comes back from the regenerated weights and the mask, and each layer's
/// α, a header value, must match what the rebuilt layer gives.
#[test]
fn biprop_iterand_fc_round_trips_bit_for_bit() {
    let mut t = round_trip_config(TrainConfig {
        weight_transform: WeightTransform::Biprop,
        ..config(Arch::Fc, Method::Iterand)
    });
    let a = t.header.layers[1].alpha.unwrap();
    assert!(a > 0.0 && a.is_finite());
    t.header.layers[1].alpha = Some(a * 1.5);
    let e = rebuild(&t, &Device::Cpu)
        .err()
        .expect("a wrong alpha is refused");
    assert!(e.to_string().contains("alpha"), "{e}");
}

/// A global ranking's masks (layers keeping different fractions) rebuild from the ticket's
/// 0/1 scores, whose one threshold over all layers is 1; with biprop, each α is checked once
/// every layer is set, since a layer's mask depends on the others' scores.
#[test]
fn global_biprop_iterand_fc_round_trips_bit_for_bit() {
    let t = round_trip_config(TrainConfig {
        ranking_scope: RankingScope::Global,
        ranking: Ranking::Magnitude,
        weight_transform: WeightTransform::Biprop,
        ..config(Arch::Fc, Method::Iterand)
    });
    let fractions: Vec<f64> = t
        .header
        .layers
        .iter()
        .map(|l| l.kept as f64 / l.shape.iter().product::<usize>() as f64)
        .collect();
    assert!(
        fractions.iter().any(|&f| (f - 0.5).abs() > 0.05),
        "{fractions:?}"
    );
}

#[test]
fn iterand_resnet_with_batch_norm_round_trips_bit_for_bit() {
    round_trip(Arch::Resnet18, Method::Iterand);
}

/// γ and β learned beside the scores travel with the BatchNorm statistics, as they are.
#[test]
fn iterand_resnet_with_affine_batch_norm_round_trips_bit_for_bit() {
    let t = round_trip_config(TrainConfig {
        bn_type: Some(iterand_models::BnType::Affine),
        ..config(Arch::Resnet18, Method::Iterand)
    });
    let gamma = t.header.rest.iter().position(|r| r.name == "bn1.weight");
    let gamma = &t.rest[gamma.expect("bn1.weight travels")];
    assert!(gamma.iter().any(|&g| g != 1.0), "γ trained: {gamma:?}");
}

#[test]
fn sgd_manual_and_recycling_runs_are_refused_and_damage_is_detected() {
    let splits = digits::splits().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sgd = dir.path().join("sgd");
    let mut cfg = config(Arch::Fc, Method::Sgd);
    cfg.lr = 0.01;
    train(&cfg, &splits, &sgd);
    let e = export(&sgd, "last").unwrap_err();
    assert!(matches!(e, Error::NotRegenerable { .. }), "{e}");
    let manual = dir.path().join("manual");
    let mut cfg = config(Arch::Fc, Method::Iterand);
    cfg.rerand_mode = RerandMode::Manual;
    cfg.rerand_lambda = 0.5;
    cfg.rerand_mu = 0.5;
    train(&cfg, &splits, &manual);
    let e = export(&manual, "last").unwrap_err();
    assert!(e.to_string().contains("manual"), "{e}");
    for mode in [RerandMode::Recycle, RerandMode::IterandRecycle] {
        let run = dir.path().join(mode.name());
        let mut cfg = config(Arch::Fc, Method::Iterand);
        cfg.rerand_mode = mode;
        train(&cfg, &splits, &run);
        let e = export(&run, "last").unwrap_err();
        assert!(e.to_string().contains(mode.name()), "{e}");
    }
    assert!(matches!(
        export(dir.path(), "last").unwrap_err(),
        Error::Run { .. }
    ));

    let good = dir.path().join("ep");
    train(&config(Arch::Fc, Method::EdgePopup), &splits, &good);
    let bytes = export(&good, "last").unwrap().to_bytes().unwrap();
    let p = Path::new("t.ticket");
    for at in [0, 9, 30, bytes.len() / 2, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        assert!(Ticket::from_bytes(&b, p).is_err(), "flip at {at}");
    }
    for cut in [0, 8, 19, bytes.len() - 33, bytes.len() - 1] {
        assert!(
            Ticket::from_bytes(&bytes[..cut], p).is_err(),
            "cut at {cut}"
        );
    }
}
