//! Random subset sum with R candidates per position: the scalar problem behind the theorem.
//!
//! A configuration picks, for each of n positions, either nothing or one of its R candidate
//! values ((R + 1)^n configurations; R = 1 is Lueker's plain subset sum). [`coverage`] decides
//! exactly whether every z in [−1, 1] is within ε of some configuration's sum; [`best`] finds
//! the exact best configuration for one target by meet in the middle. The [`brute`] module
//! enumerates everything and exists only as an oracle for tests.

/// Candidate values: `c[t]` are the candidates of position t.
pub type Candidates = [Vec<f64>];

/// The number of positions after which every z ∈ [−1, 1] is within `eps` of an achievable sum,
/// or `None` if all of `c` does not suffice.
///
/// Exact interval-union dynamic programme: U_0 = [−ε, ε] and
/// U_t = U_{t−1} ∪ ⋃_r (U_{t−1} + x_t^{(r)}), kept as sorted disjoint closed intervals.
/// Intervals that cannot reach [−1, 1] even with every remaining position are dropped.
pub fn coverage(c: &Candidates, eps: f64) -> Option<usize> {
    let n = c.len();
    // Reach of the positions after t: the most a sum can still move right or left.
    let mut pos_rest = vec![0.0; n + 1];
    let mut neg_rest = vec![0.0; n + 1];
    for t in (0..n).rev() {
        let hi = c[t].iter().cloned().fold(0.0f64, f64::max);
        let lo = c[t].iter().cloned().fold(0.0f64, f64::min);
        pos_rest[t] = pos_rest[t + 1] + hi;
        neg_rest[t] = neg_rest[t + 1] + lo;
    }
    let covers = |u: &[(f64, f64)]| u.iter().any(|&(a, b)| a <= -1.0 && b >= 1.0);
    let mut u: Vec<(f64, f64)> = vec![(-eps, eps)];
    if covers(&u) {
        return Some(0);
    }
    for t in 0..n {
        let mut next = Vec::with_capacity(u.len() * (c[t].len() + 1));
        next.extend_from_slice(&u);
        for &x in &c[t] {
            next.extend(u.iter().map(|&(a, b)| (a + x, b + x)));
        }
        let (p, q) = (pos_rest[t + 1], neg_rest[t + 1]);
        next.retain(|&(a, b)| b + p >= -1.0 && a + q <= 1.0);
        next.sort_by(|x, y| x.0.total_cmp(&y.0));
        u.clear();
        for (a, b) in next {
            match u.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => u.push((a, b)),
            }
        }
        if covers(&u) {
            return Some(t + 1);
        }
    }
    None
}

/// Whether all of `c` covers [−1, 1] at `eps`.
pub fn covers(c: &Candidates, eps: f64) -> bool {
    coverage(c, eps).is_some()
}

/// The best configuration for a target.
#[derive(Clone, Debug, PartialEq)]
pub struct Best {
    /// |z − sum|.
    pub err: f64,
    pub sum: f64,
    /// Per position: 0 = unused, r + 1 = candidate r.
    pub choice: Vec<usize>,
}

/// All sums of one half with their configuration codes (base R + 1, position 0 least
/// significant).
fn enumerate(c: &Candidates, base: u64) -> Vec<(f64, u64)> {
    let mut out = vec![(0.0, 0u64)];
    let mut weight = 1u64;
    for pos in c {
        let mut next = Vec::with_capacity(out.len() * (pos.len() + 1));
        next.extend_from_slice(&out);
        for (r, &x) in pos.iter().enumerate() {
            let code = (r as u64 + 1) * weight;
            next.extend(out.iter().map(|&(s, k)| (s + x, k + code)));
        }
        out = next;
        weight *= base;
    }
    out
}

fn decode(mut code: u64, n: usize, base: u64) -> Vec<usize> {
    (0..n)
        .map(|_| {
            let d = (code % base) as usize;
            code /= base;
            d
        })
        .collect()
}

/// The exact closest achievable sum to `z`, by meet in the middle: O((R+1)^{n/2} log).
pub fn best(c: &Candidates, z: f64) -> Best {
    let base = c.iter().map(|p| p.len()).max().unwrap_or(0) as u64 + 1;
    let h = c.len().div_ceil(2);
    let left = enumerate(&c[..h], base);
    let mut right = enumerate(&c[h..], base);
    right.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = (f64::INFINITY, 0.0, 0u64, 0u64);
    for &(a, ka) in &left {
        let t = z - a;
        let i = right.partition_point(|&(b, _)| b < t);
        for j in [i.wrapping_sub(1), i] {
            if let Some(&(b, kb)) = right.get(j) {
                let err = (t - b).abs();
                if err < best.0 {
                    best = (err, a + b, ka, kb);
                }
            }
        }
    }
    let mut choice = decode(best.2, h, base);
    choice.extend(decode(best.3, c.len() - h, base));
    Best {
        err: best.0,
        sum: best.1,
        choice,
    }
}

/// The sum a choice vector selects.
pub fn sum_of(c: &Candidates, choice: &[usize]) -> f64 {
    c.iter()
        .zip(choice)
        .map(|(p, &k)| if k == 0 { 0.0 } else { p[k - 1] })
        .sum()
}

/// Greedy negative control: largest |x| first, take x if it reduces the residual.
/// Uses one candidate per position (the first), as plain subset sum.
pub fn greedy(values: &[f64], z: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
    let mut residual = z;
    for x in v {
        if (residual - x).abs() < residual.abs() {
            residual -= x;
        }
    }
    residual.abs()
}

/// Malach-style hitting: the single closest value.
pub fn hitting(values: &[f64], z: f64) -> f64 {
    values
        .iter()
        .map(|x| (z - x).abs())
        .fold(f64::INFINITY, f64::min)
}

/// Exhaustive oracles for tests. Exponential; keep n small.
pub mod brute {
    use super::Candidates;

    /// Every configuration's sum, (R + 1)^n of them.
    pub fn all_sums(c: &Candidates) -> Vec<f64> {
        let mut sums = vec![0.0];
        for pos in c {
            let mut next = sums.clone();
            for &x in pos {
                next.extend(sums.iter().map(|s| s + x));
            }
            sums = next;
        }
        sums
    }

    pub fn min_error(c: &Candidates, z: f64) -> f64 {
        all_sums(c)
            .iter()
            .map(|s| (z - s).abs())
            .fold(f64::INFINITY, f64::min)
    }

    /// Every z ∈ [−1, 1] within `eps` of a sum: walk the sorted sums, extending the covered
    /// stretch [−1, reach] until a gap or until it passes 1.
    pub fn covers(c: &Candidates, eps: f64) -> bool {
        let mut s = all_sums(c);
        s.sort_by(f64::total_cmp);
        let mut reach: Option<f64> = None;
        for x in s {
            let (a, b) = (x - eps, x + eps);
            if b < -1.0 {
                continue;
            }
            let r = match reach {
                None if a > -1.0 => return false,
                Some(r) if a > r => return false,
                None => b,
                Some(r) => r.max(b),
            };
            if r >= 1.0 {
                return true;
            }
            reach = Some(r);
        }
        false
    }

    /// Distinct sums (to 1e-12) inside [lo, hi].
    pub fn distinct_sums_in(c: &Candidates, lo: f64, hi: f64) -> usize {
        let mut s: Vec<f64> = all_sums(c)
            .into_iter()
            .filter(|&x| x >= lo && x <= hi)
            .collect();
        s.sort_by(f64::total_cmp);
        s.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
        s.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_cases() {
        // {0.5, 0.25}: sums 0, .25, .5, .75
        let c = vec![vec![0.5], vec![0.25]];
        let b = best(&c, 0.7);
        assert!((b.err - 0.05).abs() < 1e-12);
        assert_eq!(b.choice, vec![1, 1]);
        assert!((sum_of(&c, &b.choice) - 0.75).abs() < 1e-12);
        // coverage at eps = 0.5 of [−1, 1] needs sums within .5 of −1: none below 0 → false
        assert!(!covers(&c, 0.5));
        assert!(!brute::covers(&c, 0.5));
        // with −0.6 added: sums reach −0.6 (covers −1 at eps .5), gaps ≤ 1
        let c2 = vec![vec![0.5], vec![0.25], vec![-0.6]];
        assert_eq!(covers(&c2, 0.5), brute::covers(&c2, 0.5));
        assert!(covers(&c2, 0.5));
        assert_eq!(coverage(&c2, 0.5), Some(3));
        // R = 2 at one position: picks the better candidate
        let c3 = vec![vec![0.9, -0.3]];
        assert_eq!(best(&c3, -0.2).choice, vec![2]);
        assert!((greedy(&[0.5, 0.25], 0.7) - 0.05).abs() < 1e-12);
        assert!((hitting(&[0.1, 0.8], 0.75) - 0.05).abs() < 1e-12);
    }
}
