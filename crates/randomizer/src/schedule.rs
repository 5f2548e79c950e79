//! When R fires (official `rerand_freq` and `rerand_freq_unit`).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The unit `rerand_freq` counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RerandUnit {
    /// Every K_per optimizer steps, counted globally across epochs (every paper run).
    Iteration,
    /// About K times an epoch, as the official code: every `int(iters_per_epoch / K)` steps,
    /// still counted globally (commands/train.py:108–115).
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

    /// The number of optimizer steps from one firing to the next, for epochs of
    /// `steps_per_epoch` steps: `rerand_freq` itself, or for the epoch unit
    /// `int(steps_per_epoch / rerand_freq)`, which must not be 0 (the official code divides by it).
    pub fn period(&self, steps_per_epoch: u64) -> Result<u64> {
        match self.unit {
            RerandUnit::Iteration => Ok(self.freq),
            RerandUnit::Epoch => match steps_per_epoch / self.freq {
                0 => Err(Error::InvalidParameter {
                    name: "rerand_freq",
                    value: format!("{} with {steps_per_epoch} steps an epoch", self.freq),
                    why: "with the epoch unit R fires rerand_freq times an epoch, so at most once a step",
                }),
                p => Ok(p),
            },
        }
    }

    /// Whether R fires before the step taken when `global_it` steps are done (0-based), in
    /// epochs of `steps_per_epoch` steps.
    pub fn fires(&self, global_it: u64, steps_per_epoch: u64) -> bool {
        self.period(steps_per_epoch)
            .is_ok_and(|p| (global_it + 1) % p == 0)
    }

    /// How many times R fires over `epochs` epochs of `steps_per_epoch` steps each.
    pub fn count(&self, epochs: u64, steps_per_epoch: u64) -> u64 {
        self.period(steps_per_epoch)
            .map_or(0, |p| epochs * steps_per_epoch / p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_unit_fires_before_steps_k_minus_one_modulo_k() {
        let s = RerandSchedule::new(3, RerandUnit::Iteration).unwrap();
        let fired: Vec<u64> = (0..10).filter(|&it| s.fires(it, 4)).collect();
        assert_eq!(fired, vec![2, 5, 8]);
        let one = RerandSchedule::new(1, RerandUnit::Iteration).unwrap();
        assert!((0..5).all(|it| one.fires(it, 4)));
    }

    #[test]
    fn count_matches_simulation() {
        for (k, epochs, spe) in [
            (3, 4, 7),
            (300, 100, 352),
            (1, 2, 5),
            (100, 10, 422),
            (2, 3, 2),
        ] {
            for unit in [RerandUnit::Iteration, RerandUnit::Epoch] {
                let s = RerandSchedule::new(k, unit).unwrap();
                let n = (0..epochs * spe).filter(|&it| s.fires(it, spe)).count() as u64;
                assert_eq!(s.count(epochs, spe), n, "{k} {epochs} {spe} {unit:?}");
            }
        }
    }

    #[test]
    fn epoch_unit_fires_rerand_freq_times_an_epoch_as_the_official_code() {
        // commands/train.py: `(it + 1) % int(iters_per_epoch / rerand_freq) == 0`, `it` global.
        // 10 steps an epoch, rerand_freq 3: every int(10/3) = 3 steps, across epoch borders.
        let s = RerandSchedule::new(3, RerandUnit::Epoch).unwrap();
        let fired: Vec<u64> = (0..20).filter(|&it| s.fires(it, 10)).collect();
        assert_eq!(fired, vec![2, 5, 8, 11, 14, 17]);
        assert_eq!(s.count(2, 10), 6);
        // rerand_freq 1: once an epoch, before its last step.
        let once = RerandSchedule::new(1, RerandUnit::Epoch).unwrap();
        let fired: Vec<u64> = (0..21).filter(|&it| once.fires(it, 7)).collect();
        assert_eq!(fired, vec![6, 13, 20]);
        // more firings than steps: refused by value, where the official code divides by zero
        let e = RerandSchedule::new(8, RerandUnit::Epoch)
            .unwrap()
            .period(7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rerand_freq") && e.contains("8 with 7"), "{e}");
        assert!(RerandSchedule::new(0, RerandUnit::Iteration).is_err());
    }
}
