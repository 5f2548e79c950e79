//! Figures T1–T8 of the theory checks: run the experiments of `theory-checks` at figure (or
//! quick) sizes, and turn their tables into series, CSV files and plots.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use iterand_train::write_atomic;
use theory_checks::experiments::*;

use crate::plot::{write_chart, Chart};
use crate::stats::{Point, Series};

/// Experiment sizes: `quick` for a smoke run under a minute, otherwise the figure sizes.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub quick: bool,
}

impl Sizes {
    fn trials(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

fn point(x: f64, y: f64) -> Point {
    Point {
        x,
        values: vec![y],
        mean: y,
        std: 0.0,
    }
}

fn series(name: impl Into<String>, pts: impl IntoIterator<Item = (f64, f64)>) -> Series {
    Series {
        name: name.into(),
        points: pts.into_iter().map(|(x, y)| point(x, y)).collect(),
        reference: false,
    }
}

/// A prediction, bound or marker: drawn dashed.
fn reference(name: impl Into<String>, pts: impl IntoIterator<Item = (f64, f64)>) -> Series {
    Series {
        reference: true,
        ..series(name, pts)
    }
}

fn csv_of(series: &[Series], x: &str, y: &str) -> String {
    let mut out = format!("series,{x},{y}\n");
    for s in series {
        for p in &s.points {
            let _ = writeln!(out, "{},{},{}", s.name, p.x, p.mean);
        }
    }
    out
}

/// Write `<dir>/<name>.{png,svg,csv}`.
fn figure(
    dir: &Path,
    name: &str,
    title: &str,
    x: &str,
    y: &str,
    log_x: bool,
    s: &[Series],
) -> Result<()> {
    write_atomic(&dir.join(format!("{name}.csv")), csv_of(s, x, y).as_bytes())?;
    write_chart(
        &dir.join(name),
        &Chart {
            title,
            x_label: x,
            y_label: y,
            log_x,
            series: s,
        },
    )
}

fn log2r1(r: usize) -> f64 {
    ((r + 1) as f64).log2()
}

/// What the figures measured, for the report.
pub struct Report {
    pub text: String,
}

/// Run everything and write T1–T8 under `dir`, reporting progress on stderr.
pub fn run(dir: &Path, sizes: Sizes, seed: u64) -> Result<Report> {
    std::fs::create_dir_all(dir)?;
    let start = Instant::now();
    let step = |what: &str| eprintln!("[{:>6.1}s] {what}", start.elapsed().as_secs_f64());
    let mut report = String::new();

    step("E0 hitting lemma");
    let e0 = e0_hitting(seed, sizes.trials(20_000, 2_000), &[1]);
    let _ = writeln!(
        report,
        "E0 hitting lemma, n = ⌈(2/ε)·ln(1/δ)⌉, {} trials per cell:\n",
        e0[0].trials
    );
    let _ = writeln!(report, "| α | ε | δ | n | miss rate | exact (1−ℓ/2)^n | 99.9 % CI |\n|---|---|---|---|---|---|---|");
    for r in &e0 {
        let _ = writeln!(
            report,
            "| {:.3} | {} | {} | {} | {:.4} | {:.4} | [{:.4}, {:.4}] |",
            r.alpha,
            r.eps,
            r.delta,
            r.n,
            r.misses as f64 / r.trials as f64,
            r.exact,
            r.ci.0,
            r.ci.1
        );
    }

    // T1, T2: coverage (E1, E2)
    step("E1/E2 coverage thresholds");
    let rs = [1usize, 2, 3, 4, 8, 16];
    let epss: Vec<f64> = if sizes.quick {
        vec![1e-1, 3e-2, 1e-2, 3e-3, 1e-3]
    } else {
        vec![1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5]
    };
    let rows = e2_coverage(seed, &rs, &epss, sizes.trials(400, 100), 40);
    let t1: Vec<Series> = epss
        .iter()
        .map(|&eps| {
            let row = rows.iter().find(|r| r.r == 1 && r.eps == eps).expect("row");
            series(
                format!("ε = {eps:e}"),
                (0..=30).map(|n| (n as f64, row.p(n))),
            )
        })
        .collect();
    figure(
        dir,
        "t1_coverage_vs_n",
        "T1: P(cover [−1, 1]) vs n, R = 1",
        "positions n",
        "P(cover)",
        false,
        &t1,
    )?;
    let _ = writeln!(
        report,
        "\nE1/E2 coverage of [−1, 1], {} trials: n50 / n90 (integer) and the counting bound\n",
        rows[0].thresholds.len()
    );
    let _ = write!(report, "| ε |");
    for r in &rs {
        let _ = write!(report, " R = {r} |");
    }
    let _ = writeln!(
        report,
        " bound R = 1 |\n|---|{}---|",
        "---|".repeat(rs.len())
    );
    for &eps in &epss {
        let _ = write!(report, "| {eps:e} |");
        for &r in &rs {
            let x = rows.iter().find(|x| x.r == r && x.eps == eps).expect("row");
            let f = |v: Option<usize>| v.map_or("–".to_string(), |v| v.to_string());
            let _ = write!(report, " {}/{} |", f(x.n50_int), f(x.n90_int));
        }
        let _ = writeln!(report, " {} |", counting_bound(eps, 1));
    }
    let mut t2 = vec![];
    let _ = writeln!(
        report,
        "\nE2 fitted n50 = a_R·log2(1/ε) + b_R over ε ∈ [{:e}, {:e}]:",
        epss.last().unwrap(),
        epss[0]
    );
    let _ = writeln!(
        report,
        "| R | a_R | b_R | a_R·log2(R+1) | a_R·log2 R |\n|---|---|---|---|---|"
    );
    let mut slopes = vec![];
    for &r in &rs {
        let pts = rows
            .iter()
            .filter(|x| x.r == r)
            .filter_map(|x| x.n50.map(|n| ((1.0 / x.eps).log2(), n)));
        t2.push(series(format!("n50, R = {r}"), pts));
        let (a, b) = coverage_slope(&rows, r).expect("two ε");
        slopes.push((r, a));
        let log2r = if r >= 2 {
            format!("{:.3}", a * (r as f64).log2())
        } else {
            "– (log 1 = 0)".into()
        };
        let _ = writeln!(
            report,
            "| {r} | {a:.3} | {b:.2} | {:.3} | {log2r} |",
            a * log2r1(r)
        );
    }
    for &r in &[1usize, 4, 16] {
        let lb = epss
            .iter()
            .map(|&e| ((1.0 / e).log2(), (1.0 / e).ln() / ((r + 1) as f64).ln()));
        t2.push(reference(format!("counting bound, R = {r}"), lb));
    }
    figure(
        dir,
        "t2_n_required_vs_log_inv_eps",
        "T2: median n to cover [−1, 1] vs log2(1/ε)",
        "log2(1/ε)",
        "n50 (interpolated)",
        false,
        &t2,
    )?;
    let inset = vec![
        series(
            "measured a_R",
            slopes.iter().map(|&(r, a)| (1.0 / log2r1(r), a)),
        ),
        reference(
            "1.17 / log2(R+1)",
            slopes
                .iter()
                .map(|&(r, _)| (1.0 / log2r1(r), 1.17 / log2r1(r))),
        ),
        reference(
            "1.17 / log2 R, against 1/log2(R+1)",
            slopes
                .iter()
                .filter(|&&(r, _)| r >= 2)
                .map(|&(r, _)| (1.0 / log2r1(r), 1.17 / (r as f64).log2())),
        ),
    ];
    figure(
        dir,
        "t2_inset_slope_vs_inv_log",
        "T2 inset: a_R against 1/log2(R+1)",
        "1/log2(R+1)",
        "a_R",
        false,
        &inset,
    )?;

    // T3, T4: single target, oracle vs online (E3, E4)
    step("E3 single-target error (oracle model)");
    let e3_grid: Vec<(usize, Vec<usize>)> = if sizes.quick {
        vec![
            (1, vec![8, 12, 16, 20]),
            (2, vec![6, 8, 10, 12]),
            (4, vec![4, 6, 8]),
            (8, vec![3, 4, 5, 6]),
        ]
    } else {
        vec![
            (1, vec![8, 12, 16, 20, 24, 28, 32]),
            (2, vec![6, 8, 10, 12, 14, 16, 18, 20]),
            (4, vec![4, 6, 8, 10, 12, 14]),
            (8, vec![3, 4, 5, 6, 7, 8, 9, 10]),
        ]
    };
    let trials = sizes.trials(300, 60);
    let mut t3 = vec![];
    let mut oracle_curves = vec![];
    let _ = writeln!(
        report,
        "\nE3 slope of E[log2 err] per position (upper half) vs −log2(R+1):"
    );
    for (r, ns) in &e3_grid {
        let pts = e3_single_target(seed, *r, ns, trials);
        let _ = writeln!(
            report,
            "- R = {r}: {:.3} (−log2(R+1) = {:.3})",
            upper_half_slope(&pts),
            -log2r1(*r)
        );
        t3.push(series(
            format!("measured, R = {r}"),
            pts.iter().map(|p| (p.n as f64, p.mean_log2)),
        ));
        t3.push(reference(
            format!("P2, R = {r}"),
            ns.iter().map(|&n| (n as f64, p2(n, *r))),
        ));
        oracle_curves.push((*r, pts));
    }
    figure(
        dir,
        "t3_single_target_error_vs_n",
        "T3: exact best error vs n (oracle R-model)",
        "positions n",
        "E[log2 error]",
        false,
        &t3,
    )?;
    step("E4 online model");
    let ns: Vec<usize> = if sizes.quick {
        vec![8, 12, 16]
    } else {
        vec![8, 12, 16, 20, 24]
    };
    let mut t4 = vec![];
    let online1 = e4_online(seed, 1, &ns, trials);
    t4.push(series(
        "plain subset sum (R = 1)",
        online1.iter().map(|p| (p.n as f64, p.mean_log2)),
    ));
    let _ = writeln!(
        report,
        "\nE4 online gain at n = {} over R = 1 (bits) vs log2 R:",
        ns.last().unwrap()
    );
    let mut online_gain = vec![];
    for r in [2usize, 4, 8, 16] {
        let on = e4_online(seed, r, &ns, trials);
        let gain = online1.last().unwrap().mean_log2 - on.last().unwrap().mean_log2;
        online_gain.push((r, gain));
        let _ = writeln!(
            report,
            "- R = {r}: {gain:.2} (log2 R = {:.2})",
            (r as f64).log2()
        );
        t4.push(series(
            format!("online, R = {r}"),
            on.iter().map(|p| (p.n as f64, p.mean_log2)),
        ));
        if let Some((_, o)) = oracle_curves.iter().find(|(rr, _)| *rr == r) {
            t4.push(series(
                format!("oracle, R = {r}"),
                o.iter()
                    .filter(|p| p.n <= *ns.last().unwrap())
                    .map(|p| (p.n as f64, p.mean_log2)),
            ));
        }
    }
    figure(
        dir,
        "t4_oracle_vs_online",
        "T4: oracle (theorem) vs online (practical IteRand)",
        "positions n",
        "E[log2 error]",
        false,
        &t4,
    )?;

    // T5: hitting vs subset sum (E5)
    step("E5 hitting vs subset sum");
    let mut t5 = vec![];
    let _ = writeln!(report, "\nE5 mean error at N = n·R random values (z ∈ [−0.9, 0.9]):\n\n| n | R | N | hitting | 1/(N+1) | greedy | exact subset sum |\n|---|---|---|---|---|---|---|");
    for r in [1usize, 4] {
        let ns: Vec<usize> = if r == 1 {
            vec![4, 6, 8, 12, 16, 20]
        } else {
            vec![2, 4, 6, 8, 10]
        };
        let rows = e5_budget(seed, &ns, &[r], sizes.trials(400, 80));
        for x in &rows {
            let _ = writeln!(
                report,
                "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.2e} |",
                x.n,
                x.r,
                x.budget,
                x.hitting,
                1.0 / (x.budget as f64 + 1.0),
                x.greedy,
                x.subset
            );
        }
        t5.push(series(
            format!("hitting, R = {r}"),
            rows.iter().map(|x| (x.budget as f64, x.hitting.log2())),
        ));
        t5.push(series(
            format!("greedy, R = {r}"),
            rows.iter().map(|x| (x.budget as f64, x.greedy.log2())),
        ));
        t5.push(series(
            format!("exact subset sum, R = {r}"),
            rows.iter().map(|x| (x.budget as f64, x.subset.log2())),
        ));
    }
    figure(
        dir,
        "t5_hitting_vs_subsetsum",
        "T5: error vs number of random values N = nR",
        "random values N",
        "log2 mean error",
        false,
        &t5,
    )?;

    // T6: the neuron gadget (E6)
    step("E6 neuron gadget");
    let mut t6 = vec![];
    for (r, ms) in [
        (1usize, vec![8, 16, 24, 32, 40, 48]),
        (2, vec![8, 12, 16, 20, 24, 28]),
        (4, vec![6, 8, 12, 16, 20]),
    ] {
        let pts = e6_gadget(seed, r, &ms, sizes.trials(200, 40));
        let _ = writeln!(report, "{}E6 gadget, R = {r}: slope {:.3} bits per unit over the upper half (−0.5·log2(R+1) = {:.3}); E[log2 err] {}", if r == 1 { "\n" } else { "" }, upper_half_slope(&pts), -0.5 * log2r1(r), pts.iter().map(|p| format!("m={}: {:.2}", p.n, p.mean_log2)).collect::<Vec<_>>().join(", "));
        t6.push(series(
            format!("R = {r}"),
            pts.iter().map(|p| (p.n as f64, p.mean_log2)),
        ));
    }
    figure(
        dir,
        "t6_neuron_gadget_error_vs_width",
        "T6: Pensia gadget sup error vs hidden units m",
        "hidden units m",
        "E[log2 sup error]",
        false,
        &t6,
    )?;

    // T7: the two-layer network (E7)
    step("E7 two-layer network");
    let mut t7 = vec![];
    let mut widths = vec![];
    let targets = sizes.trials(40, 10);
    for (r, ns) in [
        (1usize, vec![6, 8, 10, 12, 14, 16, 18, 20]),
        (2, vec![4, 6, 8, 10, 12, 14]),
        (4, vec![3, 4, 6, 8, 10]),
    ] {
        let pts = e7_network(seed, 3, r, &ns, targets, 200);
        let ep: Vec<ErrorPoint> = pts
            .iter()
            .map(|p| ErrorPoint {
                n: p.n,
                mean_log2: p.mean_log2,
                median: 0.0,
            })
            .collect();
        let worst = pts.iter().map(|p| p.worst_bound_ratio).fold(0.0, f64::max);
        let _ = writeln!(report, "{}E7 network, R = {r}: slope {:.3} per n (−log2(R+1) = {:.3}); worst error/bound {worst:.3}; E[log2 err] {}", if r == 1 { "\n" } else { "" }, upper_half_slope(&ep), -log2r1(r), pts.iter().map(|p| format!("width {}: {:.2}", p.width, p.mean_log2)).collect::<Vec<_>>().join(", "));
        widths.push((r, width_to_reach(&pts, -10.0)));
        t7.push(series(
            format!("R = {r}"),
            pts.iter().map(|p| (p.width as f64, p.mean_log2)),
        ));
    }
    figure(
        dir,
        "t7_two_layer_net_error_vs_width",
        "T7: 3-3-3 target, error vs source hidden width 6n",
        "source hidden width 2·d·n",
        "E[log2 max error]",
        false,
        &t7,
    )?;
    let _ = writeln!(
        report,
        "\nE7 width to reach error 2^-10, and its ratio to R = 1:"
    );
    let w1 = widths[0].1;
    for (r, w) in &widths {
        match (w, w1) {
            (Some(w), Some(w1)) => {
                let _ = writeln!(
                    report,
                    "- R = {r}: width {w:.1}, ratio {:.3} (1/log2(R+1) = {:.3})",
                    w / w1,
                    1.0 / log2r1(*r)
                );
            }
            _ => {
                let _ = writeln!(report, "- R = {r}: 2^-10 not reached on this grid");
            }
        }
    }

    // T8: the width reduction factor against R
    step("T8 width reduction factor");
    let a1 = slopes[0].1;
    let rr: Vec<usize> = vec![1, 2, 3, 4, 8, 16, 32, 64, 128];
    let mut t8 = vec![
        series(
            "E2 coverage: a_R / a_1",
            slopes.iter().map(|&(r, a)| (r as f64, a / a1)),
        ),
        reference(
            "1 / log2(R+1)",
            rr.iter().map(|&r| (r as f64, 1.0 / log2r1(r))),
        ),
        reference(
            "1 / log2 R",
            rr.iter()
                .filter(|&&r| r >= 2)
                .map(|&r| (r as f64, 1.0 / (r as f64).log2())),
        ),
    ];
    let e3_ratio = oracle_curves.iter().map(|(r, pts)| {
        (
            *r as f64,
            upper_half_slope(&oracle_curves[0].1) / upper_half_slope(pts),
        )
    });
    t8.push(series("E3 single target: slope_1 / slope_R", e3_ratio));
    if let Some(w1) = w1 {
        t8.push(series(
            "E7 network: width_R / width_1",
            widths
                .iter()
                .filter_map(|(r, w)| w.map(|w| (*r as f64, w / w1))),
        ));
    }
    // online: the n saving at n = 20 bits of precision is gain/20 of the positions
    let bits = 20.0;
    t8.push(series(
        "online model at 2^-20 (additive gain)",
        std::iter::once((1.0, 1.0)).chain(
            online_gain
                .iter()
                .map(|&(r, g)| (r as f64, (bits - g) / bits)),
        ),
    ));
    t8.push(reference(
        "paper CIFAR-10, R_eff ≈ 12.7",
        [(12.7, 0.0), (12.7, 1.0)],
    ));
    t8.push(reference(
        "paper ImageNet, R_eff ≈ 105",
        [(105.0, 0.0), (105.0, 1.0)],
    ));
    figure(
        dir,
        "t8_width_reduction_factor",
        "T8: width needed with R values per weight, relative to R = 1",
        "R (log scale)",
        "width(R) / width(1)",
        true,
        &t8,
    )?;
    let e8c = e8_schedule(seed, 35_200, 300, 0.1, 10_000);
    let e8i = e8_schedule(seed, 1_040_550, 1000, 0.1, 2_000);
    let _ = writeln!(report, "\nE8 R_eff with the trainer's schedule: CIFAR-10 (35,200 steps, K_per 300, r 0.1): {:.2}; ImageNet (1,040,550 steps, K_per 1000, r 0.1): {:.2}", e8c.r_eff, e8i.r_eff);
    write_atomic(&dir.join("report.md"), report.as_bytes())?;
    step("done");
    Ok(Report { text: report })
}
