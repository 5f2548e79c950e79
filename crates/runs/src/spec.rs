//! Experiment files (`configs/*.toml`): the one place a paper experiment is written down.
//!
//! A file holds a `base` (keys of a run, over the built-in defaults), a `grid` (lists whose
//! every combination is one run) and named `experiments`, each adding its own keys and
//! optionally its own grid. Experiment `ku_sgd` of `figure2_conv6.toml` is the official
//! config's `figure2_conv6_ku_sgd`. A run resolves as defaults → base → experiment → grid
//! point → `--set` overrides, so the `cifar10` presets, sweeps and figures all read the same
//! values. The files in `configs/` are compiled in ([`embedded`]), so the binaries work from any
//! folder; a sweep may also be given any other file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{bail, invalid, Context, Result};
use iterand_train::TrainConfig;

/// The files of `configs/`, by name (file stem).
const EMBEDDED: &[(&str, &str)] = &[
    ("figure1", include_str!("../../../configs/figure1.toml")),
    (
        "figure2_conv6",
        include_str!("../../../configs/figure2_conv6.toml"),
    ),
    (
        "figure2_resnet18",
        include_str!("../../../configs/figure2_resnet18.toml"),
    ),
    (
        "figure2_resnet34",
        include_str!("../../../configs/figure2_resnet34.toml"),
    ),
    ("figure3", include_str!("../../../configs/figure3.toml")),
    ("cifar10", include_str!("../../../configs/cifar10.toml")),
    (
        "quick_figure1",
        include_str!("../../../configs/quick_figure1.toml"),
    ),
    (
        "quick_figure2",
        include_str!("../../../configs/quick_figure2.toml"),
    ),
    (
        "quickstart",
        include_str!("../../../configs/quickstart.toml"),
    ),
    ("compare", include_str!("../../../configs/compare.toml")),
];

/// Grid keys come first in this order in run names; others follow alphabetically.
const GRID_ORDER: &[&str] = &[
    "model",
    "method",
    "init_mode",
    "width",
    "sparsity",
    "rerand_lambda",
    "rerand_freq",
    "seed",
];

/// One named experiment of a file.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// `<file>_<key>`, the official config's name.
    pub name: String,
    /// Base and experiment keys merged (no grid).
    pub keys: toml::Table,
    /// The lists it sweeps, in run-name order.
    pub grid: Vec<(String, Vec<toml::Value>)>,
}

/// A parsed experiment file.
#[derive(Clone, Debug)]
pub struct ExperimentFile {
    pub name: String,
    pub description: String,
    /// The paper figure its runs belong to (1, 2, 3), if any.
    pub figure: Option<u32>,
    pub experiments: Vec<Experiment>,
}

/// One run of a sweep: where it goes and what it is.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub experiment: String,
    /// Folder name under the experiment: `width_0.25--seed_1` (`run` without a grid).
    pub id: String,
    pub config: TrainConfig,
}

impl RunSpec {
    /// `<experiment>/<id>`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.experiment, self.id)
    }
}

fn table_of<'a>(v: &'a toml::Value, what: &str) -> Result<&'a toml::Table> {
    v.as_table()
        .ok_or_else(|| invalid!("`{what}` must be a table"))
}

fn grid_of(t: &toml::Table, what: &str) -> Result<Vec<(String, Vec<toml::Value>)>> {
    let mut out = vec![];
    for (k, v) in t {
        let values = v
            .as_array()
            .ok_or_else(|| invalid!("`{what}.{k}` must be a list of values"))?;
        if values.is_empty() {
            bail!("`{what}.{k}` is empty: a grid key needs at least one value");
        }
        out.push((k.clone(), values.clone()));
    }
    Ok(out)
}

fn order_grid(grid: &mut [(String, Vec<toml::Value>)]) {
    let rank = |k: &str| {
        GRID_ORDER
            .iter()
            .position(|g| *g == k)
            .unwrap_or(usize::MAX)
    };
    grid.sort_by(|a, b| (rank(&a.0), &a.0).cmp(&(rank(&b.0), &b.0)));
}

/// A value as it appears in a run name: `0.25`, `1`, `kaiming_uniform`.
fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string(),
    }
}

/// `width ∈ {0.25, 0.5} × seed ∈ {1, 2}`, or `single run`.
pub fn show_grid(grid: &[(String, Vec<toml::Value>)]) -> String {
    if grid.is_empty() {
        return "single run".into();
    }
    grid.iter()
        .map(|(k, vs)| {
            let vs: Vec<String> = vs.iter().map(show).collect();
            format!("{k} ∈ {{{}}}", vs.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" × ")
}

/// `key=value` from the command line; the value is read as TOML (`0.5`, `true`, `"x"`) and
/// otherwise taken as a string (`model=conv6`).
pub fn parse_set(s: &str) -> Result<(String, toml::Value), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected key=value"))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(format!("`{s}`: the key is empty"));
    }
    let v = v.trim();
    let value = match format!("v = {v}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").expect("parsed key"),
        Err(_) => toml::Value::String(v.to_string()),
    };
    Ok((k.to_string(), value))
}

/// `--set` pairs as one layer of keys.
pub fn overrides(sets: &[(String, toml::Value)]) -> toml::Table {
    sets.iter().cloned().collect()
}

impl ExperimentFile {
    /// Parse the text of the file called `name`.
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let doc: toml::Table = text.parse().map_err(|e| invalid!("{e}"))?;
        let mut file = Self {
            name: name.to_string(),
            description: String::new(),
            figure: None,
            experiments: vec![],
        };
        let mut base = toml::Table::new();
        let mut grid = vec![];
        let mut experiments = BTreeMap::new();
        for (k, v) in &doc {
            match k.as_str() {
                "description" => file.description = description(v)?,
                "figure" => file.figure = Some(figure(v)?),
                "base" => base = table_of(v, "base")?.clone(),
                "grid" => grid = grid_of(table_of(v, "grid")?, "grid")?,
                "experiments" => {
                    for (e, t) in table_of(v, "experiments")? {
                        experiments.insert(e.clone(), table_of(t, &format!("experiments.{e}"))?);
                    }
                }
                other => bail!(
                    "unknown key `{other}` (a file has description, figure, base, grid and \
                     experiments; run keys go under [base] or [experiments.NAME])"
                ),
            }
        }
        if experiments.is_empty() {
            bail!("no [experiments.NAME] table: nothing to run");
        }
        for (e, t) in experiments {
            let exp = Experiment::of(name, &e, t, &base, &grid)?;
            // Every run must resolve now, not hours into a sweep.
            exp.runs(&toml::Table::new())
                .with_context(|| format!("experiment `{e}`"))?;
            file.experiments.push(exp);
        }
        Ok(file)
    }

    /// Read and parse a file from disk.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        Self::parse(&name, &text).with_context(|| format!("in {}", path.display()))
    }

    /// Every run of every experiment, `overrides` applied last.
    pub fn runs(&self, overrides: &toml::Table) -> Result<Vec<RunSpec>> {
        let mut out = vec![];
        for e in &self.experiments {
            out.extend(e.runs(overrides).with_context(|| e.name.clone())?);
        }
        Ok(out)
    }
}

fn description(v: &toml::Value) -> Result<String> {
    let text = v
        .as_str()
        .ok_or_else(|| invalid!("`description` must be a string"))?;
    Ok(text.to_string())
}

fn figure(v: &toml::Value) -> Result<u32> {
    let f = v.as_integer().filter(|f| (1..=3).contains(f));
    Ok(f.ok_or_else(|| invalid!("`figure` must be 1, 2 or 3, not {v}"))? as u32)
}

impl Experiment {
    /// Experiment `e` of file `file`: the base keys with its own on top, the file's grid with
    /// its own grid's keys replacing those of the same name.
    fn of(
        file: &str,
        e: &str,
        t: &toml::Table,
        base: &toml::Table,
        grid: &[(String, Vec<toml::Value>)],
    ) -> Result<Self> {
        let mut keys = base.clone();
        let mut g = grid.to_vec();
        for (k, v) in t {
            if k != "grid" {
                keys.insert(k.clone(), v.clone());
                continue;
            }
            for (gk, gv) in grid_of(table_of(v, "grid")?, &format!("experiments.{e}.grid"))? {
                g.retain(|(x, _)| *x != gk);
                g.push((gk, gv));
            }
        }
        order_grid(&mut g);
        Ok(Experiment {
            name: format!("{file}_{e}"),
            keys,
            grid: g,
        })
    }

    /// The experiment's config without a grid point (the `cifar10` presets), `overrides` last.
    pub fn config(&self, overrides: &toml::Table) -> Result<TrainConfig> {
        Ok(TrainConfig::resolve([&self.keys, overrides])?)
    }

    /// One run per grid point, in grid order (the last key varies fastest).
    pub fn runs(&self, overrides: &toml::Table) -> Result<Vec<RunSpec>> {
        let mut points: Vec<Vec<(String, toml::Value)>> = vec![vec![]];
        for (k, values) in &self.grid {
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push((k.clone(), v.clone()));
                        q
                    })
                })
                .collect();
        }
        points
            .into_iter()
            .map(|point| {
                let id = if point.is_empty() {
                    "run".to_string()
                } else {
                    point
                        .iter()
                        .map(|(k, v)| format!("{k}_{}", show(v)))
                        .collect::<Vec<_>>()
                        .join("--")
                };
                let layer: toml::Table = point.into_iter().collect();
                let config = TrainConfig::resolve([&self.keys, &layer, overrides])
                    .with_context(|| format!("grid point {id}"))?;
                Ok(RunSpec {
                    experiment: self.name.clone(),
                    id,
                    config,
                })
            })
            .collect()
    }
}

/// The files of `configs/`, parsed (they are tested to parse).
pub fn embedded() -> Vec<ExperimentFile> {
    EMBEDDED
        .iter()
        .map(|(name, text)| {
            ExperimentFile::parse(name, text)
                .unwrap_or_else(|e| panic!("configs/{name}.toml: {e:#}"))
        })
        .collect()
}

/// The text of the embedded file called `name`, for a command that writes its own version of it
/// (`quickstart`, `compare`).
pub fn embedded_text(name: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The embedded experiment called `name` (e.g. `figure2_conv6_ku_sgd`) and its file.
pub fn find(name: &str) -> Option<(ExperimentFile, Experiment)> {
    embedded().into_iter().find_map(|f| {
        let e = f.experiments.iter().find(|e| e.name == name)?.clone();
        Some((f, e))
    })
}

/// The embedded file called `name`, or the file at that path.
pub fn open(name_or_path: &str) -> Result<ExperimentFile> {
    let path = Path::new(name_or_path);
    if path.exists() {
        return ExperimentFile::load(path);
    }
    embedded()
        .into_iter()
        .find(|f| f.name == name_or_path)
        .ok_or_else(|| {
            invalid!(
                "{name_or_path}: no such file, nor an experiment file in configs/ (those are: {})",
                EMBEDDED
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
description = "test"
figure = 2
[base]
model = "conv6"
lr = 0.3
[grid]
seed = [1, 2]
width = [0.25, 1.0]
[experiments.ku_sgd]
method = "sgd"
lr = 0.01
sparsity = 0.0
[experiments.ku_iterand]
method = "iterand"
grid = { rerand_lambda = [0.0, 0.1], seed = [3] }
"#;

    #[test]
    fn expands_grids_in_order_with_experiment_overrides() {
        let f = ExperimentFile::parse("fig", FILE).unwrap();
        assert_eq!(f.figure, Some(2));
        let runs = f.runs(&toml::Table::new()).unwrap();
        let ids: Vec<String> = runs.iter().map(RunSpec::path).collect();
        assert_eq!(
            ids,
            [
                "fig_ku_iterand/width_0.25--rerand_lambda_0--seed_3",
                "fig_ku_iterand/width_0.25--rerand_lambda_0.1--seed_3",
                "fig_ku_iterand/width_1--rerand_lambda_0--seed_3",
                "fig_ku_iterand/width_1--rerand_lambda_0.1--seed_3",
                "fig_ku_sgd/width_0.25--seed_1",
                "fig_ku_sgd/width_0.25--seed_2",
                "fig_ku_sgd/width_1--seed_1",
                "fig_ku_sgd/width_1--seed_2",
            ]
        );
        let sgd = &runs[5].config;
        assert_eq!(
            (sgd.lr, sgd.sparsity, sgd.seed, sgd.width),
            (0.01, 0.0, 2, 0.25)
        );
        assert_eq!(runs[1].config.lr, 0.3);
        assert_eq!(runs[1].config.rerand_lambda, 0.1);
        let set = overrides(&[parse_set("epochs=2").unwrap()]);
        assert!(f.runs(&set).unwrap().iter().all(|r| r.config.epochs == 2));
    }

    #[test]
    fn bad_files_and_keys_are_named() {
        let err = |text: &str| format!("{:#}", ExperimentFile::parse("f", text).unwrap_err());
        let e = err("[base]\nprune_rate = 0.5\n[experiments.a]\n");
        assert!(
            e.contains("prune_rate") && e.contains("experiment `a`"),
            "{e}"
        );
        let e = err("[experiments.a]\nsparsity = 1.5\n");
        assert!(e.contains("sparsity = 1.5"), "{e}");
        let e = err("[grid]\nwidth = 0.5\n[experiments.a]\n");
        assert!(e.contains("grid.width") && e.contains("list"), "{e}");
        let e = err("[grid]\nwidth = []\n[experiments.a]\n");
        assert!(e.contains("empty"), "{e}");
        let e = err("lr = 0.1\n[experiments.a]\n");
        assert!(e.contains("unknown key `lr`"), "{e}");
        assert!(err("[base]\n").contains("no [experiments"));
        let e = err("[grid]\nwidth = [0.5, -1.0]\n[experiments.a]\n");
        assert!(e.contains("width = -1") && e.contains("width_-1"), "{e}");
    }

    #[test]
    fn set_values_are_read_as_toml_or_strings() {
        let v = |s: &str| parse_set(s).unwrap();
        assert_eq!(v("lr=0.5"), ("lr".into(), toml::Value::Float(0.5)));
        assert_eq!(v("epochs = 3"), ("epochs".into(), toml::Value::Integer(3)));
        assert_eq!(v("model=conv6"), ("model".into(), "conv6".into()));
        assert_eq!(
            v("nesterov=true"),
            ("nesterov".into(), toml::Value::Boolean(true))
        );
        assert!(parse_set("lr").is_err() && parse_set("=3").is_err());
    }
}
