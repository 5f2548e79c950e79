//! The mask's dynamics on a tiny FC network with known scores and R's coins: the re-draw counts
//! equal what the coins say of the pruned weights, and the epoch's changed fraction and the kept
//! weights' numbers of values follow by hand from the masks.

use candle_core::{Device, Tensor};
use iterand_masking::ParamStore;
use iterand_models::{Arch, InputShape, Network};
use iterand_randomizer::{coins, recycle_moves, recycled_count, RerandMode, Rerandomizer};
use iterand_train::dynamics::MaskDynamics;
use iterand_train::{DatasetName, Method, TrainConfig};

fn host_mask(net: &dyn Network, layer: usize) -> Vec<u8> {
    let m = &net.masked()[layer];
    m.mask().unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// An IteRand FC ×0.125 on 8×8 digits, seed 9, with R of `mode` and rate `r`.
fn tiny_fc(mode: RerandMode, r: f64) -> (ParamStore, Box<dyn Network>, Rerandomizer) {
    let cfg = TrainConfig {
        dataset: DatasetName::Digits,
        model: Arch::Fc,
        method: Method::Iterand,
        width: 0.125,
        rerand_mode: mode,
        rerand_lambda: r,
        seed: 9,
        ..Default::default()
    };
    let input = InputShape {
        channels: 1,
        height: 8,
        width: 8,
    };
    let (store, net) = cfg.build_network(input, 10, &Device::Cpu).unwrap();
    let (r, _) = cfg.rerandomization().unwrap().unwrap();
    (store, net, r)
}

/// Per layer and weight: the rounds 1 and 2 whose coin hits it while it is pruned.
fn expected_redraws(net: &dyn Network, masks: &[Vec<u8>], r: &Rerandomizer) -> Vec<Vec<u16>> {
    net.masked()
        .iter()
        .zip(masks)
        .map(|(m, mask)| {
            let c1 = coins(r.seed, m.key(), 1, r.lambda, m.numel());
            let c2 = coins(r.seed, m.key(), 2, r.lambda, m.numel());
            (0..m.numel())
                .map(|i| (1 - mask[i] as u16) * (c1[i] as u16 + c2[i] as u16))
                .collect()
        })
        .collect()
}

#[test]
fn redraws_follow_the_coins_and_the_epoch_counts_follow_the_masks() {
    let (_store, net, r) = tiny_fc(RerandMode::Bernoulli, 0.3);
    let mut d = MaskDynamics::new(net.as_ref(), false).unwrap().unwrap();
    let before: Vec<Vec<u8>> = (0..3).map(|l| host_mask(net.as_ref(), l)).collect();

    // two rounds of R with the scores untouched: the masks stay, and a weight is re-drawn once
    // for each round whose coin hits it while it is pruned
    for round in [1, 2] {
        net.rerandomize(round, &r).unwrap();
        d.after_rerand(net.as_ref(), round, &r).unwrap();
    }
    let expected = expected_redraws(net.as_ref(), &before, &r);

    // new scores for the first layer: its mask becomes "the later half of the weights"
    let first = &net.masked()[0];
    let n = first.numel();
    let s: Vec<f32> = (0..n).map(|i| 1.0 + i as f32).collect();
    let dims = first.weight().dims().to_vec();
    first
        .scores()
        .unwrap()
        .set(&Tensor::from_vec(s, dims, &Device::Cpu).unwrap())
        .unwrap();
    let after0 = host_mask(net.as_ref(), 0);
    assert_eq!(after0.iter().filter(|&&m| m == 1).count(), n / 2);

    let epoch = d.end_epoch(net.as_ref()).unwrap();
    for (l, dl) in epoch.iter().enumerate() {
        let after = if l == 0 {
            after0.clone()
        } else {
            before[l].clone()
        };
        let changed = before[l].iter().zip(&after).filter(|(a, b)| a != b).count();
        assert_eq!(dl.changed, changed, "layer {l}");
        assert_eq!(
            dl.redrawn,
            expected[l].iter().map(|&x| x as u64).sum::<u64>(),
            "layer {l}"
        );
        let mut kept_values = vec![0u64; 3];
        for i in 0..after.len() {
            if after[i] == 1 {
                kept_values[expected[l][i] as usize] += 1;
            }
        }
        while kept_values.last() == Some(&0) {
            kept_values.pop();
        }
        assert_eq!(dl.kept_values, kept_values, "layer {l}");
        assert!(
            dl.redrawn > 0,
            "layer {l}: the coins hit some pruned weight"
        );
    }
    assert!(epoch[0].changed > 0);
    assert_eq!(epoch[1].changed, 0);
    // the next epoch compares with these masks: nothing changed since
    let next = d.end_epoch(net.as_ref()).unwrap();
    assert!(next.iter().all(|l| l.changed == 0));
}

/// Recycling at r = 0.75 with p = 0.5 and the scores untouched: each R writes the same 3n/4
/// lowest-ranked positions, so after two rounds every destination has had 2 copies, the
/// destinations among the kept weights (keys between the median and the upper quartile) are
/// the kept recycled ones, and the counts survive the checkpoint's tensors.
#[test]
fn recycled_copies_are_counted_per_position_and_restored() {
    let (_store, net, r) = tiny_fc(RerandMode::Recycle, 0.75);
    let mut d = MaskDynamics::new(net.as_ref(), true).unwrap().unwrap();
    for round in [1, 2] {
        net.rerandomize(round, &r).unwrap();
        d.after_rerand(net.as_ref(), round, &r).unwrap();
    }
    let saved = d.tensors().unwrap();
    let epoch = d.end_epoch(net.as_ref()).unwrap();
    for (l, (m, dl)) in net.masked().iter().zip(&epoch).enumerate() {
        let keys = m.scores().unwrap().as_tensor().flatten_all().unwrap();
        let keys = keys.to_vec1::<f32>().unwrap();
        let moves = recycle_moves(&keys, recycled_count(keys.len(), 0.75)).unwrap();
        let mask = host_mask(net.as_ref(), l);
        let kept = moves.iter().filter(|&&(dst, _)| mask[dst] == 1).count();
        assert_eq!(dl.recycled, 2 * moves.len() as u64, "layer {l}");
        assert_eq!(dl.kept_recycled, kept as u64, "layer {l}");
        assert!(kept > 0, "layer {l}: some destinations are kept");
        assert_eq!(dl.redrawn, 0, "recycling draws nothing");
    }
    let mut fresh = MaskDynamics::new(net.as_ref(), true).unwrap().unwrap();
    fresh.restore(&saved).unwrap();
    let again = fresh.end_epoch(net.as_ref()).unwrap();
    let counts = |e: &[iterand_train::dynamics::LayerDynamics]| {
        e.iter()
            .map(|l| (l.recycled, l.kept_recycled))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&again), counts(&epoch));
}
