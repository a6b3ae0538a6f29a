//! Finding and loading the checkpoint, and choosing the preprocessing and batch size for this
//! adapter: what every command that runs the network does first.

use crate::cli::{ModelArgs, Usage};
use anyhow::{Context, Result, bail};
use shadercam_cam::Explainer;
use shadercam_hub::Hub;
use shadercam_image::Preprocess;
use shadercam_kernels::GpuContext;
use shadercam_loader::models::{self, ModelSpec};
use shadercam_loader::{PreprocessMeta, ResNet};
use std::path::{Path, PathBuf};

/// The checkpoint to use: `--weights`, `$SHADERCAM_WEIGHTS`, or the repository's default
/// found next to the executable's workspace (target/<profile>/shadercam → ../../weights).
pub fn weights_path(flag: &Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag {
        return p.clone();
    }
    if let Some(p) = std::env::var_os("SHADERCAM_WEIGHTS") {
        return PathBuf::from(p);
    }
    const REL: &str = "weights/resnet50-shapes.safetensors";
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            let p = up.join(REL);
            if p.is_file() {
                return p;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(REL)
}

/// A checkpoint chosen by `--model` (or `$SHADERCAM_MODEL`): the file, fetched if it was not
/// cached, the preprocessing its source publishes (the model table's torchvision values, checked
/// against the hub's timm `config.json` when there is one), and the table entry.
pub struct Published {
    pub path: PathBuf,
    pub preprocess: PreprocessMeta,
    pub spec: &'static ModelSpec,
}

/// The published model `--model` or, when neither `--weights`, `--model` nor
/// `$SHADERCAM_WEIGHTS` is given, `$SHADERCAM_MODEL` names; `None` for a checkpoint file.
pub fn published(m: &ModelArgs) -> Result<Option<Published>> {
    let name = match (&m.weights, &m.model) {
        (Some(_), _) => return Ok(None),
        (None, Some(n)) => n.clone(),
        (None, None) => {
            if std::env::var_os("SHADERCAM_WEIGHTS").is_some() {
                return Ok(None);
            }
            match std::env::var("SHADERCAM_MODEL") {
                Ok(n) if !n.trim().is_empty() => n,
                _ => return Ok(None),
            }
        }
    };
    let spec =
        models::find(&name).map_err(|e| anyhow::Error::new(Usage(format!("--model: {e}"))))?;
    let mut hub = Hub::from_env();
    hub.progress = !m.quiet;
    let fetched = hub.fetch_model(spec).with_context(|| {
        format!(
            "getting --model {} (about {:.0} MB)",
            spec.name,
            spec.params as f64 * 4.0 / 1e6
        )
    })?;
    // The hub's timm config.json is the model's own metadata; it must agree with the table,
    // whose values are torchvision's published evaluation settings for these weights.
    let preprocess = spec.preprocess.clone();
    if let Some(config) = &fetched.config {
        let from_config = std::fs::read_to_string(config)
            .map_err(|e| e.to_string())
            .and_then(|text| models::preprocess_from_timm_config(&text));
        match from_config {
            Ok(p) if p == preprocess => {}
            Ok(p) => eprintln!(
                "warning: {} asks for resize {} / crop {}; using torchvision's published {} / {} for {}",
                config.display(),
                p.resize_size,
                p.crop_size,
                preprocess.resize_size,
                preprocess.crop_size,
                spec.name
            ),
            Err(e) => eprintln!(
                "warning: {}: {e}; using shadercam's table for {}",
                config.display(),
                spec.name
            ),
        }
    }
    Ok(Some(Published {
        path: fetched.weights,
        preprocess,
        spec,
    }))
}

/// Reads the checkpoint `--weights` / `--model` (or their environment variables) choose, with
/// the preprocessing of a published model and the names of `--classes` applied.
pub fn read_model(m: &ModelArgs) -> Result<ResNet> {
    let published = published(m)?;
    let path = match &published {
        Some(p) => p.path.clone(),
        None => weights_path(&m.weights),
    };
    let mut model = ResNet::load(&path).with_context(
        || "loading the checkpoint (choose one with --weights, --model, SHADERCAM_WEIGHTS or SHADERCAM_MODEL)",
    )?;
    if let Some(p) = published {
        // The file must be the network the name promises (a wrong or damaged mirror would not be).
        if model.arch != p.spec.arch {
            bail!(
                "{}: the checkpoint for --model {} is a {}, not a {}",
                path.display(),
                p.spec.name,
                model.arch,
                p.spec.arch
            );
        }
        model.preprocess = p.preprocess;
    }
    if let Some(file) = &m.classes {
        model.classes =
            models::read_class_names(file, model.num_classes()).context("reading --classes")?;
    }
    Ok(model)
}

/// Loads the checkpoint and creates the GPU pipelines; returns them with the preprocessing
/// (flags over the checkpoint's metadata) and the images per batch.
pub fn load(m: &ModelArgs) -> Result<(Explainer, Preprocess, usize)> {
    let model = read_model(m)?;
    let p = &model.preprocess;
    let pre = Preprocess {
        resize_size: m.resize.unwrap_or(p.resize_size),
        crop_size: m.crop.unwrap_or(p.crop_size),
        mean: p.mean,
        std: p.std,
    };
    // clap checks the --crop flag; this catches a checkpoint whose metadata is out of range.
    if pre.crop_size < 32 || pre.crop_size > 1024 {
        bail!(Usage(format!(
            "--crop {} is outside 32..=1024",
            pre.crop_size
        )));
    }
    if pre.resize_size < pre.crop_size {
        bail!(Usage(format!(
            "--resize {} is smaller than --crop {}",
            pre.resize_size, pre.crop_size
        )));
    }
    let ctx = GpuContext::new()?;
    let ex = Explainer::with_precision(ctx, model, m.precision.0)?;
    let max = ex.max_batch(pre.crop_size as usize);
    let default = if ex.ctx.is_cpu() { 4 } else { 32 };
    let batch = m.batch.unwrap_or(default).clamp(1, max);
    Ok((ex, pre, batch))
}
