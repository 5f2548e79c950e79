//! When R fires (official `rerand_freq` and `rerand_freq_unit`).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The unit `rerand_freq` counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RerandUnit {
    /// Every K_per optimizer steps, counted globally across epochs (every paper run).
    Iteration,
    /// Every K epochs, before the first step of the epoch.
    Epoch,
}

/// The K_per schedule. R fires *before* a step, as the official callback does: with `it` the
/// number of optimizer steps already taken, it fires when `(it + 1) % K_per == 0`, i.e. after
/// K_per − 1, 2·K_per − 1, … steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerandSchedule {
    pub freq: u64,
    pub unit: RerandUnit,
}

impl RerandSchedule {
    pub fn new(freq: u64, unit: RerandUnit) -> Result<Self> {
        if freq == 0 {
            return Err(Error::InvalidParameter {
                name: "rerand_freq",
                value: "0".into(),
                why: "must be at least 1",
            });
        }
        Ok(Self { freq, unit })
    }

    /// Whether R fires before the step taken when `global_it` steps are done and the step is the
    /// `step_in_epoch`-th of epoch `epoch` (all 0-based).
    pub fn fires(&self, global_it: u64, epoch: u64, step_in_epoch: u64) -> bool {
        match self.unit {
            RerandUnit::Iteration => (global_it + 1) % self.freq == 0,
            RerandUnit::Epoch => step_in_epoch == 0 && (epoch + 1) % self.freq == 0,
        }
    }

    /// How many times R fires over `epochs` epochs of `steps_per_epoch` steps each.
    pub fn count(&self, epochs: u64, steps_per_epoch: u64) -> u64 {
        match self.unit {
            RerandUnit::Iteration => (epochs * steps_per_epoch) / self.freq,
            RerandUnit::Epoch => {
                if steps_per_epoch == 0 {
                    0
                } else {
                    epochs / self.freq
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_unit_fires_before_steps_k_minus_one_modulo_k() {
        let s = RerandSchedule::new(3, RerandUnit::Iteration).unwrap();
        let fired: Vec<u64> = (0..10).filter(|&it| s.fires(it, 0, it)).collect();
        assert_eq!(fired, vec![2, 5, 8]);
        let one = RerandSchedule::new(1, RerandUnit::Iteration).unwrap();
        assert!((0..5).all(|it| one.fires(it, 0, it)));
    }

    #[test]
    fn count_matches_simulation() {
        for (k, epochs, spe) in [(3, 4, 7), (300, 100, 352), (1, 2, 5), (100, 10, 422)] {
            for unit in [RerandUnit::Iteration, RerandUnit::Epoch] {
                let s = RerandSchedule::new(k, unit).unwrap();
                let mut n = 0;
                let mut it = 0;
                for e in 0..epochs {
                    for j in 0..spe {
                        n += s.fires(it, e, j) as u64;
                        it += 1;
                    }
                }
                assert_eq!(s.count(epochs, spe), n, "{k} {epochs} {spe} {unit:?}");
            }
        }
    }

    #[test]
    fn epoch_unit_fires_at_epoch_starts() {
        let s = RerandSchedule::new(2, RerandUnit::Epoch).unwrap();
        assert!(!s.fires(0, 0, 0));
        assert!(s.fires(10, 1, 0));
        assert!(!s.fires(11, 1, 1));
        assert!(RerandSchedule::new(0, RerandUnit::Iteration).is_err());
    }
}
