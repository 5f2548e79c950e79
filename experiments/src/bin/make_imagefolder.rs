//! Write the embedded digits, Fashion-MNIST, MNIST or CIFAR-10 as a JPEG ImageFolder in the
//! official ImageNet layout, so the whole ImageNet pipeline (index, decoding, transforms,
//! loader) runs here on real images:
//!
//! cargo run -p experiments --bin make_imagefolder -- --dataset fashion-mnist --size 64 \
//!     --out data/fm-imagefolder
//!
//! `OUT/train/<class>/<n>.JPEG` holds every training image (the ImageFolder takes its own 1 %
//! hold-out), `OUT/val/<class>/<n>.JPEG` the test set, and `OUT/list/clist.csv` the labels.
//! The folder is written under a temporary name and renamed when complete.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use iterand_data::{idx, DatasetName, Normalization, Source, View};

#[derive(Parser, Debug)]
#[command(version, name = "make_imagefolder")]
struct Cli {
    /// digits, fashion-mnist, mnist or cifar10.
    #[arg(long)]
    dataset: DatasetName,
    /// The dataset's folder (default: the registry's).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Side of the written images in pixels (default: the dataset's own).
    #[arg(long)]
    size: Option<u32>,
    /// JPEG quality (1–100).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
    /// Write at most this many images per split (a small folder for smoke runs).
    #[arg(long)]
    limit: Option<usize>,
    /// The folder to create (refused if it exists).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

const DIGIT_NAMES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// The class names in label order, and the normalisation to undo.
fn describe(d: DatasetName) -> Result<(Vec<&'static str>, Normalization)> {
    Ok(match d {
        DatasetName::FashionMnist => {
            let (m, s) = idx::Kind::FashionMnist.stats();
            let names = vec![
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ];
            (names, Normalization::grey(m, s))
        }
        DatasetName::Mnist => {
            let (m, s) = idx::Kind::Mnist.stats();
            (DIGIT_NAMES.to_vec(), Normalization::grey(m, s))
        }
        DatasetName::Digits => (DIGIT_NAMES.to_vec(), iterand_data::digits::normalization()),
        DatasetName::Cifar10 => {
            let names = vec![
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ];
            (names, Normalization::imagenet())
        }
        other => {
            bail!("make_imagefolder converts digits, fashion-mnist, mnist or cifar10, not {other}")
        }
    })
}

/// Example `i` of `view` as an 8-bit RGB image of `size` pixels a side.
fn rgb(view: &View, i: usize, norm: &Normalization, size: Option<u32>) -> Result<image::RgbImage> {
    let ex = view.get(i)?;
    let (h, w, c) = (ex.shape.height, ex.shape.width, ex.shape.channels);
    let plane = h * w;
    let mut px = ex.pixels.into_owned();
    norm.undo(&mut px, ex.shape);
    let byte = |ch: usize, p: usize| {
        let v = px[ch.min(c - 1) * plane + p] * 255.0;
        v.round().clamp(0.0, 255.0) as u8
    };
    let img = image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let p = y as usize * w + x as usize;
        image::Rgb([byte(0, p), byte(1, p), byte(2, p)])
    });
    Ok(match size {
        Some(s) if s as usize != w || s as usize != h => {
            image::imageops::resize(&img, s, s, image::imageops::FilterType::Triangle)
        }
        _ => img,
    })
}

/// Write `views` (their examples, in order) under `dir/<class>/`.
fn write_split(dir: &Path, views: &[&View], cli: &Cli, norm: &Normalization) -> Result<usize> {
    let mut n = 0;
    for view in views {
        for i in 0..view.len() {
            if cli.limit.is_some_and(|l| n >= l) {
                return Ok(n);
            }
            let class = dir.join(format!("class{:02}", view.label(i)?));
            std::fs::create_dir_all(&class)
                .with_context(|| format!("creating {}", class.display()))?;
            let path = class.join(format!("{n:06}.JPEG"));
            let file = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(
                std::io::BufWriter::new(file),
                cli.quality,
            );
            enc.encode_image(&rgb(view, i, norm, cli.size)?)
                .with_context(|| format!("writing {}", path.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.out.exists() {
        bail!("{} exists; choose a new folder", cli.out.display());
    }
    let (names, norm) = describe(cli.dataset)?;
    let splits = cli
        .dataset
        .open(cli.data.as_deref())
        .with_context(|| format!("loading {}", cli.dataset))?;
    let tmp = cli.out.with_extension("partial");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    let train = write_split(
        &tmp.join("train"),
        &[&splits.train, &splits.val],
        &cli,
        &norm,
    )?;
    let test = write_split(&tmp.join("val"), &[&splits.test], &cli, &norm)?;
    let mut csv = String::from("folder,name,label\n");
    for (l, name) in names.iter().enumerate() {
        csv.push_str(&format!("class{l:02},{},{l}\n", name.replace(',', " ")));
    }
    std::fs::create_dir_all(tmp.join("list"))?;
    std::fs::write(tmp.join("list/clist.csv"), csv)?;
    std::fs::rename(&tmp, &cli.out)
        .with_context(|| format!("renaming {} to {}", tmp.display(), cli.out.display()))?;
    println!(
        "wrote {} ({train} training and {test} test images)",
        cli.out.display()
    );
    Ok(())
}
