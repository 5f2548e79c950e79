//! Image files to 8-bit RGB: libjpeg-turbo where the build found it (`cfg(turbojpeg)`, see
//! build.rs), with DCT-domain scaling; zune-jpeg through `image` otherwise, and always for
//! what libjpeg-turbo does not take (PNGs named .JPEG, CMYK and YCCK JPEGs).
//!
//! Why a dozen lines of FFI rather than the `turbojpeg` crate: the crate binds the TurboJPEG 3
//! API, which Debian 12 does not ship (it has 2.1.5), and its vendored build needs cmake and
//! nasm. The TurboJPEG 2 functions declared here exist unchanged in libjpeg-turbo 2.0–3.x.
//!
//! libjpeg-turbo decodes with the accurate integer IDCT and fancy upsampling, its defaults and
//! PIL's, so the pixels are PIL's (and so torchvision's) for the same file.

use std::path::Path;

use crate::{Error, Result};

/// An image as interleaved 8-bit RGB, row after row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb8 {
    pub pixels: Vec<u8>,
    pub width: usize,
    pub height: usize,
}

/// The JPEG decoder this build uses, for logs and run records.
pub const DECODER: &str = if cfg!(turbojpeg) {
    "libjpeg-turbo"
} else {
    "zune-jpeg"
};

/// Whether this build can decode JPEGs at reduced size (libjpeg-turbo's scaling by k/8).
pub const DCT_SCALING: bool = cfg!(turbojpeg);

/// The most bytes a decoded image may take, as the `image` crate's default limit: a corrupt
/// header naming 40,000² pixels is an unreadable file, not a 4.8 GB allocation.
pub const MAX_DECODED_BYTES: usize = 512 << 20;

/// The side of an image of side `n` decoded at `eighths`/8: libjpeg-turbo's `TJSCALED`.
pub fn scaled(n: usize, eighths: u32) -> usize {
    (n * eighths as usize).div_ceil(8)
}

/// The width and height of a JPEG that [`decode_scaled`] can decode at reduced size, read from
/// its header alone; `None` for anything else (not a JPEG, CMYK, no libjpeg-turbo, a header it
/// rejects), which [`decode`] then reads in full.
pub fn scalable_size(bytes: &[u8]) -> Option<(usize, usize)> {
    #[cfg(turbojpeg)]
    {
        turbo::with_handle(|h| turbo::header(h, bytes).ok().flatten())
    }
    #[cfg(not(turbojpeg))]
    {
        let _ = bytes;
        None
    }
}

/// A JPEG that [`scalable_size`] accepted, decoded at `eighths`/8 of its size (1–8).
pub fn decode_scaled(bytes: &[u8], eighths: u32, path: &Path) -> Result<Rgb8> {
    #[cfg(turbojpeg)]
    {
        turbo::with_handle(|h| turbo::decode(h, bytes, eighths))
            .map_err(|why| Error::format(path, format!("cannot decode: {why}")))
    }
    #[cfg(not(turbojpeg))]
    {
        let _ = (bytes, eighths);
        Err(Error::format(path, "no libjpeg-turbo in this build"))
    }
}

/// Any image file at full size: libjpeg-turbo where it takes the file, else `image`
/// (zune-jpeg, PNG). Greyscale and CMYK become RGB.
pub fn decode(bytes: &[u8], path: &Path) -> Result<Rgb8> {
    if scalable_size(bytes).is_some() {
        return decode_scaled(bytes, 8, path);
    }
    decode_portable(bytes, path)
}

/// Any image file at full size through `image` (zune-jpeg, PNG): the pure-Rust decoder.
pub fn decode_portable(bytes: &[u8], path: &Path) -> Result<Rgb8> {
    let img = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?
        .decode()
        .map_err(|e| Error::format(path, format!("cannot decode: {e}")))?
        .to_rgb8();
    let (width, height) = (img.width() as usize, img.height() as usize);
    Ok(Rgb8 {
        pixels: img.into_raw(),
        width,
        height,
    })
}

#[cfg(turbojpeg)]
mod turbo {
    //! The TurboJPEG 2 decompression functions, and one handle per thread.

    use std::cell::RefCell;
    use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};

    use super::{scaled, Rgb8, MAX_DECODED_BYTES};

    type Handle = *mut c_void;
    const TJPF_RGB: c_int = 0;
    const TJCS_RGB: c_int = 0;
    const TJCS_YCBCR: c_int = 1;
    const TJCS_GRAY: c_int = 2;
    const TJERR_WARNING: c_int = 0;

    extern "C" {
        fn tjInitDecompress() -> Handle;
        fn tjDestroy(handle: Handle) -> c_int;
        fn tjDecompressHeader3(
            handle: Handle,
            buf: *const u8,
            size: c_ulong,
            width: *mut c_int,
            height: *mut c_int,
            subsamp: *mut c_int,
            colorspace: *mut c_int,
        ) -> c_int;
        #[allow(clippy::too_many_arguments)]
        fn tjDecompress2(
            handle: Handle,
            buf: *const u8,
            size: c_ulong,
            dst: *mut u8,
            width: c_int,
            pitch: c_int,
            height: c_int,
            format: c_int,
            flags: c_int,
        ) -> c_int;
        fn tjGetErrorStr2(handle: Handle) -> *mut c_char;
        fn tjGetErrorCode(handle: Handle) -> c_int;
    }

    /// A decompressor, destroyed with its thread.
    struct Owned(Handle);

    impl Drop for Owned {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: a handle from tjInitDecompress, destroyed once.
                unsafe { tjDestroy(self.0) };
            }
        }
    }

    thread_local! {
        static HANDLE: RefCell<Option<Owned>> = const { RefCell::new(None) };
    }

    /// Runs `f` with this thread's decompressor, made on first use; `f` gets a null handle
    /// when libjpeg-turbo could not make one, and every call then fails.
    pub(super) fn with_handle<T>(f: impl FnOnce(Handle) -> T) -> T {
        HANDLE.with(|cell| {
            let mut slot = cell.borrow_mut();
            // SAFETY: tjInitDecompress has no preconditions.
            let h = slot.get_or_insert_with(|| Owned(unsafe { tjInitDecompress() }));
            f(h.0)
        })
    }

    fn error(h: Handle) -> String {
        // SAFETY: tjGetErrorStr2 returns a NUL-terminated string owned by the handle (or a
        // static one for a null handle).
        unsafe { CStr::from_ptr(tjGetErrorStr2(h)) }
            .to_string_lossy()
            .into_owned()
    }

    /// (width, height) of a JPEG whose colours libjpeg-turbo turns into RGB itself; None for
    /// CMYK and YCCK, which `image` converts as PIL does.
    pub(super) fn header(h: Handle, bytes: &[u8]) -> Result<Option<(usize, usize)>, String> {
        if h.is_null() || bytes.len() < 3 || bytes[..3] != [0xFF, 0xD8, 0xFF] {
            return Ok(None);
        }
        let (mut w, mut ht, mut sub, mut cs) = (0, 0, 0, 0);
        // SAFETY: the buffer is valid for its length; the outputs are plain ints.
        let rc = unsafe {
            tjDecompressHeader3(
                h,
                bytes.as_ptr(),
                bytes.len() as c_ulong,
                &mut w,
                &mut ht,
                &mut sub,
                &mut cs,
            )
        };
        if rc != 0 {
            return Err(error(h));
        }
        let rgb = matches!(cs, TJCS_RGB | TJCS_YCBCR | TJCS_GRAY);
        Ok((rgb && w > 0 && ht > 0).then_some((w as usize, ht as usize)))
    }

    /// The image at `eighths`/8 of its size. A warning (a corrupt but decodable stream) keeps
    /// the image, as PIL does.
    pub(super) fn decode(h: Handle, bytes: &[u8], eighths: u32) -> Result<Rgb8, String> {
        let (w, ht) = header(h, bytes)?.ok_or("not an RGB, YCbCr or greyscale JPEG")?;
        let (width, height) = (
            scaled(w, eighths.clamp(1, 8)),
            scaled(ht, eighths.clamp(1, 8)),
        );
        if 3 * width * height > MAX_DECODED_BYTES {
            return Err(format!(
                "{width}x{height} pixels: over the {MAX_DECODED_BYTES}-byte limit"
            ));
        }
        let mut pixels = vec![0u8; 3 * width * height];
        // SAFETY: `pixels` holds `height` rows of `3·width` bytes, the scaled size asked for;
        // libjpeg-turbo writes no more than that.
        let rc = unsafe {
            tjDecompress2(
                h,
                bytes.as_ptr(),
                bytes.len() as c_ulong,
                pixels.as_mut_ptr(),
                width as c_int,
                (3 * width) as c_int,
                height as c_int,
                TJPF_RGB,
                0,
            )
        };
        // SAFETY: a valid handle.
        if rc != 0 && unsafe { tjGetErrorCode(h) } != TJERR_WARNING {
            return Err(error(h));
        }
        Ok(Rgb8 {
            pixels,
            width,
            height,
        })
    }
}
