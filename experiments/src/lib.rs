//! What the binaries in `src/bin` share: the command line (flags, their turning into config
//! layers, and the flags that mend a library's error), and the two commands that several
//! binaries run (`preset_cmd` behind `cifar10` and `imagenet`, `compare` behind `quickstart`
//! and `compare`). The libraries are the crates under `crates/`.

pub mod cli;
pub mod compare;
pub mod preset_cmd;
pub mod slurm_cmd;
pub mod worker;
