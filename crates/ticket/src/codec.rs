//! Entropy coding of i.i.d. symbols with a model fitted to their own counts.
//!
//! The coder is constriction's ANS (`DefaultAnsCoder`: 32-bit words, 24-bit probabilities).
//! What it lacks, and is written here, is only the model's quantisation: the counts a ticket
//! stores become fixed-point probabilities by integer arithmetic alone, so the decoder rebuilds
//! the very same model on any machine. A mask is coded with two symbols (pruned, kept) at its
//! layer's kept fraction; the generations of kept weights with one symbol per distinct round.
//! Both are close to i.i.d. (a mask is the top-k of scores that started i.i.d.), so coding
//! them as such costs the empirical entropy plus a few bytes.

use constriction::stream::model::DefaultContiguousCategoricalEntropyModel;
use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::Decode;

use crate::{Error, Result};

/// The model's probability resolution (constriction's default model).
const PRECISION: u32 = 24;

/// Fixed-point probabilities summing to 2^24 from `counts` (all non-zero, fewer than 2^24): each is its share
/// rounded down, at least 1, and what is left goes one by one to the largest remainders (the
/// lower index first among equals), which is the closest integer fit.
pub fn quantize(counts: &[u64]) -> Vec<u32> {
    let total: u128 = counts.iter().map(|&c| c as u128).sum();
    let scale = 1u128 << PRECISION;
    let mut probs: Vec<u32> = counts
        .iter()
        .map(|&c| ((c as u128 * scale / total) as u32).max(1))
        .collect();
    let sum: i64 = probs.iter().map(|&p| p as i64).sum();
    let mut left = scale as i64 - sum;
    // remainders, largest first; ties by index
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by_key(|&i| {
        let rem = counts[i] as u128 * scale % total;
        (std::cmp::Reverse(rem), i)
    });
    let mut k = 0;
    while left > 0 {
        probs[order[k % order.len()]] += 1;
        left -= 1;
        k += 1;
    }
    // More than 2^24 after the minimum of 1: take back from the largest.
    while left < 0 {
        let i = (0..probs.len()).max_by_key(|&i| (probs[i], i)).unwrap();
        probs[i] -= 1;
        left += 1;
    }
    probs
}

fn model(counts: &[u64]) -> Result<DefaultContiguousCategoricalEntropyModel> {
    if counts.contains(&0) || counts.len() >= 1 << PRECISION {
        return Err(Error::Format {
            what: "entropy model".into(),
            why: format!(
                "{} counts, some zero or too many for 24-bit probabilities",
                counts.len()
            ),
        });
    }
    DefaultContiguousCategoricalEntropyModel::from_nonzero_fixed_point_probabilities(
        quantize(counts),
        false,
    )
    .map_err(|()| Error::Format {
        what: "entropy model".into(),
        why: format!("counts {counts:?} give no valid distribution"),
    })
}

/// `symbols` (each below `counts.len()`, symbol s occurring `counts[s]` times) as bytes.
/// An alphabet of one symbol needs no bytes.
pub fn encode(symbols: &[u32], counts: &[u64]) -> Result<Vec<u8>> {
    if counts.len() <= 1 {
        return Ok(vec![]);
    }
    let m = model(counts)?;
    let mut ans = DefaultAnsCoder::new();
    let syms: Vec<usize> = symbols.iter().map(|&s| s as usize).collect();
    ans.encode_iid_symbols_reverse(&syms, &m)
        .map_err(|e| Error::Format {
            what: "entropy coder".into(),
            why: format!("{e:?}"),
        })?;
    let words = ans.into_compressed().expect("a Vec backend cannot fail");
    Ok(words.iter().flat_map(|w| w.to_le_bytes()).collect())
}

/// The `n` symbols that `encode` wrote into `bytes` with the same `counts`; `what` names the
/// section in errors.
pub fn decode(bytes: &[u8], n: usize, counts: &[u64], what: &str) -> Result<Vec<u32>> {
    let bad = |why: String| Error::Format {
        what: what.into(),
        why,
    };
    if counts.len() <= 1 {
        return if bytes.is_empty() {
            Ok(vec![0; n])
        } else {
            Err(bad("one symbol needs no bytes".into()))
        };
    }
    if !bytes.len().is_multiple_of(4) {
        return Err(bad(format!(
            "{} bytes is not whole 32-bit words",
            bytes.len()
        )));
    }
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let m = model(counts)?;
    let mut ans = DefaultAnsCoder::from_compressed(words)
        .map_err(|_| bad("the coded stream ends in a zero word".into()))?;
    let out: Vec<u32> = ans
        .decode_iid_symbols(n, &m)
        .map(|s| s.map(|s| s as u32))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(format!("{e:?}")))?;
    if !ans.is_empty() {
        return Err(bad("bytes left after the last symbol".into()));
    }
    Ok(out)
}

/// Empirical entropy of symbols with these counts, in bits per symbol.
pub fn entropy(counts: &[u64]) -> f64 {
    let n: f64 = counts.iter().map(|&c| c as f64).sum();
    if n == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum::<f64>()
        .max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantize_by_hand() {
        // 1:1 → half each; 1:2 → 2^24/3 = 5592405.33: remainders .33 and .67.
        assert_eq!(quantize(&[5, 5]), vec![1 << 23, 1 << 23]);
        assert_eq!(quantize(&[1, 2]), vec![5_592_405, 11_184_811]);
        // a tiny count still gets 1
        let q = quantize(&[1, u32::MAX as u64 * 100]);
        assert_eq!(q[0], 1);
        assert_eq!(q.iter().map(|&p| p as u64).sum::<u64>(), 1 << 24);
    }

    #[test]
    fn a_mask_costs_its_binary_entropy_plus_a_few_bytes() {
        // 100,000 weights, every third kept by a fixed pattern; the coder sees counts only.
        let n = 100_000;
        let sym: Vec<u32> = (0..n).map(|i| ((i * 7919) % 3 == 0) as u32).collect();
        let kept = sym.iter().filter(|&&s| s == 1).count() as u64;
        let counts = [n as u64 - kept, kept];
        let bytes = encode(&sym, &counts).unwrap();
        let bound = entropy(&counts) * n as f64 / 8.0;
        assert!(
            bytes.len() as f64 <= bound + 16.0,
            "{} vs {bound}",
            bytes.len()
        );
        assert_eq!(decode(&bytes, n, &counts, "mask").unwrap(), sym);
    }

    #[test]
    fn damaged_streams_are_errors_not_panics() {
        let counts = [3, 5];
        let bytes = encode(&[0, 1, 1, 0, 1, 1, 0, 1], &counts).unwrap();
        assert!(decode(&bytes[..bytes.len() - 1], 8, &counts, "m").is_err());
        assert!(decode(&[0, 0, 0, 0], 8, &counts, "m").is_err());
        assert!(decode(&[1], 3, &[3], "m").is_err());
        assert_eq!(decode(&[], 3, &[3], "m").unwrap(), vec![0, 0, 0]);
    }

    proptest! {
        #[test]
        fn any_symbols_round_trip(sym in prop::collection::vec(0u32..40, 1..3000)) {
            let mut counts = vec![0u64; 40];
            for &s in &sym { counts[s as usize] += 1; }
            // the ticket's alphabet: only the symbols present, in order
            let present: Vec<u32> = (0..40).filter(|&s| counts[s as usize] > 0).collect();
            let dense: Vec<u32> = sym.iter().map(|s| present.binary_search(s).unwrap() as u32).collect();
            let c: Vec<u64> = present.iter().map(|&s| counts[s as usize]).collect();
            let bytes = encode(&dense, &c).unwrap();
            prop_assert_eq!(decode(&bytes, sym.len(), &c, "g").unwrap(), dense);
            let q = quantize(&c);
            prop_assert_eq!(q.iter().map(|&p| p as u64).sum::<u64>(), 1 << 24);
            prop_assert!(q.iter().all(|&p| p >= 1));
        }
    }
}
