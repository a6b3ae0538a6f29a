//! Helpers for tests that write their own checkpoints: a deterministic RNG for tensor values,
//! an encoder from f32 values to a safetensors dtype's bytes, Hugging Face tensor names, the
//! repository's embedded checkpoint, torchvision ResNets of any depth with random weights,
//! safetensors files (whole or sharded) written from them, and a comparison of two loaded
//! networks' folded weights.
//!
//! Not part of the loading API: compiled only with the `testing` feature, which this crate's
//! own tests turn on (a dev-dependency on itself) and the workspace test suite
//! (`shadercam-suite`, `tests/support`) turns on for its tests and benchmarks. They live here,
//! in the lowest crate that needs them, so both share one copy without the loader's tests
//! depending on the GPU crates.

pub use crate::Rng;
use crate::{Checkpoint, ResNet};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use std::collections::{BTreeMap, HashMap};
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

// ---------------------------------------------------------------------------------------------
// Writing checkpoints

/// name -> (shape, values): a checkpoint before it is encoded.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Serializes `tensors` as safetensors bytes, each tensor encoded as `dtype_of(its name)`, with
/// `meta` as the header's `__metadata__` (none when empty).
pub fn serialize_with<'a>(
    tensors: impl IntoIterator<Item = (&'a String, &'a (Vec<usize>, Vec<f32>))>,
    dtype_of: impl Fn(&str) -> Dtype,
    meta: &HashMap<String, String>,
) -> Vec<u8> {
    let encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, (shape, v))| {
            let d = dtype_of(name);
            (name.clone(), d, shape.clone(), encode(d, v))
        })
        .collect();
    let views = encoded
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()));
    safetensors::serialize(views, (!meta.is_empty()).then(|| meta.clone())).unwrap()
}

/// Serializes `tensors` as `dtype` (`*.num_batches_tracked` as I64, as PyTorch stores them).
pub fn serialize<'a>(
    tensors: impl IntoIterator<Item = (&'a String, &'a (Vec<usize>, Vec<f32>))>,
    dtype: Dtype,
    meta: &HashMap<String, String>,
) -> Vec<u8> {
    let dtype_of = |name: &str| {
        if name.ends_with("num_batches_tracked") {
            Dtype::I64
        } else {
            dtype
        }
    };
    serialize_with(tensors, dtype_of, meta)
}

/// Writes `tensors` as `n` shards plus a `model.safetensors.index.json` in `dir`, the way
/// transformers' `save_pretrained(max_shard_size=...)` lays them out, and returns the index's
/// path. `shard_meta` goes into the first shard's header, `index_meta` into the index's
/// `metadata`.
pub fn write_sharded(
    dir: &Path,
    tensors: &Tensors,
    n: usize,
    dtype: Dtype,
    shard_meta: &HashMap<String, String>,
    index_meta: serde_json::Value,
) -> PathBuf {
    let names: Vec<&String> = tensors.keys().collect();
    let per = names.len().div_ceil(n);
    let mut weight_map = serde_json::Map::new();
    for (i, chunk) in names.chunks(per).enumerate() {
        let file = format!("model-{:05}-of-{n:05}.safetensors", i + 1);
        let meta = if i == 0 {
            shard_meta.clone()
        } else {
            HashMap::new()
        };
        std::fs::write(
            dir.join(&file),
            serialize(chunk.iter().map(|k| (*k, &tensors[*k])), dtype, &meta),
        )
        .unwrap();
        for k in chunk {
            weight_map.insert((*k).clone(), file.clone().into());
        }
    }
    let index = dir.join(crate::SHARD_INDEX);
    let json = serde_json::json!({ "metadata": index_meta, "weight_map": weight_map });
    std::fs::write(&index, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    index
}

/// `dir`, emptied if it exists and created: a scratch directory that starts fresh each run.
pub fn fresh_dir(dir: PathBuf) -> PathBuf {
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The same tensors with a `num_batches_tracked` scalar beside every BatchNorm's running mean,
/// as timm and `torch.save` after training store them.
pub fn with_num_batches_tracked(t: &Tensors) -> Tensors {
    let mut out = t.clone();
    for k in t.keys() {
        if let Some(bn) = k.strip_suffix(".running_mean") {
            out.insert(
                format!("{bn}.num_batches_tracked"),
                (vec![], vec![40_000.0]),
            );
        }
    }
    out
}

/// The same tensors with every name mapped through `f`.
pub fn renamed(t: &Tensors, f: impl Fn(&str) -> String) -> Tensors {
    t.iter().map(|(k, v)| (f(k), v.clone())).collect()
}

/// Loads a ResNet from safetensors `bytes` (`name` stands for the file in messages); panics
/// with the loader's message on failure.
pub fn from_bytes(name: &str, bytes: &[u8]) -> ResNet {
    let ck = Checkpoint::from_bytes(Path::new(name), bytes).unwrap_or_else(|e| panic!("{e}"));
    ResNet::from_checkpoint(&ck).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------------------------
// torchvision ResNets

/// torchvision's tensor names and shapes for a ResNet with `blocks` per stage, basic or
/// bottleneck blocks, and `width` the inner width of layer1's bottleneck (64; 128 for
/// wide_resnet*_2). Per convolution: the weight, then its BatchNorm's weight, bias,
/// running_mean and running_var; `fc.weight` and `fc.bias` last.
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
) -> ResNet {
    let tensors = random_resnet(blocks, bottleneck, 64, classes, seed);
    from_bytes(
        "random.safetensors",
        &serialize(&tensors, Dtype::F32, &HashMap::new()),
    )
}

// ---------------------------------------------------------------------------------------------
// Comparing loaded networks

/// One folded layer: (name, weight, bias, stride, pad).
pub type Folded<'a> = (String, &'a [f32], &'a [f32], usize, usize);

/// Every folded layer in load order: the stem, each block's convolutions then its projection,
/// and `fc` (stride and pad 0).
pub fn layers(net: &ResNet) -> Vec<Folded<'_>> {
    let convs = std::iter::once(&net.stem).chain(
        net.stages
            .iter()
            .flat_map(|s| &s.blocks)
            .flat_map(|b| b.convs.iter().chain(&b.downsample)),
    );
    let mut out: Vec<_> = convs
        .map(|c| (c.name.clone(), &c.weight[..], &c.bias[..], c.stride, c.pad))
        .collect();
    out.push(("fc".into(), &net.fc_weight[..], &net.fc_bias[..], 0, 0));
    out
}

/// Asserts that every folded weight and bias agrees elementwise within
/// `|got - want| <= tol * max(1, |want|)` (0: equal), layer by layer in load order.
pub fn assert_same_weights(what: &str, got: &ResNet, want: &ResNet, tol: f32) {
    let (g, w) = (layers(got), layers(want));
    assert_eq!(g.len(), w.len(), "{what}: layer count");
    for ((name, gw, gb, ..), (_, ww, wb, ..)) in g.iter().zip(&w) {
        for (kind, x, y) in [("weight", gw, ww), ("bias", gb, wb)] {
            assert_eq!(x.len(), y.len(), "{what}: {name}.{kind} length");
            let bad = x.iter().zip(y.iter()).position(|(p, q)| {
                let within = (p - q).abs() <= tol * q.abs().max(1.0); // false for NaN
                !within
            });
            if let Some(i) = bad {
                panic!(
                    "{what}: {name}.{kind}[{i}] = {} vs {} (tolerance {tol})",
                    x[i], y[i]
                );
            }
        }
    }
}

/// Asserts the same architecture, feature and class counts, layer names, strides and padding,
/// and then the same folded weights as [`assert_same_weights`].
pub fn assert_same_net(what: &str, got: &ResNet, want: &ResNet, tol: f32) {
    assert_eq!(
        (&got.arch, got.num_features, got.num_classes()),
        (&want.arch, want.num_features, want.num_classes()),
        "{what}"
    );
    let (g, w) = (layers(got), layers(want));
    assert_eq!(g.len(), w.len(), "{what}: layer count");
    for ((name, _, _, gs, gp), (wname, _, _, ws, wp)) in g.iter().zip(&w) {
        assert_eq!((name, gs, gp), (wname, ws, wp), "{what}: layer structure");
    }
    assert_same_weights(what, got, want, tol);
}
