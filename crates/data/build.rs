//! Finds the system's libjpeg-turbo (TurboJPEG API, Debian's `libturbojpeg0-dev`) through
//! pkg-config and links it statically, so that binaries carried to another machine (the GPU
//! host) need no shared library there. Found, the crate is built with `cfg(turbojpeg)` and the
//! ImageFolder decodes JPEGs with it, DCT-scaled where a crop allows; not found, it falls back
//! to zune-jpeg (pure Rust) and says so once as a build warning.
//!
//! `ITERAND_JPEG=zune` forces the fallback; `ITERAND_JPEG=turbojpeg` makes a missing library a
//! build error (CI sets it, so that a skipped decoder cannot pass unnoticed).

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(turbojpeg)");
    println!("cargo::rerun-if-env-changed=ITERAND_JPEG");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_PATH");
    let want = std::env::var("ITERAND_JPEG").unwrap_or_default();
    if want == "zune" {
        return;
    }
    match find() {
        Ok(dir) => {
            println!("cargo::rustc-link-search=native={dir}");
            println!("cargo::rustc-link-lib=static=turbojpeg");
            println!("cargo::rustc-cfg=turbojpeg");
        }
        Err(why) if want == "turbojpeg" => panic!("ITERAND_JPEG=turbojpeg: {why}"),
        Err(why) => println!(
            "cargo::warning=libjpeg-turbo not used ({why}); JPEGs decode with zune-jpeg. \
             Install libturbojpeg0-dev for the faster, DCT-scaling decoder."
        ),
    }
}

/// The folder holding `libturbojpeg.a`, from pkg-config's `libturbojpeg` (2.0 or later: the
/// TurboJPEG 2 functions are what `jpeg.rs` declares).
fn find() -> Result<String, String> {
    let lib = pkg_config::Config::new()
        .atleast_version("2.0")
        .cargo_metadata(false)
        .probe("libturbojpeg")
        .map_err(|e| e.to_string().lines().next().unwrap_or("").to_string())?;
    // a library in a system folder has no -L path: its pkg-config file names the folder
    let libdir = pkg_config::get_variable("libturbojpeg", "libdir").map_err(|e| e.to_string())?;
    let dirs = lib.link_paths.iter().map(|d| d.display().to_string());
    dirs.chain(std::iter::once(libdir))
        .find(|d| Path::new(d).join("libturbojpeg.a").exists())
        .ok_or_else(|| format!("no libturbojpeg.a beside version {}", lib.version))
}
