//! The CLI's work, as a library: finding input images, loading and preprocessing them,
//! turning an [`Explanation`] into the per-image report (predictions, peak, box) and into the
//! pictures that get written. The binary only parses arguments, prints and writes files.

use crate::post::{cam_box, crop_box_to_original, crop_pixel_to_original, peak};
use crate::{Explanation, Method, OriginalView};
use image::{Rgb, RgbImage};
use serde_json::{Value, json};
use shadercam_image::{
    CropGeometry, ImageError, Preprocess, decode_file_with, is_image_path, preprocess,
};
use std::path::{Path, PathBuf};

/// Longest side of the picture the full-image overlay is drawn on (bigger photos are shown
/// scaled down, so a 6000x4000 photo does not need 400 MB of GPU buffers).
pub const MAX_OVERLAY_SIDE: u32 = 2048;

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

/// Softmax of logits, in f64 for stability.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}

/// Class indices sorted by logit, best first (ties: lower index first).
pub fn ranking(logits: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    idx
}

/// The `top` best classes, best first: `(class_index, label, softmax score, logit)`.
pub fn predictions(
    logits: &[f32],
    classes: &[String],
    top: usize,
) -> Vec<(usize, String, f32, f32)> {
    let probs = softmax(logits);
    ranking(logits)
        .into_iter()
        .take(top.min(classes.len()))
        .map(|c| (c, classes[c].clone(), probs[c], logits[c]))
        .collect()
}

/// The record both `classify` and `explain --json` start from: image, size, predictions, logits.
pub fn predictions_json(
    image: &str,
    (width, height): (u32, u32),
    preds: &[(usize, String, f32, f32)],
    logits: &[f32],
) -> Value {
    let preds: Vec<Value> = preds
        .iter()
        .map(|(c, l, s, lg)| json!({"class_index": c, "label": l, "score": s, "logit": lg}))
        .collect();
    json!({
        "image": image,
        "width": width,
        "height": height,
        "predictions": preds,
        "logits": logits,
    })
}

/// The report of one explained image.
#[derive(Clone, Debug)]
pub struct ImageReport {
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub targets: Vec<usize>,
    pub method: Method,
    /// `(class_index, label, softmax score, logit)`, best first.
    pub predictions: Vec<(usize, String, f32, f32)>,
    pub logits: Vec<f32>,
    /// Peak of the first target's map, original pixels.
    pub peak: (u32, u32),
    /// The same peak in crop pixels, and the crop's placement.
    pub crop_peak: (usize, usize),
    pub geometry: CropGeometry,
    /// CAM box (20% of the max, largest component) of the first target's map, original pixels.
    pub bbox: Option<[u32; 4]>,
}

/// Fraction of the map's maximum that defines the CAM paper's box.
pub const BOX_THRESHOLD: f32 = 0.2;

impl ImageReport {
    pub fn new(
        image: &str,
        img: &LoadedImage,
        e: &Explanation,
        method: Method,
        classes: &[String],
        top: usize,
    ) -> Self {
        let predictions = predictions(&e.logits, classes, top);
        let (px, py) = peak(&e.heatmaps[0], e.crop);
        let peak = crop_pixel_to_original(&img.geometry, px, py);
        let bbox = cam_box(&e.heatmaps[0], e.crop, BOX_THRESHOLD)
            .map(|b| crop_box_to_original(&img.geometry, b));
        Self {
            image: image.to_owned(),
            width: img.width,
            height: img.height,
            targets: e.targets.clone(),
            method,
            predictions,
            logits: e.logits.clone(),
            peak,
            crop_peak: (px, py),
            geometry: img.geometry,
            bbox,
        }
    }

    /// The `--json` record.
    pub fn to_json(&self, with_map: bool) -> Value {
        let mut v = predictions_json(
            &self.image,
            (self.width, self.height),
            &self.predictions,
            &self.logits,
        );
        if with_map {
            v["target"] = json!(self.targets[0]);
            v["targets"] = json!(self.targets);
            v["method"] = json!(self.method.name());
            v["peak"] = json!({"x": self.peak.0, "y": self.peak.1});
            v["box"] = json!(self.bbox);
        }
        v
    }
}

/// An RGBA8-packed buffer as an RGB image.
pub fn rgba_to_image(px: &[u32], w: usize, h: usize) -> RgbImage {
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let v = px[y as usize * w + x as usize];
        Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
    })
}

/// The `n` channels with the largest contribution `w^c_k · mean(f_k)` to class `c`'s logit,
/// largest first: `(k, w^c_k, contribution)`.
pub fn top_channels(
    features: &[f32],
    hw: usize,
    fc_row: &[f32],
    n: usize,
) -> Vec<(usize, f32, f32)> {
    let k = fc_row.len();
    let mut contrib: Vec<(usize, f32, f32)> = (0..k)
        .map(|c| {
            let mean = (0..hw).map(|p| features[p * k + c]).sum::<f32>() / hw as f32;
            (c, fc_row[c], fc_row[c] * mean)
        })
        .collect();
    contrib.sort_by(|a, b| b.2.total_cmp(&a.2));
    contrib.truncate(n);
    contrib
}

/// OpenCV's COLORMAP_JET table, read from shaders/cam_overlay.wgsl (one source of truth).
fn jet_table() -> &'static [[u8; 3]; 256] {
    static TABLE: std::sync::OnceLock<[[u8; 3]; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let src = crate::shaders::CAM_OVERLAY;
        let body = &src[src
            .find("const JET")
            .expect("JET table in cam_overlay.wgsl")..];
        let body = &body[body.find("array<u32, 256>(").expect("JET initialiser") + 16
            ..body.find(");").expect("end of JET")];
        let mut t = [[0u8; 3]; 256];
        for (i, v) in body
            .split(',')
            .filter_map(|x| {
                u32::from_str_radix(x.trim().trim_start_matches("0x").trim_end_matches('u'), 16)
                    .ok()
            })
            .enumerate()
            .take(256)
        {
            t[i] = [v as u8, (v >> 8) as u8, (v >> 16) as u8];
        }
        t
    })
}

/// OpenCV's JET colour of a value in [0, 1] (`uint8(255 * v)` then the table, as the overlay does).
pub fn jet(v: f32) -> [u8; 3] {
    jet_table()[((255.0 * v.clamp(0.0, 1.0)) as usize).min(255)]
}

/// The `--maps` picture: one tile per channel, its map scaled to [0, 1] and coloured, with
/// `k` and `w^c_k` written under it — "which feature maps, times how much" made visible.
pub fn maps_grid(
    features: &[f32],
    (fh, fw): (usize, usize),
    channels: &[(usize, f32, f32)],
) -> RgbImage {
    const TILE: u32 = 112;
    const LABEL: u32 = 14;
    let k = features.len() / (fh * fw);
    let cols = (channels.len() as f64).sqrt().ceil().max(1.0) as u32;
    let rows = (channels.len() as u32).div_ceil(cols).max(1);
    let mut img = RgbImage::from_pixel(
        cols * (TILE + 4),
        rows * (TILE + LABEL + 4),
        Rgb([255, 255, 255]),
    );
    for (i, &(c, w, _)) in channels.iter().enumerate() {
        let (ox, oy) = (
            (i as u32 % cols) * (TILE + 4) + 2,
            (i as u32 / cols) * (TILE + LABEL + 4) + 2,
        );
        let vals: Vec<f32> = (0..fh * fw).map(|p| features[p * k + c]).collect();
        let (lo, hi) = vals
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        for y in 0..TILE {
            for x in 0..TILE {
                let v =
                    vals[(y as usize * fh / TILE as usize) * fw + x as usize * fw / TILE as usize];
                img.put_pixel(ox + x, oy + y, Rgb(jet((v - lo) / (hi - lo + 1e-7))));
            }
        }
        draw_text(&mut img, ox, oy + TILE + 3, &format!("k={c} w={w:.3}"));
    }
    img
}

/// 3x5 pixel glyphs for the characters the map labels use.
fn glyph(ch: char) -> [u8; 5] {
    match ch {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '-' => [0, 0, 7, 0, 0],
        '.' => [0, 0, 0, 0, 2],
        '=' => [0, 7, 0, 7, 0],
        'k' => [4, 5, 6, 5, 5],
        'w' => [0, 5, 5, 7, 5],
        _ => [0; 5],
    }
}

fn draw_text(img: &mut RgbImage, x0: u32, y0: u32, text: &str) {
    for (i, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3u32 {
                if bits & (4 >> col) != 0 {
                    // 2x scale.
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let (x, y) = (x0 + i as u32 * 8 + col * 2 + dx, y0 + row as u32 * 2 + dy);
                        if x < img.width() && y < img.height() {
                            img.put_pixel(x, y, Rgb([0, 0, 0]));
                        }
                    }
                }
            }
        }
    }
}

/// The pointing game as ../shared/reference/score_refs.py plays it, in crop space: the
/// labelled box (inclusive original pixels) is scaled by `resized_w / orig_w` and shifted by
/// the crop offset; the map's peak pixel hits when it lies within half a pixel of the box.
pub fn pointing_hit(g: &CropGeometry, (px, py): (usize, usize), b: [f32; 4]) -> bool {
    let r = g.resized_w as f64 / g.orig_w as f64;
    let (x0, x1) = (
        b[0] as f64 * r - g.left as f64,
        b[2] as f64 * r - g.left as f64,
    );
    let (y0, y1) = (
        b[1] as f64 * r - g.top as f64,
        b[3] as f64 * r - g.top as f64,
    );
    let (px, py) = (px as f64, py as f64);
    x0 - 0.5 <= px && px <= x1 + 0.5 && y0 - 0.5 <= py && py <= y1 + 0.5
}

/// Result of `shadercam eval` on a labels file.
#[derive(Clone, Debug, Default)]
pub struct EvalSummary {
    pub images: usize,
    pub labelled: usize,
    pub top1_correct: usize,
    pub boxed: usize,
    pub pointing_hits: usize,
    pub iou50: usize,
}

impl EvalSummary {
    /// Adds one image: its report and, if known, its class and inclusive pixel box.
    pub fn add(&mut self, r: &ImageReport, class: Option<usize>, gt_box: Option<[f32; 4]>) {
        self.images += 1;
        if let Some(c) = class {
            self.labelled += 1;
            self.top1_correct += (r.predictions.first().map(|p| p.0) == Some(c)) as usize;
        }
        if let Some(b) = gt_box {
            self.boxed += 1;
            self.pointing_hits += pointing_hit(&r.geometry, r.crop_peak, b) as usize;
            if let Some(cb) = r.bbox {
                let cb = [cb[0] as f32, cb[1] as f32, cb[2] as f32, cb[3] as f32];
                self.iou50 += (crate::post::iou(cb, b) >= 0.5) as usize;
            }
        }
    }

    pub fn to_json(&self) -> Value {
        let ratio = |a: usize, b: usize| {
            if b == 0 {
                Value::Null
            } else {
                json!(a as f64 / b as f64)
            }
        };
        json!({
            "images": self.images,
            "top1_accuracy": ratio(self.top1_correct, self.labelled),
            "labelled": self.labelled,
            "pointing_game": ratio(self.pointing_hits, self.boxed),
            "boxes": self.boxed,
            "iou50": ratio(self.iou50, self.boxed),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn jet_table_is_opencvs() {
        // COLORMAP_JET's ends and middle (dumped with shaders/jet_lut.py).
        assert_eq!(super::jet(0.0), [0, 0, 128]);
        assert_eq!(super::jet(1.0), [128, 0, 0]);
        assert_eq!(super::jet(127.0 / 255.0), [126, 255, 130]);
    }
}
