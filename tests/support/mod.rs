//! Shared helpers for the workspace's integration tests and benchmarks: fixture paths, a GPU
//! context that fails loudly when there is none, a small deterministic RNG, and comparisons
//! with a named tolerance that report the worst element.

use shadercam_kernels::GpuContext;
use std::path::PathBuf;

/// The workspace root (this package's manifest directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/...`
pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// The embedded default checkpoint.
pub fn default_weights() -> PathBuf {
    root().join("weights/resnet50-shapes.safetensors")
}

/// A GPU context, or a panic that says how to get one: a skipped GPU test is not a passing one.
pub fn gpu() -> GpuContext {
    match GpuContext::new() {
        Ok(ctx) => ctx,
        Err(e) => panic!(
            "GPU tests need a wgpu adapter and found none: {e}\n\
             On a machine without a GPU install Mesa's software Vulkan driver (lavapipe): \
             `sudo apt-get install -y mesa-vulkan-drivers`, then rerun."
        ),
    }
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

/// Asserts `|got - want| <= max(rel * |want|, abs)` elementwise; the panic names `what`, the
/// number of failures, the worst index and both values there.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length {} != expected {}", got.len(), want.len());
    let mut fails = 0usize;
    let mut worst = (0usize, 0f32);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let tol = (rel * w.abs()).max(abs);
        if !(err <= tol) {
            fails += 1;
        }
        let excess = if err.is_nan() { f32::INFINITY } else { err - tol };
        if fails > 0 && (excess > worst.1 || worst.1 == 0.0) && !(err <= tol) {
            worst = (i, excess);
        }
    }
    if fails > 0 {
        let i = worst.0;
        panic!(
            "{what}: {fails} of {} elements outside tolerance (rel {rel}, abs {abs}); worst at index {i}: got {}, expected {}",
            got.len(),
            got[i],
            want[i]
        );
    }
}

/// Relative L2 error `||got - want|| / ||want||`, in f64.
pub fn rel_l2(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (mut num, mut den) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        num += (g as f64 - w as f64).powi(2);
        den += (w as f64).powi(2);
    }
    (num / den.max(1e-30)).sqrt()
}

/// A named f32 tensor from a safetensors file (shape, data).
pub fn read_tensor(path: &std::path::Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()));
    assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name} is not F32");
    let data = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (t.shape().to_vec(), data)
}

/// CHW -> HWC.
pub fn chw_to_hwc(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for ci in 0..c {
        for p in 0..h * w {
            out[p * c + ci] = x[ci * h * w + p];
        }
    }
    out
}

/// Names of the fixture images, sorted (the keys of labels.json).
pub fn fixture_names() -> Vec<String> {
    let text = std::fs::read_to_string(fixture("labels.json")).expect("tests/fixtures/labels.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("labels.json is JSON");
    let mut names: Vec<String> = v["images"].as_object().expect("images").keys().cloned().collect();
    names.sort();
    names
}
