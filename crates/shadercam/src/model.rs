//! Finding and loading the checkpoint, and choosing the preprocessing and batch size for this
//! adapter: what every command that runs the network does first.

use crate::cli::{ModelArgs, Usage};
use anyhow::{Context, Result, bail};
use shadercam_cam::Explainer;
use shadercam_image::Preprocess;
use shadercam_kernels::GpuContext;
use shadercam_loader::ResNet;
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

/// Loads the checkpoint and creates the GPU pipelines; returns them with the preprocessing
/// (flags over the checkpoint's metadata) and the images per batch.
pub fn load(m: &ModelArgs) -> Result<(Explainer, Preprocess, usize)> {
    let path = weights_path(&m.weights);
    let model = ResNet::load(&path).with_context(
        || "loading the checkpoint (choose one with --weights or SHADERCAM_WEIGHTS)",
    )?;
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
