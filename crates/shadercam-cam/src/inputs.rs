//! Finding input images, decoding and preprocessing them (torchvision's transform), and
//! preparing the picture the full-image overlay is drawn on — one batch ahead of the GPU.

use crate::OriginalView;
use crate::draw::MAX_OVERLAY_SIDE;
use shadercam_image::{
    CropGeometry, ImageError, Preprocess, decode_file_with, is_image_path, preprocess,
};
use std::path::{Path, PathBuf};

/// Expands files and directories (recursively, image files only, sorted) into image paths.
/// Problems are returned per input path, so the good inputs still run.
pub fn collect_inputs(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in inputs {
        match std::fs::metadata(p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => errors.push((
                p.clone(),
                format!("{}: no such file or directory", p.display()),
            )),
            Err(e) => errors.push((p.clone(), format!("{}: cannot read: {e}", p.display()))),
            Ok(m) if m.is_dir() => {
                let before = files.len();
                if let Err(e) = walk(p, &mut files) {
                    errors.push((
                        p.clone(),
                        format!("{}: cannot list directory: {e}", p.display()),
                    ));
                } else if files.len() == before {
                    errors.push((p.clone(), format!("{}: directory contains no image files (png, jpg, jpeg, bmp, webp, gif, tif, tiff)", p.display())));
                }
            }
            Ok(_) => files.push(p.clone()),
        }
    }
    (files, errors)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_image_path(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// One decoded and preprocessed image.
pub struct LoadedImage {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    /// Normalised crop, HWC `[crop, crop, 3]`.
    pub tensor: Vec<f32>,
    pub geometry: CropGeometry,
    /// The picture the full-image overlay is drawn on (scaled down past [`MAX_OVERLAY_SIDE`]).
    pub view: OriginalView,
}

/// Decodes (Pillow's `convert("RGB")`; with `exif`, turned upright by its EXIF orientation),
/// preprocesses (torchvision's) and prepares the overlay view. Errors name the file.
pub fn load_image(
    path: &Path,
    pre: &Preprocess,
    max_pixels: u64,
    exif: bool,
) -> Result<LoadedImage, ImageError> {
    let rgb = decode_file_with(path, max_pixels, exif)?;
    load_rgb(path, rgb, pre)
}

/// [`load_image`] for a picture already decoded to 8-bit RGB (Python's numpy arrays and PIL
/// images): the same preprocessing and overlay view; `path` names it in messages and reports.
pub fn load_rgb(
    path: &Path,
    rgb: image::RgbImage,
    pre: &Preprocess,
) -> Result<LoadedImage, ImageError> {
    let prepared = preprocess(&rgb, pre)?;
    let (w, h) = rgb.dimensions();
    let scale = (MAX_OVERLAY_SIDE as f64 / w.max(h) as f64).min(1.0);
    let shown = if scale < 1.0 {
        let (dw, dh) = (
            ((w as f64 * scale).round() as u32).max(1),
            ((h as f64 * scale).round() as u32).max(1),
        );
        image::imageops::resize(&rgb, dw, dh, image::imageops::FilterType::Triangle)
    } else {
        rgb
    };
    let view = OriginalView {
        width: shown.width() as usize,
        height: shown.height() as usize,
        rgba: shown
            .pixels()
            .map(|p| p[0] as u32 | (p[1] as u32) << 8 | (p[2] as u32) << 16 | 0xff00_0000)
            .collect(),
        geometry: prepared.geometry,
    };
    Ok(LoadedImage {
        path: path.to_owned(),
        width: w,
        height: h,
        tensor: prepared.tensor_hwc,
        geometry: prepared.geometry,
        view,
    })
}

/// Decodes and preprocesses `files` in batches of `batch` on a background thread, one batch
/// ahead of the caller: while the GPU runs batch i, the CPU prepares batch i+1. Each item is
/// one batch, every path with its image or its error, in input order. Dropping the iterator
/// stops the thread after the batch it is working on.
pub fn prefetch(
    files: Vec<PathBuf>,
    batch: usize,
    pre: Preprocess,
    max_pixels: u64,
    exif: bool,
) -> impl Iterator<Item = Vec<(PathBuf, Result<LoadedImage, ImageError>)>> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        for chunk in files.chunks(batch.max(1)) {
            let loaded: Vec<_> = chunk
                .iter()
                .map(|p| (p.clone(), load_image(p, &pre, max_pixels, exif)))
                .collect();
            if tx.send(loaded).is_err() {
                break; // the consumer stopped (Ctrl-C or an error)
            }
        }
    });
    rx.into_iter()
}
