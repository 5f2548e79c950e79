//! Every run folder under a folder, with its recipe, state and results (the `runs` binary).

use std::path::{Path, PathBuf};

use iterand_models::Arch;
use iterand_train::{Method, RunDir, RunState};

use crate::Result;
use serde::Serialize;

/// Where a listed run stands (the train crate's [`RunState`], as the listing words it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Listed {
    Finished,
    /// A process holds its lock.
    Running,
    Stopped,
}

impl Listed {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// One run folder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRow {
    /// The folder, relative to the scanned root.
    pub run: String,
    pub method: Method,
    pub model: Arch,
    pub width: f64,
    pub sparsity: f64,
    pub seed: u64,
    pub state: Listed,
    /// Epochs done, of `epochs`.
    pub epoch: usize,
    pub epochs: usize,
    pub best_val_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub seconds: Option<f64>,
}

/// Every folder under `root` (itself included) that holds a run's `config.toml`, by path.
pub fn scan(root: &Path) -> Result<Vec<RunRow>> {
    let mut dirs = vec![];
    walk(root, 0, &mut dirs);
    dirs.sort();
    let mut rows = vec![];
    for d in dirs {
        if let Some(r) = row(root, &d)? {
            rows.push(r);
        }
    }
    Ok(rows)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if dir.join(RunDir::CONFIG).is_file() {
        out.push(dir.to_path_buf());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    if depth >= 8 {
        return;
    }
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() && name != RunDir::CHECKPOINTS && name != RunDir::TENSORBOARD {
            walk(&p, depth + 1, out);
        }
    }
}

fn row(root: &Path, dir: &Path) -> Result<Option<RunRow>> {
    let rd = RunDir::existing(dir);
    let Ok(Some(cfg)) = rd.config() else {
        return Ok(None);
    };
    let rel = dir.strip_prefix(root).unwrap_or(dir).display().to_string();
    let mut r = RunRow {
        run: if rel.is_empty() { ".".into() } else { rel },
        method: cfg.method,
        model: cfg.model,
        width: cfg.width,
        sparsity: cfg.sparsity,
        seed: cfg.seed,
        state: Listed::Stopped,
        epoch: 0,
        epochs: cfg.epochs,
        best_val_acc: None,
        test_acc: None,
        seconds: None,
    };
    match rd.state() {
        RunState::Finished(s) => {
            r.state = Listed::Finished;
            r.epoch = s.epochs;
            r.best_val_acc = Some(s.best_val_acc).filter(|v| v.is_finite());
            r.test_acc = Some(s.test_acc).filter(|v| v.is_finite());
            r.seconds = Some(s.seconds);
        }
        RunState::Started { running, last } => {
            if let Some(p) = last {
                r.epoch = p.epoch;
                r.best_val_acc = p.best_val_acc;
                r.seconds = Some(p.elapsed_seconds);
            }
            if running {
                r.state = Listed::Running;
            }
        }
        RunState::New => {}
    }
    Ok(Some(r))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

fn duration(s: Option<f64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 120.0 => format!("{s:.0}s"),
        Some(s) if s < 7200.0 => format!("{:.1}m", s / 60.0),
        Some(s) => format!("{:.1}h", s / 3600.0),
    }
}

/// The last `n` characters of `s`, with a leading `…` when cut.
fn tail(s: &str, n: usize) -> String {
    let c: Vec<char> = s.chars().collect();
    if c.len() <= n {
        return s.into();
    }
    std::iter::once('…')
        .chain(c[c.len() - (n - 1)..].iter().copied())
        .collect()
}

/// The terminal table: at most 100 columns.
pub fn table(rows: &[RunRow]) -> String {
    let mut out = format!(
        "{:<24} {:<10} {:<9} {:>6} {:>4} {:>4} {:<14} {:>6} {:>6} {:>6}\n",
        "run", "method", "model", "width", "p", "seed", "state", "bestval", "test", "time"
    );
    for r in rows {
        let state = format!("{} {}/{}", r.state.name(), r.epoch, r.epochs);
        out += &format!(
            "{:<24} {:<10} {:<9} {:>6} {:>4} {:>4} {:<14} {:>6} {:>6} {:>6}\n",
            tail(&r.run, 24),
            r.method.name(),
            r.model.name(),
            r.width,
            r.sparsity,
            r.seed,
            tail(&state, 14),
            pct(r.best_val_acc),
            pct(r.test_acc),
            duration(r.seconds)
        );
    }
    out
}

pub fn csv(rows: &[RunRow]) -> Result<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    for r in rows {
        w.serialize(r)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    // the csv writer writes the strings it is given, all UTF-8
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
