//! Numerical checks of the IteRand approximation theorem, in f64 with seeded streams.
//!
//! The paper proves that if every weight of a random network may be re-sampled up to R − 1
//! times, a narrower network suffices to approximate a target by pruning: Pensia et al.'s width
//! C·d·log(d²l/min(ε, δ)) shrinks by a factor growing with R. The exact form of that factor
//! (log R or log(R+1)) could not be confirmed from the paper, so nothing here hard-codes it:
//! the experiments measure the R-dependence and report which form the data support.
//!
//! The pieces, from the scalar problem up: [`subset`] (exact coverage and exact best
//! configuration with R candidates per position, plus brute-force oracles for tests),
//! [`online`] (what the practical algorithm can do without hindsight), [`gadget`] (Pensia's
//! neuron gadget), [`network`] (a two-layer target approximated by a four-layer source), and
//! [`experiments`] E0–E8, which the tests check and the `theory` binary plots. Randomness comes
//! from the randomizer crate's Philox streams, and E8 counts re-samples with its real schedule.

pub mod draws;
pub mod experiments;
pub mod gadget;
pub mod network;
pub mod online;
pub mod stats;
pub mod subset;
