//! Named random streams: one Philox key per seed, one counter range per (purpose, layer, round).

use crate::philox::philox4x32_10;

/// What a stream is for. Each purpose is its own independent stream, so adding a draw of one
/// kind (say, an augmentation) never shifts the values of another (say, the weights).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Purpose {
    /// Weight values: round 0 is the initialisation, round t the fresh draw of the t-th R.
    Weight = 1,
    /// Score initialisation.
    Score = 2,
    /// The per-weight Bernoulli(r) coin of the t-th R.
    RerandCoin = 3,
    /// Mini-batch order; the round is the epoch.
    DataOrder = 4,
    /// Train/validation/test splits of a dataset.
    Split = 5,
    /// Data augmentation; the round is the epoch.
    Augment = 6,
    /// The theory crate's Monte Carlo trials; the layer is the experiment, the round the trial.
    Theory = 7,
}

/// A stream: `value(i)` is a pure function of `(seed, purpose, layer, round, i)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream {
    key: [u32; 2],
    purpose: u32,
    layer: u32,
    round: u32,
}

impl Stream {
    pub fn new(seed: u64, purpose: Purpose, layer: u32, round: u32) -> Self {
        Self {
            key: [seed as u32, (seed >> 32) as u32],
            purpose: purpose as u32,
            layer,
            round,
        }
    }

    /// The 128 random bits of element `i`.
    #[inline]
    pub fn block(&self, i: u32) -> [u32; 4] {
        philox4x32_10([i, self.round, self.layer, self.purpose], self.key)
    }

    /// Uniform on [0, 1) with 53 bits of resolution.
    #[inline]
    pub fn uniform(&self, i: u32) -> f64 {
        let b = self.block(i);
        bits_to_unit(b[0], b[1])
    }

    /// Standard normal by Box–Muller on the block's two 53-bit uniforms.
    #[inline]
    pub fn normal(&self, i: u32) -> f64 {
        let b = self.block(i);
        let u1 = 1.0 - bits_to_unit(b[0], b[1]); // (0, 1]: the log is finite
        let u2 = bits_to_unit(b[2], b[3]);
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in [0, n) without modulo bias worth measuring (64-bit multiply-shift).
    #[inline]
    pub fn below(&self, i: u32, n: u64) -> u64 {
        let b = self.block(i);
        let x = ((b[0] as u64) << 32) | b[1] as u64;
        ((x as u128 * n as u128) >> 64) as u64
    }
}

#[inline]
fn bits_to_unit(hi: u32, lo: u32) -> f64 {
    let x = (((hi as u64) << 32) | lo as u64) >> 11;
    x as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A stable 32-bit key for a layer, from its path in the module tree (FNV-1a).
///
/// Keying by name rather than by construction order means adding a layer to a model does not
/// change the random values of the others.
pub fn layer_key(path: &str) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for b in path.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A uniformly random permutation of `0..n` (Fisher–Yates driven by `stream`).
pub fn permutation(n: usize, stream: &Stream) -> Vec<u32> {
    assert!(n <= u32::MAX as usize, "permutation of {n} elements");
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = stream.below(i as u32, i as u64 + 1) as usize;
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_every_coordinate() {
        let base = Stream::new(1, Purpose::Weight, 7, 0);
        let others = [
            Stream::new(2, Purpose::Weight, 7, 0),
            Stream::new(1, Purpose::Score, 7, 0),
            Stream::new(1, Purpose::Weight, 8, 0),
            Stream::new(1, Purpose::Weight, 7, 1),
        ];
        for o in others {
            assert_ne!(base.block(0), o.block(0));
        }
        assert_eq!(
            base.block(5),
            Stream::new(1, Purpose::Weight, 7, 0).block(5)
        );
    }

    #[test]
    fn seed_high_bits_matter() {
        let a = Stream::new(1, Purpose::Weight, 0, 0);
        let b = Stream::new(1 | (1 << 40), Purpose::Weight, 0, 0);
        assert_ne!(a.block(0), b.block(0));
    }

    #[test]
    fn uniform_is_in_unit_interval_and_normal_is_finite() {
        let s = Stream::new(3, Purpose::Weight, 0, 0);
        for i in 0..10_000 {
            let u = s.uniform(i);
            assert!((0.0..1.0).contains(&u));
            assert!(s.normal(i).is_finite());
        }
    }

    #[test]
    fn permutation_is_a_permutation_and_seeded() {
        let s = Stream::new(777, Purpose::Split, 0, 0);
        let p = permutation(1000, &s);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(p, permutation(1000, &s));
        assert_ne!(
            p,
            permutation(1000, &Stream::new(778, Purpose::Split, 0, 0))
        );
        assert_ne!(p, sorted);
    }

    #[test]
    fn permutation_positions_are_uniform() {
        // Element 0 should land in each of 4 slots with probability 1/4.
        let mut counts = [0u32; 4];
        for round in 0..8000 {
            let p = permutation(4, &Stream::new(5, Purpose::DataOrder, 0, round));
            counts[p.iter().position(|&x| x == 0).unwrap()] += 1;
        }
        for c in counts {
            // mean 2000, sd ≈ 38.7: ±5 sd
            assert!((1806..=2194).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn layer_keys_are_fnv1a() {
        // FNV-1a 32 of "" and "a" (published test values).
        assert_eq!(layer_key(""), 0x811c9dc5);
        assert_eq!(layer_key("a"), 0xe40c292c);
    }
}
