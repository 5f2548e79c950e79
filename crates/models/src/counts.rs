//! Parameter counts, as the paper's "accuracy vs #params" axes use them.

use iterand_masking::threshold::kept_count;
use iterand_masking::MaskedWeight;
use serde::{Deserialize, Serialize};

/// Counts over a model's masked layers. `weights` are the prunable weights (the reference
/// tables' numbers); `kept` applies the k rule per layer at the layer's effective sparsity, or
/// once over all layers together under a global ranking (`ranking_scope = "global"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCounts {
    pub weights: usize,
    pub kept: usize,
}

impl ParamCounts {
    pub fn of(layers: &[&MaskedWeight]) -> Self {
        let mut c = ParamCounts {
            weights: 0,
            kept: 0,
        };
        let (mut global, mut global_sparsity) = (0, 0.0);
        for m in layers {
            let n = m.numel();
            c.weights += n;
            let cfg = m.config();
            if m.ranks_globally() {
                (global, global_sparsity) = (global + n, cfg.sparsity);
            } else {
                c.kept += kept_count(n, cfg.effective_sparsity());
            }
        }
        if global > 0 {
            c.kept += kept_count(global, global_sparsity);
        }
        c
    }
}
