//! Small statistics for the pass criteria: binomial intervals, fits, thresholds.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; ~1e-13 relative).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// P(X ≤ k) for X ~ Binomial(n, p).
pub fn binom_cdf(k: u64, n: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let ln_n1 = ln_gamma(n as f64 + 1.0);
    (0..=k.min(n))
        .map(|i| {
            let lc = ln_n1 - ln_gamma(i as f64 + 1.0) - ln_gamma((n - i) as f64 + 1.0);
            (lc + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp()
        })
        .sum::<f64>()
        .min(1.0)
}

/// Clopper–Pearson interval for k successes in n trials at confidence `conf` (e.g. 0.999).
pub fn clopper_pearson(k: u64, n: u64, conf: f64) -> (f64, f64) {
    let a = (1.0 - conf) / 2.0;
    // upper: P(X ≤ k | p) = a; lower: P(X ≥ k | p) = a
    let bisect = |f: &dyn Fn(f64) -> f64| {
        let (mut lo, mut hi) = (0.0, 1.0);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if f(mid) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    };
    let upper = if k >= n {
        1.0
    } else {
        bisect(&|p| binom_cdf(k, n, p) - a)
    };
    let lower = if k == 0 {
        0.0
    } else {
        bisect(&|p| a - (1.0 - binom_cdf(k - 1, n, p)))
    };
    (lower, upper)
}

/// Least-squares line y = slope·x + intercept.
pub fn linfit(xs: &[f64], ys: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The n where the fraction of trials whose threshold is ≤ n first reaches `level`,
/// interpolated linearly between integers. `thresholds` are per-trial minimal n (None = never).
pub fn interpolated_quantile(thresholds: &[Option<usize>], level: f64) -> Option<f64> {
    let total = thresholds.len() as f64;
    let max = thresholds.iter().flatten().max().copied()?;
    let frac = |n: usize| {
        thresholds
            .iter()
            .filter(|t| t.is_some_and(|v| v <= n))
            .count() as f64
            / total
    };
    let mut prev = 0.0;
    for n in 0..=max {
        let p = frac(n);
        if p >= level {
            if n == 0 {
                return Some(0.0);
            }
            return Some(n as f64 - 1.0 + (level - prev) / (p - prev));
        }
        prev = p;
    }
    None
}

/// The smallest integer n with at least `level` of the trials done by n.
pub fn integer_quantile(thresholds: &[Option<usize>], level: f64) -> Option<usize> {
    let total = thresholds.len() as f64;
    let max = thresholds.iter().flatten().max().copied()?;
    (0..=max).find(|&n| {
        thresholds
            .iter()
            .filter(|t| t.is_some_and(|v| v <= n))
            .count() as f64
            / total
            >= level
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_and_binomial_by_hand() {
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        // Binomial(3, ½): P(X ≤ 1) = 4/8
        assert!((binom_cdf(1, 3, 0.5) - 0.5).abs() < 1e-12);
        assert!((binom_cdf(3, 3, 0.3) - 1.0).abs() < 1e-12);
        // P(X ≤ 0) = 0.7³
        assert!((binom_cdf(0, 3, 0.3) - 0.343).abs() < 1e-12);
    }

    #[test]
    fn clopper_pearson_known_values() {
        // k = 0: upper = 1 − (a)^{1/n}; n = 10, 95 %: 1 − 0.025^{0.1} = 0.30850
        let (lo, hi) = clopper_pearson(0, 10, 0.95);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.308_50).abs() < 1e-4, "{hi}");
        // k = n = 10: lower = 0.025^{0.1} = 0.69150
        let (lo, hi) = clopper_pearson(10, 10, 0.95);
        assert!((lo - 0.691_50).abs() < 1e-4 && hi == 1.0);
        let (lo, hi) = clopper_pearson(50, 100, 0.95);
        assert!(
            (lo - 0.3983).abs() < 1e-3 && (hi - 0.6017).abs() < 1e-3,
            "{lo} {hi}"
        );
    }

    #[test]
    fn fits_and_quantiles() {
        let (s, i) = linfit(&[1.0, 2.0, 3.0], &[3.0, 5.0, 7.0]);
        assert!((s - 2.0).abs() < 1e-12 && (i - 1.0).abs() < 1e-12);
        let t = [Some(3), Some(4), Some(4), Some(6)];
        // fractions: n=3: .25, n=4: .75, n=6: 1 → 0.5 reached between 3 and 4: 3.5
        assert_eq!(interpolated_quantile(&t, 0.5), Some(3.5));
        assert_eq!(integer_quantile(&t, 0.5), Some(4));
        assert_eq!(integer_quantile(&t, 0.9), Some(6));
    }
}
