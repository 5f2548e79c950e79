//! TensorBoard event files (`tb/` in a run folder), readable by `tensorboard --logdir` and by
//! TensorBoard's `EventAccumulator`.
//!
//! The event file is a function of `metrics.jsonl`: each metrics line becomes exactly one event
//! (its scalars, or one epoch's histograms, in one summary), after a first `file_version`
//! event. So a resumed run, which cuts `metrics.jsonl` back to its checkpoint, cuts the event
//! file back to the same number of events and then appends what it redoes: no step is written
//! twice or lost, and the file equals an uninterrupted run's but for the wall times.
//!
//! The format is TensorFlow's TFRecord framing (length, masked CRC-32C of the length, the
//! bytes, masked CRC-32C of the bytes) around `tensorflow.Event` protocol buffers. prost encodes
//! the three messages we need, declared here from TensorFlow's `event.proto` and
//! `summary.proto` (only the fields we write; their tags are TensorFlow's), and crc32c
//! checksums; what is ours is the mapping from metrics lines to tags.

use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;

use crate::metrics::{Histogram, MaskRecord, MetricsLine};
use crate::{Error, Result};

/// The folder of the event file inside a run folder.
pub const TB_DIR: &str = "tb";
/// One fixed name (TensorBoard reads any file with `tfevents` in its name), so a resumed run
/// continues the same file.
pub const EVENT_FILE: &str = "events.out.tfevents.iterand";

/// `tensorflow.Event` (event.proto): the fields we write.
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// `tensorflow.Summary` (summary.proto).
#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<Value>,
}

/// `tensorflow.Summary.Value`: a scalar (`simple_value`) or a histogram (`histo`).
#[derive(Clone, PartialEq, Message)]
pub struct Value {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(oneof = "Kind", tags = "2, 5")]
    pub kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "5")]
    Histo(HistogramProto),
}

/// `tensorflow.HistogramProto`: bucket `i` holds the values in
/// `(bucket_limit[i - 1], bucket_limit[i]]`.
#[derive(Clone, PartialEq, Message)]
pub struct HistogramProto {
    #[prost(double, tag = "1")]
    pub min: f64,
    #[prost(double, tag = "2")]
    pub max: f64,
    #[prost(double, tag = "3")]
    pub num: f64,
    #[prost(double, tag = "4")]
    pub sum: f64,
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    #[prost(double, repeated, tag = "6")]
    pub bucket_limit: Vec<f64>,
    #[prost(double, repeated, tag = "7")]
    pub bucket: Vec<f64>,
}

fn scalar(tag: &str, v: f64) -> Value {
    Value {
        tag: tag.to_string(),
        kind: Some(Kind::SimpleValue(v as f32)),
    }
}

/// The event of one metrics line: its step (optimizer steps so far) and its values.
pub fn event_of(line: &MetricsLine, wall_time: f64) -> Event {
    let (step, value) = match line {
        MetricsLine::Step(s) => (
            s.iteration,
            vec![
                scalar("train/loss", s.loss),
                scalar("train/batch_acc", s.batch_acc),
                scalar("train/lr", s.lr),
                scalar("rerand/randomizations", s.randomizations as f64),
            ],
        ),
        MetricsLine::Eval(e) => (
            e.iteration,
            vec![
                scalar("eval/val_acc", e.val_acc),
                scalar("eval/test_acc", e.test_acc),
            ],
        ),
        MetricsLine::Epoch(e) => (
            e.steps,
            vec![
                scalar("epoch/train_loss", e.train_loss),
                scalar("epoch/train_acc", e.train_acc),
                scalar("epoch/val_acc", e.val_acc),
                scalar("epoch/lr", e.lr),
                scalar("epoch/images_per_second", e.images_per_second),
                scalar("mask/kept_fraction", e.kept_fraction),
                scalar("rerand/randomizations", e.randomizations as f64),
            ],
        ),
        MetricsLine::Histograms(h) => (h.iteration, histograms(&h.histograms)),
        MetricsLine::Mask(m) => (m.iteration, mask_values(m)),
    };
    Event {
        wall_time,
        step: step as i64,
        what: Some(What::Summary(Summary { value })),
    }
}

/// Iterative Weight Recycling's copies so far and the kept weights at recycled positions, per
/// layer and in total; nothing in runs that have not recycled.
fn recycling_values(m: &MaskRecord) -> Vec<Value> {
    let total: u64 = m.layers.iter().map(|l| l.recycled).sum();
    if total == 0 {
        return vec![];
    }
    let mut out = vec![scalar("rerand/recycled", total as f64)];
    for l in &m.layers {
        out.push(scalar(
            &format!("rerand/recycled/{}", l.name),
            l.recycled as f64,
        ));
        out.push(scalar(
            &format!("rerand/kept_recycled/{}", l.name),
            l.kept_recycled as f64,
        ));
    }
    out
}

/// Per layer and in total: the changed fraction and R's re-draws; the kept weights' mean number
/// of values; per layer the histogram of that number.
fn mask_values(m: &MaskRecord) -> Vec<Value> {
    let redrawn: u64 = m.layers.iter().map(|l| l.redrawn).sum();
    let mut out = vec![
        scalar("mask/changed_fraction", m.changed_fraction()),
        scalar("rerand/redrawn", redrawn as f64),
        scalar("rerand/kept_values_mean", m.kept_values_mean()),
    ];
    for l in &m.layers {
        let frac = l.changed as f64 / l.weights.max(1) as f64;
        out.push(scalar(&format!("mask/changed_fraction/{}", l.name), frac));
        out.push(scalar(
            &format!("rerand/redrawn/{}", l.name),
            l.redrawn as f64,
        ));
    }
    out.extend(recycling_values(m));
    let hist: Vec<Histogram> = m
        .layers
        .iter()
        .map(|l| Histogram::of_counts(format!("kept_values/{}", l.name), &l.kept_values))
        .collect();
    out.extend(histograms(&hist));
    out
}

fn histograms(h: &[Histogram]) -> Vec<Value> {
    h.iter()
        .map(|x| Value {
            tag: x.tag.clone(),
            kind: Some(Kind::Histo(HistogramProto {
                min: x.min,
                max: x.max,
                num: x.bucket.iter().sum(),
                sum: x.sum,
                sum_squares: x.sum_squares,
                bucket_limit: x.bucket_limit.clone(),
                bucket: x.bucket.clone(),
            })),
        })
        .collect()
}

fn masked_crc(bytes: &[u8]) -> u32 {
    let c = crc32c::crc32c(bytes);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord: the event's bytes framed and checksummed.
pub fn record(event: &Event) -> Vec<u8> {
    let data = event.encode_to_vec();
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(&masked_crc(&data).to_le_bytes());
    out
}

/// The byte length of the first `n` whole, intact records of `bytes` (fewer if the file has
/// fewer: a torn or damaged tail is where the valid part ends).
fn records_prefix(bytes: &[u8], n: usize) -> (usize, usize) {
    let (mut at, mut count) = (0, 0);
    while count < n && bytes.len() >= at + 12 {
        let len_bytes = &bytes[at..at + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes"));
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| (at + 16).checked_add(l))
            .filter(|&e| e <= bytes.len() && masked_crc(len_bytes) == crc)
        else {
            break;
        };
        let data = &bytes[at + 12..end - 4];
        let crc = u32::from_le_bytes(bytes[end - 4..end].try_into().expect("4 bytes"));
        if masked_crc(data) != crc {
            break;
        }
        (at, count) = (end, count + 1);
    }
    (at, count)
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The event file of a run folder.
#[derive(Clone, Debug)]
pub struct EventLog {
    path: PathBuf,
}

impl EventLog {
    pub fn of(run: &Path) -> Self {
        Self {
            path: run.join(TB_DIR).join(EVENT_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl Fn(std::io::Error) -> Error + '_ {
        |source| Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// A new file holding only the `file_version` event.
    pub fn start(&self) -> Result<()> {
        let dir = self.path.parent().expect("the file is inside tb/");
        std::fs::create_dir_all(dir).map_err(self.io())?;
        let version = Event {
            wall_time: now(),
            step: 0,
            what: Some(What::FileVersion("brain.Event:2".into())),
        };
        crate::files::write_atomic(&self.path, &record(&version))
    }

    /// Append the event of `line` (to a new file if the old one was removed: the event file is
    /// a view of `metrics.jsonl`, and losing it must not stop a run).
    pub fn append(&self, line: &MetricsLine) -> Result<()> {
        if !self.path.exists() {
            self.start()?;
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(self.io())?;
        f.write_all(&record(&event_of(line, now())))
            .map_err(self.io())?;
        f.flush().map_err(self.io())
    }

    /// Keep the events of `lines` (the kept metrics lines of a resumed run): the file's own
    /// records where they are intact, with their wall times, and the rest written anew.
    pub fn cut_to(&self, lines: &[MetricsLine]) -> Result<()> {
        let bytes = std::fs::read(&self.path).unwrap_or_default();
        let (at, count) = records_prefix(&bytes, lines.len() + 1);
        if count == lines.len() + 1 && at == bytes.len() {
            return Ok(());
        }
        let mut out = bytes[..at].to_vec();
        if count == 0 {
            self.start()?;
            out = std::fs::read(&self.path).map_err(self.io())?;
        }
        for line in &lines[count.max(1) - 1..] {
            out.extend(record(&event_of(line, now())));
        }
        crate::files::write_atomic(&self.path, &out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::EvalRecord;

    fn eval(i: u64) -> MetricsLine {
        MetricsLine::Eval(EvalRecord {
            epoch: 0,
            iteration: i,
            val_acc: 50.0,
            test_acc: i as f64,
        })
    }

    /// Recycling's scalars: the total and each layer's copies and kept recycled weights, and
    /// none at all in a record where nothing was recycled.
    #[test]
    fn recycling_scalars_appear_only_where_values_were_copied() {
        let layer = |name: &str, recycled, kept_recycled| crate::dynamics::LayerDynamics {
            name: name.into(),
            weights: 10,
            changed: 0,
            redrawn: 0,
            kept_values: vec![5],
            recycled,
            kept_recycled,
        };
        let record = |layers| MaskRecord {
            epoch: 1,
            iteration: 8,
            layers,
        };
        let tags = |v: Vec<Value>| -> Vec<(String, f32)> {
            v.into_iter()
                .map(|v| match v.kind {
                    Some(Kind::SimpleValue(x)) => (v.tag, x),
                    _ => (v.tag, f32::NAN),
                })
                .collect()
        };
        assert!(recycling_values(&record(vec![layer("a", 0, 0)])).is_empty());
        let got = tags(recycling_values(&record(vec![
            layer("a", 6, 2),
            layer("b", 4, 0),
        ])));
        let want = [
            ("rerand/recycled", 10.0),
            ("rerand/recycled/a", 6.0),
            ("rerand/kept_recycled/a", 2.0),
            ("rerand/recycled/b", 4.0),
            ("rerand/kept_recycled/b", 0.0),
        ];
        let want: Vec<(String, f32)> = want.iter().map(|(t, v)| (t.to_string(), *v)).collect();
        assert_eq!(got, want);
    }

    /// CRC-32C of "123456789" is 0xE3069283 (the check value of the Castagnoli polynomial);
    /// TensorFlow masks it as `((crc >> 15) | (crc << 17)) + 0xa282ead8`, here by hand.
    #[test]
    fn the_record_checksum_is_tensorflows_masked_crc32c() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        // 0xE3069283 >> 15 = 0x1C60D, << 17 (mod 2^32) = 0x25060000; sum with the mask delta
        let masked = (0x0001_C60Du32 | 0x2506_0000).wrapping_add(0xa282_ead8);
        assert_eq!(masked_crc(b"123456789"), masked);
    }

    #[test]
    fn cutting_keeps_intact_records_and_rewrites_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::of(dir.path());
        log.start().unwrap();
        let lines: Vec<_> = (1..=4).map(eval).collect();
        for l in &lines {
            log.append(l).unwrap();
        }
        let full = std::fs::read(log.path()).unwrap();
        assert_eq!(records_prefix(&full, 99), (full.len(), 5));
        // back to two lines: the first three records, byte for byte
        log.cut_to(&lines[..2]).unwrap();
        let cut = std::fs::read(log.path()).unwrap();
        assert_eq!(records_prefix(&full, 3).0, cut.len());
        assert_eq!(&full[..cut.len()], &cut[..]);
        // a torn last record is rewritten from its line
        std::fs::write(log.path(), &full[..full.len() - 3]).unwrap();
        log.cut_to(&lines).unwrap();
        let mended = std::fs::read(log.path()).unwrap();
        assert_eq!(records_prefix(&mended, 99), (mended.len(), 5));
        // a missing file is rebuilt whole
        std::fs::remove_file(log.path()).unwrap();
        log.cut_to(&lines[..1]).unwrap();
        let rebuilt = std::fs::read(log.path()).unwrap();
        assert_eq!(records_prefix(&rebuilt, 99), (rebuilt.len(), 2));
        // removed under a running run: the next event starts a new file
        std::fs::remove_file(log.path()).unwrap();
        log.append(&lines[3]).unwrap();
        let restarted = std::fs::read(log.path()).unwrap();
        assert_eq!(records_prefix(&restarted, 99), (restarted.len(), 2));
    }
}
