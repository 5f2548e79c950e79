//! One threshold over every masked layer (`ranking_scope = "global"`): global edge-popup.
//!
//! The threshold is the official k rule ([`threshold::kth`]) applied to all layers' ranking
//! keys together, in the order the layers were created, and a weight is kept when its key is ≥
//! it, ties included, exactly as a single layer holding every score would be. A layer asks for
//! the threshold each time it computes its mask; since that is a pure function of the scores,
//! the group keeps the scores it last ranked and recomputes only when one of them changed
//! (compared bit for bit), so the layers of one forward pass rank once and a mask is never
//! stale, whoever changed the scores (the optimizer, a checkpoint, a ticket's rebuild).

use std::sync::{Arc, Mutex, MutexGuard};

use candle_core::{CpuStorage, Storage, Tensor, Var};

use crate::threshold::{self, Ranking};
use crate::{Error, Result};

/// The score-mode layers of one model that share a global threshold. Clones share the group.
#[derive(Clone, Default)]
pub struct GlobalRanking {
    inner: Arc<Mutex<Group>>,
}

#[derive(Default)]
struct Group {
    layers: Vec<(String, Var)>,
    /// (sparsity, ranking), which every member must share.
    rule: Option<(f64, Ranking)>,
    /// The scores the cached threshold ranked, concatenated in the members' order.
    ranked: Vec<f32>,
    threshold: Option<f32>,
}

impl GlobalRanking {
    fn group(&self) -> MutexGuard<'_, Group> {
        // a panic elsewhere cannot leave the cache half-written: it is replaced whole
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a layer's scores to the group. Every member ranks by the same rule.
    pub(crate) fn join(
        &self,
        path: &str,
        scores: &Var,
        sparsity: f64,
        ranking: Ranking,
    ) -> Result<()> {
        let mut g = self.group();
        match g.rule {
            Some(rule) if rule != (sparsity, ranking) => {
                return Err(Error::InvalidParameter {
                    name: "ranking_scope",
                    value: format!("global (layer `{path}`: sparsity {sparsity}, {ranking:?})"),
                    why: "the layers of a global ranking share one sparsity and ranking",
                })
            }
            _ => g.rule = Some((sparsity, ranking)),
        }
        g.layers.push((path.to_string(), scores.clone()));
        g.threshold = None;
        Ok(())
    }

    /// The threshold over all members' current ranking keys.
    pub fn threshold(&self) -> Result<f32> {
        let mut g = self.group();
        let Some((sparsity, ranking)) = g.rule else {
            return Err(Error::InvalidParameter {
                name: "ranking_scope",
                value: "global".into(),
                why: "no score-mode layer has joined the global ranking",
            });
        };
        if let Some(t) = g.threshold.filter(|_| g.unchanged()) {
            return Ok(t);
        }
        let mut all = Vec::with_capacity(g.ranked.len());
        for (_, s) in &g.layers {
            all.extend(s.as_tensor().flatten_all()?.to_vec1::<f32>()?);
        }
        let t = threshold::threshold(all.clone(), sparsity, ranking).ok_or_else(|| {
            Error::NanScores {
                layer: g.first_nan(&all),
            }
        })?;
        g.ranked = all;
        g.threshold = Some(t);
        Ok(t)
    }
}

impl Group {
    /// Whether every member's scores are, bit for bit, those last ranked.
    fn unchanged(&self) -> bool {
        let mut at = 0;
        for (_, s) in &self.layers {
            let n = s.elem_count();
            let Some(seen) = self.ranked.get(at..at + n) else {
                return false;
            };
            if !same_bits(s.as_tensor(), seen) {
                return false;
            }
            at += n;
        }
        at == self.ranked.len()
    }

    /// The path of the member that holds the first NaN of `all`.
    fn first_nan(&self, all: &[f32]) -> String {
        let i = all.iter().position(|s| s.is_nan()).unwrap_or(0);
        let mut at = 0;
        for (path, s) in &self.layers {
            at += s.elem_count();
            if i < at {
                return path.clone();
            }
        }
        "global".into()
    }
}

/// Whether `t` holds exactly the values `seen`, read in place on the CPU (no copy: the group
/// checks every member at every layer's mask).
fn same_bits(t: &Tensor, seen: &[f32]) -> bool {
    let eq = |v: &[f32]| {
        v.len() == seen.len() && v.iter().zip(seen).all(|(a, b)| a.to_bits() == b.to_bits())
    };
    {
        let (storage, layout) = t.storage_and_layout();
        if let (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) =
            (&*storage, layout.contiguous_offsets())
        {
            return eq(&v[a..b]);
        }
    }
    t.flatten_all()
        .and_then(|f| f.to_vec1::<f32>())
        .is_ok_and(|v| eq(&v))
}

#[cfg(test)]
mod tests {
    use candle_core::Device;
    use iterand_randomizer::InitMode;
    use proptest::prelude::*;

    use crate::{MaskConfig, MaskedLinear, Mode, ParamStore, Ranking, RankingScope};

    fn global(p: f64, ranking: Ranking) -> MaskConfig {
        let mut c = MaskConfig::new(Mode::Scores, p, InitMode::KaimingUniform).unwrap();
        c.ranking = ranking;
        c.ranking_scope = RankingScope::Global;
        c
    }

    /// Layers of `sizes` weights (one output each) in one store, their scores set to `scores`.
    fn layers(c: MaskConfig, scores: &[&[f32]]) -> Vec<MaskedLinear> {
        let store = ParamStore::new(3, Device::Cpu);
        let ls: Vec<MaskedLinear> = (0..scores.len())
            .map(|i| {
                MaskedLinear::new(
                    &store.builder().pp(format!("l{i}")),
                    scores[i].len(),
                    1,
                    false,
                    c,
                )
                .unwrap()
            })
            .collect();
        for (l, s) in ls.iter().zip(scores) {
            set_scores(l, s);
        }
        ls
    }

    fn set_scores(l: &MaskedLinear, s: &[f32]) {
        let v = l.masked().scores().unwrap();
        v.set(&candle_core::Tensor::from_slice(s, v.shape(), &Device::Cpu).unwrap())
            .unwrap();
    }

    fn masks(ls: &[MaskedLinear]) -> Vec<Vec<u8>> {
        ls.iter()
            .map(|l| {
                l.masked()
                    .mask()
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap()
            })
            .collect()
    }

    /// By hand: 10 scores over two layers, p = 0.5, so k = 1 + round(4.5) = 5 and the
    /// threshold is the 5th smallest of all ten. The layers keep different fractions.
    #[test]
    fn one_threshold_over_all_layers_by_hand() {
        let (a, b): (&[f32], &[f32]) = (&[0.1, 0.5, 0.9, 0.3], &[0.2, 0.5, 0.7, 0.0, 0.6, 0.4]);
        let ls = layers(global(0.5, Ranking::Signed), &[a, b]);
        // sorted: 0.0 0.1 0.2 0.3 [0.4] 0.5 0.5 0.6 0.7 0.9: keep ≥ 0.4, six weights
        assert_eq!(masks(&ls), [vec![0, 1, 1, 0], vec![0, 1, 1, 0, 1, 1]]);
        assert_eq!(
            ls[0].masked().kept().unwrap() + ls[1].masked().kept().unwrap(),
            6
        );
        // a tie at the threshold: the 5th and 4th smallest are both 0.3, and both are kept
        set_scores(&ls[1], &[0.2, 0.5, 0.7, 0.0, 0.6, 0.3]);
        assert_eq!(masks(&ls), [vec![0, 1, 1, 1], vec![0, 1, 1, 0, 1, 1]]);
        // by magnitude: |−0.8| ranks high, |−0.05| lowest
        let ls = layers(
            global(0.5, Ranking::Magnitude),
            &[&[-0.8, 0.1, 0.3, -0.05], b],
        );
        // |keys|: 0.8 0.1 0.3 0.05 | 0.2 0.5 0.7 0.0 0.6 0.4 → 5th smallest 0.3
        assert_eq!(masks(&ls), [vec![1, 0, 1, 0], vec![0, 1, 1, 0, 1, 1]]);
    }

    /// The cached threshold follows every change of any member's scores: a layer whose own
    /// scores did not move still gets a new mask when another layer's did.
    #[test]
    fn a_change_in_one_layer_moves_the_others_masks() {
        let (a, b): (&[f32], &[f32]) = (&[0.1, 0.2, 0.3, 0.4], &[0.5, 0.6, 0.7, 0.8]);
        let ls = layers(global(0.5, Ranking::Signed), &[a, b]);
        // k = 1 + round(3.5) = 5: threshold 0.5, layer 0 keeps nothing
        assert_eq!(masks(&ls), [vec![0; 4], vec![1; 4]]);
        set_scores(&ls[0], &[1.1, 1.2, 1.3, 1.4]);
        assert_eq!(
            ls[1].masked().mask().unwrap().to_vec2::<u8>().unwrap(),
            [[0u8; 4]]
        );
        assert_eq!(masks(&ls), [vec![1; 4], vec![0; 4]]);
    }

    #[test]
    fn members_must_share_the_rule_and_nan_names_its_layer() {
        let store = ParamStore::new(3, Device::Cpu);
        MaskedLinear::new(
            &store.builder().pp("a"),
            4,
            2,
            false,
            global(0.5, Ranking::Signed),
        )
        .unwrap();
        let e = MaskedLinear::new(
            &store.builder().pp("b"),
            4,
            2,
            false,
            global(0.6, Ranking::Signed),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("ranking_scope") && e.contains("`b`"), "{e}");
        let ls = layers(
            global(0.5, Ranking::Signed),
            &[&[0.1, 0.2], &[0.3, f32::NAN]],
        );
        let e = ls[0].masked().mask().unwrap_err().to_string();
        assert!(e.contains("`l1`") && e.contains("NaN"), "{e}");
    }

    proptest! {
        /// Against an independent reference, a full sort of every key: the kept count is
        /// n + 1 − k plus the keys ranked below the k-th that tie with it, and each layer keeps exactly its keys ≥ the
        /// k-th smallest. Scores are drawn from a few values so that ties are common.
        #[test]
        fn global_masks_match_a_sort_of_all_keys(
            sizes in prop::collection::vec(1usize..12, 1..5),
            draws in prop::collection::vec(-4i8..4, 60),
            p in 0.0f64..0.95,
            magnitude in any::<bool>(),
        ) {
            let ranking = if magnitude { Ranking::Magnitude } else { Ranking::Signed };
            let mut it = draws.iter().cycle();
            let scores: Vec<Vec<f32>> = sizes
                .iter()
                .map(|&n| (0..n).map(|_| *it.next().unwrap() as f32 * 0.25).collect())
                .collect();
            let refs: Vec<&[f32]> = scores.iter().map(|s| s.as_slice()).collect();
            let ls = layers(global(p, ranking), &refs);
            let mut keys: Vec<f32> = scores.concat().iter().map(|&s| ranking.key(s)).collect();
            keys.sort_by(f32::total_cmp);
            let k = crate::threshold::kth(keys.len(), p);
            let t = keys[k - 1];
            let want: Vec<Vec<u8>> = scores
                .iter()
                .map(|s| s.iter().map(|&x| u8::from(ranking.key(x) >= t)).collect())
                .collect();
            prop_assert_eq!(masks(&ls), want);
            let kept: usize = ls.iter().map(|l| l.masked().kept().unwrap()).sum();
            // the keys ranked before the k-th that tie with it are kept too
            let ties = keys[..k - 1].iter().filter(|&&x| x == t).count();
            prop_assert_eq!(kept, keys.len() + 1 - k + ties);
        }
    }
}
