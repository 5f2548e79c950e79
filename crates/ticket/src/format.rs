//! The ticket file (docs/ticket-format.md): magic, version, a JSON header, the coded sections,
//! and a SHA-256 of everything before it.

use std::path::Path;

use iterand_models::InputShape;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The first bytes of every ticket.
pub const MAGIC: &[u8; 8] = b"IRTICKET";
/// The format this build writes and reads.
pub const VERSION: u32 = 1;
const CHECKSUM_LEN: usize = 32;
/// A header beyond this is not a ticket's (a corrupt length must not allocate gigabytes).
const MAX_HEADER: u64 = 1 << 30;

/// What regenerates the network: the run's resolved config and where the sections lie.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    /// The run's resolved config, as its `config.toml` (model, width, stem, init, seed, …).
    pub config: String,
    pub input: InputShape,
    pub classes: usize,
    /// Repeated from the config for readers of the header alone.
    pub seed: u64,
    pub init_mode: String,
    /// 1.0 in every paper run (weights are not scaled by sparsity).
    pub init_scale: f64,
    pub sparsity: f64,
    pub ranking: String,
    /// Rounds of R done (generations run from 0 to this).
    pub rounds: u32,
    /// The checkpoint it came from (`last` or `best`) and its optimizer step.
    pub slot: String,
    pub step: u64,
    pub layers: Vec<LayerHeader>,
    pub rest: Vec<TensorHeader>,
}

/// One masked layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerHeader {
    /// Its path in the module tree (`convs.0`), which keys its random streams.
    pub path: String,
    pub shape: Vec<usize>,
    pub kept: u64,
    /// Bytes of the coded mask (pruned 0 / kept 1, at counts `[n − kept, kept]`).
    pub mask_bytes: u64,
    /// The distinct generations of kept weights, ascending, and how many kept weights have each.
    pub generation_values: Vec<u16>,
    pub generation_counts: Vec<u64>,
    /// Bytes of the coded generations of kept weights, in weight order.
    pub generation_bytes: u64,
    /// biprop's α (`weight_transform = "biprop"`): the mean |w| of the kept weights, which the
    /// rebuilt layer must give again. Absent in every other run, whose headers stay as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f32>,
}

/// A tensor that cannot be regenerated (BatchNorm statistics and affine parameters, non-zero
/// biases), stored as little-endian f32.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorHeader {
    pub name: String,
    pub shape: Vec<usize>,
}

impl TensorHeader {
    /// Its element count; `None` if a (damaged) shape overflows.
    pub fn numel(&self) -> Option<usize> {
        numel(&self.shape)
    }
}

/// The element count of `shape`; `None` if it overflows, as a crafted header's could.
pub fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// One layer's coded sections: (mask, generations of kept weights).
pub type Coded = (Vec<u8>, Vec<u8>);

/// A ticket in memory: the header and its sections, in header order.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticket {
    pub header: Header,
    /// Per layer: (coded mask, coded generations).
    pub layers: Vec<Coded>,
    /// Per rest tensor, its values.
    pub rest: Vec<Vec<f32>>,
}

/// The bytes of a ticket's parts, for `ticket info`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sizes {
    /// Magic, version, header length, header and checksum.
    pub framing: u64,
    pub rest: u64,
    pub total: u64,
}

impl Ticket {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(&self.header).map_err(|e| Error::Format {
            what: "header".into(),
            why: e.to_string(),
        })?;
        let header = deflate(&json);
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        for (mask, gens) in &self.layers {
            out.extend_from_slice(mask);
            out.extend_from_slice(gens);
        }
        for t in &self.rest {
            out.extend(t.iter().flat_map(|v| v.to_le_bytes()));
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        Ok(out)
    }

    /// Write to `path` through a temporary file, so a failed write leaves no half ticket.
    pub fn write(&self, path: &Path) -> Result<()> {
        iterand_train::write_atomic(path, &self.to_bytes()?)?;
        Ok(())
    }

    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// Parse `bytes` (from `path`, which errors name): the checksum first, then each section
    /// against the lengths the header gives.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let not = |why: String| Error::NotATicket {
            path: path.to_path_buf(),
            why,
        };
        let body = verified_body(bytes, path)?;
        let hlen = u64::from_le_bytes(body[12..20].try_into().unwrap());
        if hlen > MAX_HEADER || 20 + hlen > body.len() as u64 {
            return Err(not(format!("header length {hlen} past the file's end")));
        }
        let json =
            inflate(&body[20..20 + hlen as usize]).map_err(|e| not(format!("header: {e}")))?;
        let header: Header =
            serde_json::from_slice(&json).map_err(|e| not(format!("header: {e}")))?;
        let mut cur = Cursor {
            bytes: &body[20 + hlen as usize..],
            path,
        };
        let mut layers = Vec::with_capacity(header.layers.len().min(1 << 16));
        for l in &header.layers {
            let mask = cur
                .take(l.mask_bytes, &format!("{} mask", l.path))?
                .to_vec();
            let gens = cur.take(l.generation_bytes, &format!("{} generations", l.path))?;
            layers.push((mask, gens.to_vec()));
        }
        let mut rest = Vec::with_capacity(header.rest.len().min(1 << 16));
        for t in &header.rest {
            let bytes = t
                .numel()
                .and_then(|n| n.checked_mul(4))
                .ok_or_else(|| not(format!("{}: shape {:?} is too large", t.name, t.shape)))?;
            let raw = cur.take(bytes as u64, &t.name)?;
            rest.push(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            );
        }
        if !cur.bytes.is_empty() {
            return Err(not(format!(
                "{} bytes after the last section",
                cur.bytes.len()
            )));
        }
        Ok(Self {
            header,
            layers,
            rest,
        })
    }

    /// How the file's bytes divide.
    pub fn sizes(&self) -> Result<Sizes> {
        let total = self.to_bytes()?.len() as u64;
        let rest: u64 = self.rest.iter().map(|t| 4 * t.len() as u64).sum();
        let coded: u64 = self
            .layers
            .iter()
            .map(|(m, g)| (m.len() + g.len()) as u64)
            .sum();
        Ok(Sizes {
            framing: total - rest - coded,
            rest,
            total,
        })
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        if n > self.bytes.len() as u64 {
            return Err(Error::NotATicket {
                path: self.path.to_path_buf(),
                why: format!("{what}: {n} bytes, {} left", self.bytes.len()),
            });
        }
        let (head, tail) = self.bytes.split_at(n as usize);
        self.bytes = tail;
        Ok(head)
    }
}

/// The header's JSON, deflated: a config and a layer table compress about 2×, which is 0.2 bits
/// a weight on a 30,000-weight network.
fn deflate(json: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(json).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

/// At most `MAX_HEADER` bytes of inflated header, so a crafted stream cannot exhaust memory.
fn inflate(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(bytes)
        .take(MAX_HEADER + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_HEADER {
        return Err(std::io::Error::other("inflates past 1 GiB"));
    }
    Ok(out)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The file's bytes before the checksum, once the magic, the version and the checksum hold:
/// nothing after them is parsed from a file that fails any of the three.
fn verified_body<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a [u8]> {
    if bytes.len() < MAGIC.len() + 12 + CHECKSUM_LEN || &bytes[..8] != MAGIC {
        return Err(Error::NotATicket {
            path: path.to_path_buf(),
            why: "no IRTICKET magic".into(),
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if version != VERSION {
        return Err(Error::Version {
            path: path.to_path_buf(),
            found: version,
            supported: VERSION,
        });
    }
    let (body, stored) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    let computed = Sha256::digest(body);
    if computed.as_slice() != stored {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            stored: hex(stored),
            computed: hex(&computed),
        });
    }
    Ok(body)
}
