//! The published ImageNet ResNets that `--model NAME` names: where each checkpoint is, and how
//! its images must be preprocessed. Pure data; downloading is `shadercam-hub`'s job.
//!
//! Sources, checked against the libraries themselves (torchvision 0.29, timm 1.0.31):
//! - torchvision's weights enums (`torchvision/models/resnet.py`; documented at
//!   <https://pytorch.org/vision/stable/models.html#classification>): each weights' URL, its
//!   `transforms()` (`ImageClassification(crop_size=224)`, plus `resize_size=232` for every
//!   `IMAGENET1K_V2`), `num_params` and ImageNet-1k top-1. `DEFAULT` is `IMAGENET1K_V2` where
//!   there is one, else `IMAGENET1K_V1`: a bare name (`resnet50`) means the same here.
//! - timm's `pretrained_cfg` for the same weights (`timm/models/resnet.py`, tags `tv_in1k` and
//!   `tv2_in1k`), which name the Hugging Face repositories `timm/<arch>.<tag>` holding them as
//!   `model.safetensors` with torchvision's tensor names. timm evaluates `tv2_in1k` at its
//!   `test_input_size` 224 with `test_crop_pct` 0.965, and resizes to `floor(224 / crop_pct)`
//!   (`timm/data/transforms_factory.py`): 232 — the same as torchvision. Both use bilinear
//!   interpolation and ImageNet's mean and std.
//!
//! `weights/check_model_table.py` compares every entry below with the installed torchvision and
//! timm. A hub repository's `config.json` carries the same `pretrained_cfg`;
//! [`preprocess_from_timm_config`] reads it, and the CLI checks a downloaded model's own metadata
//! against the table (which is also what `shadercam models` shows before any download).

use crate::{LoadError, PreprocessMeta};
use std::path::Path;

/// ImageNet's per-channel mean and standard deviation (torchvision and timm).
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// One published checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// `--model` name: `<arch>.<tag>`, e.g. `resnet50.tv2`.
    pub name: &'static str,
    /// torchvision architecture, e.g. `resnet50`.
    pub arch: &'static str,
    /// torchvision weights enum member, e.g. `IMAGENET1K_V2`.
    pub weights: &'static str,
    /// Hugging Face repository with the same weights as `model.safetensors` (timm's copy).
    pub hub_repo: &'static str,
    /// torchvision's own file: the fallback. Its name ends in `-<first 8 hex digits of the
    /// file's sha256>.pth`, torch.hub's naming rule, which the download checks.
    pub torchvision_url: &'static str,
    /// Parameters (torchvision `meta["num_params"]`); a float32 checkpoint is about 4 bytes each.
    pub params: u64,
    /// ImageNet-1k top-1 accuracy, % (torchvision `meta["_metrics"]`).
    pub top1: f32,
    /// Resize (shorter side), center crop, mean and std.
    pub preprocess: PreprocessMeta,
}

/// The file in each hub repository.
pub const HUB_FILE: &str = "model.safetensors";
/// The repository's timm config (preprocessing), fetched beside the weights.
pub const HUB_CONFIG: &str = "config.json";

const fn pre(resize_size: u32) -> PreprocessMeta {
    PreprocessMeta {
        resize_size,
        crop_size: 224,
        mean: MEAN,
        std: STD,
    }
}

macro_rules! spec {
    ($name:literal, $arch:literal, $weights:literal, $repo:literal, $url:literal, $params:literal, $top1:literal, $resize:literal) => {
        ModelSpec {
            name: $name,
            arch: $arch,
            weights: $weights,
            hub_repo: $repo,
            torchvision_url: $url,
            params: $params,
            top1: $top1,
            preprocess: pre($resize),
        }
    };
}

/// Every model `--model` accepts, in the order `shadercam models` lists them. Values copied
/// from torchvision's weights enums and timm's `pretrained_cfg` (see the module docs).
pub const MODELS: &[ModelSpec] = &[
    spec!(
        "resnet18.tv",
        "resnet18",
        "IMAGENET1K_V1",
        "timm/resnet18.tv_in1k",
        "https://download.pytorch.org/models/resnet18-f37072fd.pth",
        11_689_512,
        69.758,
        256
    ),
    spec!(
        "resnet34.tv",
        "resnet34",
        "IMAGENET1K_V1",
        "timm/resnet34.tv_in1k",
        "https://download.pytorch.org/models/resnet34-b627a593.pth",
        21_797_672,
        73.314,
        256
    ),
    spec!(
        "resnet50.tv",
        "resnet50",
        "IMAGENET1K_V1",
        "timm/resnet50.tv_in1k",
        "https://download.pytorch.org/models/resnet50-0676ba61.pth",
        25_557_032,
        76.130,
        256
    ),
    spec!(
        "resnet50.tv2",
        "resnet50",
        "IMAGENET1K_V2",
        "timm/resnet50.tv2_in1k",
        "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
        25_557_032,
        80.858,
        232
    ),
    spec!(
        "resnet101.tv",
        "resnet101",
        "IMAGENET1K_V1",
        "timm/resnet101.tv_in1k",
        "https://download.pytorch.org/models/resnet101-63fe2227.pth",
        44_549_160,
        77.374,
        256
    ),
    spec!(
        "resnet101.tv2",
        "resnet101",
        "IMAGENET1K_V2",
        "timm/resnet101.tv2_in1k",
        "https://download.pytorch.org/models/resnet101-cd907fc2.pth",
        44_549_160,
        81.886,
        232
    ),
    spec!(
        "resnet152.tv",
        "resnet152",
        "IMAGENET1K_V1",
        "timm/resnet152.tv_in1k",
        "https://download.pytorch.org/models/resnet152-394f9c45.pth",
        60_192_808,
        78.312,
        256
    ),
    spec!(
        "resnet152.tv2",
        "resnet152",
        "IMAGENET1K_V2",
        "timm/resnet152.tv2_in1k",
        "https://download.pytorch.org/models/resnet152-f82ba261.pth",
        60_192_808,
        82.284,
        232
    ),
    spec!(
        "wide_resnet50_2.tv",
        "wide_resnet50_2",
        "IMAGENET1K_V1",
        "timm/wide_resnet50_2.tv_in1k",
        "https://download.pytorch.org/models/wide_resnet50_2-95faca4d.pth",
        68_883_240,
        78.468,
        256
    ),
    spec!(
        "wide_resnet50_2.tv2",
        "wide_resnet50_2",
        "IMAGENET1K_V2",
        "timm/wide_resnet50_2.tv2_in1k",
        "https://download.pytorch.org/models/wide_resnet50_2-9ba9bcbe.pth",
        68_883_240,
        81.602,
        232
    ),
    spec!(
        "wide_resnet101_2.tv",
        "wide_resnet101_2",
        "IMAGENET1K_V1",
        "timm/wide_resnet101_2.tv_in1k",
        "https://download.pytorch.org/models/wide_resnet101_2-32ee1156.pth",
        126_886_696,
        78.848,
        256
    ),
    spec!(
        "wide_resnet101_2.tv2",
        "wide_resnet101_2",
        "IMAGENET1K_V2",
        "timm/wide_resnet101_2.tv2_in1k",
        "https://download.pytorch.org/models/wide_resnet101_2-d733dc28.pth",
        126_886_696,
        82.510,
        232
    ),
];

impl ModelSpec {
    /// Whether a bare `--model <arch>` means this one (torchvision's `DEFAULT` weights).
    pub fn is_default(&self) -> bool {
        self.weights == "IMAGENET1K_V2"
            || !MODELS
                .iter()
                .any(|m| m.arch == self.arch && m.weights == "IMAGENET1K_V2")
    }

    /// The torchvision file's name (`resnet50-11ad3fa6.pth`).
    pub fn torchvision_file(&self) -> &'static str {
        self.torchvision_url
            .rsplit_once('/')
            .map_or(self.torchvision_url, |(_, f)| f)
    }

    /// The sha256 prefix in the torchvision file name (`11ad3fa6`), torch.hub's `HASH_REGEX`
    /// (`-([a-f0-9]*)\.`).
    pub fn torchvision_hash_prefix(&self) -> &'static str {
        let file = self.torchvision_file();
        let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
        stem.rsplit_once('-').map_or("", |(_, h)| h)
    }
}

/// The model `--model NAME` means: an exact name (`resnet50.tv2`), a bare architecture
/// (`resnet50`, torchvision's default weights), or timm's full name (`resnet50.tv2_in1k`).
pub fn find(name: &str) -> Result<&'static ModelSpec, String> {
    let name = name.trim();
    let exact = |n: &str| MODELS.iter().find(|m| m.name == n);
    if let Some(m) = exact(name) {
        return Ok(m);
    }
    if let Some(m) = MODELS.iter().find(|m| m.arch == name && m.is_default()) {
        return Ok(m);
    }
    if let Some(m) = name.strip_suffix("_in1k").and_then(exact) {
        return Ok(m);
    }
    Err(format!(
        "unknown model `{name}`; known: {} (run `shadercam models` for details)",
        names().join(", ")
    ))
}

/// Every accepted name: the bare architectures (defaults) and the `<arch>.<tag>` names.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&str> = Vec::new();
    for m in MODELS {
        if m.is_default() {
            v.push(m.arch);
        }
        v.push(m.name);
    }
    v
}

/// Preprocessing from a timm `config.json` (its `pretrained_cfg`), evaluated as timm's
/// `validate.py` does (`resolve_data_config(..., use_test_size=True)`): the crop is
/// `test_input_size` (else `input_size`), the resize `floor(crop / crop_pct)` with
/// `test_crop_pct` (else `crop_pct`, else timm's default 0.875), plus `mean` and `std`.
/// Errors name the key; interpolation other than bilinear and crop modes other than `center`
/// are refused, since shadercam's preprocessing is torchvision's bilinear resize + center crop.
pub fn preprocess_from_timm_config(json: &str) -> Result<PreprocessMeta, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON ({e})"))?;
    let cfg = v
        .get("pretrained_cfg")
        .ok_or("no `pretrained_cfg` object (not a timm config)")?;
    let size = |key: &str| -> Result<Option<u32>, String> {
        match cfg.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(s) => {
                let dims: Option<Vec<u64>> = s
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_u64()).collect());
                match dims.as_deref() {
                    Some([3, h, w]) if h == w && (32..=4096).contains(h) => Ok(Some(*h as u32)),
                    _ => Err(format!("`{key}` is {s}; expected [3, N, N]")),
                }
            }
        }
    };
    let pct = |key: &str| -> Result<Option<f64>, String> {
        match cfg.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(x) => match x.as_f64() {
                Some(p) if p > 0.1 && p <= 1.0 => Ok(Some(p)),
                _ => Err(format!("`{key}` is {x}; expected a number in (0.1, 1]")),
            },
        }
    };
    let (crop, crop_pct) = match size("test_input_size")? {
        Some(c) => (c, pct("test_crop_pct")?.or(pct("crop_pct")?)),
        None => (
            size("input_size")?.ok_or("no `input_size`")?,
            pct("crop_pct")?,
        ),
    };
    // timm's DEFAULT_CROP_PCT.
    let crop_pct = crop_pct.unwrap_or(0.875);
    let resize = (crop as f64 / crop_pct).floor() as u32;
    if let Some(i) = cfg.get("interpolation").and_then(|x| x.as_str())
        && i != "bilinear"
    {
        return Err(format!(
            "`interpolation` is {i:?}; shadercam resizes bilinearly only"
        ));
    }
    if let Some(m) = cfg.get("crop_mode").and_then(|x| x.as_str())
        && m != "center"
    {
        return Err(format!(
            "`crop_mode` is {m:?}; shadercam crops the center only"
        ));
    }
    let triple = |key: &str| -> Result<[f32; 3], String> {
        match cfg.get(key) {
            None => Ok(if key == "mean" { MEAN } else { STD }),
            Some(x) => {
                let a: Option<Vec<f32>> = x.as_array().map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_f64().map(|f| f as f32))
                        .collect()
                });
                match a.as_deref() {
                    Some(&[r, g, b]) if key == "mean" || (r > 0.0 && g > 0.0 && b > 0.0) => {
                        Ok([r, g, b])
                    }
                    _ => Err(format!("`{key}` is {x}; expected 3 numbers")),
                }
            }
        }
    };
    Ok(PreprocessMeta {
        resize_size: resize,
        crop_size: crop,
        mean: triple("mean")?,
        std: triple("std")?,
    })
}

/// Class names from a text file, one a line (`--classes FILE`); blank lines at the end are
/// ignored. The count must match the classifier's `expected` rows.
pub fn read_class_names(path: &Path, expected: usize) -> Result<Vec<String>, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut names: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect();
    while names.last().is_some_and(|l| l.trim().is_empty()) {
        names.pop();
    }
    if names.len() != expected {
        return Err(LoadError::Metadata {
            path: path.to_owned(),
            key: "classes".into(),
            reason: format!(
                "the file lists {} class names (one a line) but the classifier has {expected} outputs",
                names.len()
            ),
        });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_torchvisions_defaults() {
        assert_eq!(find("resnet50").unwrap().name, "resnet50.tv2");
        assert_eq!(find("resnet18").unwrap().name, "resnet18.tv");
        assert_eq!(find("wide_resnet101_2").unwrap().weights, "IMAGENET1K_V2");
        assert_eq!(find("resnet50.tv").unwrap().preprocess.resize_size, 256);
        assert_eq!(find("resnet152.tv2_in1k").unwrap().name, "resnet152.tv2");
        let e = find("resnet51").unwrap_err();
        assert!(e.contains("resnet51") && e.contains("resnet50.tv2"), "{e}");
        // Every architecture of the issue is there.
        for arch in [
            "resnet18",
            "resnet34",
            "resnet50",
            "resnet101",
            "resnet152",
            "wide_resnet50_2",
            "wide_resnet101_2",
        ] {
            assert_eq!(find(arch).unwrap().arch, arch);
        }
    }

    #[test]
    fn table_is_consistent() {
        for m in MODELS {
            assert!(m.name.starts_with(m.arch) && m.hub_repo.starts_with("timm/"));
            let tag = if m.weights == "IMAGENET1K_V2" {
                "tv2"
            } else {
                "tv"
            };
            assert_eq!(m.name, format!("{}.{tag}", m.arch));
            assert_eq!(m.hub_repo, format!("timm/{}_in1k", m.name));
            assert_eq!(
                m.preprocess.resize_size,
                if tag == "tv2" { 232 } else { 256 }
            );
            let h = m.torchvision_hash_prefix();
            assert!(
                h.len() >= 8 && h.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                m.name
            );
            assert!(m.torchvision_file().starts_with(&format!("{}-", m.arch)));
        }
    }

    /// A timm `config.json` as the hub serves it for `timm/resnet50.tv2_in1k` (keys of
    /// `pretrained_cfg` from timm's `save_config_for_hf`): evaluated at 224 with crop 0.965.
    #[test]
    fn timm_config_gives_torchvisions_232() {
        let json = r#"{"architecture": "resnet50", "num_classes": 1000, "pretrained_cfg": {
            "tag": "tv2_in1k", "input_size": [3, 176, 176], "test_input_size": [3, 224, 224],
            "interpolation": "bilinear", "crop_pct": 0.875, "test_crop_pct": 0.965,
            "crop_mode": "center", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
            "num_classes": 1000}}"#;
        let p = preprocess_from_timm_config(json).unwrap();
        assert_eq!((p.resize_size, p.crop_size), (232, 224));
        assert_eq!(p, find("resnet50.tv2").unwrap().preprocess);
        let v1 = r#"{"pretrained_cfg": {"input_size": [3, 224, 224], "crop_pct": 0.875,
            "interpolation": "bilinear"}}"#;
        assert_eq!(preprocess_from_timm_config(v1).unwrap(), pre(256));
        let bicubic =
            r#"{"pretrained_cfg": {"input_size": [3, 224, 224], "interpolation": "bicubic"}}"#;
        assert!(
            preprocess_from_timm_config(bicubic)
                .unwrap_err()
                .contains("bicubic")
        );
        assert!(
            preprocess_from_timm_config("{}")
                .unwrap_err()
                .contains("pretrained_cfg")
        );
    }

    #[test]
    fn class_files_must_match_the_classifier() {
        let dir = std::env::temp_dir().join(format!("shadercam-classes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("classes.txt");
        std::fs::write(&f, "cat\r\ndog\nbird\n\n").unwrap();
        assert_eq!(read_class_names(&f, 3).unwrap(), ["cat", "dog", "bird"]);
        let e = read_class_names(&f, 8).unwrap_err().to_string();
        assert!(
            e.contains("classes.txt") && e.contains("3 class names") && e.contains("8 outputs"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
