//! An on-disk image folder in the official ImageNet layout, read one file at a time.
//!
//! `<root>/<split>/<class>/<file>` with labels from `<root>/list/clist.csv` when present (the
//! official code's table: class folder, name, label), else the sorted class folder names.
//! Walking 1.28 M files takes minutes, so the sorted file list is cached in an index file and
//! reused while every class folder's modification time is unchanged (adding or removing a file
//! changes its folder's time); otherwise it is rebuilt. Files are sorted, so indices are stable.
//!
//! A file that cannot be read or decoded (ILSVRC-2012 has a few) is logged once, by name, and
//! read as the next file in index order that decodes: a choice that depends only on the
//! files, so runs stay identical for any number of loader workers. Past
//! [`BAD_FILE_FRACTION`] of the split the run stops with the list.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use crate::jpeg::{self, Rgb8};
use crate::resize::{self, Resample};
use crate::source::Source;
use crate::transform::{Key, Transform};
use crate::{Error, Example, ImageShape, Normalization, Result};

/// The first line of an index file; a file without it is rebuilt. Version 2 added the file
/// count and the end line, so that a truncated index is rebuilt rather than trusted.
const INDEX_HEADER: &str = "iterand-imagefolder-index 2";
const INDEX_END: &str = "end";

/// The share of a split's files that may be unreadable before a run stops (at least one file
/// is always tolerated).
pub const BAD_FILE_FRACTION: f64 = 0.001;

/// One split of an image folder: a sorted file list with labels; images decode on `get`.
#[derive(Debug)]
pub struct ImageFolder {
    name: String,
    dir: PathBuf,
    /// Class folder names, in label order.
    classes: Vec<String>,
    /// Paths relative to `dir`, sorted, and their labels.
    files: Vec<(String, u32)>,
    norm: Normalization,
    black: Vec<f32>,
    /// What `shape()` reports: the files' own sizes vary.
    nominal: ImageShape,
    /// Unreadable files met so far: index → why.
    bad: Mutex<BTreeMap<usize, String>>,
    /// How many unreadable files are tolerated.
    bad_limit: usize,
}

/// A class folder as the index records it.
#[derive(Clone, Debug, PartialEq)]
struct ClassDir {
    name: String,
    mtime_ns: u128,
}

impl ImageFolder {
    /// Split `split` (`train`, `val`) of `root`, with its index cached in `cache_dir`.
    pub fn open(root: &Path, split: &str, cache_dir: &Path) -> Result<Self> {
        let dir = root.join(split);
        let dirs = class_dirs(&dir)?;
        let labels = class_labels(root, &dirs)?;
        let index = cache_dir.join(format!("{}.index", index_name(&dir)));
        let files = match read_index(&index, &dirs) {
            Some(files) => files,
            None => {
                let files = walk(&dir, &dirs)?;
                write_index(&index, &dirs, &files)?;
                files
            }
        };
        let classes = class_order(&dirs, &labels);
        let files: Vec<(String, u32)> = files
            .into_iter()
            .map(|(c, f)| (format!("{}/{f}", dirs[c].name), labels[c]))
            .collect();
        let norm = Normalization::imagenet();
        let bad_limit = bad_file_limit(files.len(), BAD_FILE_FRACTION);
        Ok(Self {
            bad: Mutex::new(BTreeMap::new()),
            bad_limit,
            name: format!("{}/{split}", root.display()),
            dir,
            classes,
            files,
            black: norm.black(),
            norm,
            nominal: ImageShape {
                channels: 3,
                height: 256,
                width: 256,
            },
        })
    }

    pub fn class_names(&self) -> &[String] {
        &self.classes
    }

    /// File `i`'s path.
    pub fn path(&self, i: usize) -> PathBuf {
        self.dir.join(&self.files[i].0)
    }

    /// Tolerate `fraction` of the split's files being unreadable (at least one).
    pub fn with_bad_file_fraction(mut self, fraction: f64) -> Self {
        self.bad_limit = bad_file_limit(self.files.len(), fraction);
        self
    }

    /// The unreadable files met so far, in index order, with why.
    pub fn bad_files(&self) -> Vec<(PathBuf, String)> {
        let bad = self.bad.lock().unwrap_or_else(|e| e.into_inner());
        bad.iter()
            .map(|(&i, why)| (self.path(i), why.clone()))
            .collect()
    }

    /// Example `i` through `t`, appended to `out` only when the file decodes: when `t` is a
    /// crop and resize, 8-bit pixels are resampled directly, from a JPEG decoded at reduced
    /// size where the crop allows ([`Resample::eighths`]).
    fn decode_through(
        &self,
        i: usize,
        t: &dyn Transform,
        key: Key,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let path = self.path(i);
        let bytes = read(&path)?;
        let full = jpeg::scalable_size(&bytes).map(|(w, h)| image_shape(h, w));
        if let Some((shape, plan)) = full.and_then(|s| Some((s, t.resample_plan(s, key)?))) {
            let k = plan.eighths();
            let img = jpeg::decode_scaled(&bytes, k, &path)?;
            return self.resample(&img, shape, k, &plan, &path, out);
        }
        let img = jpeg::decode(&bytes, &path)?;
        let shape = image_shape(img.height, img.width);
        match t.resample_plan(shape, key) {
            Some(plan) => self.resample(&img, shape, 8, &plan, &path, out),
            None => {
                let ex = self.example(img, self.label(i)?);
                t.apply(&ex, &self.black, key, out);
                Ok(())
            }
        }
    }

    /// `img`, the file at `path` decoded at `eighths`/8 of `full`, through `plan`.
    fn resample(
        &self,
        img: &Rgb8,
        full: ImageShape,
        eighths: u32,
        plan: &Resample,
        path: &Path,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let hw = (full.height, full.width);
        resize::resample_rgb8(img, hw, eighths, plan, &self.norm, out)
            .map_err(|why| Error::format(path, format!("cannot resample: {why}")))
    }

    /// A decoded file as a normalised example.
    fn example(&self, img: Rgb8, label: u32) -> Example<'static> {
        let shape = image_shape(img.height, img.width);
        let mut pixels = planes(&img);
        self.norm.apply(&mut pixels, shape);
        Example {
            pixels: Cow::Owned(pixels),
            shape,
            label,
        }
    }

    /// Example `i` as its file holds it.
    fn decode(&self, i: usize) -> Result<Example<'_>> {
        let path = self.path(i);
        let img = jpeg::decode(&read(&path)?, &path)?;
        Ok(self.example(img, self.label(i)?))
    }

    /// File `i` failed with `err`: record it (logging it the first time), or stop the run
    /// when too many have.
    fn note_bad(&self, i: usize, err: &Error) -> Result<()> {
        let mut bad = self.bad.lock().unwrap_or_else(|e| e.into_inner());
        if bad.insert(i, err.to_string()).is_none() {
            tracing::warn!("unreadable file, replaced by the next readable one: {err}");
        }
        if bad.len() <= self.bad_limit {
            return Ok(());
        }
        let list: Vec<String> = bad.values().cloned().collect();
        Err(Error::BadFiles {
            source_name: self.name.clone(),
            count: bad.len(),
            limit: self.bad_limit,
            files: list.join("\n"),
        })
    }
}

fn bad_file_limit(files: usize, fraction: f64) -> usize {
    ((files as f64 * fraction).floor() as usize).max(1)
}

impl Source for ImageFolder {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.files.len()
    }
    fn shape(&self) -> ImageShape {
        self.nominal
    }
    fn classes(&self) -> usize {
        self.classes.len()
    }
    fn black(&self) -> &[f32] {
        &self.black
    }
    fn label(&self, i: usize) -> Result<u32> {
        self.files
            .get(i)
            .map(|f| f.1)
            .ok_or_else(|| Error::NotFound(format!("{}: example {i}", self.name)))
    }
    fn origin(&self, i: usize) -> String {
        match self.files.get(i) {
            Some((f, _)) => self.dir.join(f).display().to_string(),
            None => format!("{} #{i}", self.name),
        }
    }
    /// File `i`, or, if it is unreadable, the next file in index order that decodes.
    fn get(&self, i: usize) -> Result<Example<'_>> {
        self.first_readable(i, |j| self.decode(j))
    }
    /// As [`get`](Self::get), through `t`; the label is the file's that was read.
    fn transformed(
        &self,
        i: usize,
        t: &dyn Transform,
        key: Key,
        out: &mut Vec<f32>,
    ) -> Result<u32> {
        self.first_readable(i, |j| {
            self.decode_through(j, t, key, out)?;
            self.label(j)
        })
    }
}

impl ImageFolder {
    /// `read(i)`, or, if file `i` is unreadable, `read` of the next file in index order that
    /// is readable.
    fn first_readable<T>(&self, i: usize, mut read: impl FnMut(usize) -> Result<T>) -> Result<T> {
        self.label(i)?;
        let n = self.files.len();
        let mut j = i;
        loop {
            match read(j) {
                Ok(v) => return Ok(v),
                Err(e) => self.note_bad(j, &e)?,
            }
            j = (j + 1) % n;
            if j == i {
                return Err(Error::NotFound(format!("{}: no readable file", self.name)));
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

fn image_shape(height: usize, width: usize) -> ImageShape {
    ImageShape {
        channels: 3,
        height,
        width,
    }
}

/// Interleaved 8-bit RGB as channel planes of values in [0, 1].
fn planes(img: &Rgb8) -> Vec<f32> {
    let plane = img.width * img.height;
    let mut out = vec![0f32; 3 * plane];
    for (p, px) in img.pixels.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + p] = px[c] as f32 / 255.0;
        }
    }
    out
}

/// A JPEG (or any file `image` recognises by its bytes, such as a PNG named `.JPEG`) as RGB
/// values in [0, 1], channels first. Greyscale and CMYK files become RGB.
pub fn decode_rgb(path: &Path) -> Result<(Vec<f32>, ImageShape)> {
    let img = jpeg::decode(&read(path)?, path)?;
    Ok((planes(&img), image_shape(img.height, img.width)))
}

/// The split's class folders, sorted by name, with their modification times.
fn class_dirs(dir: &Path) -> Result<Vec<ClassDir>> {
    let io = |e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    let mut dirs = vec![];
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let meta = entry.metadata().map_err(io)?;
        if !meta.is_dir() {
            continue;
        }
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        dirs.push(ClassDir {
            name: entry.file_name().to_string_lossy().into_owned(),
            mtime_ns,
        });
    }
    if dirs.is_empty() {
        return Err(Error::NotFound(format!(
            "{}: no class folders (expected <root>/train/<class>/*.JPEG and <root>/val/<class>/*.JPEG)",
            dir.display()
        )));
    }
    dirs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(dirs)
}

/// Each class folder's label: from `<root>/list/clist.csv` if it exists, else its rank.
fn class_labels(root: &Path, dirs: &[ClassDir]) -> Result<Vec<u32>> {
    let csv = root.join("list/clist.csv");
    if !csv.is_file() {
        return Ok((0..dirs.len() as u32).collect());
    }
    let text = std::fs::read_to_string(&csv).map_err(|e| Error::Io {
        path: csv.clone(),
        source: e,
    })?;
    let table = parse_clist(&text, &csv)?;
    let labels = dirs
        .iter()
        .map(|d| {
            table.get(&d.name).copied().ok_or_else(|| {
                Error::format(&csv, format!("no label for class folder `{}`", d.name))
            })
        })
        .collect::<Result<Vec<u32>>>()?;
    // the loss indexes its logits by label: each folder's must be its own, below the number of
    // classes the list names (a folder may be absent: a small split need not hold every class)
    let mut seen = std::collections::HashSet::new();
    for (d, &l) in dirs.iter().zip(&labels) {
        if l as usize >= table.len() || !seen.insert(l) {
            return Err(Error::format(
                &csv,
                format!(
                    "label {l} of class folder `{}` is {} (labels are 0..{}, one per class)",
                    d.name,
                    if seen.contains(&l) {
                        "another folder's too"
                    } else {
                        "out of range"
                    },
                    table.len()
                ),
            ));
        }
    }
    Ok(labels)
}

/// `folder,name,label` rows; a header row whose third field is `label` is skipped.
fn parse_clist(text: &str, path: &Path) -> Result<HashMap<String, u32>> {
    let mut table = HashMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 3 {
            return Err(Error::format(
                path,
                format!("line {}: fewer than 3 fields", n + 1),
            ));
        }
        if fields[2] == "label" {
            continue;
        }
        let label = fields[2].parse().map_err(|_| {
            Error::format(
                path,
                format!("line {}: label `{}` is not a number", n + 1, fields[2]),
            )
        })?;
        table.insert(fields[0].to_string(), label);
    }
    Ok(table)
}

/// Class names in label order (labels must be 0..n, each once).
fn class_order(dirs: &[ClassDir], labels: &[u32]) -> Vec<String> {
    let mut named: Vec<(u32, &str)> = labels
        .iter()
        .zip(dirs)
        .map(|(&l, d)| (l, d.name.as_str()))
        .collect();
    named.sort();
    named.into_iter().map(|(_, n)| n.to_string()).collect()
}

/// Every file under each class folder, as (class position, file name), sorted.
fn walk(dir: &Path, dirs: &[ClassDir]) -> Result<Vec<(usize, String)>> {
    let mut files = vec![];
    for (c, d) in dirs.iter().enumerate() {
        let sub = dir.join(&d.name);
        let io = |e| Error::Io {
            path: sub.clone(),
            source: e,
        };
        let mut names = vec![];
        for entry in std::fs::read_dir(&sub).map_err(io)? {
            let entry = entry.map_err(io)?;
            if entry.file_type().map_err(io)?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        files.extend(names.into_iter().map(|n| (c, n)));
    }
    Ok(files)
}

/// A file name for the index of `dir`: its path with separators replaced, so two roots never
/// share an index.
fn index_name(dir: &Path) -> String {
    let full = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    full.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The cached file list, if the index exists and its class folders are `dirs` exactly.
fn read_index(index: &Path, dirs: &[ClassDir]) -> Option<Vec<(usize, String)>> {
    let text = std::fs::read_to_string(index).ok()?;
    let mut lines = text.lines();
    (lines.next()? == INDEX_HEADER).then_some(())?;
    let n: usize = lines.next()?.strip_prefix("classes ")?.parse().ok()?;
    let mut recorded = Vec::with_capacity(n);
    for _ in 0..n {
        let (mtime, name) = lines.next()?.split_once('\t')?;
        recorded.push(ClassDir {
            name: name.to_string(),
            mtime_ns: mtime.parse().ok()?,
        });
    }
    (recorded == dirs).then_some(())?;
    let count: usize = lines.next()?.strip_prefix("files ")?.parse().ok()?;
    let files: Vec<(usize, String)> = lines
        .by_ref()
        .take(count)
        .map(|l| {
            let (c, f) = l.split_once('\t')?;
            Some((c.parse().ok().filter(|&c: &usize| c < n)?, f.to_string()))
        })
        .collect::<Option<_>>()?;
    (files.len() == count && lines.next()? == INDEX_END && lines.next().is_none()).then_some(files)
}

/// Write the index through a temporary file and a rename, so a reader never sees half of it.
fn write_index(index: &Path, dirs: &[ClassDir], files: &[(usize, String)]) -> Result<()> {
    let io = |e| Error::Io {
        path: index.to_path_buf(),
        source: e,
    };
    if let Some(parent) = index.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = index.with_extension("index.tmp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
    writeln!(out, "{INDEX_HEADER}\nclasses {}", dirs.len()).map_err(io)?;
    for d in dirs {
        writeln!(out, "{}\t{}", d.mtime_ns, d.name).map_err(io)?;
    }
    writeln!(out, "files {}", files.len()).map_err(io)?;
    for (c, f) in files {
        writeln!(out, "{c}\t{f}").map_err(io)?;
    }
    writeln!(out, "{INDEX_END}").map_err(io)?;
    out.into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)?;
    std::fs::rename(&tmp, index).map_err(io)
}

/// A synthetic ImageFolder split for tests of the format and the pipeline (not data to learn
/// from): `root/split/<class>/img<k>.JPEG`, `per` 20×12 JPEGs a class, each a different ramp.
pub fn write_synthetic_folder(
    root: &Path,
    split: &str,
    classes: &[&str],
    per: usize,
) -> Result<()> {
    for (c, name) in classes.iter().enumerate() {
        let d = root.join(split).join(name);
        std::fs::create_dir_all(&d).map_err(|source| Error::Io {
            path: d.clone(),
            source,
        })?;
        for k in 0..per {
            let img = image::RgbImage::from_fn(20, 12, |x, y| {
                image::Rgb([(x * 12) as u8, (y * 20) as u8, (c * 60 + k * 7) as u8])
            });
            let path = d.join(format!("img{k}.JPEG"));
            img.save(&path)
                .map_err(|e| Error::format(&path, format!("cannot write: {e}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny folder of real JPEG and PNG files: `classes` classes of `per` 20×12 images.

    #[test]
    fn files_are_sorted_labelled_and_decoded() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("inet");
        write_synthetic_folder(&root, "train", &["n02", "n01"], 3).unwrap();
        let f = ImageFolder::open(&root, "train", &tmp.path().join("cache")).unwrap();
        assert_eq!(f.len(), 6);
        assert_eq!(f.class_names(), &["n01".to_string(), "n02".to_string()]);
        assert_eq!(f.label(0).unwrap(), 0);
        assert_eq!(f.label(5).unwrap(), 1);
        assert!(f.path(0).ends_with("n01/img0.JPEG"));
        let ex = f.get(4).unwrap();
        assert_eq!((ex.shape.height, ex.shape.width, ex.label), (12, 20, 1));
        assert_eq!(ex.pixels.len(), 3 * 12 * 20);
    }

    /// Regression (found by the reader fuzzing): an index cut after some file lines was
    /// trusted, with a truncated last name, so a whole class could go unread.
    #[test]
    fn an_index_cut_anywhere_is_not_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![
            ClassDir {
                name: "n01".into(),
                mtime_ns: 5,
            },
            ClassDir {
                name: "n02".into(),
                mtime_ns: 7,
            },
        ];
        let files = vec![(0, "a.JPEG".to_string()), (1, "b.JPEG".to_string())];
        let index = tmp.path().join("x.index");
        write_index(&index, &dirs, &files).unwrap();
        assert_eq!(read_index(&index, &dirs), Some(files));
        let text = std::fs::read(&index).unwrap();
        for cut in 0..text.len() - 1 {
            std::fs::write(&index, &text[..cut]).unwrap();
            assert_eq!(read_index(&index, &dirs), None, "cut at {cut}");
        }
    }

    #[test]
    fn the_index_is_reused_and_rebuilt_when_a_class_folder_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, cache) = (tmp.path().join("inet"), tmp.path().join("cache"));
        write_synthetic_folder(&root, "train", &["a", "b"], 2).unwrap();
        assert_eq!(ImageFolder::open(&root, "train", &cache).unwrap().len(), 4);
        let index = std::fs::read_dir(&cache)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        // a reused index is what the folder says: doctor it to prove it is read
        let text = std::fs::read_to_string(&index).unwrap();
        std::fs::write(&index, text.replace("\timg1.JPEG", "\timg0.JPEG")).unwrap();
        let reused = ImageFolder::open(&root, "train", &cache).unwrap();
        assert!(reused.path(1).ends_with("a/img0.JPEG"));
        // a file removed changes its folder's time: the index is rebuilt
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::remove_file(root.join("train/b/img1.JPEG")).unwrap();
        let rebuilt = ImageFolder::open(&root, "train", &cache).unwrap();
        assert_eq!(rebuilt.len(), 3);
        assert!(rebuilt.path(1).ends_with("a/img1.JPEG"));
    }

    #[test]
    fn clist_labels_win_and_a_png_named_jpeg_greyscale_decodes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("inet");
        write_synthetic_folder(&root, "val", &["x", "y"], 1).unwrap();
        std::fs::create_dir_all(root.join("list")).unwrap();
        std::fs::write(
            root.join("list/clist.csv"),
            "dir,name,label\nx,ex,1\ny,why,0\n",
        )
        .unwrap();
        let grey = image::GrayImage::from_fn(5, 4, |x, _| image::Luma([(x * 50) as u8]));
        let png = root.join("val/y/grey.JPEG");
        grey.save_with_format(&png, image::ImageFormat::Png)
            .unwrap();
        let f = ImageFolder::open(&root, "val", &tmp.path().join("c")).unwrap();
        assert_eq!(f.class_names(), &["y".to_string(), "x".to_string()]);
        assert_eq!(f.label(0).unwrap(), 1); // x/img0
        let (px, shape) = decode_rgb(&png).unwrap();
        assert_eq!((shape.channels, shape.height, shape.width), (3, 4, 5));
        assert_eq!(px[1], px[20 + 1]); // grey: red and green planes agree
    }

    #[test]
    fn an_unreadable_file_is_replaced_by_the_next_one_until_too_many_are() {
        let tmp = tempfile::tempdir().unwrap();
        write_synthetic_folder(tmp.path(), "train", &["a", "b"], 3).unwrap();
        let f = ImageFolder::open(tmp.path(), "train", tmp.path()).unwrap();
        assert_eq!(f.bad_limit, 1);
        let first_b = f.get(3).unwrap().pixels.into_owned();
        let good = f.get(4).unwrap();
        let (good_label, good) = (good.label, good.pixels.into_owned());
        std::fs::write(f.path(2), b"truncated").unwrap(); // last of class a
        std::fs::write(f.path(3), b"").unwrap(); // first of class b
                                                 // tolerate two: file 2 reads as file 4 (3 is bad too), label and pixels alike
        let f = f.with_bad_file_fraction(2.0 / 6.0);
        let got = f.get(2).unwrap();
        assert_eq!((got.label, &*got.pixels), (good_label, &good[..]));
        assert_ne!(first_b, got.pixels.into_owned());
        let bad: Vec<String> = f
            .bad_files()
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert_eq!(
            bad,
            vec![
                f.path(2).display().to_string(),
                f.path(3).display().to_string()
            ]
        );
        assert_eq!(&*f.get(3).unwrap().pixels, &good[..]);
        // tolerate one: the second bad file stops the run, listing both
        let f = ImageFolder::open(tmp.path(), "train", tmp.path()).unwrap();
        let e = f.get(2).unwrap_err().to_string();
        assert!(
            e.contains("2 unreadable files") && e.contains("1 tolerated"),
            "{e}"
        );
        for i in [2, 3] {
            assert!(e.contains(&f.path(i).display().to_string()), "{e}");
        }
    }

    #[test]
    fn bad_input_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = tmp.path().join("broken.JPEG");
        std::fs::write(&bad, b"not an image").unwrap();
        let e = decode_rgb(&bad).unwrap_err().to_string();
        assert!(e.contains("broken.JPEG"), "{e}");
        let e = ImageFolder::open(tmp.path(), "train", tmp.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("train"), "{e}");
        let e = parse_clist("x,y\n", Path::new("clist.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("clist.csv") && e.contains("line 1"), "{e}");
    }
}
