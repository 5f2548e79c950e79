//! JPEG decoders on the same files, one thread: zune-jpeg through `image` (the pure-Rust
//! fallback) against libjpeg-turbo (`iterand_data::jpeg`, when the build found the system
//! library), full size and at each DCT-domain scale k/8, which decodes fewer pixels when the
//! crop is smaller than the photo:
//!
//! cargo run -p experiments --bin bench_decode -- DIR [--reps 3]
//!
//! Prints ms per image for each, the median of the passes, alternating.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use iterand_data::jpeg;

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
    Ok(jpeg::decode_portable(bytes, Path::new("-"))?.pixels.len())
}

fn turbo(bytes: &[u8], eighths: u32) -> Result<usize> {
    Ok(jpeg::decode_scaled(bytes, eighths, Path::new("-"))?
        .pixels
        .len())
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
    anyhow::ensure!(
        jpeg::DCT_SCALING,
        "this build has no libjpeg-turbo (install libturbojpeg0-dev and rebuild)"
    );
    type Decoder = Box<dyn Fn(&[u8]) -> Result<usize>>;
    let mut decoders: Vec<(String, Decoder)> =
        vec![("zune-jpeg (image), full size".into(), Box::new(zune))];
    for k in (1..=8).rev() {
        let name = format!("libjpeg-turbo, scaled {k}/8");
        decoders.push((name, Box::new(move |b: &[u8]| turbo(b, k))));
    }
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
