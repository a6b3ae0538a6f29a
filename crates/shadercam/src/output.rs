//! What the CLI writes: lines on stdout and the pictures of `explain` in `--out-dir`.
//!
//! stdout goes through [`print_line`] (and [`outln!`]), never `println!`: `println!` panics
//! when the reader has gone (`shadercam classify --json DIR | head -1`), while these return
//! the io error and `main` ends the run quietly with exit 0, as `rg` and `ls` do.

use crate::cli::{ExplainArgs, Usage};
use anyhow::{Context, Result, bail};
use shadercam_cam::{Explainer, Explanation, LoadedImage, maps_grid, rgba_to_image, top_channels};
use shadercam_image::{write_npy_f32_atomic, write_png_atomic};
use std::collections::HashSet;
use std::fmt::Display;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `line` and a newline to stdout and flushes, so that a reader sees each record as soon
/// as it is done. A closed stdout is an `ErrorKind::BrokenPipe` error, not a panic.
pub fn print_line(line: impl Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// `println!` that returns the io error: `outln!("{x}")?`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::print_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// True when `e` (or anything in its chain) is stdout's reader having gone away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Creates `dir` and proves it is writable, before any GPU work.
pub fn prepare_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!(Usage(format!(
            "--out-dir {}: exists and is not a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--out-dir {}: cannot create directory", dir.display()))?;
    let probe = dir.join(format!(".shadercam-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("--out-dir {}: directory is not writable", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// The output name for input `path`: its file stem (`photos/cat.jpg` → `cat`), or `cat-1`,
/// `cat-2`, ... when an earlier input of this run took it (two inputs with the same stem,
/// a/x.png and b/x.jpg, must not overwrite each other). `used` holds the names taken so far.
pub fn unique_stem(path: &Path, used: &HashSet<String>) -> String {
    let base = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    (0..)
        .map(|i| {
            if i == 0 {
                base.clone()
            } else {
                format!("{base}-{i}")
            }
        })
        .find(|s| !used.contains(s))
        .expect("some suffix is free")
}

/// Writes one image's pictures; returns the main one's path. `used` holds the stems already
/// taken in this run.
pub fn write_outputs(
    a: &ExplainArgs,
    img: &LoadedImage,
    e: &Explanation,
    ex: &Explainer,
    used: &mut HashSet<String>,
) -> Result<PathBuf> {
    let s = unique_stem(&img.path, used);
    let mut written = Vec::new();
    let result = write_files(a, img, e, ex, &s, &mut written);
    if result.is_err() {
        // No output for a failed input: remove what this image already wrote.
        for p in &written {
            let _ = std::fs::remove_file(p);
        }
    } else {
        used.insert(s);
    }
    result
}

/// Writes `<s>.cam.png` (and one `<s>.class<c>.cam.png` per further target), `<s>.overlay.png`,
/// and with their flags `<s>.maps.png` and `<s>.heatmap.npy`; every path written goes into
/// `written`, so a failure can remove them.
fn write_files(
    a: &ExplainArgs,
    img: &LoadedImage,
    e: &Explanation,
    ex: &Explainer,
    s: &str,
    written: &mut Vec<PathBuf>,
) -> Result<PathBuf> {
    let crop = e.crop;
    let mut png = |path: PathBuf, pic: &image::RgbImage| -> Result<PathBuf> {
        write_png_atomic(&path, pic)?;
        written.push(path.clone());
        Ok(path)
    };
    let mut main = PathBuf::new();
    for (t, ov) in e.overlays.iter().enumerate() {
        let name = if t == 0 {
            format!("{s}.cam.png")
        } else {
            format!("{s}.class{}.cam.png", e.targets[t])
        };
        let p = png(a.out_dir.join(name), &rgba_to_image(ov, crop, crop))?;
        if t == 0 {
            main = p;
        }
    }
    if let Some(ov) = &e.original_overlay {
        png(
            a.out_dir.join(format!("{s}.overlay.png")),
            &rgba_to_image(ov, img.view.width, img.view.height),
        )?;
    }
    if let (Some(n), Some(f)) = (a.maps, &e.features) {
        let k = ex.model.num_features;
        let c = e.targets[0];
        let chans = top_channels(
            f,
            e.map_size.0 * e.map_size.1,
            &ex.model.fc_weight[c * k..(c + 1) * k],
            n.min(k),
        );
        png(
            a.out_dir.join(format!("{s}.maps.png")),
            &maps_grid(f, e.map_size, &chans),
        )?;
    }
    if a.save_heatmap {
        let p = a.out_dir.join(format!("{s}.heatmap.npy"));
        write_npy_f32_atomic(&p, &[crop, crop], &e.heatmaps[0])?;
        written.push(p);
    }
    Ok(main)
}
