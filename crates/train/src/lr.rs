//! The official `CustomCosineLR`: linear warm-up, cosine decay, constant fine-tune tail.
//! Set once per epoch, at its start.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CosineSchedule {
    pub lr: f64,
    pub epochs: usize,
    pub warmup_epochs: usize,
    pub finetune_epochs: usize,
    pub finetune_lr: f64,
}

impl CosineSchedule {
    /// The learning rate of epoch `e` (0-based).
    pub fn at(&self, e: usize) -> f64 {
        let (w, f, n) = (self.warmup_epochs, self.finetune_epochs, self.epochs);
        if e < w {
            self.lr * (e + 1) as f64 / w as f64
        } else if e + f < n {
            let t = (e - w) as f64 / (n - w - f) as f64;
            0.5 * (1.0 + (std::f64::consts::PI * t).cos()) * self.lr
        } else {
            self.finetune_lr
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_cosine_values() {
        let s = CosineSchedule {
            lr: 0.1,
            epochs: 4,
            warmup_epochs: 0,
            finetune_epochs: 0,
            finetune_lr: 0.0,
        };
        let v: Vec<f64> = (0..4).map(|e| s.at(e)).collect();
        // 0.5(1 + cos(π·e/4))·0.1
        let want = [0.1, 0.085355339, 0.05, 0.014644661];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-8, "{v:?}");
        }
    }

    #[test]
    fn imagenet_shape_warmup_cosine_finetune() {
        let s = CosineSchedule {
            lr: 0.1,
            epochs: 105,
            warmup_epochs: 5,
            finetune_epochs: 5,
            finetune_lr: 1e-5,
        };
        assert!((s.at(0) - 0.02).abs() < 1e-12);
        assert!((s.at(4) - 0.1).abs() < 1e-12);
        assert!((s.at(5) - 0.1).abs() < 1e-12); // cosine starts at full lr
        assert!(
            (s.at(5 + 95 / 2) - 0.5 * (1.0 + (std::f64::consts::PI * 47.0 / 95.0).cos()) * 0.1)
                .abs()
                < 1e-12
        );
        assert_eq!(s.at(100), 1e-5);
        assert_eq!(s.at(104), 1e-5);
        assert!(s.at(99) < 1e-3 && s.at(99) > 0.0);
    }
}
