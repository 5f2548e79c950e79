//! From a dataset name and an optional folder to splits (the registry lives in the data crate).

use std::path::PathBuf;

use iterand_data::Splits;

use crate::config::DatasetName;
use crate::Result;

/// Load the train/validation/test splits of `name`, from `data` or the dataset's default place
/// (see [`DatasetName::open`]).
pub fn load_splits(name: DatasetName, data: Option<&PathBuf>) -> Result<Splits> {
    Ok(name.open(data.map(PathBuf::as_path))?)
}

impl crate::TrainConfig {
    /// The splits this config trains on: its dataset, folder, image size and split draw.
    pub fn open_data(&self) -> Result<Splits> {
        let splits = self
            .dataset
            .open_sized(self.data.as_deref(), self.image_size)?;
        Ok(splits.with_split_draw(self.split)?)
    }
}

#[cfg(test)]
mod tests {
    use iterand_data::{drawn_split, View, VAL_SPLIT_SEED};

    use crate::{SplitDraw, TrainConfig};

    fn indices(v: &View) -> Vec<u32> {
        (0..v.len()).map(|j| v.source_index(j) as u32).collect()
    }

    /// `split = "torch"` trains and validates on torch's seed-777 parts of the same images.
    #[test]
    fn the_split_key_chooses_which_images_are_held_out() {
        let ours = TrainConfig::default().open_data().unwrap();
        let torch = TrainConfig {
            split: SplitDraw::Torch,
            ..Default::default()
        }
        .open_data()
        .unwrap();
        let n = ours.train.len() + ours.val.len();
        let (kept, held) = drawn_split(n, ours.val.len(), VAL_SPLIT_SEED, SplitDraw::Torch);
        assert_eq!((indices(&torch.train), indices(&torch.val)), (kept, held));
        assert_ne!(indices(&torch.val), indices(&ours.val));
        assert_eq!(indices(&torch.test), indices(&ours.test));
    }
}
