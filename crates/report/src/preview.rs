//! What the network sees: the first images of a run's first training batch, augmented, and the
//! first evaluation images, as PNG grids, and the evaluation batch before normalisation as
//! safetensors with the files it came from, so the pipeline can be checked against other tools
//! (`imagenet --preview N`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::io;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use iterand_data::{assemble, batch_order, Batch, Normalization, Source, Splits, Transforms};

/// Writes `train_preview.png`, `eval_preview.png`, `eval_batch.safetensors` (`images`
/// `(n, c, h, w)` in [0, 1] before normalisation, `labels`) and `eval_files.txt` (a file and its
/// label per line) into `out`; returns their paths.
pub fn write(
    splits: &Splits,
    transforms: &Transforms,
    norm: &Normalization,
    n: usize,
    seed: u64,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let order = batch_order(splits.train.len(), seed, 0);
    let train_idx = &order[..n.min(order.len())];
    let train = assemble(&splits.train, &transforms.train, train_idx, seed, 0)?;
    let eval_idx: Vec<u32> = (0..n.min(splits.test.len()) as u32).collect();
    let eval = assemble(&splits.test, &transforms.eval, &eval_idx, seed, 0)?;
    let (train_px, eval_px) = (unnormalise(&train, norm), unnormalise(&eval, norm));
    let paths = [
        "train_preview.png",
        "eval_preview.png",
        "eval_batch.safetensors",
        "eval_files.txt",
    ]
    .map(|f| out.join(f));
    save_grid(&train_px, &train, &paths[0])?;
    save_grid(&eval_px, &eval, &paths[1])?;
    let s = eval.shape;
    let tensors = HashMap::from([
        (
            "images".to_string(),
            Tensor::from_vec(
                eval_px,
                (eval.len(), s.channels, s.height, s.width),
                &Device::Cpu,
            )?,
        ),
        (
            "labels".to_string(),
            Tensor::from_vec(eval.labels.clone(), eval.len(), &Device::Cpu)?,
        ),
    ]);
    atomically(&paths[2], |tmp| {
        Ok(candle_core::safetensors::save(&tensors, tmp)?)
    })?;
    let files: String = eval_idx
        .iter()
        .zip(&eval.labels)
        .map(|(&j, l)| format!("{}\t{l}\n", splits.test.origin(j as usize)))
        .collect();
    atomically(&paths[3], |tmp| {
        std::fs::write(tmp, &files).map_err(io(tmp))
    })?;
    Ok(paths.to_vec())
}

/// The batch's pixels as they were before normalisation.
fn unnormalise(b: &Batch, norm: &Normalization) -> Vec<f32> {
    let mut px = b.pixels.clone();
    norm.undo(&mut px, b.shape);
    px
}

/// The images side by side in a near-square grid, 2 white pixels apart.
fn save_grid(px: &[f32], b: &Batch, path: &Path) -> Result<()> {
    let (s, n) = (b.shape, b.len().max(1));
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let (cell_h, cell_w) = (s.height + 2, s.width + 2);
    let mut img = image::RgbImage::from_pixel(
        (cols * cell_w) as u32,
        (rows * cell_h) as u32,
        image::Rgb([255; 3]),
    );
    let plane = s.height * s.width;
    for i in 0..b.len() {
        let (x0, y0) = ((i % cols) * cell_w + 1, (i / cols) * cell_h + 1);
        for y in 0..s.height {
            for x in 0..s.width {
                let v = |c: usize| {
                    let c = c.min(s.channels - 1);
                    let p = px[(i * s.channels + c) * plane + y * s.width + x];
                    (p.clamp(0.0, 1.0) * 255.0).round() as u8
                };
                img.put_pixel(
                    (x0 + x) as u32,
                    (y0 + y) as u32,
                    image::Rgb([v(0), v(1), v(2)]),
                );
            }
        }
    }
    atomically(path, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| Error::Invalid(e.to_string()))
    })
}

/// Writes through `write` to a temporary name next to `path`, then renames it into place.
fn atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = path.with_extension("partial");
    write(&tmp).map_err(|e| Error::At {
        path: tmp.clone(),
        inner: Box::new(e),
    })?;
    std::fs::rename(&tmp, path).map_err(io(path))
}
