//! `shadercam explain`: predictions plus where the model looked, as pictures in `--out-dir`
//! and (with `--json`) one record per image on stdout.

use crate::cli::{ExplainArgs, Usage};
use crate::model::load;
use crate::output::{prepare_out_dir, write_outputs};
use crate::run::{Run, interrupted};
use anyhow::{Result, bail};
use shadercam_cam::{ExplainOptions, ImageReport, Targets, collect_inputs};
use std::collections::HashSet;

pub fn explain(a: ExplainArgs) -> Result<bool> {
    prepare_out_dir(&a.out_dir)?;
    let (files, input_errors) = collect_inputs(&a.inputs);
    let (mut ex, pre, batch) = load(&a.model)?;
    let classes = ex.model.classes.clone();
    if let Some(bad) = a.target.iter().find(|&&t| t >= classes.len()) {
        bail!(Usage(format!(
            "--target {bad} is outside the model's {} classes (0..={})",
            classes.len(),
            classes.len() - 1
        )));
    }
    if let Some(k) = a.top_k.filter(|&k| k > classes.len()) {
        bail!(Usage(format!(
            "--top-k {k} exceeds the model's {} classes",
            classes.len()
        )));
    }
    let targets = if a.target.is_empty() {
        Targets::TopK(a.top_k.unwrap_or(1))
    } else {
        Targets::Fixed(a.target.clone())
    };
    let method = a.method.0;
    let opts = ExplainOptions {
        method,
        targets,
        keep_features: a.maps.is_some(),
    };
    let crop = pre.crop_size as usize;
    let mut run = Run::new(&files, &input_errors, a.json, a.model.quiet)?;
    let mut used_stems = HashSet::new();
    run.batches(&files, batch, &pre, &a.model, |run, imgs, tensors| {
        let views: Vec<_> = imgs.iter().map(|i| Some(i.view.clone())).collect();
        let results = match ex.explain(tensors, crop, &views, &opts) {
            Ok(r) => r,
            Err(e) => return run.fail_batch(imgs, &e),
        };
        for (img, e) in imgs.iter().zip(&results) {
            if interrupted() {
                break;
            }
            let name = img.path.display().to_string();
            let report =
                ImageReport::new(&name, img, e, method, &classes, a.top_k.unwrap_or(1).max(5));
            match write_outputs(&a, img, e, &ex, &mut used_stems) {
                Ok(written) => {
                    run.ok += 1;
                    if a.json {
                        run.print(report.to_json(true))?;
                    } else {
                        let p = &report.predictions[0];
                        run.print(format_args!(
                            "{name}: {} (class {}, {:.3}) -> {}",
                            p.label,
                            p.class_index,
                            p.score,
                            written.display()
                        ))?;
                    }
                }
                Err(err) => run.error(&name, &format!("{err:#}"))?,
            }
            run.pb.inc(1);
        }
        Ok(())
    })?;
    Ok(run.finish())
}
