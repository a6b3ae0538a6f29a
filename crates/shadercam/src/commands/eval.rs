//! `shadercam eval`: top-1 accuracy, pointing game and box IoU over a labelled image set
//! (the fixtures' labels.json format), printed as one summary line or JSON object; with
//! `--metrics LIST`, also the mean of each faithfulness metric over the images
//! (shadercam_cam::metrics). [`MetricArgs`] and [`batch_metrics`] are shared with `explain`.

use crate::cli::{EvalArgs, Usage};
use crate::model::load;
use crate::output::outln;
use crate::run::{keep_loaded, progress};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use shadercam_cam::metrics::{Metric, MetricOptions, MetricStage, RoadSolver, ScoreTarget};
use shadercam_cam::{EvalSummary, ExplainOptions, Explainer, Explanation, ImageReport, prefetch};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The faithfulness-metric flags of `eval` and `explain`.
#[derive(Args, Clone, Debug)]
pub struct MetricArgs {
    /// Faithfulness metrics of each map, comma-separated: cam-mult, drop, increase, road-morf,
    /// road-lerf, road, complexity, coherency, arcc, deletion, insertion, or all
    /// (docs/cam-math.md, "Faithfulness metrics"). ROAD and deletion/insertion run tens to
    /// hundreds of forward passes per image.
    #[arg(long, value_name = "LIST", value_parser = parse_metrics)]
    pub metrics: Option<MetricList>,
    /// The score the confidence and ROAD metrics compare: the target's logit
    /// (ClassifierOutputTarget) or its softmax probability (ClassifierOutputSoftmaxTarget).
    /// Deletion and insertion always use the probability, as RISE does.
    #[arg(long, value_name = "SCORE", default_value = "logit", value_parser = ["logit", "softmax"])]
    pub metric_score: String,
    /// Deletion/insertion steps (default: RISE's 224 pixels a step at 224x224, i.e. as many
    /// steps as the crop's side).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub steps: Option<u64>,
    /// Standard deviation of ROAD's imputation noise (the library's 0.01; 0: deterministic).
    #[arg(long, value_name = "SD", default_value_t = 0.01)]
    pub road_noise: f32,
}

/// `--metrics`: the parsed list (a newtype, so clap takes one comma-separated value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricList(pub Vec<Metric>);

fn parse_metrics(s: &str) -> Result<MetricList, String> {
    Metric::parse_list(s).map(MetricList)
}

impl MetricArgs {
    /// The library options for these flags, recomputing Coherency's map with `explain`'s method.
    pub fn options(&self, explain: &ExplainOptions) -> Option<MetricOptions> {
        let metrics = self.metrics.clone()?.0;
        Some(MetricOptions {
            metrics,
            score: if self.metric_score == "softmax" {
                ScoreTarget::Softmax
            } else {
                ScoreTarget::Logit
            },
            steps: self.steps.map(|n| n as usize),
            road: RoadSolver {
                noise: self.road_noise,
                ..Default::default()
            },
            explain: explain.clone(),
            ..Default::default()
        })
    }
}

/// The metrics of the first target's map of each explained image, as JSON objects.
pub fn batch_metrics(
    ex: &mut Explainer,
    stage: &MetricStage,
    tensors: &[f32],
    crop: usize,
    results: &[&Explanation],
    opts: &MetricOptions,
) -> Result<Vec<Value>> {
    let heat: Vec<Vec<f32>> = results.iter().map(|e| e.heatmaps[0].clone()).collect();
    let targets: Vec<usize> = results.iter().map(|e| e.targets[0]).collect();
    let m = stage.evaluate(ex, tensors, crop, &heat, &targets, opts)?;
    Ok(m.iter().map(|m| m.to_json()).collect())
}

/// Running sums of each numeric metric over the images, for the means `eval` reports.
#[derive(Default)]
struct MetricMeans(BTreeMap<String, (f64, usize)>);

impl MetricMeans {
    fn add(&mut self, v: &Value) {
        if let Some(o) = v.as_object() {
            for (k, x) in o {
                if let (Some(x), false) = (x.as_f64(), k == "target") {
                    let e = self.0.entry(k.clone()).or_default();
                    if x.is_finite() {
                        e.0 += x;
                        e.1 += 1;
                    }
                }
            }
        }
    }

    fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, (s, n))| {
                    let v = if *n == 0 {
                        Value::Null
                    } else {
                        json!(s / *n as f64)
                    };
                    (k.clone(), v)
                })
                .collect(),
        )
    }
}

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
        eigen_smooth: a.eigen_smooth,
        aug_smooth: a.aug_smooth,
        ..Default::default()
    };
    let metric_opts = a.metrics.options(&opts);
    let stage = match metric_opts {
        Some(_) => Some(MetricStage::new(&ex.ctx)?),
        None => None,
    };
    let mut means = MetricMeans::default();
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
        if let (Some(stage), Some(mo)) = (&stage, &metric_opts) {
            let refs: Vec<&Explanation> = results.iter().collect();
            for v in batch_metrics(&mut ex, stage, &tensors, pre.crop_size as usize, &refs, mo)? {
                means.add(&v);
            }
        }
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
    let mut s = summary.to_json();
    if metric_opts.is_some() {
        s["method"] = json!(method.name());
        s["metrics"] = means.to_json();
    }
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
        if let Some(m) = s["metrics"].as_object() {
            let parts: Vec<String> = m
                .iter()
                .filter(|(k, _)| k.as_str() != "score")
                .map(|(k, v)| {
                    format!(
                        "{k} {}",
                        v.as_f64().map_or("n/a".into(), |v| format!("{v:.4}"))
                    )
                })
                .collect();
            outln!(
                "metrics ({}, mean over images): {}",
                method,
                parts.join(", ")
            )?;
        }
    }
    Ok(failed == 0)
}
