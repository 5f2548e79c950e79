//! `cpu`, `cuda` or `cuda:N`: where a run trains. CUDA needs a build with the `cuda` feature
//! (issue 14); without it the device is refused with that hint rather than falling back to the
//! CPU.

use candle_core::Device;

use crate::{Error, Result};

/// What a build without CUDA says of a CUDA device.
const NO_CUDA: &str = "this build has no CUDA: build it with the `cuda` feature";

/// A device as the command line names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceSpec {
    #[default]
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for DeviceSpec {
    type Err = String;
    /// Refuses `cuda` in a build without CUDA, so the command stops before it writes anything.
    fn from_str(s: &str) -> Result<Self, String> {
        let spec = match s {
            "cpu" => DeviceSpec::Cpu,
            "cuda" => DeviceSpec::Cuda(0),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| format!("{s}: expected cpu, cuda or cuda:N"))?,
        };
        if spec != DeviceSpec::Cpu && !cfg!(feature = "cuda") {
            return Err(format!("{s}: {NO_CUDA}"));
        }
        Ok(spec)
    }
}

/// One entry of `--devices 0,1,…`: a GPU by its index.
pub fn parse_gpu(s: &str) -> Result<DeviceSpec, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s}: expected a GPU index such as 0"));
    }
    format!("cuda:{s}").parse()
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceSpec {
    /// The candle device.
    pub fn open(self) -> Result<Device> {
        let refuse = |why: String| Error::Device {
            device: self.to_string(),
            why,
        };
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(_) if !cfg!(feature = "cuda") => Err(refuse(NO_CUDA.into())),
            DeviceSpec::Cuda(n) => Device::new_cuda(n).map_err(|e| refuse(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_print_and_cuda_is_refused_without_the_feature() {
        assert_eq!("cpu".parse(), Ok(DeviceSpec::Cpu));
        for bad in ["gpu", "cuda:", "cuda:x", "CPU"] {
            assert!(bad.parse::<DeviceSpec>().is_err(), "{bad}");
        }
        if cfg!(feature = "cuda") {
            assert_eq!("cuda".parse(), Ok(DeviceSpec::Cuda(0)));
            assert_eq!("cuda:3".parse(), Ok(DeviceSpec::Cuda(3)));
        } else {
            let e = "cuda:3".parse::<DeviceSpec>().unwrap_err();
            assert!(e.contains("`cuda` feature"), "{e}");
            let e = DeviceSpec::Cuda(0).open().unwrap_err().to_string();
            assert!(e.contains("`cuda` feature"), "{e}");
        }
        assert_eq!(DeviceSpec::Cuda(1).to_string(), "cuda:1");
        assert!(parse_gpu("x").is_err() && parse_gpu("").is_err() && parse_gpu("cuda:0").is_err());
        assert_eq!(parse_gpu("2").is_ok(), cfg!(feature = "cuda"));
        assert!(DeviceSpec::Cpu.open().unwrap().is_cpu());
    }
}
