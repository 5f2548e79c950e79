//! Mean ± standard deviation over seeds, and the CSV behind every table and plot.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Mean and sample standard deviation (n − 1; 0 for a single value).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// One point of a curve: x, the per-seed values, and their mean and std.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    pub values: Vec<f64>,
    pub mean: f64,
    pub std: f64,
}

/// A named curve (one method).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
    /// Drawn dashed without markers: a prediction or bound rather than a measurement.
    pub reference: bool,
}

/// Group `(series, x, value)` observations into curves, series in first-seen order and points
/// sorted by x.
pub fn group(observations: &[(String, f64, f64)]) -> Vec<Series> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<(usize, u64), Vec<f64>> = BTreeMap::new();
    for (name, x, v) in observations {
        let i = match order.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                order.push(name.clone());
                order.len() - 1
            }
        };
        map.entry((i, x.to_bits())).or_default().push(*v);
    }
    let mut series: Vec<Series> = order
        .into_iter()
        .map(|name| Series {
            name,
            points: vec![],
            reference: false,
        })
        .collect();
    for ((i, xb), values) in map {
        let (mean, std) = mean_std(&values);
        series[i].points.push(Point {
            x: f64::from_bits(xb),
            values,
            mean,
            std,
        });
    }
    for s in &mut series {
        s.points.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    series
}

/// `series,x,mean,std,n,values` rows (values joined by `;`).
pub fn to_csv(series: &[Series], x_name: &str) -> String {
    let mut out = format!("method,{x_name},mean,std,n,values\n");
    for s in series {
        for p in &s.points {
            let vals: Vec<String> = p.values.iter().map(|v| format!("{v:.4}")).collect();
            let _ = writeln!(
                out,
                "{},{},{:.4},{:.4},{},{}",
                s.name,
                p.x,
                p.mean,
                p.std,
                p.values.len(),
                vals.join(";")
            );
        }
    }
    out
}

/// A Markdown table: one row per x, one column per series, cells `mean ± std`.
pub fn to_markdown(series: &[Series], x_name: &str) -> String {
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.x))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let mut out = format!("| {x_name} |");
    for s in series {
        let _ = write!(out, " {} |", s.name);
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(series.len()));
    out.push('\n');
    for x in xs {
        let _ = write!(out, "| {x} |");
        for s in series {
            match s.points.iter().find(|p| p.x == x) {
                Some(p) => {
                    let _ = write!(out, " {:.2} ± {:.2} |", p.mean, p.std);
                }
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std_by_hand() {
        let (m, s) = mean_std(&[1.0, 2.0, 4.0]);
        assert!((m - 7.0 / 3.0).abs() < 1e-12);
        // deviations −4/3, −1/3, 5/3: squares 16/9 + 1/9 + 25/9 = 42/9, /2 = 7/3
        assert!((s - (7.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[5.0]), (5.0, 0.0));
    }

    #[test]
    fn grouping_tables_and_csv() {
        let obs = vec![
            ("b".to_string(), 0.5, 10.0),
            ("a".to_string(), 0.25, 1.0),
            ("b".to_string(), 0.25, 20.0),
            ("b".to_string(), 0.25, 22.0),
        ];
        let g = group(&obs);
        assert_eq!(g[0].name, "b");
        assert_eq!(g[0].points[0].x, 0.25);
        assert_eq!(g[0].points[0].mean, 21.0);
        assert_eq!(g[1].points.len(), 1);
        let csv = to_csv(&g, "width");
        assert!(csv.starts_with("method,width,mean,std,n,values\n"));
        assert!(
            csv.contains("b,0.25,21.0000,1.4142,2,20.0000;22.0000"),
            "{csv}"
        );
        let md = to_markdown(&g, "width");
        assert!(md.contains("| 0.5 | 10.00 ± 0.00 | – |"), "{md}");
    }
}
