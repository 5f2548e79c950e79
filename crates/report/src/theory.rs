//! Figures T1–T8 of the theory checks: run the experiments of `theory-checks` at figure (or
//! quick) sizes, and turn their tables into series, CSV files and plots.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use iterand_train::write_atomic;
use theory_checks::experiments::*;

use crate::error::io;
use crate::plot::{write_figure, Chart};
use crate::stats::{Point, Series};
use crate::Result;

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

/// Write `<dir>/<name>.{png,svg,csv}` (the theory figures' tables are in report.md).
fn figure(
    dir: &Path,
    name: &str,
    title: &str,
    x: &str,
    y: &str,
    log_x: bool,
    s: &[Series],
) -> Result<()> {
    let chart = Chart {
        title,
        x_label: x,
        y_label: y,
        log_x,
        series: s,
    };
    write_figure(&dir.join(name), &chart, &csv_of(s, x, y), None)
}

fn log2r1(r: usize) -> f64 {
    ((r + 1) as f64).log2()
}

/// What the figures measured, for the report.
pub struct Report {
    pub text: String,
}

/// The state the figures share: where they go, their sizes and seed, and the report so far.
struct Ctx<'a> {
    dir: &'a Path,
    sizes: Sizes,
    seed: u64,
    start: Instant,
    report: String,
}

impl Ctx<'_> {
    /// Progress on stderr, stamped with the seconds since the start.
    fn step(&self, what: &str) {
        eprintln!("[{:>6.1}s] {what}", self.start.elapsed().as_secs_f64());
    }

    /// Append to the report (writing to a String cannot fail).
    fn say(&mut self, text: std::fmt::Arguments) {
        let _ = self.report.write_fmt(text);
    }
}

/// What later figures reuse from earlier ones: T8 compares every experiment's width factor.
struct Measured {
    /// E2's fitted a_R per R.
    slopes: Vec<(usize, f64)>,
    /// E3's oracle curves per R.
    oracle: Vec<(usize, Vec<ErrorPoint>)>,
    /// E4's online gain over R = 1, in bits, per R.
    online_gain: Vec<(usize, f64)>,
    /// E7's width to reach 2^-10 per R.
    widths: Vec<(usize, Option<f64>)>,
}

/// Run everything and write T1–T8 under `dir`, reporting progress on stderr.
pub fn run(dir: &Path, sizes: Sizes, seed: u64) -> Result<Report> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut ctx = Ctx {
        dir,
        sizes,
        seed,
        start: Instant::now(),
        report: String::new(),
    };
    e0(&mut ctx);
    let slopes = coverage(&mut ctx)?;
    let oracle = t3_single_target(&mut ctx)?;
    let online_gain = t4_online(&mut ctx, &oracle)?;
    t5_hitting(&mut ctx)?;
    t6_gadget(&mut ctx)?;
    let widths = t7_network(&mut ctx)?;
    let m = Measured {
        slopes,
        oracle,
        online_gain,
        widths,
    };
    t8_width_factor(&ctx, &m)?;
    e8_report(&mut ctx);
    write_atomic(&dir.join("report.md"), ctx.report.as_bytes())?;
    ctx.step("done");
    Ok(Report { text: ctx.report })
}

/// E0: the hitting lemma's miss rate against its exact value (report only).
fn e0(ctx: &mut Ctx) {
    ctx.step("E0 hitting lemma");
    let e0 = e0_hitting(ctx.seed, ctx.sizes.trials(20_000, 2_000), &[1]);
    ctx.say(format_args!(
        "E0 hitting lemma, n = ⌈(2/ε)·ln(1/δ)⌉, {} trials per cell:\n\n",
        e0[0].trials
    ));
    ctx.say(format_args!("| α | ε | δ | n | miss rate | exact (1−ℓ/2)^n | 99.9 % CI |\n|---|---|---|---|---|---|---|\n"));
    for r in &e0 {
        ctx.say(format_args!(
            "| {:.3} | {} | {} | {} | {:.4} | {:.4} | [{:.4}, {:.4}] |\n",
            r.alpha,
            r.eps,
            r.delta,
            r.n,
            r.misses as f64 / r.trials as f64,
            r.exact,
            r.ci.0,
            r.ci.1
        ));
    }
}

/// E1/E2 (T1, T2 and its inset): coverage of [−1, 1]; returns the fitted slope a_R per R.
fn coverage(ctx: &mut Ctx) -> Result<Vec<(usize, f64)>> {
    ctx.step("E1/E2 coverage thresholds");
    let rs = [1usize, 2, 3, 4, 8, 16];
    let epss: Vec<f64> = if ctx.sizes.quick {
        vec![1e-1, 3e-2, 1e-2, 3e-3, 1e-3]
    } else {
        vec![1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5]
    };
    let rows = e2_coverage(ctx.seed, &rs, &epss, ctx.sizes.trials(400, 100), 40);
    t1_coverage(ctx, &rows, &epss)?;
    coverage_table(ctx, &rows, &rs, &epss);
    let slopes = t2_thresholds(ctx, &rows, &rs, &epss)?;
    t2_inset(ctx, &slopes)?;
    Ok(slopes)
}

/// T1: P(cover) against n at R = 1, one curve per ε.
fn t1_coverage(ctx: &Ctx, rows: &[CoverageRow], epss: &[f64]) -> Result<()> {
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
        ctx.dir,
        "t1_coverage_vs_n",
        "T1: P(cover [−1, 1]) vs n, R = 1",
        "positions n",
        "P(cover)",
        false,
        &t1,
    )
}

/// The report's table of n50 / n90 per ε and R, beside the counting bound.
fn coverage_table(ctx: &mut Ctx, rows: &[CoverageRow], rs: &[usize], epss: &[f64]) {
    ctx.say(format_args!(
        "\nE1/E2 coverage of [−1, 1], {} trials: n50 / n90 (integer) and the counting bound\n\n",
        rows[0].thresholds.len()
    ));
    ctx.say(format_args!("| ε |"));
    for r in rs {
        ctx.say(format_args!(" R = {r} |"));
    }
    ctx.say(format_args!(
        " bound R = 1 |\n|---|{}---|\n",
        "---|".repeat(rs.len())
    ));
    for &eps in epss {
        ctx.say(format_args!("| {eps:e} |"));
        for &r in rs {
            let x = rows.iter().find(|x| x.r == r && x.eps == eps).expect("row");
            let f = |v: Option<usize>| v.map_or("–".to_string(), |v| v.to_string());
            ctx.say(format_args!(" {}/{} |", f(x.n50_int), f(x.n90_int)));
        }
        ctx.say(format_args!(" {} |\n", counting_bound(eps, 1)));
    }
}

/// T2: the median n against log2(1/ε) per R, with the fitted slopes in the report.
fn t2_thresholds(
    ctx: &mut Ctx,
    rows: &[CoverageRow],
    rs: &[usize],
    epss: &[f64],
) -> Result<Vec<(usize, f64)>> {
    ctx.say(format_args!(
        "\nE2 fitted n50 = a_R·log2(1/ε) + b_R over ε ∈ [{:e}, {:e}]:\n",
        epss.last().unwrap(),
        epss[0]
    ));
    ctx.say(format_args!(
        "| R | a_R | b_R | a_R·log2(R+1) | a_R·log2 R |\n|---|---|---|---|---|\n"
    ));
    let (mut t2, mut slopes) = (vec![], vec![]);
    for &r in rs {
        let pts = rows
            .iter()
            .filter(|x| x.r == r)
            .filter_map(|x| x.n50.map(|n| ((1.0 / x.eps).log2(), n)));
        t2.push(series(format!("n50, R = {r}"), pts));
        let (a, b) = coverage_slope(rows, r).expect("two ε");
        slopes.push((r, a));
        let log2r = if r >= 2 {
            format!("{:.3}", a * (r as f64).log2())
        } else {
            "– (log 1 = 0)".into()
        };
        let scaled = a * log2r1(r);
        ctx.say(format_args!(
            "| {r} | {a:.3} | {b:.2} | {scaled:.3} | {log2r} |\n"
        ));
    }
    for &r in &[1usize, 4, 16] {
        let lb = epss
            .iter()
            .map(|&e| ((1.0 / e).log2(), (1.0 / e).ln() / ((r + 1) as f64).ln()));
        t2.push(reference(format!("counting bound, R = {r}"), lb));
    }
    figure(
        ctx.dir,
        "t2_n_required_vs_log_inv_eps",
        "T2: median n to cover [−1, 1] vs log2(1/ε)",
        "log2(1/ε)",
        "n50 (interpolated)",
        false,
        &t2,
    )?;
    Ok(slopes)
}

/// T2's inset: the measured slopes against 1/log2(R+1) and the two candidate laws.
fn t2_inset(ctx: &Ctx, slopes: &[(usize, f64)]) -> Result<()> {
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
        ctx.dir,
        "t2_inset_slope_vs_inv_log",
        "T2 inset: a_R against 1/log2(R+1)",
        "1/log2(R+1)",
        "a_R",
        false,
        &inset,
    )
}

/// E3's grid of n per R: fewer and smaller n at quick sizes.
fn e3_grid(sizes: Sizes) -> Vec<(usize, Vec<usize>)> {
    if sizes.quick {
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
    }
}

/// T3 (E3): the oracle model's exact best error against n; returns its curves for T4 and T8.
fn t3_single_target(ctx: &mut Ctx) -> Result<Vec<(usize, Vec<ErrorPoint>)>> {
    ctx.step("E3 single-target error (oracle model)");
    let trials = ctx.sizes.trials(300, 60);
    let (mut t3, mut oracle) = (vec![], vec![]);
    ctx.say(format_args!(
        "\nE3 slope of E[log2 err] per position (upper half) vs −log2(R+1):\n"
    ));
    for (r, ns) in e3_grid(ctx.sizes) {
        let pts = e3_single_target(ctx.seed, r, &ns, trials);
        ctx.say(format_args!(
            "- R = {r}: {:.3} (−log2(R+1) = {:.3})\n",
            upper_half_slope(&pts),
            -log2r1(r)
        ));
        t3.push(series(
            format!("measured, R = {r}"),
            pts.iter().map(|p| (p.n as f64, p.mean_log2)),
        ));
        t3.push(reference(
            format!("P2, R = {r}"),
            ns.iter().map(|&n| (n as f64, p2(n, r))),
        ));
        oracle.push((r, pts));
    }
    figure(
        ctx.dir,
        "t3_single_target_error_vs_n",
        "T3: exact best error vs n (oracle R-model)",
        "positions n",
        "E[log2 error]",
        false,
        &t3,
    )?;
    Ok(oracle)
}

/// T4 (E4): the online model beside the oracle; returns the online gain over R = 1 per R.
fn t4_online(ctx: &mut Ctx, oracle: &[(usize, Vec<ErrorPoint>)]) -> Result<Vec<(usize, f64)>> {
    ctx.step("E4 online model");
    let ns: Vec<usize> = if ctx.sizes.quick {
        vec![8, 12, 16]
    } else {
        vec![8, 12, 16, 20, 24]
    };
    let (trials, last_n) = (ctx.sizes.trials(300, 60), *ns.last().unwrap());
    let online1 = e4_online(ctx.seed, 1, &ns, trials);
    let mut t4 = vec![series(
        "plain subset sum (R = 1)",
        online1.iter().map(|p| (p.n as f64, p.mean_log2)),
    )];
    ctx.say(format_args!(
        "\nE4 online gain at n = {last_n} over R = 1 (bits) vs log2 R:\n"
    ));
    let mut online_gain = vec![];
    for r in [2usize, 4, 8, 16] {
        let on = e4_online(ctx.seed, r, &ns, trials);
        let gain = online1.last().unwrap().mean_log2 - on.last().unwrap().mean_log2;
        online_gain.push((r, gain));
        let log2r = (r as f64).log2();
        ctx.say(format_args!("- R = {r}: {gain:.2} (log2 R = {log2r:.2})\n"));
        t4.push(series(
            format!("online, R = {r}"),
            on.iter().map(|p| (p.n as f64, p.mean_log2)),
        ));
        if let Some((_, o)) = oracle.iter().find(|(rr, _)| *rr == r) {
            let shown = o.iter().filter(|p| p.n <= last_n);
            t4.push(series(
                format!("oracle, R = {r}"),
                shown.map(|p| (p.n as f64, p.mean_log2)),
            ));
        }
    }
    figure(
        ctx.dir,
        "t4_oracle_vs_online",
        "T4: oracle (theorem) vs online (practical IteRand)",
        "positions n",
        "E[log2 error]",
        false,
        &t4,
    )?;
    Ok(online_gain)
}

/// T5 (E5): hitting against greedy and exact subset sum at the same number of random values.
fn t5_hitting(ctx: &mut Ctx) -> Result<()> {
    ctx.step("E5 hitting vs subset sum");
    let mut t5 = vec![];
    ctx.say(format_args!("\nE5 mean error at N = n·R random values (z ∈ [−0.9, 0.9]):\n\n| n | R | N | hitting | 1/(N+1) | greedy | exact subset sum |\n|---|---|---|---|---|---|---|\n"));
    for r in [1usize, 4] {
        let ns: Vec<usize> = if r == 1 {
            vec![4, 6, 8, 12, 16, 20]
        } else {
            vec![2, 4, 6, 8, 10]
        };
        let rows = e5_budget(ctx.seed, &ns, &[r], ctx.sizes.trials(400, 80));
        for x in &rows {
            ctx.say(format_args!(
                "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.2e} |\n",
                x.n,
                x.r,
                x.budget,
                x.hitting,
                1.0 / (x.budget as f64 + 1.0),
                x.greedy,
                x.subset
            ));
        }
        let curve = |name: &str, f: fn(&BudgetRow) -> f64| {
            let pts = rows.iter().map(|x| (x.budget as f64, f(x).log2()));
            series(format!("{name}, R = {r}"), pts)
        };
        t5.push(curve("hitting", |x| x.hitting));
        t5.push(curve("greedy", |x| x.greedy));
        t5.push(curve("exact subset sum", |x| x.subset));
    }
    figure(
        ctx.dir,
        "t5_hitting_vs_subsetsum",
        "T5: error vs number of random values N = nR",
        "random values N",
        "log2 mean error",
        false,
        &t5,
    )
}

/// T6 (E6): Pensia's neuron gadget, sup error against hidden units.
fn t6_gadget(ctx: &mut Ctx) -> Result<()> {
    ctx.step("E6 neuron gadget");
    let mut t6 = vec![];
    for (r, ms) in [
        (1usize, vec![8, 16, 24, 32, 40, 48]),
        (2, vec![8, 12, 16, 20, 24, 28]),
        (4, vec![6, 8, 12, 16, 20]),
    ] {
        let pts = e6_gadget(ctx.seed, r, &ms, ctx.sizes.trials(200, 40));
        let curve = pts.iter().map(|p| format!("m={}: {:.2}", p.n, p.mean_log2));
        ctx.say(format_args!("{}E6 gadget, R = {r}: slope {:.3} bits per unit over the upper half (−0.5·log2(R+1) = {:.3}); E[log2 err] {}\n", if r == 1 { "\n" } else { "" }, upper_half_slope(&pts), -0.5 * log2r1(r), curve.collect::<Vec<_>>().join(", ")));
        t6.push(series(
            format!("R = {r}"),
            pts.iter().map(|p| (p.n as f64, p.mean_log2)),
        ));
    }
    figure(
        ctx.dir,
        "t6_neuron_gadget_error_vs_width",
        "T6: Pensia gadget sup error vs hidden units m",
        "hidden units m",
        "E[log2 sup error]",
        false,
        &t6,
    )
}

/// T7 (E7): the two-layer network; returns the width that reaches 2^-10 per R.
fn t7_network(ctx: &mut Ctx) -> Result<Vec<(usize, Option<f64>)>> {
    ctx.step("E7 two-layer network");
    let (mut t7, mut widths) = (vec![], vec![]);
    let targets = ctx.sizes.trials(40, 10);
    for (r, ns) in [
        (1usize, vec![6, 8, 10, 12, 14, 16, 18, 20]),
        (2, vec![4, 6, 8, 10, 12, 14]),
        (4, vec![3, 4, 6, 8, 10]),
    ] {
        let pts = e7_network(ctx.seed, 3, r, &ns, targets, 200);
        network_line(ctx, r, &pts);
        widths.push((r, width_to_reach(&pts, -10.0)));
        t7.push(series(
            format!("R = {r}"),
            pts.iter().map(|p| (p.width as f64, p.mean_log2)),
        ));
    }
    figure(
        ctx.dir,
        "t7_two_layer_net_error_vs_width",
        "T7: 3-3-3 target, error vs source hidden width 6n",
        "source hidden width 2·d·n",
        "E[log2 max error]",
        false,
        &t7,
    )?;
    widths_report(ctx, &widths);
    Ok(widths)
}

/// The report's line for one R of E7: slope, worst error against the bound, the curve.
fn network_line(ctx: &mut Ctx, r: usize, pts: &[NetworkPoint]) {
    let ep: Vec<ErrorPoint> = pts
        .iter()
        .map(|p| ErrorPoint {
            n: p.n,
            mean_log2: p.mean_log2,
            median: 0.0,
        })
        .collect();
    let worst = pts.iter().map(|p| p.worst_bound_ratio).fold(0.0, f64::max);
    let curve = pts
        .iter()
        .map(|p| format!("width {}: {:.2}", p.width, p.mean_log2));
    ctx.say(format_args!("{}E7 network, R = {r}: slope {:.3} per n (−log2(R+1) = {:.3}); worst error/bound {worst:.3}; E[log2 err] {}\n", if r == 1 { "\n" } else { "" }, upper_half_slope(&ep), -log2r1(r), curve.collect::<Vec<_>>().join(", ")));
}

/// The report's widths to reach 2^-10, as ratios to R = 1.
fn widths_report(ctx: &mut Ctx, widths: &[(usize, Option<f64>)]) {
    ctx.say(format_args!(
        "\nE7 width to reach error 2^-10, and its ratio to R = 1:\n"
    ));
    let w1 = widths[0].1;
    for (r, w) in widths {
        match (w, w1) {
            (Some(w), Some(w1)) => ctx.say(format_args!(
                "- R = {r}: width {w:.1}, ratio {:.3} (1/log2(R+1) = {:.3})\n",
                w / w1,
                1.0 / log2r1(*r)
            )),
            _ => ctx.say(format_args!("- R = {r}: 2^-10 not reached on this grid\n")),
        }
    }
}

/// T8: every experiment's width reduction factor against R, beside the two laws and the
/// paper's effective R.
fn t8_width_factor(ctx: &Ctx, m: &Measured) -> Result<()> {
    ctx.step("T8 width reduction factor");
    let a1 = m.slopes[0].1;
    let rr: Vec<usize> = vec![1, 2, 3, 4, 8, 16, 32, 64, 128];
    let mut t8 = vec![
        series(
            "E2 coverage: a_R / a_1",
            m.slopes.iter().map(|&(r, a)| (r as f64, a / a1)),
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
    let slope1 = upper_half_slope(&m.oracle[0].1);
    let e3_ratio = m
        .oracle
        .iter()
        .map(|(r, pts)| (*r as f64, slope1 / upper_half_slope(pts)));
    t8.push(series("E3 single target: slope_1 / slope_R", e3_ratio));
    if let Some(w1) = m.widths[0].1 {
        t8.push(series(
            "E7 network: width_R / width_1",
            m.widths
                .iter()
                .filter_map(|(r, w)| w.map(|w| (*r as f64, w / w1))),
        ));
    }
    t8.extend(t8_markers(&m.online_gain));
    figure(
        ctx.dir,
        "t8_width_reduction_factor",
        "T8: width needed with R values per weight, relative to R = 1",
        "R (log scale)",
        "width(R) / width(1)",
        true,
        &t8,
    )
}

/// T8's online curve and the paper's two effective R as vertical markers.
fn t8_markers(online_gain: &[(usize, f64)]) -> [Series; 3] {
    // online: the n saving at n = 20 bits of precision is gain/20 of the positions
    let bits = 20.0;
    let gains = online_gain
        .iter()
        .map(|&(r, g)| (r as f64, (bits - g) / bits));
    [
        series(
            "online model at 2^-20 (additive gain)",
            std::iter::once((1.0, 1.0)).chain(gains),
        ),
        reference("paper CIFAR-10, R_eff ≈ 12.7", [(12.7, 0.0), (12.7, 1.0)]),
        reference("paper ImageNet, R_eff ≈ 105", [(105.0, 0.0), (105.0, 1.0)]),
    ]
}

/// E8: the effective R of the trainer's schedule at the paper's two settings (report only).
fn e8_report(ctx: &mut Ctx) {
    let e8c = e8_schedule(ctx.seed, 35_200, 300, 0.1, 10_000);
    let e8i = e8_schedule(ctx.seed, 1_040_550, 1000, 0.1, 2_000);
    ctx.say(format_args!("\nE8 R_eff with the trainer's schedule: CIFAR-10 (35,200 steps, K_per 300, r 0.1): {:.2}; ImageNet (1,040,550 steps, K_per 1000, r 0.1): {:.2}\n", e8c.r_eff, e8i.r_eff));
}
