//! Pensia et al.'s neuron gadget: approximate x ↦ w·x on [−1, 1] by pruning a random
//! one-hidden-layer ReLU network, with R candidates on each second-layer weight ("b-only"
//! re-sampling: the first-layer weights are shared, so re-sampling them could not be tailored).
//!
//! Units with a > 0 see σ(x), units with a < 0 see σ(−x). The kept units of each sign group
//! sum to P = Σ a·b ≈ w and N = Σ |a|·b ≈ −w, and the network equals P·x for x ≥ 0 and −N·x for
//! x < 0, so its sup error on [−1, 1] is max(|w − P|, |w + N|), attained at x = ±1.

use crate::draws::Draws;
use crate::subset::best;

/// A random source: first-layer weights `a` and R candidates `b[i]` per unit.
#[derive(Clone, Debug)]
pub struct Gadget {
    pub a: Vec<f64>,
    pub b: Vec<Vec<f64>>,
}

/// A pruned gadget: per unit, 0 = pruned or r + 1 = candidate r kept.
#[derive(Clone, Debug)]
pub struct Fit {
    pub choice: Vec<usize>,
    pub p: f64,
    pub n: f64,
    /// max(|w − P|, |w + N|).
    pub sup_err: f64,
}

impl Gadget {
    pub fn draw(m: usize, r: usize, d: &mut Draws) -> Self {
        let a = (0..m).map(|_| d.pm1()).collect();
        let b = (0..m).map(|_| (0..r).map(|_| d.pm1()).collect()).collect();
        Self { a, b }
    }

    /// The best masks for `w`, each sign group solved exactly.
    pub fn fit(&self, w: f64) -> Fit {
        let mut choice = vec![0; self.a.len()];
        let mut solve = |positive: bool, target: f64| -> f64 {
            let idx: Vec<usize> = (0..self.a.len())
                .filter(|&i| (self.a[i] > 0.0) == positive)
                .collect();
            let c: Vec<Vec<f64>> = idx
                .iter()
                .map(|&i| self.b[i].iter().map(|b| self.a[i].abs() * b).collect())
                .collect();
            let bst = best(&c, target);
            for (j, &i) in idx.iter().enumerate() {
                choice[i] = bst.choice[j];
            }
            bst.sum
        };
        let p = solve(true, w);
        let n = solve(false, -w);
        Fit {
            choice,
            p,
            n,
            sup_err: (w - p).abs().max((w + n).abs()),
        }
    }

    /// The pruned network's output at x: Σ_kept b·σ(a·x).
    pub fn eval(&self, fit: &Fit, x: f64) -> f64 {
        self.a
            .iter()
            .zip(&self.b)
            .zip(&fit.choice)
            .filter(|(_, &k)| k > 0)
            .map(|((a, b), &k)| b[k - 1] * (a * x).max(0.0))
            .sum()
    }
}
