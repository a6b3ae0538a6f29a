//! Shared helpers for the workspace's integration tests and benchmarks: fixture paths, a GPU
//! context that fails loudly when there is none, a small deterministic RNG, and comparisons
//! with a named tolerance that report the worst element.

use shadercam_kernels::GpuContext;
use std::path::PathBuf;

pub mod f16conv;
pub use f16conv::{F16_IOS, check_f16_conv, stored, to_f16_bits};

// Shared with the loader crate's own tests (one copy, in `shadercam_loader::testing`): test
// data, checkpoints written by the tests themselves, and comparisons of loaded networks.
pub use shadercam_loader::testing::{
    Rng, Tensors, assert_same_net, default_weights, encode, fresh_dir, from_bytes, hf_name,
    random_resnet, random_resnet_model, renamed, resnet_shapes, serialize,
    with_num_batches_tracked, write_sharded,
};

/// The workspace root (this package's manifest directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/...`
pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
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

/// Asserts `|got - want| <= max(rel * |want|, abs)` elementwise; the panic names `what`, the
/// number of failures, the worst index and both values there. NaN anywhere fails.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} != expected {}",
        got.len(),
        want.len()
    );
    let mut fails = 0usize;
    let mut worst: Option<(usize, f32)> = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let tol = (rel * w.abs()).max(abs);
        let within = err <= tol; // false for NaN
        if !within {
            fails += 1;
            let excess = if err.is_nan() {
                f32::INFINITY
            } else {
                err - tol
            };
            if worst.is_none_or(|(_, e)| excess > e) {
                worst = Some((i, excess));
            }
        }
    }
    if let Some((i, _)) = worst {
        panic!(
            "{what}: {fails} of {} elements outside tolerance (rel {rel}, abs {abs}); worst at index {i}: got {}, expected {}",
            got.len(),
            got[i],
            want[i]
        );
    }
}

/// The largest `|got - want|` and where it is (first index on ties).
pub fn max_abs_diff(got: &[f32], want: &[f32]) -> (usize, f32) {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold((0, 0f32), |m, (i, d)| if d > m.1 { (i, d) } else { m })
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

/// The index of the largest value (the last on ties, as `Iterator::max_by` picks): an image's
/// top-1 class from its logits.
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0
}

/// A named f32 tensor from a safetensors file (shape, data).
pub fn read_tensor(path: &std::path::Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t = st
        .tensor(name)
        .unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()));
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

/// A ci fixture's preprocessed input (`NAME.input` in tests/fixtures/reference.safetensors,
/// `[3, 224, 224]`) as HWC, the layout the GPU network reads.
pub fn fixture_input(name: &str) -> Vec<f32> {
    let (shape, chw) = read_tensor(&fixture("reference.safetensors"), &format!("{name}.input"));
    assert_eq!(shape, [3, 224, 224], "{name}.input");
    chw_to_hwc(&chw, 3, 224, 224)
}

/// The inputs of fixtures `names`, one HWC image after another: a batch.
pub fn fixture_inputs(names: &[String]) -> Vec<f32> {
    names.iter().flat_map(|n| fixture_input(n)).collect()
}

/// An [`Explainer`](shadercam_cam::Explainer) for the default weights on `ctx`.
pub fn default_explainer(ctx: GpuContext) -> shadercam_cam::Explainer {
    let model = shadercam_loader::ResNet::load(&default_weights()).expect("default weights");
    shadercam_cam::Explainer::new(ctx, model).expect("explainer for the default weights")
}

/// Names of the fixture images, sorted (the keys of labels.json).
pub fn fixture_names() -> Vec<String> {
    let text = std::fs::read_to_string(fixture("labels.json")).expect("tests/fixtures/labels.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("labels.json is JSON");
    let mut names: Vec<String> = v["images"]
        .as_object()
        .expect("images")
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// One network stage against PyTorch's float64 output for the debug image.
pub struct StageError {
    /// The name in tests/fixtures/debug-layers.safetensors (`layer1`, ...).
    pub reference: &'static str,
    /// Channels of the reference and of the GPU output as stored (padded to 4).
    pub channels: usize,
    pub gpu_channels: usize,
    /// Relative L2 error of the GPU output against the reference.
    pub rel_l2: f64,
}

/// Runs `net` on the debug image of tests/fixtures/debug-layers.safetensors up to each of
/// `stages` (`(stage name for forward_until, reference name)`) and measures each output
/// against PyTorch's float64 one (CHW references compared in HWC).
pub fn debug_stage_errors(
    ctx: &GpuContext,
    net: &mut shadercam_kernels::GpuResNet,
    stages: &[(&str, &'static str)],
) -> Vec<StageError> {
    let dbg = fixture("debug-layers.safetensors");
    let bytes = std::fs::read(&dbg).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let image = meta.metadata().as_ref().unwrap()["image"].clone();
    let x = fixture_input(&image);
    stages
        .iter()
        .map(|&(stage, reference)| {
            let (shape, want_chw) = read_tensor(&dbg, reference);
            let (got, [_, h, w, c4]) = net.forward_until(ctx, &x, 1, (224, 224), stage).unwrap();
            let c = shape[0];
            let got = shadercam_kernels::unpad_channels(&got, c);
            let want = if shape.len() == 3 {
                chw_to_hwc(&want_chw, c, h, w)
            } else {
                want_chw
            };
            StageError {
                reference,
                channels: c,
                gpu_channels: c4,
                rel_l2: rel_l2(&got, &want),
            }
        })
        .collect()
}
