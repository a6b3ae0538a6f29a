//! Reads a ResNet checkpoint from a `.safetensors` file into f32 tensors, validates every tensor's
//! presence, shape and values, and folds each BatchNorm into the convolution before it.
//!
//! No GPU code lives here: the output, [`ResNet`], is plain CPU data (weights already in the
//! layout the WGSL kernels read) that `shadercam-kernels` uploads once.
//!
//! Tensor names may be torchvision's (`conv1.weight`, `bn1.*`, `layerL.B.convN.weight`,
//! `layerL.B.bnN.*`, `layerL.0.downsample.{0,1}.*`, `fc.*`), which timm's `resnet*` checkpoints
//! share, or Hugging Face transformers' (`microsoft/resnet-50`); see [`Naming`]. A checkpoint may
//! be one file or shards with a `model.safetensors.index.json`. The family covers ResNet-18/34
//! (basic blocks), -50/101/152 and wide_resnet50_2/101_2 (bottlenecks). BatchNorm folding follows He et al. / candle's `absorb_bn`:
//! `w' = w * gamma / sqrt(var + eps)`, `b' = beta - mean * gamma / sqrt(var + eps)`.

mod checkpoint;
pub mod models;
mod pickle;
mod pth;
mod resnet;
mod rng;
#[cfg(feature = "testing")]
pub mod testing;

pub use checkpoint::{Checkpoint, SHARD_INDEX, Tensor};
pub use resnet::{Block, ConvLayer, Naming, PreprocessMeta, ResNet, Stage, fold_bn};
pub use rng::Rng;

use std::path::PathBuf;

/// BatchNorm epsilon used by torchvision's ResNets.
pub const BN_EPS: f32 = 1e-5;

/// The 1000 ImageNet-1k class names in index order (torchvision's `meta["categories"]`).
pub const IMAGENET_CLASSES: &str = include_str!("imagenet_classes.txt");

/// Everything that can go wrong while reading a checkpoint. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read checkpoint: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid safetensors file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: tensor `{name}` has dtype {dtype}; only F32, F16 and BF16 are supported")]
    Dtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    #[error("{path}: missing tensor `{name}` (expected shape {expected:?})")]
    Missing {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
    },
    #[error("{path}: shape mismatch for `{name}`: expected {expected:?}, got {got:?}")]
    Shape {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    #[error("{path}: tensor `{name}` contains a non-finite value ({value}) at flat index {index}")]
    NonFinite {
        path: PathBuf,
        name: String,
        index: usize,
        value: f32,
    },
    #[error("{path}: BatchNorm `{name}` has a negative variance ({value}) at flat index {index}")]
    NegativeVariance {
        path: PathBuf,
        name: String,
        index: usize,
        value: f32,
    },
    #[error("{path}: not a ResNet checkpoint in a known layout: {reason}")]
    Architecture { path: PathBuf, reason: String },
    #[error("{path}: not a PyTorch checkpoint shadercam can read: {reason}")]
    Pytorch { path: PathBuf, reason: String },
    /// A `.pth` whose pickle names a Python global outside the few a state dict needs.
    #[error(
        "{path}: refused: the checkpoint's pickle asks for the Python global `{global}`, which a state dict \
         never needs. shadercam never runs code from a checkpoint; it reads tensors, dicts, lists and \
         numbers only, like torch.load(weights_only=True).{hint}"
    )]
    UnsafeGlobal {
        path: PathBuf,
        global: String,
        hint: String,
    },
    #[error("{path}: bad metadata `{key}`: {reason}")]
    Metadata {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

/// Class names for `n` classes when the checkpoint carries none: ImageNet's names for 1000,
/// otherwise `class 0`, `class 1`, ...
pub fn default_class_names(n: usize) -> Vec<String> {
    if n == 1000 {
        IMAGENET_CLASSES.lines().map(str::to_owned).collect()
    } else {
        (0..n).map(|i| format!("class {i}")).collect()
    }
}
