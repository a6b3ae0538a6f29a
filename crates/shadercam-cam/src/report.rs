//! The per-image report: softmax scores, the ranked predictions, the map's peak and the CAM
//! paper's box mapped back to the original picture, and the `--json` records built from them.

use crate::inputs::LoadedImage;
use crate::post::{cam_box, crop_box_to_original, crop_pixel_to_original, peak};
use crate::{Explanation, Method};
use serde_json::{Value, json};
use shadercam_image::CropGeometry;

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

/// One ranked class of an image: what `classify` prints and the `predictions` of `--json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Index into the model's classes (its logit row).
    pub class_index: usize,
    /// The class name from the model's label list.
    pub label: String,
    /// Softmax probability over all classes.
    pub score: f32,
    /// The raw logit.
    pub logit: f32,
}

/// The `top` best classes, best first.
pub fn predictions(logits: &[f32], classes: &[String], top: usize) -> Vec<Prediction> {
    let probs = softmax(logits);
    ranking(logits)
        .into_iter()
        .take(top.min(classes.len()))
        .map(|c| Prediction {
            class_index: c,
            label: classes[c].clone(),
            score: probs[c],
            logit: logits[c],
        })
        .collect()
}

/// The record both `classify` and `explain --json` start from: image, size, predictions, logits.
pub fn predictions_json(
    image: &str,
    (width, height): (u32, u32),
    preds: &[Prediction],
    logits: &[f32],
) -> Value {
    let preds: Vec<Value> = preds
        .iter()
        .map(|p| {
            json!({
                "class_index": p.class_index,
                "label": p.label,
                "score": p.score,
                "logit": p.logit,
            })
        })
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
    /// The `top` best classes, best first.
    pub predictions: Vec<Prediction>,
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

/// One layer4 channel's share of a class logit. The CAM paper's identity: with `A_k` the
/// channel's map, `logit_c = b_c + Σ_k w^c_k · mean(A_k)`, so `contribution` summed over every
/// channel, plus the class bias, is the logit (global average pooling, then the fc layer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelContribution {
    /// The channel index `k`.
    pub k: usize,
    /// Its fc weight for the class, `w^c_k`.
    pub weight: f32,
    /// Its spatial mean `mean(A_k)`: what global average pooling hands the fc layer.
    pub mean: f32,
    /// `weight · mean`.
    pub contribution: f32,
}

/// Every channel's [`ChannelContribution`] to the class whose fc row is `fc_row`, in channel
/// order, from the layer4 maps `features` (`[hw, K]`, channels last), summed in f64.
pub fn channel_contributions(
    features: &[f32],
    hw: usize,
    fc_row: &[f32],
) -> Vec<ChannelContribution> {
    let k = fc_row.len();
    (0..k)
        .map(|c| {
            let mean =
                ((0..hw).map(|p| features[p * k + c] as f64).sum::<f64>() / hw as f64) as f32;
            ChannelContribution {
                k: c,
                weight: fc_row[c],
                mean,
                contribution: fc_row[c] * mean,
            }
        })
        .collect()
}

/// The `n` channels with the largest contribution `w^c_k · mean(A_k)` to class `c`'s logit,
/// largest first.
pub fn top_channels(
    features: &[f32],
    hw: usize,
    fc_row: &[f32],
    n: usize,
) -> Vec<ChannelContribution> {
    let mut contrib = channel_contributions(features, hw, fc_row);
    contrib.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
    contrib.truncate(n);
    contrib
}
