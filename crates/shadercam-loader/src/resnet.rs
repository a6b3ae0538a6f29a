//! The ResNet family as plain data: every convolution with its BatchNorm folded in, weights in
//! the layout the WGSL kernels read, plus the classifier and the checkpoint's metadata.

use crate::{BN_EPS, Checkpoint, LoadError, Tensor, default_class_names};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One convolution with its BatchNorm folded in.
///
/// `weight` is laid out HWIO: `weight[((ky * kw + kx) * cin + ci) * cout + co]`, i.e. a
/// row-major `[kh*kw*cin, cout]` matrix — the `B` operand of the implicit GEMM, whose `K` index
/// walks the receptive field in the same (ky, kx, ci) order as an NHWC input.
#[derive(Clone, Debug)]
pub struct ConvLayer {
    /// torchvision name of the convolution, e.g. `layer3.4.conv2`.
    pub name: String,
    pub cin: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub weight: Vec<f32>,
    /// Folded BatchNorm shift: `beta - mean * gamma / sqrt(var + eps)`.
    pub bias: Vec<f32>,
}

/// A residual block: `relu(convs[last](...relu(convs[0](x))) + shortcut(x))`, where the
/// shortcut is `downsample` (a 1x1 projection) or the identity. Two convolutions for a basic
/// block (ResNet-18/34), three for a bottleneck (ResNet-50/101/152).
#[derive(Clone, Debug)]
pub struct Block {
    pub convs: Vec<ConvLayer>,
    pub downsample: Option<ConvLayer>,
}

/// `layer1` .. `layer4`.
#[derive(Clone, Debug)]
pub struct Stage {
    pub blocks: Vec<Block>,
}

/// torchvision's `ImageClassification` preset values, read from the `preprocess` metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct PreprocessMeta {
    pub resize_size: u32,
    pub crop_size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Default for PreprocessMeta {
    fn default() -> Self {
        Self {
            resize_size: 256,
            crop_size: 224,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }
}

/// A whole ResNet ready for upload.
#[derive(Clone, Debug)]
pub struct ResNet {
    /// e.g. `resnet50`, derived from the block type and counts.
    pub arch: String,
    /// The tensor-naming scheme the checkpoint used.
    pub naming: Naming,
    /// The file (or shard index) it was read from.
    pub source: PathBuf,
    /// conv1 + bn1 (7x7, stride 2, pad 3), followed by ReLU and a 3x3/2 max-pool.
    pub stem: ConvLayer,
    pub stages: Vec<Stage>,
    /// Channels of the last stage: the CAM layer (2048 for bottleneck nets, 512 for basic).
    pub num_features: usize,
    /// `fc.weight`, row-major `[classes, num_features]`: row `c` holds the CAM weights `w^c_k`.
    pub fc_weight: Vec<f32>,
    pub fc_bias: Vec<f32>,
    pub classes: Vec<String>,
    pub preprocess: PreprocessMeta,
}

impl ResNet {
    /// Reads, validates and folds a checkpoint: a `.safetensors` file, a sharded checkpoint's
    /// `model.safetensors.index.json`, or a directory holding either (see [`Checkpoint::open`]).
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        Self::from_checkpoint(&Checkpoint::open(path)?)
    }

    pub fn num_classes(&self) -> usize {
        self.fc_bias.len()
    }

    /// Detects the naming scheme, depth and block type from the tensor names, checks every
    /// expected tensor's shape, folds BatchNorm, and refuses tensors a plain ResNet has no
    /// place for (an SE block, a ResNet-D stem, ...), which would otherwise be silently ignored.
    pub fn from_checkpoint(ck: &Checkpoint) -> Result<Self, LoadError> {
        let naming = Naming::detect(ck)?;
        let names = Names::new(ck, naming.clone());
        let arch_err = |reason: String| LoadError::Architecture {
            path: ck.path.clone(),
            reason,
        };
        if naming == Naming::HuggingFace {
            check_hf_config(&ck.path)?;
        }
        let bottleneck = names.shape_of("layer1.0.conv3.weight").is_some();
        let expansion = if bottleneck { 4 } else { 1 };
        let mut counts = Vec::new();
        for l in 1..=4 {
            let n = (0..)
                .take_while(|b| {
                    names
                        .shape_of(&format!("layer{l}.{b}.conv1.weight"))
                        .is_some()
                })
                .count();
            if n == 0 {
                return Err(arch_err(format!(
                    "no blocks found for `layer{l}` (looked for `{}`)",
                    names.file_name(&format!("layer{l}.0.conv1.weight"))
                )));
            }
            counts.push(n);
        }
        // Inner width of layer1's bottleneck: 64 for resnet50, 128 for wide_resnet50_2.
        let width1 = if bottleneck {
            // A 0-d tensor has no output-channel dimension: keep 64 and let conv_bn's shape
            // check report the real shape (indexing `s[0]` panicked here; found by fuzzing).
            names
                .shape_of("layer1.0.conv1.weight")
                .and_then(|s| s.first().copied())
                .unwrap_or(64)
        } else {
            64
        };
        if width1 % 64 != 0 || width1 == 0 {
            return Err(arch_err(format!(
                "`{}` has {width1} output channels; expected a multiple of 64",
                names.file_name("layer1.0.conv1.weight")
            )));
        }

        let stem = conv_bn(&names, "conv1", "bn1", [64, 3, 7, 7], 2, 3)?;
        let mut stages = Vec::new();
        let mut cin = 64;
        for (s, &count) in counts.iter().enumerate() {
            let planes: usize = 64 << s;
            // width1 comes from the file: a shape such as [2^62, 0] (no data) would overflow.
            let width = planes.checked_mul(width1).map(|v| v / 64).ok_or_else(|| {
                arch_err(format!(
                    "`{}` has {width1} output channels; too many",
                    names.file_name("layer1.0.conv1.weight")
                ))
            })?;
            let cout = planes * expansion;
            let mut blocks = Vec::new();
            for b in 0..count {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                let p = format!("layer{}.{b}", s + 1);
                // `{p}.convJ` with `{p}.bnJ`.
                let conv = |j: usize, oihw: [usize; 4], stride: usize, pad: usize| {
                    let (c, bn) = (format!("{p}.conv{j}"), format!("{p}.bn{j}"));
                    conv_bn(&names, &c, &bn, oihw, stride, pad)
                };
                let convs = if bottleneck {
                    // torchvision v1.5 (and transformers with its default
                    // `downsample_in_bottleneck=False`): the stride sits on the 3x3.
                    vec![
                        conv(1, [width, cin, 1, 1], 1, 0)?,
                        conv(2, [width, width, 3, 3], stride, 1)?,
                        conv(3, [cout, width, 1, 1], 1, 0)?,
                    ]
                } else {
                    vec![
                        conv(1, [cout, cin, 3, 3], stride, 1)?,
                        conv(2, [cout, cout, 3, 3], 1, 1)?,
                    ]
                };
                let downsample = if stride != 1 || cin != cout {
                    let (c, bn) = (format!("{p}.downsample.0"), format!("{p}.downsample.1"));
                    Some(conv_bn(&names, &c, &bn, [cout, cin, 1, 1], stride, 0)?)
                } else {
                    None
                };
                blocks.push(Block { convs, downsample });
                cin = cout;
            }
            stages.push(Stage { blocks });
        }
        let num_features = cin;
        let classes_n = names
            .shape_of("fc.weight")
            .and_then(|s| s.first().copied())
            .unwrap_or(0);
        if classes_n == 0 {
            names.get("fc.weight", &[1000, num_features])?;
        }
        let fc_weight = names
            .get("fc.weight", &[classes_n, num_features])?
            .data
            .clone();
        let fc_bias = names.get("fc.bias", &[classes_n])?.data.clone();
        names.check_all_used()?;

        let classes = match ck.metadata.get("classes") {
            Some(json) => {
                let names: Vec<String> =
                    serde_json::from_str(json).map_err(|e| LoadError::Metadata {
                        path: ck.path.clone(),
                        key: "classes".into(),
                        reason: format!("not a JSON list of strings ({e})"),
                    })?;
                if names.len() != classes_n {
                    return Err(LoadError::Metadata {
                        path: ck.path.clone(),
                        key: "classes".into(),
                        reason: format!(
                            "lists {} names but the classifier has {classes_n} rows",
                            names.len()
                        ),
                    });
                }
                names
            }
            None => default_class_names(classes_n),
        };
        let preprocess = match ck.metadata.get("preprocess") {
            Some(json) => parse_preprocess(json).map_err(|reason| LoadError::Metadata {
                path: ck.path.clone(),
                key: "preprocess".into(),
                reason,
            })?,
            None => PreprocessMeta::default(),
        };
        let depth = 2 + counts.iter().sum::<usize>() * if bottleneck { 3 } else { 2 };
        let arch = if width1 != 64 {
            format!("wide_resnet{depth}_{}", width1 / 64)
        } else {
            format!("resnet{depth}")
        };
        Ok(Self {
            arch,
            naming,
            source: ck.path.clone(),
            stem,
            stages,
            num_features,
            fc_weight,
            fc_bias,
            classes,
            preprocess,
        })
    }
}

/// A checkpoint's tensor-naming convention. The loader asks for torchvision names
/// (`layer3.4.conv2.weight`); [`Naming::file_name`] translates them into the file's names, so
/// every shape check and error message is shared by all schemes and names what the file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Naming {
    /// torchvision's `resnet*` / `wide_resnet*` and timm's `resnet*` checkpoints: `conv1.weight`,
    /// `bn1.*`, `layerL.B.convN.weight`, `layerL.B.bnN.*`, `layerL.0.downsample.{0,1}.*`, `fc.*`,
    /// every name preceded by `prefix` (empty, or e.g. `module.` for a DataParallel state dict).
    Torchvision { prefix: String },
    /// Hugging Face transformers' `ResNetForImageClassification` (`microsoft/resnet-50`):
    /// `resnet.embedder.embedder.*`, `resnet.encoder.stages.S.layers.L.{layer.J,shortcut}.*`,
    /// `classifier.1.*`.
    HuggingFace,
}

/// The schemes [`Naming::detect`] recognises, for error messages.
const KNOWN_SCHEMES: &str = "torchvision/timm (`conv1.weight`, `layer1.0.conv1.weight`, ..., `fc.weight`) and \
     Hugging Face transformers ResNetForImageClassification (`resnet.embedder.embedder.convolution.weight`, \
     `resnet.encoder.stages.0.layers.0.layer.0.convolution.weight`, ..., `classifier.1.weight`)";

impl Naming {
    /// Recognises the scheme from the tensor names.
    pub fn detect(ck: &Checkpoint) -> Result<Self, LoadError> {
        const TV_PROBE: &str = "layer1.0.conv1.weight";
        if let Some(name) = ck.tensors.keys().find(|k| k.ends_with(TV_PROBE)) {
            let prefix = &name[..name.len() - TV_PROBE.len()];
            if prefix.is_empty() || prefix.ends_with('.') {
                return Ok(Self::Torchvision {
                    prefix: prefix.to_owned(),
                });
            }
        }
        if ck
            .tensors
            .contains_key("resnet.embedder.embedder.convolution.weight")
        {
            return Ok(Self::HuggingFace);
        }
        let mut some: Vec<&str> = ck.tensors.keys().take(6).map(String::as_str).collect();
        if ck.tensors.len() > some.len() {
            some.push("...");
        }
        Err(LoadError::Architecture {
            path: ck.path.clone(),
            reason: format!(
                "unknown tensor naming scheme; found {} tensors named {some:?}; known schemes: {KNOWN_SCHEMES}",
                ck.tensors.len()
            ),
        })
    }

    /// A short name for messages: `torchvision`, `huggingface`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Torchvision { .. } => "torchvision",
            Self::HuggingFace => "huggingface",
        }
    }

    /// The file's name for the torchvision tensor name `tv`.
    ///
    /// The Hugging Face translation table (transformers counts from 0: torchvision's `layerL`
    /// is stage `L-1`, its `convN`/`bnN` is `layer.N-1`; `P` is a parameter name):
    ///
    /// | torchvision                  | transformers                                              |
    /// |------------------------------|-----------------------------------------------------------|
    /// | `conv1.weight`               | `resnet.embedder.embedder.convolution.weight`             |
    /// | `bn1.P`                      | `resnet.embedder.embedder.normalization.P`                |
    /// | `layerL.B.convN.weight`      | `resnet.encoder.stages.L-1.layers.B.layer.N-1.convolution.weight` |
    /// | `layerL.B.bnN.P`             | `resnet.encoder.stages.L-1.layers.B.layer.N-1.normalization.P`    |
    /// | `layerL.B.downsample.0.weight` | `resnet.encoder.stages.L-1.layers.B.shortcut.convolution.weight` |
    /// | `layerL.B.downsample.1.P`    | `resnet.encoder.stages.L-1.layers.B.shortcut.normalization.P`     |
    /// | `fc.P`                       | `classifier.1.P`                                          |
    ///
    /// The layer structure is the same: transformers' `ResNetBottleNeckLayer` puts the stride on
    /// the 3x3 (its `downsample_in_bottleneck` defaults to false), its first stage does not
    /// downsample (`downsample_in_first_stage` false), and a shortcut projection exists exactly
    /// where torchvision has a `downsample`.
    pub fn file_name(&self, tv: &str) -> String {
        match self {
            Self::Torchvision { prefix } => format!("{prefix}{tv}"),
            Self::HuggingFace => hf_name(tv).unwrap_or_else(|| tv.to_owned()),
        }
    }
}

/// The table in [`Naming::file_name`]; `None` for a name outside it.
fn hf_name(tv: &str) -> Option<String> {
    let parts: Vec<&str> = tv.split('.').collect();
    let index = |s: &str, head: &str| -> Option<usize> {
        s.strip_prefix(head)?.parse::<usize>().ok()?.checked_sub(1)
    };
    let block = |layer: &str, b: &str| -> Option<String> {
        Some(format!(
            "resnet.encoder.stages.{}.layers.{b}",
            index(layer, "layer")?
        ))
    };
    Some(match parts.as_slice() {
        ["conv1", p] => format!("resnet.embedder.embedder.convolution.{p}"),
        ["bn1", p] => format!("resnet.embedder.embedder.normalization.{p}"),
        ["fc", p] => format!("classifier.1.{p}"),
        [l, b, "downsample", "0", p] => format!("{}.shortcut.convolution.{p}", block(l, b)?),
        [l, b, "downsample", "1", p] => format!("{}.shortcut.normalization.{p}", block(l, b)?),
        [l, b, m, p] if m.starts_with("conv") => format!(
            "{}.layer.{}.convolution.{p}",
            block(l, b)?,
            index(m, "conv")?
        ),
        [l, b, m, p] if m.starts_with("bn") => format!(
            "{}.layer.{}.normalization.{p}",
            block(l, b)?,
            index(m, "bn")?
        ),
        _ => return None,
    })
}

/// transformers keeps architecture options in a `config.json` beside the weights, where the
/// tensor names cannot show them. Two move a stride to another convolution than torchvision's
/// (same tensor shapes, different network): refuse those rather than compute something else.
fn check_hf_config(checkpoint: &Path) -> Result<(), LoadError> {
    let dir = if checkpoint.is_dir() {
        checkpoint
    } else {
        checkpoint.parent().unwrap_or(Path::new("."))
    };
    let path = dir.join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let config: serde_json::Value = serde_json::from_str(&text).map_err(|e| LoadError::Format {
        path: path.clone(),
        reason: format!("transformers config beside the checkpoint is not JSON ({e})"),
    })?;
    for key in ["downsample_in_bottleneck", "downsample_in_first_stage"] {
        if config.get(key).and_then(|v| v.as_bool()) == Some(true) {
            return Err(LoadError::Architecture {
                path,
                reason: format!(
                    "`{key}: true` places a stride where torchvision's ResNet has none; only the default \
                     (false, as in microsoft/resnet-*) is supported"
                ),
            });
        }
    }
    Ok(())
}

/// A checkpoint seen through its naming scheme, remembering which tensors were read.
struct Names<'a> {
    ck: &'a Checkpoint,
    naming: Naming,
    used: RefCell<BTreeSet<String>>,
}

impl<'a> Names<'a> {
    fn new(ck: &'a Checkpoint, naming: Naming) -> Self {
        Self {
            ck,
            naming,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    fn file_name(&self, tv: &str) -> String {
        self.naming.file_name(tv)
    }

    fn shape_of(&self, tv: &str) -> Option<&'a [usize]> {
        self.ck.shape_of(&self.file_name(tv))
    }

    /// [`Checkpoint::get`] under the file's name for `tv`.
    fn get(&self, tv: &str, expected: &[usize]) -> Result<&'a Tensor, LoadError> {
        let name = self.file_name(tv);
        let t = self.ck.get(&name, expected)?;
        self.used.borrow_mut().insert(name);
        Ok(t)
    }

    /// Errors if the file holds tensors the network did not read.
    fn check_all_used(&self) -> Result<(), LoadError> {
        let used = self.used.borrow();
        let extra: Vec<&String> = self
            .ck
            .tensors
            .keys()
            .filter(|k| !used.contains(*k))
            .collect();
        if extra.is_empty() {
            return Ok(());
        }
        let shown: Vec<&String> = extra.iter().take(5).copied().collect();
        Err(LoadError::Architecture {
            path: self.ck.path.clone(),
            reason: format!(
                "{} tensor(s) have no place in a plain {} ResNet: {shown:?}{}; variants such as SE-ResNet, \
                 ResNet-D or ResNeXt are not supported",
                extra.len(),
                self.naming.label(),
                if extra.len() > shown.len() {
                    " ..."
                } else {
                    ""
                }
            ),
        })
    }
}

fn parse_preprocess(json: &str) -> Result<PreprocessMeta, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON ({e})"))?;
    let mut p = PreprocessMeta::default();
    let size = |key: &str, dst: &mut u32| -> Result<(), String> {
        if let Some(x) = v.get(key) {
            let n = x.as_u64().filter(|&n| (1..=4096).contains(&n));
            *dst =
                n.ok_or_else(|| format!("`{key}` must be an integer in 1..=4096, got {x}"))? as u32;
        }
        Ok(())
    };
    size("resize_size", &mut p.resize_size)?;
    size("crop_size", &mut p.crop_size)?;
    let triple = |key: &str, dst: &mut [f32; 3]| -> Result<(), String> {
        if let Some(x) = v.get(key) {
            let vals: Option<Vec<f32>> = x.as_array().filter(|a| a.len() == 3).map(|a| {
                a.iter()
                    .filter_map(|e| e.as_f64().map(|f| f as f32))
                    .collect()
            });
            match vals {
                Some(t) if t.len() == 3 => dst.copy_from_slice(&t),
                _ => return Err(format!("`{key}` must be a list of 3 numbers, got {x}")),
            }
        }
        Ok(())
    };
    triple("mean", &mut p.mean)?;
    triple("std", &mut p.std)?;
    if p.std.iter().any(|&s| s <= 0.0) {
        return Err(format!("`std` must be positive, got {:?}", p.std));
    }
    Ok(p)
}

/// Loads `{conv}.weight` (OIHW) and `{bn}.{weight,bias,running_mean,running_var}` (torchvision
/// names, translated to the file's), folds the BatchNorm in, and returns the convolution with
/// HWIO weights.
fn conv_bn(
    ck: &Names<'_>,
    conv: &str,
    bn: &str,
    oihw: [usize; 4],
    stride: usize,
    pad: usize,
) -> Result<ConvLayer, LoadError> {
    let [cout, cin, kh, kw] = oihw;
    let w = &ck.get(&format!("{conv}.weight"), &oihw)?.data;
    let gamma = &ck.get(&format!("{bn}.weight"), &[cout])?.data;
    let beta = &ck.get(&format!("{bn}.bias"), &[cout])?.data;
    let mean = &ck.get(&format!("{bn}.running_mean"), &[cout])?.data;
    let var = &ck.get(&format!("{bn}.running_var"), &[cout])?.data;
    if let Some(i) = var.iter().position(|&v| v < 0.0) {
        return Err(LoadError::NegativeVariance {
            path: ck.ck.path.clone(),
            name: ck.file_name(&format!("{bn}.running_var")),
            index: i,
            value: var[i],
        });
    }
    let (weight, bias) = fold_bn(w, gamma, beta, mean, var, oihw);
    Ok(ConvLayer {
        name: conv.to_owned(),
        cin,
        cout,
        kh,
        kw,
        stride,
        pad,
        weight,
        bias,
    })
}

/// BatchNorm folding: `w'[o] = w[o] * s[o]`, `b'[o] = beta[o] - mean[o] * s[o]` with
/// `s = gamma / sqrt(var + eps)`, computed in f64; the weights are transposed OIHW -> HWIO.
pub fn fold_bn(
    w_oihw: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    [cout, cin, kh, kw]: [usize; 4],
) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f64> = (0..cout)
        .map(|o| gamma[o] as f64 / (var[o] as f64 + BN_EPS as f64).sqrt())
        .collect();
    let bias = (0..cout)
        .map(|o| (beta[o] as f64 - mean[o] as f64 * scale[o]) as f32)
        .collect();
    let mut hwio = vec![0f32; w_oihw.len()];
    for (o, &s) in scale.iter().enumerate() {
        for i in 0..cin {
            for y in 0..kh {
                for x in 0..kw {
                    let src = ((o * cin + i) * kh + y) * kw + x;
                    let dst = ((y * kw + x) * cin + i) * cout + o;
                    hwio[dst] = (w_oihw[src] as f64 * s) as f32;
                }
            }
        }
    }
    (hwio, bias)
}
