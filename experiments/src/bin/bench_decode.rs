//! JPEG decoders on the same files, one thread: zune-jpeg through `image` (what the ImageFolder
//! uses) against libjpeg-turbo through `turbojpeg`, full size and with libjpeg-turbo's DCT-domain
//! scaling (1/2, 1/4, 1/8), which decodes fewer pixels when the crop is much smaller than the
//! photo. Behind the `turbojpeg` feature (it builds the C library with cmake and nasm):
//!
//! cargo run -p experiments --features turbojpeg --bin bench_decode -- DIR [--reps 3]
//!
//! Prints ms per image for each, the median of the passes, alternating.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(files(&p)?);
        } else if p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("jpeg"))
        {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn zune(bytes: &[u8]) -> Result<usize> {
    let img = image::load_from_memory(bytes)?.to_rgb8();
    Ok(img.len())
}

fn turbo(bytes: &[u8], denom: usize) -> Result<usize> {
    let mut d = turbojpeg::Decompressor::new()?;
    let factor = turbojpeg::ScalingFactor::new(1, denom);
    d.set_scaling_factor(factor)?;
    let header = d.read_header(bytes)?.scaled(factor);
    let mut image = turbojpeg::Image {
        pixels: vec![0u8; 3 * header.width * header.height],
        width: header.width,
        pitch: 3 * header.width,
        height: header.height,
        format: turbojpeg::PixelFormat::RGB,
    };
    d.decompress(bytes, image.as_deref_mut())?;
    Ok(image.pixels.len())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).context("usage: bench_decode DIR [--reps N]")?);
    let reps: usize = match args.iter().position(|a| a == "--reps") {
        Some(i) => args.get(i + 1).context("--reps N")?.parse()?,
        None => 3,
    };
    let data: Vec<Vec<u8>> = files(&dir)?
        .iter()
        .map(std::fs::read)
        .collect::<std::io::Result<_>>()?;
    anyhow::ensure!(!data.is_empty(), "no .JPEG files under {}", dir.display());
    type Decoder = Box<dyn Fn(&[u8]) -> Result<usize>>;
    let decoders: Vec<(&str, Decoder)> = vec![
        ("zune-jpeg (image), full size", Box::new(zune)),
        ("libjpeg-turbo, full size", Box::new(|b: &[u8]| turbo(b, 1))),
        (
            "libjpeg-turbo, DCT-scaled 1/2",
            Box::new(|b: &[u8]| turbo(b, 2)),
        ),
        (
            "libjpeg-turbo, DCT-scaled 1/4",
            Box::new(|b: &[u8]| turbo(b, 4)),
        ),
        (
            "libjpeg-turbo, DCT-scaled 1/8",
            Box::new(|b: &[u8]| turbo(b, 8)),
        ),
    ];
    let mut times = vec![Vec::new(); decoders.len()];
    for rep in 0..reps {
        for k in 0..decoders.len() {
            let k = if rep % 2 == 0 {
                k
            } else {
                decoders.len() - 1 - k
            };
            let t = Instant::now();
            for b in &data {
                std::hint::black_box(decoders[k].1(b)?);
            }
            times[k].push(t.elapsed().as_secs_f64() * 1e3 / data.len() as f64);
        }
    }
    println!(
        "{} files, median of {reps} passes, alternating:",
        data.len()
    );
    for ((name, _), mut t) in decoders.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        println!("{name:32} {:.3} ms/image", t[t.len() / 2]);
    }
    Ok(())
}
