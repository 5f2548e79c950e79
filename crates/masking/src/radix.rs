//! The per-layer threshold as a radix select over the floats' order-preserving bit patterns:
//! the algorithm the CUDA threshold of issue 14 runs on the device (one 256-bin histogram pass
//! per byte, most significant first, no sort and no copy to the host). Written and tested here
//! first, on the CPU, so that the device kernel has a reference it must equal bit for bit: the
//! k-th smallest key in `f32::total_cmp` order is one bit pattern, so the radix select and
//! `select_nth_unstable` (the CPU's [`crate::threshold::threshold`]) pick the same value.

use crate::threshold::{kth, Ranking};

/// `x`'s bits mapped so that unsigned order is `f32::total_cmp` order: negatives have every bit
/// flipped (larger magnitude, smaller key), non-negatives only the sign bit.
#[inline]
pub fn ordered_bits(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// The inverse of [`ordered_bits`].
#[inline]
pub fn from_ordered_bits(u: u32) -> f32 {
    f32::from_bits(if u >> 31 == 1 { u & 0x7fff_ffff } else { !u })
}

/// The `k`-th smallest (1-based) of `keys` in `total_cmp` order, by four byte-wide histogram
/// passes: each pass counts the keys that share the prefix found so far, by their next byte,
/// and descends into the bucket that holds rank `k`.
pub fn radix_kth(keys: &[f32], k: usize) -> f32 {
    assert!(
        (1..=keys.len()).contains(&k),
        "k = {k} of {} keys",
        keys.len()
    );
    let (mut prefix, mut rank) = (0u32, k);
    for pass in 0..4 {
        let shift = 24 - 8 * pass;
        // the bits above this byte, which a candidate must share with the prefix
        let high = if pass == 0 {
            0
        } else {
            u32::MAX << (shift + 8)
        };
        let mut hist = [0usize; 256];
        for &x in keys {
            let u = ordered_bits(x);
            if u & high == prefix & high {
                hist[((u >> shift) & 0xff) as usize] += 1;
            }
        }
        let mut byte = 0;
        while rank > hist[byte] {
            rank -= hist[byte];
            byte += 1;
        }
        prefix |= (byte as u32) << shift;
    }
    from_ordered_bits(prefix)
}

/// [`crate::threshold::threshold`] by radix select: the k-th smallest ranking key of `scores`
/// for sparsity `sparsity`; `None` if any score is NaN.
pub fn radix_threshold(scores: &[f32], sparsity: f64, ranking: Ranking) -> Option<f32> {
    if scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let keys: Vec<f32> = scores.iter().map(|&s| ranking.key(s)).collect();
    Some(radix_kth(&keys, kth(keys.len(), sparsity)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threshold::threshold;
    use proptest::prelude::*;

    #[test]
    fn the_bit_map_keeps_total_order_and_round_trips() {
        let xs = [
            f32::NEG_INFINITY,
            -3.5,
            -1e-40,
            -0.0,
            0.0,
            1e-40,
            1.0,
            f32::MAX,
            f32::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(ordered_bits(w[0]) < ordered_bits(w[1]), "{w:?}");
        }
        for x in xs {
            assert_eq!(from_ordered_bits(ordered_bits(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn by_hand() {
        let s = [0.3f32, -0.2, 0.3, 0.0, -0.0, 1.5];
        // total order: -0.2, -0.0, 0.0, 0.3, 0.3, 1.5
        assert_eq!(radix_kth(&s, 1), -0.2);
        assert_eq!(radix_kth(&s, 2).to_bits(), (-0.0f32).to_bits());
        assert_eq!(radix_kth(&s, 3).to_bits(), 0.0f32.to_bits());
        assert_eq!(radix_kth(&s, 5), 0.3);
        assert_eq!(radix_kth(&s, 6), 1.5);
        assert_eq!(
            radix_threshold(&[1.0, f32::NAN], 0.5, Ranking::Signed),
            None
        );
    }

    fn score() -> impl Strategy<Value = f32> {
        prop_oneof![
            // a few values, so that ties are common
            (-3i32..4).prop_map(|v| v as f32 * 0.25),
            Just(-0.0f32),
            Just(f32::INFINITY),
            Just(-1e-42f32),
            any::<f32>().prop_filter("no NaN", |x| !x.is_nan()),
            -1.0f32..1.0,
        ]
    }

    proptest! {
        /// The radix select picks the same bits as the CPU's select_nth_unstable, for every
        /// sparsity and both rankings.
        #[test]
        fn equals_select_nth_bit_for_bit(
            scores in proptest::collection::vec(score(), 1..600),
            p in 0.0f64..0.999,
            magnitude in any::<bool>(),
        ) {
            let r = if magnitude { Ranking::Magnitude } else { Ranking::Signed };
            let a = radix_threshold(&scores, p, r).unwrap();
            let b = threshold(scores.clone(), p, r).unwrap();
            prop_assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn a_resnet50_sized_layer_with_ties() {
        // 2.36 M scores (ResNet-50's largest layer), a tenth of them one tied value
        let n = 2_359_296;
        let s = iterand_randomizer::Stream::new(7, iterand_randomizer::Purpose::Score, 0, 0);
        let scores: Vec<f32> = (0..n as u32)
            .map(|i| {
                if i % 10 == 0 {
                    0.125
                } else {
                    (s.uniform(i) * 2.0 - 1.0) as f32
                }
            })
            .collect();
        for p in [0.5, 0.7] {
            let a = radix_threshold(&scores, p, Ranking::Signed).unwrap();
            let b = threshold(scores.clone(), p, Ranking::Signed).unwrap();
            assert_eq!(a.to_bits(), b.to_bits(), "p {p}");
        }
    }
}
