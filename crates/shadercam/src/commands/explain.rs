//! `shadercam explain`: predictions plus where the model looked, as pictures in `--out-dir`
//! and (with `--json`) one record per image on stdout. `--dump-stages` adds each stage of the
//! map (`stages`); several methods draw a gallery instead (`gallery`).

mod gallery;
mod stages;

use crate::cli::{ExplainArgs, Usage};
use crate::model::load;
use crate::output::{prepare_out_dir, write_outputs};
use crate::run::{Run, interrupted};
use anyhow::{Result, bail};
use serde_json::{Value, json};
use shadercam_cam::{
    ExplainOptions, Explainer, Explanation, ImageReport, Targets, channel_contributions,
    collect_inputs, top_channels,
};
use std::collections::HashSet;
use std::path::PathBuf;

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
    let methods = a.method.0.clone();
    if methods.len() > 1 && (a.maps.is_some() || a.save_heatmap) {
        bail!(Usage(
            "--maps and --save-heatmap write one method's map: use them with a single --method"
                .into()
        ));
    }
    let method = methods[0];
    let opts = ExplainOptions {
        method,
        targets,
        keep_features: a.maps.is_some(),
        seed: a.seed,
        eigen_smooth: a.eigen_smooth,
        aug_smooth: a.aug_smooth,
    };
    let crop = pre.crop_size as usize;
    // --metrics: the faithfulness metrics of each image's first map, in its --json record.
    let metric_opts = a.metrics.options(&opts);
    if metric_opts.is_some() && (!a.json || methods.len() > 1) {
        bail!(Usage(
            "--metrics adds to the --json record of a single --method: use --json".into()
        ));
    }
    let metric_stage = match &metric_opts {
        Some(_) => Some(shadercam_cam::metrics::MetricStage::new(&ex.ctx)?),
        None => None,
    };
    let mut run = Run::new(&files, &input_errors, a.json, a.model.quiet)?;
    let mut used_stems = HashSet::new();
    let top = a.top_k.unwrap_or(1).max(5);
    run.batches(&files, batch, &pre, &a.model, |run, imgs, tensors| {
        if methods.len() > 1 {
            let results = match gallery::explain_all(
                &mut ex,
                tensors,
                crop,
                &methods,
                &opts,
                a.dump_stages,
            ) {
                Ok(r) => r,
                Err(e) => return run.fail_batch(imgs, &format!("{e:#}")),
            };
            for (i, img) in imgs.iter().enumerate() {
                if interrupted() {
                    break;
                }
                let name = img.path.display().to_string();
                let w = gallery::write_gallery(
                    &a.out_dir,
                    img,
                    i,
                    &methods,
                    &results,
                    &classes,
                    top,
                    &mut used_stems,
                );
                match w {
                    Ok(w) => {
                        run.ok += 1;
                        if a.json {
                            for r in w.records {
                                run.print(r)?;
                            }
                        } else {
                            let p = &ImageReport::new(
                                &name,
                                img,
                                &results[0][i].0,
                                methods[0],
                                &classes,
                                1,
                            )
                            .predictions[0];
                            run.print(format_args!(
                                "{name}: {} (class {}, {:.3}) -> {}",
                                p.label,
                                p.class_index,
                                p.score,
                                w.picture.display()
                            ))?;
                        }
                    }
                    Err(err) => run.error(&name, &format!("{err:#}"))?,
                }
                run.pb.inc(1);
            }
            return Ok(());
        }
        let views: Vec<_> = imgs.iter().map(|i| Some(i.view.clone())).collect();
        let results = if a.dump_stages {
            ex.explain_with_stages(tensors, crop, &views, &opts)
                .map(|r| r.into_iter().map(|(e, s)| (e, Some(s))).collect::<Vec<_>>())
        } else {
            ex.explain(tensors, crop, &views, &opts)
                .map(|r| r.into_iter().map(|e| (e, None)).collect())
        };
        let results = match results {
            Ok(r) => r,
            Err(e) => return run.fail_batch(imgs, &e),
        };
        let metric_json = match (&metric_stage, &metric_opts) {
            (Some(stage), Some(mo)) => {
                let refs: Vec<&Explanation> = results.iter().map(|(e, _)| e).collect();
                match crate::commands::eval::batch_metrics(&mut ex, stage, tensors, crop, &refs, mo)
                {
                    Ok(v) => v,
                    Err(e) => return run.fail_batch(imgs, &format!("{e:#}")),
                }
            }
            _ => Vec::new(),
        };
        for (i, (img, (e, st))) in imgs.iter().zip(&results).enumerate() {
            if interrupted() {
                break;
            }
            let name = img.path.display().to_string();
            let report = ImageReport::new(&name, img, e, method, &classes, top);
            let written = write_outputs(&a, img, e, &ex, &mut used_stems).and_then(|main| {
                if let Some(st) = st {
                    dump_stages(&a, &main, e, st, method)?;
                }
                Ok(main)
            });
            match written {
                Ok(written) => {
                    run.ok += 1;
                    if a.json {
                        let mut v = learning_json(report.to_json(true), &a, e, &ex);
                        if let Some(m) = metric_json.get(i) {
                            v["metrics"] = m.clone();
                        }
                        run.print(v)?;
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

/// `--dump-stages` for one image, next to its `<stem>.cam.png` (`main`); on an error, removes
/// what it wrote.
fn dump_stages(
    a: &ExplainArgs,
    main: &std::path::Path,
    e: &Explanation,
    st: &shadercam_cam::StageMaps,
    method: shadercam_cam::Method,
) -> Result<()> {
    let name = main.file_name().map(|n| n.to_string_lossy().into_owned());
    let prefix = name
        .as_deref()
        .and_then(|n| n.strip_suffix(".cam.png"))
        .unwrap_or("image");
    let mut written: Vec<PathBuf> = Vec::new();
    let r = stages::write_stages(&a.out_dir, prefix, e, st, method, &mut written);
    if r.is_err() {
        for p in &written {
            let _ = std::fs::remove_file(p);
        }
    }
    r
}

/// The `--json` record with what `--maps` and `--dump-stages` add for a learner: the top
/// channels with `k`, `w`, `mean` and `contribution`; `logit_parts`, the CAM paper's identity
/// `logit = bias + Σ_k w^c_k · mean(A_k)` with both terms; and the raw map as rows.
fn learning_json(mut v: Value, a: &ExplainArgs, e: &Explanation, ex: &Explainer) -> Value {
    if let (Some(n), Some(f)) = (a.maps, &e.features) {
        let k = ex.model.num_features;
        let c = e.targets[0];
        let hw = e.map_size.0 * e.map_size.1;
        let row = &ex.model.fc_weight[c * k..(c + 1) * k];
        let channels: Vec<Value> = top_channels(f, hw, row, n.min(k))
            .iter()
            .map(|ch| {
                json!({"k": ch.k, "w": ch.weight, "mean": ch.mean,
                       "contribution": ch.contribution})
            })
            .collect();
        let sum: f64 = channel_contributions(f, hw, row)
            .iter()
            .map(|ch| ch.contribution as f64)
            .sum();
        v["channels"] = json!(channels);
        v["logit_parts"] = json!({
            "class": c,
            "bias": ex.model.fc_bias[c],
            "channels": sum,
            "logit": e.logits[c],
        });
    }
    if a.dump_stages {
        v["raw_map"] = json!(stages::raw_rows(e));
    }
    v
}
