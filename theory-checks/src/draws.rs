//! Sequential U[−1, 1] draws over a counter-based stream, so every trial of every experiment
//! is reproducible from (seed, experiment, trial) alone.

use iterand_randomizer::{Purpose, Stream};

/// Reads `U[−1, 1]` (and `U[0, 1)`) values one after another from a Philox stream.
pub struct Draws {
    stream: Stream,
    next: u32,
}

impl Draws {
    /// The stream of trial `trial` of experiment `experiment` under `seed`.
    pub fn new(seed: u64, experiment: u32, trial: u32) -> Self {
        Self {
            stream: Stream::new(seed, Purpose::Theory, experiment, trial),
            next: 0,
        }
    }

    /// U[0, 1).
    pub fn unit(&mut self) -> f64 {
        let u = self.stream.uniform(self.next);
        self.next += 1;
        u
    }

    /// U[−1, 1].
    pub fn pm1(&mut self) -> f64 {
        2.0 * self.unit() - 1.0
    }

    /// `n` positions with `r` candidates each, position-major, so the first `n'` positions and
    /// the first `r'` candidates of a larger draw are exactly a smaller draw (nesting).
    pub fn candidates(&mut self, n: usize, r: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| (0..r).map(|_| self.pm1()).collect())
            .collect()
    }
}

/// The first `n` positions and `r` candidates of a nested draw.
pub fn truncate(c: &[Vec<f64>], n: usize, r: usize) -> Vec<Vec<f64>> {
    c[..n].iter().map(|p| p[..r].to_vec()).collect()
}
