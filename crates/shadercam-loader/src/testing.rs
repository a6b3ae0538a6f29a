//! Helpers for tests that write their own checkpoints: a deterministic RNG for tensor values,
//! an encoder from f32 values to a safetensors dtype's bytes, Hugging Face tensor names, and
//! the repository's embedded checkpoint.
//!
//! Not part of the loading API: compiled only with the `testing` feature, which this crate's
//! own tests turn on (a dev-dependency on itself) and the workspace test suite
//! (`shadercam-suite`, `tests/support`) turns on for its tests and benchmarks. They live here,
//! in the lowest crate that needs them, so both share one copy without the loader's tests
//! depending on the GPU crates.

use safetensors::Dtype;
use std::path::{Path, PathBuf};

/// The embedded default checkpoint, `weights/resnet50-shapes.safetensors` at the repository
/// root (found from this crate's source directory, so only for tests run from a checkout).
pub fn default_weights() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/shadercam-loader sits two levels below the repository root")
        .join("weights/resnet50-shapes.safetensors")
}

/// xorshift64*: deterministic test data without a `rand` dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform()).collect()
    }
}

/// `v` as the little-endian bytes of a safetensors tensor of `dtype` (F32, F16, BF16 rounded to
/// nearest; I32, I64 truncated toward zero). Panics on any other dtype.
pub fn encode(dtype: Dtype, v: &[f32]) -> Vec<u8> {
    match dtype {
        Dtype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Dtype::F16 => v
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect(),
        Dtype::BF16 => v
            .iter()
            .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
            .collect(),
        Dtype::I32 => v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect(),
        Dtype::I64 => v.iter().flat_map(|&x| (x as i64).to_le_bytes()).collect(),
        d => panic!("test encoder has no {d:?}"),
    }
}

/// transformers' `ResNetForImageClassification` name for a torchvision name, written from the
/// transformers modelling code (`ResNetEmbeddings.embedder`, `ResNetStage.layers`,
/// `ResNet*Layer.{layer,shortcut}`, `classifier = Sequential(Flatten, Linear)`), independently
/// of the loader's own table (`resnet.rs`), so that tests compare two separate readings.
pub fn hf_name(tv: &str) -> String {
    let p: Vec<&str> = tv.split('.').collect();
    let minus1 = |s: &str| s.parse::<usize>().unwrap() - 1;
    match p[0] {
        "conv1" => format!("resnet.embedder.embedder.convolution.{}", p[1]),
        "bn1" => format!("resnet.embedder.embedder.normalization.{}", p[1]),
        "fc" => format!("classifier.1.{}", p[1]),
        layer => {
            let stage = minus1(&layer["layer".len()..]);
            let rest = match (p[2], p[3]) {
                ("downsample", "0") => format!("shortcut.convolution.{}", p[4]),
                ("downsample", "1") => format!("shortcut.normalization.{}", p[4]),
                (m, param) if m.starts_with("conv") => {
                    format!("layer.{}.convolution.{param}", minus1(&m[4..]))
                }
                (m, param) if m.starts_with("bn") => {
                    format!("layer.{}.normalization.{param}", minus1(&m[2..]))
                }
                _ => panic!("no HF name for {tv}"),
            };
            format!("resnet.encoder.stages.{stage}.layers.{}.{rest}", p[1])
        }
    }
}
