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
    /// Iterative Weight Recycling's `rerand_iter_freq: K` (`trainers/default.py`): after the
    /// optimizer step of batch `i` (0-based, within its epoch) when `i % K == 0`, in every epoch
    /// but the first. Here that is before the step after it; no firing follows the run's last
    /// step, which would change pruned weights only.
    BatchIndex,
    /// Iterative Weight Recycling's `rerand_epoch_freq: K` (`main.py`): after epoch `e`
    /// (0-based) when `e % K == 0`, `e > 0` and `e` is not the last epoch; here, before the
    /// first step of epoch `e + 1`.
    EpochEnd,
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
    /// The recycling units' firings are not evenly spaced; this is their spacing within the
    /// epochs where they fire.
    pub fn period(&self, steps_per_epoch: u64) -> Result<u64> {
        match self.unit {
            RerandUnit::Iteration | RerandUnit::BatchIndex => Ok(self.freq),
            RerandUnit::EpochEnd => Ok(self.freq * steps_per_epoch),
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
        let spe = steps_per_epoch.max(1);
        let (epoch, j) = (global_it / spe, global_it % spe);
        match self.unit {
            RerandUnit::Iteration | RerandUnit::Epoch => self
                .period(steps_per_epoch)
                .is_ok_and(|p| (global_it + 1) % p == 0),
            // the step before this one was batch j − 1 of this epoch, or the last of the one
            // before when this step opens an epoch
            RerandUnit::BatchIndex => match j {
                0 => epoch >= 2 && (spe - 1) % self.freq == 0,
                _ => epoch >= 1 && (j - 1) % self.freq == 0,
            },
            RerandUnit::EpochEnd => j == 0 && epoch >= 2 && (epoch - 1) % self.freq == 0,
        }
    }

    /// How many times R fires over `epochs` epochs of `steps_per_epoch` steps each.
    pub fn count(&self, epochs: u64, steps_per_epoch: u64) -> u64 {
        match self.unit {
            RerandUnit::Iteration | RerandUnit::Epoch => self
                .period(steps_per_epoch)
                .map_or(0, |p| epochs * steps_per_epoch / p),
            RerandUnit::BatchIndex | RerandUnit::EpochEnd => (0..epochs * steps_per_epoch)
                .filter(|&it| self.fires(it, steps_per_epoch))
                .count() as u64,
        }
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

    /// The authors' two loops transcribed (mattgorb/parameter_tiling_and_recycling,
    /// `trainers/default.py` and `main.py`): each firing after step `i` of epoch `e`, or after
    /// epoch `e`, is the firing before the global step that follows it, if one does.
    #[test]
    fn recycling_units_fire_where_the_authors_loops_do() {
        for (k, epochs, spe) in [(3, 4, 7), (1, 3, 5), (5, 3, 4), (2, 6, 3), (4, 2, 9)] {
            let total = epochs * spe;
            let mut after_batch = vec![];
            let mut after_epoch = vec![];
            for e in 0..epochs {
                for i in 0..spe {
                    // `if i % args.rerand_iter_freq == 0 and epoch > 0`
                    if i % k == 0 && e > 0 && e * spe + i + 1 < total {
                        after_batch.push(e * spe + i + 1);
                    }
                }
                // `if epoch % rerand_epoch_freq == 0 and epoch > 0 and epoch != args.epochs - 1`
                if e % k == 0 && e > 0 && e != epochs - 1 {
                    after_epoch.push((e + 1) * spe);
                }
            }
            for (unit, want) in [
                (RerandUnit::BatchIndex, after_batch),
                (RerandUnit::EpochEnd, after_epoch),
            ] {
                let s = RerandSchedule::new(k, unit).unwrap();
                let got: Vec<u64> = (0..total).filter(|&it| s.fires(it, spe)).collect();
                assert_eq!(got, want, "{unit:?} K {k}, {epochs} × {spe}");
                assert_eq!(s.count(epochs, spe), want.len() as u64);
            }
        }
    }
}
