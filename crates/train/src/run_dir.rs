//! A run's folder: `config.toml` (the resolved config), `metrics.jsonl` and `summary.json`.
//!
//! Whole files are written to a temporary name and renamed, so a killed run never leaves a
//! half-written config or summary; metrics lines are appended whole and flushed.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::TrainConfig;
use crate::metrics::{EpochRecord, Summary};
use crate::{Error, Result};

/// Write `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

fn to_json<T: Serialize>(v: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Serialise {
        what,
        why: e.to_string(),
    })
}

/// An open run folder.
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Create `path` (and parents), write the resolved config and start an empty metrics file.
    pub fn create(path: &Path, config: &TrainConfig) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = Self {
            path: path.to_path_buf(),
        };
        write_atomic(&dir.file("config.toml"), config.to_toml()?.as_bytes())?;
        write_atomic(&dir.file("metrics.jsonl"), b"")?;
        let _ = std::fs::remove_file(dir.file("summary.json"));
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn append_epoch(&self, record: &EpochRecord) -> Result<()> {
        let path = self.file("metrics.jsonl");
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let line = to_json(record, "metrics")? + "\n";
        f.write_all(line.as_bytes()).map_err(io)?;
        f.flush().map_err(io)
    }

    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        let json = serde_json::to_string_pretty(summary).map_err(|e| Error::Serialise {
            what: "summary",
            why: e.to_string(),
        })?;
        write_atomic(&self.file("summary.json"), json.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "second");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        let e = write_atomic(&d.path().join("no/such/dir/x"), b"x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no/such/dir"), "{e}");
    }
}
