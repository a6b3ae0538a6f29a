//! Whole-network checks of `shadercam selftest`: the embedded fixture image from PNG through
//! preprocessing, forward and Grad-CAM, against PyTorch's logits and pytorch-grad-cam's map.

use super::*;
use crate::model::weights_path;
use anyhow::{Context, Result, anyhow, bail};
use shadercam_cam::{ExplainOptions, Explainer};
use shadercam_image::{Preprocess, decode_bytes, preprocess};
use shadercam_kernels::GpuContext;
use shadercam_kernels::reference::Tolerance;
use shadercam_loader::ResNet;
use std::time::Instant;

/// The embedded fixture: the preprocessed image and what PyTorch made of it.
pub(super) struct Fixture {
    /// `[224, 224, 3]` HWC, preprocessed as the checkpoint says.
    pub(super) input: Vec<f32>,
    pub(super) crop: usize,
    pub(super) logits: Vec<f32>,
    pub(super) gradcam: Vec<f32>,
    /// The fc bias of the checkpoint the logits came from.
    pub(super) fc_bias: Vec<f32>,
}

pub(super) fn f32_tensor(st: &safetensors::SafeTensors, name: &str) -> Result<Vec<f32>> {
    let t = st
        .tensor(name)
        .map_err(|e| anyhow!("embedded fixture: tensor {name}: {e}"))?;
    if t.dtype() != safetensors::Dtype::F32 {
        bail!(
            "embedded fixture: tensor {name} is {:?}, not F32",
            t.dtype()
        );
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

impl Fixture {
    pub(super) fn load(model: &ResNet) -> Result<Self> {
        let st = safetensors::SafeTensors::deserialize(FIXTURE_REFERENCE)
            .map_err(|e| anyhow!("embedded fixture: {e}"))?;
        let p = &model.preprocess;
        let pre = Preprocess {
            resize_size: p.resize_size,
            crop_size: p.crop_size,
            mean: p.mean,
            std: p.std,
        };
        let img = decode_bytes(FIXTURE_PNG, "shape_002.png", u64::MAX)?;
        let prepared = preprocess(&img, &pre)?;
        Ok(Fixture {
            input: prepared.tensor_hwc,
            crop: pre.crop_size as usize,
            logits: f32_tensor(&st, "logits")?,
            gradcam: f32_tensor(&st, "gradcam")?,
            fc_bias: f32_tensor(&st, "checkpoint.fc.bias")?,
        })
    }
}

pub(super) fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// The whole network on the fixture, for every precision and conv variant.
pub(super) fn network_checks(
    ctx: &GpuContext,
    r: &mut Runner,
    weights: &Option<std::path::PathBuf>,
) -> Result<()> {
    let mut jobs = Vec::new();
    for precision in precisions(ctx) {
        for variant in conv_variants(ctx, precision) {
            let base = format!(
                "network {} {}",
                variant_name(variant),
                precision_name(precision)
            );
            let logits = format!("{base}: logits");
            let map = facts(precision)
                .gradcam_abs
                .map(|_| format!("{base}: gradcam"));
            if r.wants(&logits) || map.as_ref().is_some_and(|m| r.wants(m)) {
                jobs.push((precision, variant, logits, map));
            }
        }
    }
    if jobs.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    let path = weights_path(weights);
    let setup = ResNet::load(&path)
        .with_context(|| {
            format!(
                "loading the checkpoint {} (choose one with --weights or SHADERCAM_WEIGHTS)",
                path.display()
            )
        })
        .and_then(|model| {
            let fx = Fixture::load(&model)?;
            if model.fc_bias != fx.fc_bias {
                bail!(
                    "{} is not the checkpoint the fixture's logits were made with \
                     (weights/resnet50-shapes.safetensors): pass that one with --weights",
                    path.display()
                );
            }
            Ok((model, fx))
        });
    let (model, fx) = match setup {
        Ok(v) => v,
        Err(e) => {
            let secs = start.elapsed().as_secs_f64();
            for (_, _, logits, map) in jobs {
                for name in std::iter::once(logits).chain(map) {
                    r.report(Check::failed(name, secs, format!("{e:#}")))?;
                }
            }
            return Ok(());
        }
    };
    for (precision, variant, logits_name, map_name) in jobs {
        let start = Instant::now();
        let run = || -> Result<_> {
            let mut ex = Explainer::with_precision(ctx.clone(), model.clone(), precision)?;
            ex.net.kernels.conv2d.preferred = variant;
            let mut out = ex.explain(&fx.input, fx.crop, &[], &ExplainOptions::default())?;
            let e = out.pop().context("no explanation returned")?;
            let map = e.heatmaps.into_iter().next().context("no map returned")?;
            Ok((e.logits, map))
        };
        match run() {
            Ok((logits, map)) => {
                let secs = start.elapsed().as_secs_f64();
                let logits = r.tamper(&logits_name, logits);
                let mut worse = Worse::default();
                let bound = Tolerance::abs(facts(precision).logit_abs);
                worse.compare("logits vs PyTorch", &logits, &fx.logits, bound);
                let (ours, theirs) = (argmax(&logits), argmax(&fx.logits));
                if ours != theirs {
                    worse.fail(format!("top-1 is class {ours}, PyTorch's is {theirs}"));
                }
                let mut check = worse.into_check(logits_name, start);
                check.seconds = secs;
                r.report(check)?;
                if let (Some(name), Some(bound)) = (map_name, facts(precision).gradcam_abs) {
                    let map = r.tamper(&name, map);
                    let mut worse = Worse::default();
                    worse.compare(
                        "Grad-CAM map vs pytorch-grad-cam",
                        &map,
                        &fx.gradcam,
                        Tolerance::abs(bound),
                    );
                    let mut check = worse.into_check(name, start);
                    check.seconds = secs;
                    r.report(check)?;
                }
            }
            Err(e) => {
                let secs = start.elapsed().as_secs_f64();
                for name in std::iter::once(logits_name).chain(map_name) {
                    r.report(Check::failed(name, secs, format!("{e:#}")))?;
                }
            }
        }
    }
    Ok(())
}
