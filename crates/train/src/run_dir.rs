//! A run's folder: `config.toml` (the resolved config and its hash), `metrics.jsonl`,
//! `summary.json`, `checkpoints/` and the log `train.log`.
//!
//! Whole files are written to a temporary name and renamed, so a killed run never leaves a
//! half-written config or summary; metrics lines are appended whole and flushed.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::TrainConfig;
use crate::files::write_atomic;
use crate::metrics::{MetricsLine, Summary};
use crate::tensorboard::EventLog;
use crate::{Error, Result};

fn to_json<T: Serialize>(v: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Serialise {
        what,
        why: e.to_string(),
    })
}

/// One JSON value per line of `text` (the file at `path`), a damaged line named by number.
fn parse_lines<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<Vec<T>> {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                why: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

/// `parse` of the file at `path`, `None` if there is no such file; a file that does not parse
/// is named as damaged.
fn read_optional<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> std::result::Result<T, String>,
) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).map(Some).map_err(|why| Error::Corrupt {
            path: path.to_path_buf(),
            why,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// What to do when the run folder already holds a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Continue it from its last checkpoint (the config must be the same); a finished run is
    /// left as it is and its summary returned.
    Auto,
    /// Start over, removing its metrics, summary and checkpoints.
    Never,
    /// Refuse to touch it (the default of the binaries: nothing is lost by accident).
    Refuse,
}

/// An open run folder.
pub struct RunDir {
    path: PathBuf,
}

/// Where a run folder stands: the one definition that `runs`, the sweep and its dry run share.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    /// No checkpoint yet.
    New,
    /// Stopped or still training (`running`: a process holds the folder's lock), at the last
    /// checkpoint's position when there is one.
    Started {
        running: bool,
        last: Option<crate::Position>,
    },
    /// Its summary is written.
    Finished(Summary),
}

/// The network's input shape and number of classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkIo {
    pub input: iterand_models::InputShape,
    pub classes: usize,
}

/// Where one part of a run trained (a line of `sessions.jsonl`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// The optimizer steps done when this part began (0 for a fresh run).
    pub from_step: u64,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// The CPU threads it had (rayon's pool).
    pub threads: usize,
    /// The JPEG decoder of the build (`data::jpeg::DECODER`): libjpeg-turbo and zune-jpeg
    /// differ by a fraction of a grey level, so an ImageFolder run resumed with the other one
    /// does not continue bit for bit. Empty in records written before it was kept.
    #[serde(default)]
    pub decoder: String,
}

/// A candle device as the command line names it.
pub fn device_name(device: &candle_core::Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

impl RunDir {
    /// The resolved config, with its hash in a comment.
    pub const CONFIG: &str = "config.toml";
    /// One line per epoch (and per `log_every` steps).
    pub const METRICS: &str = "metrics.jsonl";
    /// A finished run's results; its presence is what "finished" means.
    pub const SUMMARY: &str = "summary.json";
    /// One line per start or resume of the run: where it ran. Kept out of the checkpoints,
    /// which stay device-free so that a run started on one device resumes on another.
    pub const SESSIONS: &str = "sessions.jsonl";
    /// What the run's network reads and predicts: with `config.toml` all a ticket needs to
    /// rebuild the network without opening the dataset.
    pub const NETWORK: &str = "network.json";
    /// The binaries' log of the run.
    pub const LOG: &str = "train.log";
    /// Held (flock) by whatever trains into the folder.
    pub const LOCK: &str = crate::lock::LOCK_FILE;
    /// Subfolders that hold no runs of their own.
    pub const CHECKPOINTS: &str = crate::checkpoint::CHECKPOINT_DIR;
    pub const TENSORBOARD: &str = crate::tensorboard::TB_DIR;
    /// The one-line progress a sweep's live view reads.
    pub const STATUS: &str = crate::progress::STATUS_FILE;

    /// Create `path` if needed and prove it writable, so that a read-only folder is refused
    /// before a run starts rather than at its first checkpoint, an epoch later.
    pub fn ensure_writable(path: &Path) -> Result<()> {
        let refuse = |source| Error::NotWritable {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(path).map_err(refuse)?;
        let probe = path.join(format!(".write-probe{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(refuse)?;
        std::fs::remove_file(&probe).map_err(refuse)
    }

    /// Create `path` (and parents), write the resolved config with its hash, and start empty
    /// metrics; a summary or checkpoints of an earlier run there are removed.
    pub fn create(path: &Path, config: &TrainConfig) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = Self {
            path: path.to_path_buf(),
        };
        let text = format!(
            "# The resolved config of this run (defaults, then the experiment file, then --set).\n\
             # hash = {}\n{}",
            config.hash()?,
            config.to_toml()?
        );
        write_atomic(&dir.file(Self::CONFIG), text.as_bytes())?;
        write_atomic(&dir.file(Self::METRICS), b"")?;
        EventLog::of(path).start()?;
        let _ = std::fs::remove_file(dir.file(Self::SUMMARY));
        let _ = std::fs::remove_file(dir.file(Self::SESSIONS));
        crate::checkpoint::Checkpointer::new(path).clear()?;
        Ok(dir)
    }

    /// The folder of an earlier run, without changing anything in it.
    pub fn existing(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The config of the run in this folder, if there is one.
    pub fn config(&self) -> Result<Option<TrainConfig>> {
        read_optional(&self.file(Self::CONFIG), |t| {
            TrainConfig::from_toml(t).map_err(|e| e.to_string())
        })
    }

    /// Where the run stands (a damaged summary or checkpoint counts as absent: this is for
    /// listings, which show every folder).
    pub fn state(&self) -> RunState {
        if let Ok(Some(s)) = self.summary() {
            return RunState::Finished(s);
        }
        let running = crate::is_held(&self.path);
        let last = crate::Checkpointer::new(&self.path).info(crate::LAST);
        match last {
            Ok(Some(info)) => RunState::Started {
                running,
                last: Some(info.position),
            },
            _ if running => RunState::Started {
                running,
                last: None,
            },
            _ => RunState::New,
        }
    }

    /// The summary of the run if it finished with exactly `config`: what a sweep skips.
    pub fn finished_as(&self, config: &TrainConfig) -> Result<Option<Summary>> {
        let Some(s) = self.summary()? else {
            return Ok(None);
        };
        Ok((s.config_hash == config.hash()?).then_some(s))
    }

    /// The binaries' log file of this run.
    pub fn log_path(&self) -> PathBuf {
        self.file(Self::LOG)
    }

    /// The summary of a finished run in this folder.
    pub fn summary(&self) -> Result<Option<Summary>> {
        read_optional(&self.file(Self::SUMMARY), |t| {
            serde_json::from_str(t).map_err(|e| e.to_string())
        })
    }

    /// Every line of `metrics.jsonl`.
    pub fn metrics(&self) -> Result<Vec<MetricsLine>> {
        let path = self.file(Self::METRICS);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        parse_lines(&path, &text)
    }

    /// Keep the first `lines` lines of `metrics.jsonl` (what a checkpoint had seen).
    /// Cut `metrics.jsonl` back to its first `lines` lines, and the event file to their events.
    pub fn truncate_metrics(&self, lines: usize) -> Result<()> {
        let path = self.file(Self::METRICS);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let kept: String = text.split_inclusive('\n').take(lines).collect();
        if kept.len() != text.len() {
            write_atomic(&path, kept.as_bytes())?;
        }
        EventLog::of(&self.path).cut_to(&parse_lines(&path, &kept)?)
    }

    /// One line of `metrics.jsonl`, and its event in the TensorBoard file.
    pub fn append_metrics(&self, line: &MetricsLine) -> Result<()> {
        self.append_line(Self::METRICS, &to_json(line, "metrics")?)?;
        EventLog::of(&self.path).append(line)
    }

    fn append_line(&self, name: &str, line: &str) -> Result<()> {
        let path = self.file(name);
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        f.write_all(format!("{line}\n").as_bytes()).map_err(io)?;
        f.flush().map_err(io)
    }

    pub fn write_network(&self, io: &NetworkIo) -> Result<()> {
        write_atomic(
            &self.file(Self::NETWORK),
            to_json(io, "network")?.as_bytes(),
        )
    }

    /// The network's input and classes, if the run recorded them (runs since issue 15 do).
    pub fn network(&self) -> Result<Option<NetworkIo>> {
        read_optional(&self.file(Self::NETWORK), |t| {
            serde_json::from_str(t).map_err(|e| e.to_string())
        })
    }

    /// Append where this part of the run trains.
    pub fn record_session(&self, session: &Session) -> Result<()> {
        self.append_line(Self::SESSIONS, &to_json(session, "session")?)
    }

    /// Every part of the run so far, in order.
    pub fn sessions(&self) -> Result<Vec<Session>> {
        let path = self.file(Self::SESSIONS);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        parse_lines(&path, &text)
    }

    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        let json = serde_json::to_string_pretty(summary).map_err(|e| Error::Serialise {
            what: "summary",
            why: e.to_string(),
        })?;
        write_atomic(&self.file(Self::SUMMARY), json.as_bytes())
    }
}
