//! An independent reader of TensorBoard event files, for tests: TFRecord framing with a bitwise
//! CRC-32C, and just enough protocol-buffer decoding (varints, 64-bit, 32-bit and
//! length-delimited fields) for `Event`, `Summary.Value` and `HistogramProto`, written from
//! TensorFlow's `.proto` files and the protobuf wire format, not from the writer's code.
#![allow(dead_code)]

use std::path::Path;

/// What one value of a summary holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Scalar(f32),
    Histo {
        min: f64,
        max: f64,
        num: f64,
        sum: f64,
        sum_squares: f64,
        limits: Vec<f64>,
        buckets: Vec<f64>,
    },
}

/// One event: wall time, step, and a file version or the summary's (tag, value) pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct Ev {
    pub wall_time: f64,
    pub step: i64,
    pub file_version: Option<String>,
    pub values: Vec<(String, Val)>,
}

fn crc32c(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn masked(bytes: &[u8]) -> u32 {
    let c = crc32c(bytes);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Every record of the file, each checksum verified (panics on a damaged file).
pub fn records(path: &Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).unwrap();
    let (mut at, mut out) = (0, vec![]);
    while at < b.len() {
        let len = u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
        assert_eq!(
            masked(&b[at..at + 8]),
            u32_at(&b, at + 8),
            "length crc at {at}"
        );
        let data = &b[at + 12..at + 12 + len];
        assert_eq!(masked(data), u32_at(&b, at + 12 + len), "data crc at {at}");
        out.push(data.to_vec());
        at += 16 + len;
    }
    out
}

/// A protobuf field: number and payload (varint, fixed 64, fixed 32 or bytes).
enum Field<'a> {
    Varint(u64),
    I64(u64),
    I32(u32),
    Bytes(&'a [u8]),
}

fn varint(b: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*at];
        *at += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

fn fields(b: &[u8]) -> Vec<(u64, Field<'_>)> {
    let (mut at, mut out) = (0, vec![]);
    while at < b.len() {
        let key = varint(b, &mut at);
        let f = match key & 7 {
            0 => Field::Varint(varint(b, &mut at)),
            1 => {
                at += 8;
                Field::I64(u64::from_le_bytes(b[at - 8..at].try_into().unwrap()))
            }
            2 => {
                let n = varint(b, &mut at) as usize;
                at += n;
                Field::Bytes(&b[at - n..at])
            }
            5 => {
                at += 4;
                Field::I32(u32_at(b, at - 4))
            }
            t => panic!("wire type {t}"),
        };
        out.push((key >> 3, f));
    }
    out
}

fn packed_doubles(b: &[u8]) -> Vec<f64> {
    b.chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn histo(b: &[u8]) -> Val {
    let (mut d, mut limits, mut buckets) = ([0.0f64; 5], vec![], vec![]);
    for (n, f) in fields(b) {
        match (n, f) {
            (1..=5, Field::I64(v)) => d[n as usize - 1] = f64::from_bits(v),
            (6, Field::Bytes(p)) => limits.extend(packed_doubles(p)),
            (7, Field::Bytes(p)) => buckets.extend(packed_doubles(p)),
            (n, _) => panic!("unexpected HistogramProto field {n}"),
        }
    }
    Val::Histo {
        min: d[0],
        max: d[1],
        num: d[2],
        sum: d[3],
        sum_squares: d[4],
        limits,
        buckets,
    }
}

fn value(b: &[u8]) -> (String, Val) {
    let (mut tag, mut val) = (String::new(), None);
    for (n, f) in fields(b) {
        match (n, f) {
            (1, Field::Bytes(t)) => tag = String::from_utf8(t.to_vec()).unwrap(),
            (2, Field::I32(v)) => val = Some(Val::Scalar(f32::from_bits(v))),
            (5, Field::Bytes(h)) => val = Some(histo(h)),
            (n, _) => panic!("unexpected Summary.Value field {n}"),
        }
    }
    (tag, val.expect("a value"))
}

/// Decode one `Event`.
pub fn event(b: &[u8]) -> Ev {
    let mut e = Ev {
        wall_time: 0.0,
        step: 0,
        file_version: None,
        values: vec![],
    };
    for (n, f) in fields(b) {
        match (n, f) {
            (1, Field::I64(v)) => e.wall_time = f64::from_bits(v),
            (2, Field::Varint(v)) => e.step = v as i64,
            (3, Field::Bytes(s)) => e.file_version = Some(String::from_utf8(s.to_vec()).unwrap()),
            (5, Field::Bytes(s)) => {
                for (k, f) in fields(s) {
                    match (k, f) {
                        (1, Field::Bytes(v)) => e.values.push(value(v)),
                        (k, _) => panic!("unexpected Summary field {k}"),
                    }
                }
            }
            (n, _) => panic!("unexpected Event field {n}"),
        }
    }
    e
}

/// The run folder's events, in order.
pub fn events(run: &Path) -> Vec<Ev> {
    records(&run.join("tb/events.out.tfevents.iterand"))
        .iter()
        .map(|r| event(r))
        .collect()
}

/// The events with their wall times (and the throughput, measured on them) zeroed: what a
/// resumed run must reproduce.
pub fn timeless_events(run: &Path) -> Vec<Ev> {
    events(run)
        .into_iter()
        .map(|mut e| {
            e.wall_time = 0.0;
            for (tag, v) in &mut e.values {
                if tag == "epoch/images_per_second" {
                    *v = Val::Scalar(0.0);
                }
            }
            e
        })
        .collect()
}
