//! Numerical checks of the IteRand approximation theorem (a later issue fills this crate).
//!
//! The paper proves that letting each weight of a random network be re-sampled up to R − 1
//! times reduces the width needed to approximate a target network. This crate will test that
//! claim numerically in f64, counting re-samples with the randomizer's real schedule.
