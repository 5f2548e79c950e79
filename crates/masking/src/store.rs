//! Where parameters live, and how layers name them.

use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::VarMap;

use crate::global::GlobalRanking;
use crate::{Error, Result};

/// What a variable is, which decides who may change it: the optimizer (trainable roles), the
/// randomizer (weights in score mode) or the model itself (normalisation statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Weight,
    Score,
    Bias,
    NormAffine,
    NormStat,
    /// The round of each weight's current value (0: the initial draw, t: the t-th R); written
    /// by the randomizer only, so a ticket can regenerate the weights from the seed.
    Generation,
}

struct Entry {
    name: String,
    var: Var,
    role: Role,
    trainable: bool,
}

/// Every variable of a model, in creation order, in a candle `VarMap` (so safetensors
/// save/load work on it as on any candle model).
///
/// The order is kept because a `VarMap` is a `HashMap`: an optimizer that iterated it would
/// visit parameters in a different order every run.
pub struct ParamStore {
    varmap: VarMap,
    entries: Mutex<Vec<Entry>>,
    device: Device,
    seed: u64,
    /// The layers of `ranking_scope = "global"`, which rank together.
    global: GlobalRanking,
}

impl ParamStore {
    /// A store whose initial values are drawn from the streams of `seed`.
    pub fn new(seed: u64, device: Device) -> Self {
        Self {
            varmap: VarMap::new(),
            entries: Mutex::new(Vec::new()),
            device,
            seed,
            global: GlobalRanking::default(),
        }
    }

    /// The global ranking that this store's `ranking_scope = "global"` layers join.
    pub fn global_ranking(&self) -> &GlobalRanking {
        &self.global
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The root builder.
    pub fn builder(&self) -> Builder<'_> {
        Builder {
            store: self,
            prefix: String::new(),
        }
    }

    /// Variables the optimizer updates, in creation order, with their names.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.entries
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.trainable)
            .map(|e| (e.name.clone(), e.var.clone()))
            .collect()
    }

    /// All variables of a role, in creation order.
    pub fn by_role(&self, role: Role) -> Vec<(String, Var)> {
        self.entries
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.role == role)
            .map(|e| (e.name.clone(), e.var.clone()))
            .collect()
    }

    fn insert(&self, name: String, tensor: Tensor, role: Role, trainable: bool) -> Result<Var> {
        let mut data = self.varmap.data().lock().unwrap();
        if data.contains_key(&name) {
            return Err(Error::Duplicate(name));
        }
        let var = Var::from_tensor(&tensor)?;
        data.insert(name.clone(), var.clone());
        self.entries.lock().unwrap().push(Entry {
            name,
            var: var.clone(),
            role,
            trainable,
        });
        Ok(var)
    }
}

/// A position in the module tree, as candle's `VarBuilder`: `pp("layer1").pp("conv")` names the
/// variables below it `layer1.conv.*`.
#[derive(Clone)]
pub struct Builder<'a> {
    store: &'a ParamStore,
    prefix: String,
}

impl<'a> Builder<'a> {
    pub fn pp(&self, name: impl AsRef<str>) -> Builder<'a> {
        let prefix = if self.prefix.is_empty() {
            name.as_ref().to_string()
        } else {
            format!("{}.{}", self.prefix, name.as_ref())
        };
        Builder {
            store: self.store,
            prefix,
        }
    }

    /// This builder's path (the layer's name in checkpoints and its random-stream key).
    pub fn path(&self) -> &str {
        &self.prefix
    }

    pub fn store(&self) -> &'a ParamStore {
        self.store
    }

    pub fn device(&self) -> &'a Device {
        &self.store.device
    }

    pub fn seed(&self) -> u64 {
        self.store.seed
    }

    /// A new variable `<path>.<name>` holding `values` (host data) in `shape`.
    pub fn var_from_vec(
        &self,
        name: &str,
        values: Vec<f32>,
        shape: impl Into<Shape>,
        role: Role,
        trainable: bool,
    ) -> Result<Var> {
        let t = Tensor::from_vec(values, shape, &self.store.device)?;
        self.store.insert(self.pp(name).prefix, t, role, trainable)
    }

    /// A new variable `<path>.<name>` holding `tensor` (any dtype), on the store's device.
    pub fn var_tensor(
        &self,
        name: &str,
        tensor: Tensor,
        role: Role,
        trainable: bool,
    ) -> Result<Var> {
        let t = tensor.to_device(&self.store.device)?;
        self.store.insert(self.pp(name).prefix, t, role, trainable)
    }

    /// A new constant-filled variable.
    pub fn var_const(
        &self,
        name: &str,
        value: f64,
        shape: impl Into<Shape>,
        role: Role,
        trainable: bool,
    ) -> Result<Var> {
        let t = (Tensor::ones(shape, DType::F32, &self.store.device)? * value)?;
        self.store.insert(self.pp(name).prefix, t, role, trainable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prefixes_and_order_is_kept() {
        let store = ParamStore::new(1, Device::Cpu);
        let b = store.builder().pp("features").pp("0");
        assert_eq!(b.path(), "features.0");
        b.var_const("weight", 1.0, 3, Role::Weight, false).unwrap();
        b.var_const("scores", 0.0, 3, Role::Score, true).unwrap();
        store
            .builder()
            .pp("fc")
            .var_const("bias", 0.0, 2, Role::Bias, true)
            .unwrap();
        let t: Vec<String> = store.trainable().into_iter().map(|(n, _)| n).collect();
        assert_eq!(t, vec!["features.0.scores", "fc.bias"]);
        assert_eq!(store.varmap().all_vars().len(), 3);
        assert!(matches!(
            b.var_const("weight", 1.0, 3, Role::Weight, false),
            Err(Error::Duplicate(n)) if n == "features.0.weight"
        ));
    }
}
