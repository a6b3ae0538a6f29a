//! `shadercam eval`: top-1 accuracy, the pointing game and IoU ≥ 0.5 of the CAM box, summed
//! over a labelled set of images.

use crate::report::ImageReport;
use serde_json::{Value, json};
use shadercam_image::CropGeometry;

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
            self.top1_correct += (r.predictions.first().map(|p| p.class_index) == Some(c)) as usize;
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
