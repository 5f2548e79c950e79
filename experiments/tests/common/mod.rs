//! What the binaries' tests share: running a command that must succeed or fail, and a run's
//! state with wall times taken out.
//!
//! Each test binary compiles this module and uses a part of it.
#![allow(dead_code, unused_imports)]

/// A real single-node Slurm (Debian's slurm-wlm and munge).
pub mod cluster;

/// The independent TensorBoard reader of the train crate's tests.
#[path = "../../../crates/train/tests/tb_reader/mod.rs"]
pub mod tb_reader;

/// Tensors as bits and timeless metrics, as the train crate's resume tests compare them.
#[path = "../../../crates/train/tests/run_state/mod.rs"]
mod run_state;
pub use run_state::{tensor_bits as tensors, timeless_metrics};

use std::path::Path;
use std::process::{Command, Output};

/// Run `cmd`, which must succeed (its stderr is the failure's message); its output.
pub fn succeed(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run `cmd`, which must fail; its output.
pub fn fail(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} succeeded");
    out
}

/// The first tensor that differs between two runs, for a readable failure.
pub fn first_difference(a: &Path, b: &Path) -> Option<String> {
    let (ta, tb) = (tensors(a), tensors(b));
    if ta.len() != tb.len() {
        return Some(format!("{} vs {} tensors", ta.len(), tb.len()));
    }
    let mut names: Vec<&String> = ta.keys().collect();
    names.sort();
    names.into_iter().find_map(|name| {
        let (x, y) = (&ta[name], tb.get(name)?);
        let i = x.iter().zip(y).position(|(x, y)| x != y)?;
        Some(format!(
            "{name}[{i}]: {} vs {}",
            f32::from_bits(x[i]),
            f32::from_bits(y[i])
        ))
    })
}
