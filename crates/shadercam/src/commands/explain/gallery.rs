//! `explain --method all` (or a comma-separated list): every method on the same image and
//! class, side by side in `<stem>.gallery.png`, each tile labelled with the method and the
//! largest difference of its heatmap from the reference method's (Grad-CAM when it is in the
//! list). With `--json`, one record per image and method. docs/tutorial.md explains why
//! several methods give the same picture on a ResNet.

use super::stages::write_stages;
use crate::output::unique_stem;
use anyhow::Result;
use serde_json::json;
use shadercam_cam::{
    ExplainOptions, Explainer, Explanation, ImageReport, LoadedImage, Method, StageMaps, gallery,
    rgba_to_image,
};
use shadercam_image::write_png_atomic;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Tiles per row of the gallery.
const COLUMNS: usize = 4;

/// The method every other one is compared with: Grad-CAM if asked for, else the first.
pub fn reference(methods: &[Method]) -> Method {
    if methods.contains(&Method::GradCam) {
        Method::GradCam
    } else {
        methods[0]
    }
}

/// Largest absolute difference between two heatmaps.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// One method's results for a batch: per image, its explanation and (with `--dump-stages`) its
/// intermediate stages.
pub type MethodResults = Vec<(Explanation, Option<StageMaps>)>;

/// Every method's explanation (and stages, when `stages`) of one batch: one explain per
/// method, no overlay on the original pictures.
pub fn explain_all(
    ex: &mut Explainer,
    tensors: &[f32],
    crop: usize,
    methods: &[Method],
    base: &ExplainOptions,
    stages: bool,
) -> Result<Vec<MethodResults>> {
    let mut per_method = Vec::with_capacity(methods.len());
    for &method in methods {
        let opts = ExplainOptions {
            method,
            ..base.clone()
        };
        per_method.push(if stages {
            ex.explain_with_stages(tensors, crop, &[], &opts)?
                .into_iter()
                .map(|(e, s)| (e, Some(s)))
                .collect()
        } else {
            ex.explain(tensors, crop, &[], &opts)?
                .into_iter()
                .map(|e| (e, None))
                .collect()
        });
    }
    Ok(per_method)
}

/// One image's gallery: the picture, the stage dumps, and its records.
pub struct Written {
    /// `<stem>.gallery.png`.
    pub picture: PathBuf,
    /// One `--json` record per method, in the order asked.
    pub records: Vec<serde_json::Value>,
}

/// Writes image `i`'s gallery (and with `stages`, `<stem>.<method>.stageN-*`) into `dir`. On an
/// error, removes what it wrote.
#[allow(clippy::too_many_arguments)]
pub fn write_gallery(
    dir: &Path,
    img: &LoadedImage,
    i: usize,
    methods: &[Method],
    results: &[MethodResults],
    classes: &[String],
    top: usize,
    used: &mut HashSet<String>,
) -> Result<Written> {
    let stem = unique_stem(&img.path, used);
    let reference = reference(methods);
    let ref_heat = &results[methods.iter().position(|&m| m == reference).unwrap_or(0)][i]
        .0
        .heatmaps[0];
    let name = img.path.display().to_string();
    let mut tiles = Vec::new();
    let mut records = Vec::new();
    let mut written = Vec::new();
    let result = (|| -> Result<PathBuf> {
        for (&m, per_image) in methods.iter().zip(results) {
            let (e, st) = &per_image[i];
            let diff = max_abs_diff(&e.heatmaps[0], ref_heat);
            let label = if m == reference {
                format!("{m}\n(reference)")
            } else {
                format!("{m}\nvs {reference} {diff:.3}")
            };
            tiles.push((label, rgba_to_image(&e.overlays[0], e.crop, e.crop)));
            let mut rec = ImageReport::new(&name, img, e, m, classes, top).to_json(true);
            rec["vs"] = json!({"method": reference.name(), "max_abs_diff": diff});
            records.push(rec);
            if let Some(st) = st {
                write_stages(dir, &format!("{stem}.{}", m.name()), e, st, m, &mut written)?;
            }
        }
        let picture = dir.join(format!("{stem}.gallery.png"));
        write_png_atomic(&picture, &gallery(&tiles, COLUMNS))?;
        written.push(picture.clone());
        Ok(picture)
    })();
    match result {
        Ok(picture) => {
            used.insert(stem);
            Ok(Written { picture, records })
        }
        Err(e) => {
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            Err(e)
        }
    }
}
