//! A small two-layer target network approximated by pruning a random network twice as deep,
//! with Pensia et al.'s block construction and R candidates on the second weight of every
//! gadget.
//!
//! For a target layer W (d_out × d_in) the source has, for each input coordinate j, n hidden
//! units with a > 0 (seeing σ(x_j)) and n with a < 0 (seeing σ(−x_j)): hidden width 2·d_in·n.
//! Output k keeps, per j, a subset of each sign group whose second weights (specific to (k, j, i),
//! R candidates each) sum to P_kj ≈ W_kj and N_kj ≈ −W_kj. The per-entry error is
//! e_kj = max(|P_kj − W_kj|, |N_kj + W_kj|).

use crate::draws::Draws;
use crate::subset::best;

pub type Matrix = Vec<Vec<f64>>;

fn relu(v: f64) -> f64 {
    v.max(0.0)
}

pub fn matvec(w: &Matrix, x: &[f64]) -> Vec<f64> {
    w.iter()
        .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
        .collect()
}

pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

pub fn frobenius(w: &Matrix) -> f64 {
    w.iter().flatten().map(|x| x * x).sum::<f64>().sqrt()
}

/// A random d_out × d_in matrix with Frobenius norm 1 (the theorem's assumption).
pub fn random_target(d_out: usize, d_in: usize, d: &mut Draws) -> Matrix {
    let g: Matrix = (0..d_out)
        .map(|_| (0..d_in).map(|_| d.pm1()).collect())
        .collect();
    let f = frobenius(&g);
    g.into_iter()
        .map(|r| r.into_iter().map(|v| v / f).collect())
        .collect()
}

/// One target layer's pruned source: two source layers.
#[derive(Clone, Debug)]
pub struct PrunedLayer {
    /// a[j][i]: first-layer weight of unit i of input j (i < n positive, i ≥ n negative).
    pub a: Vec<Vec<f64>>,
    /// kept[k][j]: (unit i, chosen second weight) pairs of output k from input j's block.
    pub kept: Vec<Vec<Vec<(usize, f64)>>>,
    /// e[k][j], the achieved per-entry error.
    pub e: Matrix,
}

impl PrunedLayer {
    /// Draw the source for `w` with `n` units per input and sign and `r` candidates per second
    /// weight, and prune it as well as possible entry by entry.
    pub fn build(w: &Matrix, n: usize, r: usize, d: &mut Draws) -> Self {
        let (d_out, d_in) = (w.len(), w[0].len());
        let a: Vec<Vec<f64>> = (0..d_in)
            .map(|_| {
                (0..2 * n)
                    .map(|i| {
                        let v = d.pm1().abs();
                        if i < n {
                            v
                        } else {
                            -v
                        }
                    })
                    .collect()
            })
            .collect();
        let mut kept = vec![vec![vec![]; d_in]; d_out];
        let mut e = vec![vec![0.0; d_in]; d_out];
        for k in 0..d_out {
            for j in 0..d_in {
                let b: Vec<Vec<f64>> = (0..2 * n)
                    .map(|_| (0..r).map(|_| d.pm1()).collect())
                    .collect();
                let mut err = 0.0f64;
                for (range, target) in [(0..n, w[k][j]), (n..2 * n, -w[k][j])] {
                    let c: Vec<Vec<f64>> = range
                        .clone()
                        .map(|i| b[i].iter().map(|bv| a[j][i].abs() * bv).collect())
                        .collect();
                    let bst = best(&c, target);
                    err = err.max(bst.err);
                    for (pos, i) in range.enumerate() {
                        let ch = bst.choice[pos];
                        if ch > 0 {
                            kept[k][j].push((i, b[i][ch - 1]));
                        }
                    }
                }
                e[k][j] = err;
            }
        }
        Self { a, kept, e }
    }

    /// The pruned two-layer source evaluated unit by unit: Σ_kept b·σ(a·x_j).
    pub fn eval(&self, x: &[f64]) -> Vec<f64> {
        self.kept
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(j, units)| {
                        units
                            .iter()
                            .map(|&(i, b)| b * relu(self.a[j][i] * x[j]))
                            .sum::<f64>()
                    })
                    .sum()
            })
            .collect()
    }
}

/// Target f(x) = W2 σ(W1 x) and its pruned depth-4 source.
#[derive(Clone, Debug)]
pub struct TwoLayer {
    pub w1: Matrix,
    pub w2: Matrix,
    pub l1: PrunedLayer,
    pub l2: PrunedLayer,
}

impl TwoLayer {
    /// Target from `target_draws`, source from `source_draws` (so several sources can be
    /// compared on the same targets).
    pub fn build_with(
        d: usize,
        n: usize,
        r: usize,
        target_draws: &mut Draws,
        source_draws: &mut Draws,
    ) -> Self {
        let w1 = random_target(d, d, target_draws);
        let w2 = random_target(d, d, target_draws);
        let l1 = PrunedLayer::build(&w1, n, r, source_draws);
        let l2 = PrunedLayer::build(&w2, n, r, source_draws);
        Self { w1, w2, l1, l2 }
    }

    pub fn target(&self, x: &[f64]) -> Vec<f64> {
        let h: Vec<f64> = matvec(&self.w1, x).into_iter().map(relu).collect();
        matvec(&self.w2, &h)
    }

    pub fn source(&self, x: &[f64]) -> Vec<f64> {
        let h: Vec<f64> = self.l1.eval(x).into_iter().map(relu).collect();
        self.l2.eval(&h)
    }

    /// ‖f(x) − g(x)‖₂.
    pub fn error(&self, x: &[f64]) -> f64 {
        let (f, g) = (self.target(x), self.source(x));
        norm(&f.iter().zip(&g).map(|(a, b)| a - b).collect::<Vec<_>>())
    }

    /// The deterministic bound ‖W2‖‖E1‖_F‖x‖ + ‖E2‖_F(‖W1‖ + ‖E1‖_F)‖x‖, with Frobenius norms
    /// standing in for the spectral ones (they are never smaller, so the bound stays valid).
    pub fn bound(&self, x: &[f64]) -> f64 {
        let (e1, e2) = (frobenius(&self.l1.e), frobenius(&self.l2.e));
        let nx = norm(x);
        frobenius(&self.w2) * e1 * nx + e2 * (frobenius(&self.w1) + e1) * nx
    }
}
