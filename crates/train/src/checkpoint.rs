//! Checkpoints: everything a run needs to continue as if it had never stopped.
//!
//! A run's randomness is counter-based (data order and augmentation keyed by seed and epoch, R
//! by seed, layer and round), so besides the tensors only a few counters locate it: the epoch,
//! the batches done in it, the optimizer steps and R's rounds. The tensors (every variable of
//! the model — weights, scores, biases, BatchNorm statistics — and SGD's momentum buffers) go to
//! a safetensors file, the counters to a JSON file that names it.
//!
//! Each slot (`last`, `best`) is a pair `<slot>-<iteration>.safetensors` + `<slot>.json`,
//! written in that order, each through a temporary file and a rename; older tensor files of the
//! slot are removed only after the JSON points away from them. A process killed at any moment
//! leaves either the old pair or the new one, never a JSON naming a missing or partial file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::run_dir::write_atomic;
use crate::{Error, Result};

/// Bumped when the layout changes; older checkpoints are refused by name.
pub const FORMAT: u32 = 1;

/// Where a run stands; the default is the start of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The epoch in progress, or the next one when `step` is 0.
    pub epoch: usize,
    /// Batches of `epoch` already trained.
    pub step: usize,
    /// Optimizer steps so far.
    pub iteration: u64,
    /// Applications of R so far; the next one uses round `randomizations + 1`.
    pub randomizations: u32,
    /// Validation accuracy of the last finished epoch (percent).
    pub val_acc: Option<f64>,
    pub best_val_acc: Option<f64>,
    /// The epoch's running sums so far (mid-epoch checkpoints).
    pub loss_sum: f64,
    pub correct: usize,
    pub seen: usize,
    /// Wall time already spent in `epoch`, and in the whole run.
    pub epoch_seconds: f64,
    pub elapsed_seconds: f64,
    /// Lines of `metrics.jsonl` written when the checkpoint was taken; a resumed run cuts the
    /// file back to them, so lines of work that is redone are not written twice.
    pub metrics_lines: usize,
}

/// The positions of the run's random streams, spelled out for a reader of the JSON (they follow
/// from [`Position`] and the seed; stored so a checkpoint is self-describing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Streams {
    pub seed: u64,
    /// Data order and augmentation draw from the stream of (seed, epoch) at this batch.
    pub data_epoch: usize,
    pub data_batch: usize,
    /// The last round of R drawn.
    pub rerand_round: u32,
}

/// The JSON half of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    pub format: u32,
    /// Hash of the resolved config the run was started with.
    pub config_hash: String,
    /// The safetensors file beside this JSON.
    pub tensors: String,
    pub position: Position,
    pub streams: Streams,
}

/// Momentum buffers are stored under their variable's name with this prefix.
pub const MOMENTUM_PREFIX: &str = "optimizer.momentum.";

/// A run folder's `checkpoints/`.
pub struct Checkpointer {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Checkpointer {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            dir: run_dir.join("checkpoints"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn json(&self, slot: &str) -> PathBuf {
        self.dir.join(format!("{slot}.json"))
    }

    /// Save `tensors` and `info` as `slot`, atomically (see the module doc).
    pub fn save(
        &self,
        slot: &str,
        tensors: &HashMap<String, Tensor>,
        info: &CheckpointInfo,
    ) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let name = format!("{slot}-{}.safetensors", info.position.iteration);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp{}", std::process::id()));
        candle_core::safetensors::save(tensors, &tmp)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        self.point(slot, &name, info)
    }

    /// Make `slot` a copy of the checkpoint `from` (a hard link to its tensors when possible).
    pub fn copy(&self, from: &str, slot: &str) -> Result<()> {
        let Some(info) = self.info(from)? else {
            return Ok(());
        };
        let name = format!("{slot}-{}.safetensors", info.position.iteration);
        let (src, dst) = (self.dir.join(&info.tensors), self.dir.join(&name));
        let _ = std::fs::remove_file(&dst);
        if std::fs::hard_link(&src, &dst).is_err() {
            let tmp = self.dir.join(format!(".{name}.tmp{}", std::process::id()));
            std::fs::copy(&src, &tmp).map_err(io(&src))?;
            std::fs::rename(&tmp, &dst).map_err(io(&dst))?;
        }
        self.point(slot, &name, &info)
    }

    /// Write `slot`'s JSON naming `tensors`, then remove the slot's other tensor files.
    fn point(&self, slot: &str, tensors: &str, info: &CheckpointInfo) -> Result<()> {
        let info = CheckpointInfo {
            tensors: tensors.to_string(),
            ..info.clone()
        };
        let json = serde_json::to_string_pretty(&info).map_err(|e| Error::Serialise {
            what: "checkpoint",
            why: e.to_string(),
        })?;
        write_atomic(&self.json(slot), json.as_bytes())?;
        let prefix = format!("{slot}-");
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let file = entry.file_name().to_string_lossy().to_string();
            if file.starts_with(&prefix) && file.ends_with(".safetensors") && file != tensors {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// The JSON of `slot`, if it was ever saved.
    pub fn info(&self, slot: &str) -> Result<Option<CheckpointInfo>> {
        let path = self.json(slot);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let info: CheckpointInfo = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
        if info.format != FORMAT {
            return Err(Error::Corrupt {
                path,
                why: format!(
                    "checkpoint format {} (this build reads {FORMAT})",
                    info.format
                ),
            });
        }
        Ok(Some(info))
    }

    /// The checkpoint of `slot`: its JSON and tensors.
    pub fn load(
        &self,
        slot: &str,
        device: &Device,
    ) -> Result<Option<(CheckpointInfo, HashMap<String, Tensor>)>> {
        let Some(info) = self.info(slot)? else {
            return Ok(None);
        };
        let path = self.dir.join(&info.tensors);
        let tensors =
            candle_core::safetensors::load(&path, device).map_err(|e| Error::Corrupt {
                path: path.clone(),
                why: e.to_string(),
            })?;
        Ok(Some((info, tensors)))
    }

    /// Remove every checkpoint (a run started over).
    pub fn clear(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.dir)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(iteration: u64) -> CheckpointInfo {
        CheckpointInfo {
            format: FORMAT,
            config_hash: "h".into(),
            tensors: String::new(),
            position: Position {
                iteration,
                ..Position::default()
            },
            streams: Streams {
                seed: 1,
                data_epoch: 0,
                data_batch: 0,
                rerand_round: 0,
            },
        }
    }

    #[test]
    fn slots_round_trip_and_keep_one_tensor_file_each() {
        let d = tempfile::tempdir().unwrap();
        let c = Checkpointer::new(d.path());
        assert!(c.info("last").unwrap().is_none());
        let dev = Device::Cpu;
        for it in [3u64, 7] {
            let t = Tensor::new(&[it as f32, 2.0], &dev).unwrap();
            let map = HashMap::from([("a.w".to_string(), t)]);
            c.save("last", &map, &info(it)).unwrap();
        }
        c.copy("last", "best").unwrap();
        let (i, t) = c.load("best", &dev).unwrap().unwrap();
        assert_eq!(i.position.iteration, 7);
        assert_eq!(t["a.w"].to_vec1::<f32>().unwrap(), vec![7.0, 2.0]);
        let mut files: Vec<String> = std::fs::read_dir(c.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "best-7.safetensors",
                "best.json",
                "last-7.safetensors",
                "last.json"
            ]
        );
    }

    #[test]
    fn a_damaged_checkpoint_is_named() {
        let d = tempfile::tempdir().unwrap();
        let c = Checkpointer::new(d.path());
        std::fs::create_dir_all(c.dir()).unwrap();
        std::fs::write(c.dir().join("last.json"), "{not json").unwrap();
        let e = c.info("last").unwrap_err().to_string();
        assert!(e.contains("last.json"), "{e}");
        let mut i = info(1);
        i.tensors = "last-1.safetensors".into();
        std::fs::write(
            c.dir().join("last.json"),
            serde_json::to_string(&i).unwrap(),
        )
        .unwrap();
        std::fs::write(c.dir().join("last-1.safetensors"), b"garbage").unwrap();
        let e = c.load("last", &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("last-1.safetensors"), "{e}");
    }
}
