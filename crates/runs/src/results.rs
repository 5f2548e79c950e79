//! `results.csv`: one row per finished run of an experiment file, in grid order, rebuilt from
//! the run folders' summaries (through a temporary file and a rename), and read back by the
//! figures.

use std::path::{Path, PathBuf};

use iterand_models::Arch;
use iterand_randomizer::InitMode;
use iterand_train::{write_atomic, DatasetName, Method, RunDir, Summary, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::spec::{ExperimentFile, RunSpec};
use crate::{Context, Result};

/// The file's name in a sweep folder.
pub const RESULTS_FILE: &str = "results.csv";

/// One row of `results.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub file: String,
    /// The paper figure (0 when the file names none).
    pub figure: u32,
    pub experiment: String,
    pub run: String,
    pub dataset: DatasetName,
    pub model: Arch,
    pub method: Method,
    pub init_mode: InitMode,
    pub width: f64,
    pub sparsity: f64,
    pub rerand_lambda: f64,
    pub rerand_freq: u64,
    pub seed: u64,
    pub epochs: usize,
    /// Percent, last-epoch model.
    pub test_acc: f64,
    pub best_val_acc: f64,
    pub kept_params: usize,
    pub total_params: usize,
    pub randomizations: u64,
    /// Wall time of the run (resumed parts added): the one column a repeated sweep changes.
    pub seconds: f64,
    pub config_hash: String,
}

impl ResultRow {
    /// The row of `run` of `file`, finished with `s`.
    fn of(file: &ExperimentFile, run: &RunSpec, s: &Summary) -> Self {
        let c: &TrainConfig = &run.config;
        ResultRow {
            file: file.name.clone(),
            figure: file.figure.unwrap_or(0),
            experiment: run.experiment.clone(),
            run: run.id.clone(),
            dataset: c.dataset,
            model: c.model,
            method: c.method,
            init_mode: c.init_mode,
            width: c.width,
            sparsity: s.sparsity,
            rerand_lambda: c.rerand_lambda,
            rerand_freq: c.rerand_freq,
            seed: c.seed,
            epochs: c.epochs,
            test_acc: s.test_acc,
            best_val_acc: s.best_val_acc,
            kept_params: s.kept_params,
            total_params: s.total_params,
            randomizations: s.randomizations,
            seconds: (s.seconds * 10.0).round() / 10.0,
            config_hash: s.config_hash.clone(),
        }
    }
}

/// The sweep's folder for `file` under `root`.
pub fn sweep_dir(root: &Path, file: &ExperimentFile) -> PathBuf {
    root.join(&file.name)
}

/// The folder of `run` of `file` under `root`.
pub fn run_dir(root: &Path, file: &ExperimentFile, run: &RunSpec) -> PathBuf {
    sweep_dir(root, file).join(&run.experiment).join(&run.id)
}

/// The summary of `run` if its folder under `root` finished with exactly its config.
pub fn finished(root: &Path, file: &ExperimentFile, run: &RunSpec) -> Result<Option<Summary>> {
    Ok(RunDir::existing(&run_dir(root, file, run)).finished_as(&run.config)?)
}

/// Rebuild `<root>/<file>/results.csv` from the finished ones of `runs`, in their order;
/// returns its path and its number of rows.
pub fn write_results(
    root: &Path,
    file: &ExperimentFile,
    runs: &[RunSpec],
) -> Result<(PathBuf, usize)> {
    let mut w = csv::Writer::from_writer(vec![]);
    let mut rows = 0;
    for run in runs {
        if let Some(s) = finished(root, file, run)? {
            w.serialize(ResultRow::of(file, run, &s))?;
            rows += 1;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    let dir = sweep_dir(root, file);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(RESULTS_FILE);
    write_atomic(&path, &bytes)?;
    Ok((path, rows))
}

/// Read a `results.csv`.
pub fn read_results(path: &Path) -> Result<Vec<ResultRow>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    r.deserialize()
        .enumerate()
        .map(|(i, row)| row.with_context(|| format!("{} row {}", path.display(), i + 2)))
        .collect()
}

/// Every `results.csv` directly under the sweep folders of `root`, keeping the files whose
/// folder name satisfies `keep`.
pub fn collect(root: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<ResultRow>> {
    let mut rows = vec![];
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(rows);
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(RESULTS_FILE).is_file())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d.file_name().map(|n| n.to_string_lossy().to_string());
        if name.as_deref().is_some_and(&keep) {
            rows.extend(read_results(&d.join(RESULTS_FILE))?);
        }
    }
    Ok(rows)
}
