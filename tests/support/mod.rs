//! Shared helpers for the workspace's integration tests and benchmarks: fixture paths, a GPU
//! context that fails loudly when there is none, a small deterministic RNG, and comparisons
//! with a named tolerance that report the worst element.

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use shadercam_kernels::GpuContext;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

// Shared with the loader crate's own tests (one copy, in `shadercam_loader::testing`).
pub use shadercam_loader::testing::{Rng, default_weights, encode, hf_name};

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

// ---------------------------------------------------------------------------------------------
// Checkpoints written by the tests themselves (torchvision layout)

/// name -> (shape, values): a checkpoint before it is encoded.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Serializes `tensors` as `dtype` (`*.num_batches_tracked` as I64, as PyTorch stores them).
pub fn serialize<'a>(
    tensors: impl IntoIterator<Item = (&'a String, &'a (Vec<usize>, Vec<f32>))>,
    dtype: Dtype,
    meta: &HashMap<String, String>,
) -> Vec<u8> {
    let encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, (shape, v))| {
            let d = if name.ends_with("num_batches_tracked") {
                Dtype::I64
            } else {
                dtype
            };
            (name.clone(), d, shape.clone(), encode(d, v))
        })
        .collect();
    let views = encoded
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()));
    safetensors::serialize(views, (!meta.is_empty()).then(|| meta.clone())).unwrap()
}

/// torchvision's tensor names and shapes for a ResNet with `blocks` per stage, basic or
/// bottleneck blocks, and `width` the inner width of layer1's bottleneck (64; 128 for
/// wide_resnet*_2).
pub fn resnet_shapes(
    blocks: [usize; 4],
    bottleneck: bool,
    width: usize,
    classes: usize,
) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let mut conv = |conv: &str, bn: &str, shape: [usize; 4]| {
        out.push((format!("{conv}.weight"), shape.to_vec()));
        for p in ["weight", "bias", "running_mean", "running_var"] {
            out.push((format!("{bn}.{p}"), vec![shape[0]]));
        }
    };
    conv("conv1", "bn1", [64, 3, 7, 7]);
    let expansion = if bottleneck { 4 } else { 1 };
    let mut cin = 64;
    for (s, &n) in blocks.iter().enumerate() {
        let planes = 64 << s;
        let (w, cout) = (planes * width / 64, planes * expansion);
        for b in 0..n {
            let p = format!("layer{}.{b}", s + 1);
            let c_in = if b == 0 { cin } else { cout };
            if bottleneck {
                conv(&format!("{p}.conv1"), &format!("{p}.bn1"), [w, c_in, 1, 1]);
                conv(&format!("{p}.conv2"), &format!("{p}.bn2"), [w, w, 3, 3]);
                conv(&format!("{p}.conv3"), &format!("{p}.bn3"), [cout, w, 1, 1]);
            } else {
                conv(
                    &format!("{p}.conv1"),
                    &format!("{p}.bn1"),
                    [cout, c_in, 3, 3],
                );
                conv(
                    &format!("{p}.conv2"),
                    &format!("{p}.bn2"),
                    [cout, cout, 3, 3],
                );
            }
            if b == 0 && (s > 0 || c_in != cout) {
                conv(
                    &format!("{p}.downsample.0"),
                    &format!("{p}.downsample.1"),
                    [cout, c_in, 1, 1],
                );
            }
        }
        cin = cout;
    }
    out.push(("fc.weight".into(), vec![classes, cin]));
    out.push(("fc.bias".into(), vec![classes]));
    out
}

/// A torchvision ResNet with random weights: the tensors of [`resnet_shapes`].
///
/// He-uniform convolutions (variance 2/fan_in); BatchNorm statistics drawn independently of the
/// activations, with positive variance. Each block's last BN gets a small gamma, as trained
/// ResNets have (and torchvision's `zero_init_residual` starts from), so that 33 residual
/// additions keep the activations in a moderate range.
pub fn random_resnet(
    blocks: [usize; 4],
    bottleneck: bool,
    width: usize,
    classes: usize,
    seed: u64,
) -> Tensors {
    let mut rng = Rng::new(seed);
    let last_bn = if bottleneck {
        ".bn3.weight"
    } else {
        ".bn2.weight"
    };
    resnet_shapes(blocks, bottleneck, width, classes)
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let mut u = |lo: f32, hi: f32| -> Vec<f32> {
                (0..n)
                    .map(|_| lo + (hi - lo) * (rng.uniform() * 0.5 + 0.5))
                    .collect()
            };
            let v = if shape.len() == 4 {
                let a = (6.0 / (shape[1] * shape[2] * shape[3]) as f32).sqrt();
                u(-a, a)
            } else if name == "fc.weight" {
                let a = (1.0 / shape[1] as f32).sqrt();
                u(-a, a)
            } else if name == "fc.bias"
                || name.ends_with(".bias")
                || name.ends_with(".running_mean")
            {
                u(-0.2, 0.2)
            } else if name.ends_with(".running_var") {
                u(0.5, 2.0)
            } else if name.ends_with(last_bn) {
                u(0.1, 0.4)
            } else {
                u(0.5, 1.5)
            };
            (name, (shape, v))
        })
        .collect()
}

/// A random-weight torchvision ResNet, serialized as F32 and loaded back through the loader.
pub fn random_resnet_model(
    blocks: [usize; 4],
    bottleneck: bool,
    classes: usize,
    seed: u64,
) -> shadercam_loader::ResNet {
    let bytes = serialize(
        &random_resnet(blocks, bottleneck, 64, classes, seed),
        safetensors::Dtype::F32,
        &Default::default(),
    );
    let ck = shadercam_loader::Checkpoint::from_bytes(
        std::path::Path::new("random.safetensors"),
        &bytes,
    )
    .expect("random checkpoint parses");
    shadercam_loader::ResNet::from_checkpoint(&ck).expect("random checkpoint is a ResNet")
}

