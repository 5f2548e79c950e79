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
    /// The splits this config trains on: its dataset, folder and image size.
    pub fn open_data(&self) -> Result<Splits> {
        Ok(self
            .dataset
            .open_sized(self.data.as_deref(), self.image_size)?)
    }
}
