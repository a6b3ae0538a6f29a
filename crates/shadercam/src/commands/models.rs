//! `shadercam models`: the published ImageNet ResNets `--model` accepts, with accuracy, size,
//! preprocessing, source, and whether each is already cached. Reads the caches only: no
//! network.

use crate::cli::ModelsArgs;
use crate::output::print_line;
use anyhow::Result;
use shadercam_hub::Hub;
use shadercam_loader::models::{HUB_FILE, MODELS};

pub fn models(a: ModelsArgs) -> Result<bool> {
    let hub = Hub::from_env();
    if a.json {
        let all: Vec<serde_json::Value> = MODELS
            .iter()
            .map(|m| {
                let cached = hub.cached_model(m);
                let p = &m.preprocess;
                serde_json::json!({
                    "name": m.name,
                    "default_for": m.is_default().then_some(m.arch),
                    "arch": m.arch,
                    "torchvision_weights": m.weights,
                    "imagenet_top1": m.top1,
                    "params": m.params,
                    "approx_download_bytes": m.params * 4,
                    "resize": p.resize_size,
                    "crop": p.crop_size,
                    "interpolation": "bilinear",
                    "mean": p.mean,
                    "std": p.std,
                    "hub_url": hub.hub_url(m.hub_repo, HUB_FILE),
                    "torchvision_url": hub.torch_url(m.torchvision_url),
                    "cached": cached.map(|c| serde_json::json!({
                        "path": c.weights,
                        "source": c.source,
                    })),
                })
            })
            .collect();
        print_line(serde_json::Value::Array(all))?;
        return Ok(true);
    }
    print_line(format_args!(
        "{:<21} {:<17} {:>6} {:>7} {:>8}  {:<11} {:<38} cached",
        "name", "also", "top-1", "params", "download", "resize/crop", "source"
    ))?;
    for m in MODELS {
        let cached = match hub.cached_model(m) {
            Some(c) if c.source.contains("/resolve/") => "hub",
            Some(_) => "torchvision",
            None => "no",
        };
        print_line(format_args!(
            "{:<21} {:<17} {:>5.1}% {:>6.1}M {:>5.0} MB  {:<11} {:<38} {cached}",
            m.name,
            if m.is_default() { m.arch } else { "" },
            m.top1,
            m.params as f64 / 1e6,
            m.params as f64 * 4.0 / 1e6,
            format!("{}/{}", m.preprocess.resize_size, m.preprocess.crop_size),
            format!("hf.co/{}", m.hub_repo),
        ))?;
    }
    print_line(format_args!(
        "\nAll: ImageNet-1k (1000 classes), torchvision's weights; bilinear resize of the shorter side, \
         centre crop, ImageNet mean/std.\n\
         Downloads (float32 safetensors) go to the Hugging Face cache {} (HF_HOME, HF_HUB_CACHE) from {} \
         (HF_ENDPOINT);\n\
         if the hub fails, torchvision's .pth goes to {} (TORCH_HOME). Files already there are used \
         without any network.",
        hub.cache.display(),
        hub.endpoint,
        hub.torch_checkpoints.display()
    ))?;
    Ok(true)
}
