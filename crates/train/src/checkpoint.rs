//! Checkpoints: everything a run needs to continue as if it had never stopped.
//!
//! A run's randomness is counter-based (data order and augmentation keyed by seed and epoch, R
//! by seed, layer and round), so besides the tensors only a few counters locate it: the epoch,
//! the batches done in it, the optimizer steps and R's rounds. The tensors (every variable of
//! the model — weights, scores, biases, BatchNorm statistics — and SGD's momentum buffers) go to
//! a safetensors file, the counters to a JSON file that names it.
//!
//! Each slot (`last`, `previous`, `best`) is a pair `<slot>-<iteration>.safetensors` +
//! `<slot>.json`, written in that order, each through a temporary file and a rename; older
//! tensor files of the slot are removed only after the JSON points away from them. A process
//! killed at any moment leaves either the old pair or the new one, never a JSON naming a missing
//! or partial file.
//!
//! What a rename cannot guard against is damage after the write (a bad disk, a truncating copy):
//! the JSON records the SHA-256 of the tensors file and of itself, so damage is found before a
//! resume trusts it, and saving `last` first keeps the checkpoint it replaces as `previous`, the
//! one [`Checkpointer::load_resumable`] falls back to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::files::write_atomic;
use crate::{Error, Result};

/// Bumped when the layout changes; older checkpoints are refused by name.
pub const FORMAT: u32 = 1;

/// The subfolder of a run folder that holds its checkpoints.
pub const CHECKPOINT_DIR: &str = "checkpoints";

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
    /// `sha256:<hex>` of the tensors file as written (absent in checkpoints from before it was
    /// recorded, which are read unchecked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensors_sha256: Option<String>,
    /// `sha256:<hex>` of this JSON's compact form without this field: a flipped digit in a
    /// counter parses, so only a checksum catches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

impl CheckpointInfo {
    /// The checksum of everything but the checksum.
    fn own_checksum(&self) -> Result<String> {
        let bare = CheckpointInfo {
            checksum: None,
            ..self.clone()
        };
        Ok(crate::files::sha256_hex(to_json(&bare, false)?.as_bytes()))
    }
}

fn to_json(info: &CheckpointInfo, pretty: bool) -> Result<String> {
    let json = if pretty {
        serde_json::to_string_pretty(info)
    } else {
        serde_json::to_string(info)
    };
    json.map_err(|e| Error::Serialise {
        what: "checkpoint",
        why: e.to_string(),
    })
}

/// The newest checkpoint of a run.
pub const LAST: &str = "last";
/// The checkpoint `last` replaced: where a resume goes when `last` is damaged.
pub const PREVIOUS: &str = "previous";
/// The checkpoint of the best validation epoch.
pub const BEST: &str = "best";

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
            dir: run_dir.join(CHECKPOINT_DIR),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn json(&self, slot: &str) -> PathBuf {
        self.dir.join(format!("{slot}.json"))
    }

    /// Save `tensors` and `info` as `slot`, atomically (see the module doc). Saving [`LAST`]
    /// first keeps the checkpoint it replaces as [`PREVIOUS`], if that one is sound.
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
        let written = write_tensors(tensors, &tmp);
        let sha = match written {
            Ok(sha) => sha,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        if slot == LAST && self.verifies(LAST) {
            self.copy(LAST, PREVIOUS)?;
        }
        let info = CheckpointInfo {
            tensors_sha256: Some(sha),
            ..info.clone()
        };
        self.point(slot, &name, &info)
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
        let mut info = CheckpointInfo {
            tensors: tensors.to_string(),
            checksum: None,
            ..info.clone()
        };
        info.checksum = Some(info.own_checksum()?);
        let json = to_json(&info, true)?;
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
        if let Some(recorded) = &info.checksum {
            check_sum(&path, recorded, &info.own_checksum()?)?;
        }
        Ok(Some(info))
    }

    /// The checkpoint of `slot`: its JSON and tensors, both checked against their checksums.
    pub fn load(
        &self,
        slot: &str,
        device: &Device,
    ) -> Result<Option<(CheckpointInfo, HashMap<String, Tensor>)>> {
        let Some(info) = self.info(slot)? else {
            return Ok(None);
        };
        let path = self.dir.join(&info.tensors);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        if let Some(recorded) = &info.tensors_sha256 {
            check_sum(&path, recorded, &crate::files::sha256_hex(&bytes))?;
        }
        let tensors =
            candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| Error::Corrupt {
                path: path.clone(),
                why: e.to_string(),
            })?;
        finite(&tensors, &path)?;
        Ok(Some((info, tensors)))
    }

    /// Whether `slot` exists and its JSON and tensors file match their checksums: what keeping
    /// it as `previous` needs, without building its tensors (a checkpoint from before the
    /// checksums counts when its files are there).
    fn verifies(&self, slot: &str) -> bool {
        let Ok(Some(info)) = self.info(slot) else {
            return false;
        };
        match (
            std::fs::read(self.dir.join(&info.tensors)),
            &info.tensors_sha256,
        ) {
            (Ok(bytes), Some(sha)) => crate::files::sha256_hex(&bytes) == *sha,
            (Ok(_), None) => true,
            (Err(_), _) => false,
        }
    }

    /// The checkpoint a run continues from: [`LAST`], or [`PREVIOUS`] when `last` is damaged
    /// (said as a warning). `last`'s error stands when there is no sound `previous`.
    pub fn load_resumable(
        &self,
        device: &Device,
    ) -> Result<Option<(CheckpointInfo, HashMap<String, Tensor>)>> {
        self.remove_temporaries();
        let damaged = match self.load(LAST, device) {
            Err(e @ Error::Corrupt { .. }) => e,
            other => return other,
        };
        match self.load(PREVIOUS, device) {
            Ok(Some((info, tensors))) => {
                tracing::warn!(
                    "{damaged}; resuming from the previous checkpoint instead (epoch {}, \
                     iteration {})",
                    info.position.epoch + 1,
                    info.position.iteration
                );
                Ok(Some((info, tensors)))
            }
            _ => Err(damaged),
        }
    }

    /// Temporary files of a writer that was killed mid-write (the resuming process holds the
    /// run's lock, so no writer is alive). Best effort: a leftover only costs space.
    fn remove_temporaries(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') && name.contains(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Remove every checkpoint (a run started over).
    pub fn clear(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.dir)(e)),
            _ => Ok(()),
        }
    }
}

/// Write `tensors` to `path` as safetensors, synced, and return the file's checksum (read back,
/// so it is the checksum of what reached the disk). Errors name the file: a full disk shows here.
fn write_tensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<String> {
    candle_core::safetensors::save(tensors, path).map_err(|e| Error::Write {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))?;
    let bytes = std::fs::read(path).map_err(io(path))?;
    Ok(crate::files::sha256_hex(&bytes))
}

/// A sound run never saves a NaN or an infinity (a non-finite loss stops it first), so one in a
/// checkpoint is damage that a checksum-less (older) checkpoint would otherwise resume from.
fn finite(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for name in names {
        let t = &tensors[name];
        if !t.dtype().is_float() {
            continue;
        }
        let bad = t
            .flatten_all()
            .and_then(|t| t.to_dtype(candle_core::DType::F32))
            .and_then(|t| t.to_vec1::<f32>())
            .map(|v| v.iter().any(|x| !x.is_finite()))?;
        if bad {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                why: format!("tensor `{name}` holds a NaN or an infinity"),
            });
        }
    }
    Ok(())
}

fn check_sum(path: &Path, recorded: &str, actual: &str) -> Result<()> {
    if recorded == actual {
        return Ok(());
    }
    Err(Error::Corrupt {
        path: path.to_path_buf(),
        why: format!("its checksum is {actual}, not the {recorded} recorded when it was written"),
    })
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
            tensors_sha256: None,
            checksum: None,
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
                "last.json",
                "previous-3.safetensors",
                "previous.json"
            ]
        );
        let (i, t) = c.load(PREVIOUS, &dev).unwrap().unwrap();
        assert_eq!(i.position.iteration, 3);
        assert_eq!(t["a.w"].to_vec1::<f32>().unwrap(), vec![3.0, 2.0]);
    }

    /// Two checkpoints, iterations 3 then 7, as a run leaves them.
    fn two_saves(c: &Checkpointer) {
        for it in [3u64, 7] {
            let t = Tensor::new(&[it as f32; 64], &Device::Cpu).unwrap();
            let map = HashMap::from([("a.w".to_string(), t)]);
            c.save(LAST, &map, &info(it)).unwrap();
        }
    }

    fn flip_byte(path: &Path, at: usize) {
        let mut b = std::fs::read(path).unwrap();
        b[at] ^= 0x10;
        std::fs::write(path, b).unwrap();
    }

    #[test]
    fn damage_on_disk_is_caught_by_the_checksums_and_a_resume_falls_back_to_previous() {
        let tensors = |c: &Checkpointer| c.dir().join("last-7.safetensors");
        let json = |c: &Checkpointer| c.dir().join("last.json");
        type Damage = fn(&Path);
        type Target = fn(&Checkpointer) -> PathBuf;
        let damages: [(&str, Damage, Target); 4] = [
            ("a flipped tensor byte", |p| flip_byte(p, 200), tensors),
            ("truncated tensors", |p| truncate(p, 150), tensors),
            ("a flipped digit in the JSON", flip_iteration_digit, json),
            ("truncated JSON", |p| truncate(p, 40), json),
        ];
        for (what, damage, file) in damages {
            let d = tempfile::tempdir().unwrap();
            let c = Checkpointer::new(d.path());
            two_saves(&c);
            damage(&file(&c));
            let e = c.load(LAST, &Device::Cpu).unwrap_err().to_string();
            assert!(e.contains(&file(&c).display().to_string()), "{what}: {e}");
            let (i, t) = c.load_resumable(&Device::Cpu).unwrap().unwrap();
            assert_eq!(i.position.iteration, 3, "{what}");
            assert_eq!(t["a.w"].to_vec1::<f32>().unwrap()[0], 3.0, "{what}");
            // with `previous` damaged too, the error about `last` stands
            flip_byte(&c.dir().join("previous-3.safetensors"), 200);
            let e = c.load_resumable(&Device::Cpu).unwrap_err().to_string();
            assert!(e.contains(&file(&c).display().to_string()), "{what}: {e}");
        }
    }

    fn truncate(path: &Path, len: usize) {
        let b = std::fs::read(path).unwrap();
        std::fs::write(path, &b[..len]).unwrap();
    }

    /// `"iteration": 7` becomes 6: still valid JSON, so only the checksum tells.
    fn flip_iteration_digit(path: &Path) {
        let text = std::fs::read_to_string(path).unwrap();
        let changed = text.replacen("\"iteration\": 7", "\"iteration\": 6", 1);
        assert_ne!(text, changed);
        std::fs::write(path, changed).unwrap();
    }

    #[test]
    fn a_damaged_last_is_not_kept_as_previous() {
        let d = tempfile::tempdir().unwrap();
        let c = Checkpointer::new(d.path());
        two_saves(&c);
        flip_byte(&c.dir().join("last-7.safetensors"), 200);
        let t = Tensor::new(&[9f32; 64], &Device::Cpu).unwrap();
        c.save(LAST, &HashMap::from([("a.w".to_string(), t)]), &info(9))
            .unwrap();
        let (i, _) = c.load(PREVIOUS, &Device::Cpu).unwrap().unwrap();
        assert_eq!(i.position.iteration, 3);
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
