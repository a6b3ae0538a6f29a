//! `shadercam eval`: top-1 accuracy, pointing game and box IoU over a labelled image set
//! (the fixtures' labels.json format), printed as one summary line or JSON object.

use crate::cli::{EvalArgs, Usage};
use crate::model::load;
use crate::output::outln;
use crate::run::{keep_loaded, progress};
use anyhow::{Context, Result, bail};
use shadercam_cam::{EvalSummary, ExplainOptions, ImageReport, prefetch};
use std::path::{Path, PathBuf};

pub fn eval(a: EvalArgs) -> Result<bool> {
    let text = std::fs::read_to_string(&a.labels)
        .with_context(|| format!("{}: cannot read labels", a.labels.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", a.labels.display()))?;
    let Some(images) = v["images"].as_object() else {
        bail!(Usage(format!(
            "{}: no \"images\" object (expected the fixtures' labels.json format)",
            a.labels.display()
        )));
    };
    let dir = a.labels.parent().unwrap_or(Path::new(".")).join("images");
    let (mut ex, pre, batch) = load(&a.model)?;
    let classes = ex.model.classes.clone();
    let mut names: Vec<&String> = images.keys().collect();
    names.sort();
    let pb = progress(names.len(), a.model.quiet);
    let mut summary = EvalSummary::default();
    let mut failed = 0usize;
    let method = a.method.0;
    let opts = ExplainOptions {
        method,
        ..Default::default()
    };
    let paths: Vec<PathBuf> = names
        .iter()
        .map(|n| dir.join(images[*n]["file"].as_str().unwrap_or(n.as_str())))
        .collect();
    for (chunk, loaded) in names.chunks(batch).zip(prefetch(
        paths.clone(),
        batch,
        pre.clone(),
        a.model.max_pixels,
        a.model.exif,
    )) {
        let paths: Vec<PathBuf> = loaded.iter().map(|(p, _)| p.clone()).collect();
        let imgs = keep_loaded(loaded, &pb, a.json, &mut failed)?;
        if imgs.is_empty() {
            continue;
        }
        let tensors: Vec<f32> = imgs.iter().flat_map(|i| i.tensor.iter().copied()).collect();
        let results = ex.explain(&tensors, pre.crop_size as usize, &[], &opts)?;
        for (img, e) in imgs.iter().zip(&results) {
            let name = chunk[paths
                .iter()
                .position(|p| p == &img.path)
                .expect("path from this chunk")];
            let label = &images[name];
            let r = ImageReport::new(name, img, e, method, &classes, 1);
            let class = label["class_index"].as_u64().map(|c| c as usize);
            let gt = label["box"].as_array().and_then(|b| {
                let f: Vec<f32> = b
                    .iter()
                    .filter_map(|x| x.as_f64().map(|x| x as f32))
                    .collect();
                (f.len() == 4).then(|| [f[0], f[1], f[2], f[3]])
            });
            summary.add(&r, class, gt);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    let s = summary.to_json();
    if a.json {
        outln!("{s}")?;
    } else {
        let pct = |k: &str| {
            s[k].as_f64()
                .map_or("n/a".into(), |v| format!("{:.1}%", v * 100.0))
        };
        outln!(
            "{} images: top-1 {} ({} labelled), pointing game {} and box IoU>=0.5 {} ({} boxes), method {}",
            summary.images,
            pct("top1_accuracy"),
            summary.labelled,
            pct("pointing_game"),
            pct("iou50"),
            summary.boxed,
            method
        )?;
    }
    Ok(failed == 0)
}
