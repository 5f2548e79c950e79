//! The online model: what the practical algorithm can do with R rounds.
//!
//! Round 1 solves plain subset sum on n fresh values. In each later round every position not in
//! the current best subset is re-drawn (IteRand re-draws only pruned weights, and an overwritten
//! value is lost), then the best subset is recomputed. The old subset is still available, so
//! the error can only go down. Every position sees at most R values, the theorem's budget, but
//! without hindsight: the gain is additive (≈ log2 R bits), not a factor on the exponent.

use crate::draws::Draws;
use crate::subset::best;

/// The trace of one online run.
#[derive(Clone, Debug)]
pub struct OnlineTrace {
    /// Best error after each round (kept monotone: the previous best stays available).
    pub errors: Vec<f64>,
    /// Values at each round.
    pub values: Vec<Vec<f64>>,
    /// Chosen positions (true = in the subset) at each round.
    pub chosen: Vec<Vec<bool>>,
}

/// Run `rounds` rounds on `n` positions toward target `z`.
pub fn online(n: usize, rounds: usize, z: f64, draws: &mut Draws) -> OnlineTrace {
    let mut vals: Vec<f64> = (0..n).map(|_| draws.pm1()).collect();
    let mut trace = OnlineTrace {
        errors: vec![],
        values: vec![],
        chosen: vec![],
    };
    for round in 0..rounds {
        if round > 0 {
            let prev = trace.chosen.last().expect("round 0 recorded");
            for (v, &kept) in vals.iter_mut().zip(prev) {
                if !kept {
                    *v = draws.pm1();
                }
            }
        }
        let c: Vec<Vec<f64>> = vals.iter().map(|&v| vec![v]).collect();
        let b = best(&c, z);
        let err = trace.errors.last().map_or(b.err, |&e: &f64| e.min(b.err));
        trace.errors.push(err);
        trace.values.push(vals.clone());
        trace.chosen.push(b.choice.iter().map(|&k| k > 0).collect());
    }
    trace
}
