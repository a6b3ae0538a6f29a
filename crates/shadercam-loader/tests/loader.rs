//! The checkpoint loader without a GPU: dtypes, BatchNorm folding, the HWIO layout, and every
//! error a bad checkpoint can produce, each asserted by what its message names. The checkpoints
//! are written by the tests themselves: a tiny torchvision-named ResNet with one basic block per
//! stage (the loader calls it `resnet10`; channel widths are torchvision's fixed 64..512).

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use shadercam_loader::testing::{Rng, default_weights, encode, hf_name};
use shadercam_loader::{BN_EPS, Checkpoint, IMAGENET_CLASSES, LoadError, Naming, ResNet};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A checkpoint being written: name -> (shape, values), encoded to a dtype on write.
type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// torchvision names and OIHW shapes of a ResNet with basic blocks and `blocks[s]` per stage.
fn basic_resnet(blocks: [usize; 4], classes: usize, seed: u64) -> Tensors {
    let mut rng = Rng::new(seed);
    let mut t = Tensors::new();
    let conv = |t: &mut Tensors, rng: &mut Rng, conv: &str, bn: &str, shape: [usize; 4]| {
        t.insert(
            format!("{conv}.weight"),
            (shape.to_vec(), rng.vec(shape.iter().product())),
        );
        let c = shape[0];
        t.insert(format!("{bn}.weight"), (vec![c], rng.vec(c)));
        t.insert(format!("{bn}.bias"), (vec![c], rng.vec(c)));
        t.insert(format!("{bn}.running_mean"), (vec![c], rng.vec(c)));
        // Positive, as a real running variance is.
        let var = rng.vec(c).iter().map(|v| v.abs() + 0.25).collect();
        t.insert(format!("{bn}.running_var"), (vec![c], var));
    };
    conv(&mut t, &mut rng, "conv1", "bn1", [64, 3, 7, 7]);
    let mut cin = 64;
    for (s, &n) in blocks.iter().enumerate() {
        let cout = 64 << s;
        for b in 0..n {
            let p = format!("layer{}.{b}", s + 1);
            let c_in = if b == 0 { cin } else { cout };
            conv(
                &mut t,
                &mut rng,
                &format!("{p}.conv1"),
                &format!("{p}.bn1"),
                [cout, c_in, 3, 3],
            );
            conv(
                &mut t,
                &mut rng,
                &format!("{p}.conv2"),
                &format!("{p}.bn2"),
                [cout, cout, 3, 3],
            );
            if b == 0 && s > 0 {
                conv(
                    &mut t,
                    &mut rng,
                    &format!("{p}.downsample.0"),
                    &format!("{p}.downsample.1"),
                    [cout, c_in, 1, 1],
                );
            }
        }
        cin = cout;
    }
    t.insert(
        "fc.weight".into(),
        (vec![classes, 512], rng.vec(classes * 512)),
    );
    t.insert("fc.bias".into(), (vec![classes], rng.vec(classes)));
    t
}

/// The tiny test network: ResNet with one basic block per stage, 5 classes.
fn tiny() -> Tensors {
    basic_resnet([1, 1, 1, 1], 5, 7)
}

/// Serializes `tensors` (all as `dtype`, except those named in `overrides`) with `metadata`.
fn serialize(
    tensors: &Tensors,
    dtype: Dtype,
    overrides: &[(&str, Dtype)],
    metadata: &[(&str, &str)],
) -> Vec<u8> {
    let encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, v))| {
            let d = overrides
                .iter()
                .find(|(n, _)| n == name)
                .map_or(dtype, |o| o.1);
            (name.clone(), d, shape.clone(), encode(d, v))
        })
        .collect();
    let views = encoded
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()));
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize(views, (!meta.is_empty()).then_some(meta)).unwrap()
}

/// A fresh file under the target's scratch directory, unique per test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loader-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Writes `tensors` as F32 and loads it, returning the error message.
fn load_err(
    name: &str,
    tensors: &Tensors,
    overrides: &[(&str, Dtype)],
    metadata: &[(&str, &str)],
) -> (PathBuf, String) {
    let path = write(name, &serialize(tensors, Dtype::F32, overrides, metadata));
    match ResNet::load(&path) {
        Ok(net) => panic!("{name}: loaded as {} instead of failing", net.arch),
        Err(e) => (path.clone(), e.to_string()),
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(
            msg.contains(p),
            "error message does not mention {p:?}:\n{msg}"
        );
    }
}

/// Every folded weight and bias of two networks, flattened in load order.
fn folded(net: &ResNet) -> Vec<(String, &[f32], &[f32])> {
    let mut out = vec![(
        net.stem.name.clone(),
        &net.stem.weight[..],
        &net.stem.bias[..],
    )];
    for stage in &net.stages {
        for block in &stage.blocks {
            for c in block.convs.iter().chain(&block.downsample) {
                out.push((c.name.clone(), &c.weight[..], &c.bias[..]));
            }
        }
    }
    out.push(("fc".into(), &net.fc_weight[..], &net.fc_bias[..]));
    out
}

/// Asserts elementwise `|a - b| <= tol * max(1, |b|)` over every folded tensor.
fn assert_same_weights(what: &str, a: &ResNet, b: &ResNet, tol: f32) {
    let (fa, fb) = (folded(a), folded(b));
    assert_eq!(fa.len(), fb.len(), "{what}: layer count");
    for ((name, wa, ba), (_, wb, bb)) in fa.iter().zip(&fb) {
        for (kind, x, y) in [("weight", wa, wb), ("bias", ba, bb)] {
            assert_eq!(x.len(), y.len(), "{what}: {name}.{kind} length");
            for (i, (p, q)) in x.iter().zip(y.iter()).enumerate() {
                assert!(
                    (p - q).abs() <= tol * q.abs().max(1.0),
                    "{what}: {name}.{kind}[{i}]: {p} vs {q} (tol {tol})"
                );
            }
        }
    }
}

#[test]
fn f32_f16_bf16_load_to_the_same_folded_weights() {
    // Values representable exactly in all three dtypes (8 significant bits, normal in f16):
    // the three files must then fold to bit-identical weights.
    let mut exact = tiny();
    for (_, v) in exact.values_mut() {
        for x in v.iter_mut() {
            let r = half::bf16::from_f32(*x).to_f32();
            *x = if r.abs() < 1e-4 { 0.0 } else { r };
        }
    }
    let load = |name: &str, t: &Tensors, d: Dtype| {
        ResNet::load(&write(name, &serialize(t, d, &[], &[]))).unwrap()
    };
    let f32_net = load("exact-f32.safetensors", &exact, Dtype::F32);
    assert_eq!(f32_net.arch, "resnet10");
    for d in [Dtype::F16, Dtype::BF16] {
        let net = load(&format!("exact-{d:?}.safetensors"), &exact, d);
        assert_same_weights(&format!("{d:?} vs F32"), &net, &f32_net, 0.0);
    }

    // Arbitrary values round once when stored. F16 keeps 11 significant bits (unit roundoff
    // 2^-11 ~ 4.9e-4), BF16 8 (2^-8 ~ 3.9e-3). A folded weight w*gamma/sqrt(var+eps) carries up
    // to three rounded factors (sqrt halves one), so its relative error stays below 3u; the bias
    // beta - mean*scale is absolute-bounded by the same for |beta|, |mean*scale| <= ~2 here
    // (var >= 0.25, |gamma| <= 1): tolerance 4u relative to max(1, |x|) * 2 covers both.
    let raw = tiny();
    let f32_net = load("raw-f32.safetensors", &raw, Dtype::F32);
    for (d, u) in [(Dtype::F16, 2f32.powi(-11)), (Dtype::BF16, 2f32.powi(-8))] {
        let net = load(&format!("raw-{d:?}.safetensors"), &raw, d);
        assert_same_weights(&format!("{d:?} vs F32 (rounded)"), &net, &f32_net, 8.0 * u);
    }
}

#[test]
fn batchnorm_folding_and_hwio_layout_on_hand_checked_elements() {
    let mut t = tiny();
    // conv1.weight[o=1, i=2, y=3, x=4] = 0.5; bn1 channel 1: gamma 3, var 4 - eps (so
    // sqrt(var + eps) = 2 and the scale is 1.5), beta 0.25, mean 0.5.
    // Folded: w' = 0.5 * 1.5 = 0.75, b' = 0.25 - 0.5 * 1.5 = -0.5.
    // HWIO index of (y=3, x=4, i=2, o=1) with kw=7, cin=3, cout=64: ((3*7+4)*3+2)*64+1 = 4929.
    // Flat OIHW index of [1, 2, 3, 4] in [64, 3, 7, 7]: ((1*3+2)*7+3)*7+4 = 270.
    t.get_mut("conv1.weight").unwrap().1[270] = 0.5;
    let set = |t: &mut Tensors, name: &str, v: f32| t.get_mut(name).unwrap().1[1] = v;
    set(&mut t, "bn1.weight", 3.0);
    set(&mut t, "bn1.running_var", 4.0 - BN_EPS);
    set(&mut t, "bn1.bias", 0.25);
    set(&mut t, "bn1.running_mean", 0.5);
    let net = ResNet::load(&write(
        "hand.safetensors",
        &serialize(&t, Dtype::F32, &[], &[]),
    ))
    .unwrap();
    assert_eq!(
        (net.stem.cout, net.stem.cin, net.stem.kh, net.stem.kw),
        (64, 3, 7, 7)
    );
    assert_eq!((net.stem.stride, net.stem.pad), (2, 3));
    assert!(
        (net.stem.weight[4929] - 0.75).abs() < 1e-6,
        "folded stem weight {}",
        net.stem.weight[4929]
    );
    assert!(
        (net.stem.bias[1] + 0.5).abs() < 1e-6,
        "folded stem bias {}",
        net.stem.bias[1]
    );

    // The general formula on a 3x3 conv deeper in, straight from the stored tensors (f64).
    let (o, i, y, x) = (100, 37, 2, 1);
    let w = &t["layer3.0.conv2.weight"].1;
    let g = |n: &str| t[&format!("layer3.0.bn2.{n}")].1[o] as f64;
    let scale = g("weight") / (g("running_var") + BN_EPS as f64).sqrt();
    let want_w = w[((o * 256 + i) * 3 + y) * 3 + x] as f64 * scale;
    let want_b = g("bias") - g("running_mean") * scale;
    let conv = &net.stages[2].blocks[0].convs[1];
    assert_eq!(conv.name, "layer3.0.conv2");
    let got_w = conv.weight[((y * 3 + x) * 256 + i) * 256 + o] as f64;
    assert!(
        (got_w - want_w).abs() <= 1e-6 * want_w.abs().max(1.0),
        "{got_w} vs {want_w}"
    );
    assert!((conv.bias[o] as f64 - want_b).abs() <= 1e-6 * want_b.abs().max(1.0));
    // Strides: the first block of stages 2-4 downsamples in conv1 and in its projection.
    let b = &net.stages[2].blocks[0];
    assert_eq!((b.convs[0].stride, b.convs[1].stride), (2, 1));
    assert_eq!(
        b.downsample
            .as_ref()
            .map(|d| (d.stride, d.kh, d.cin, d.cout)),
        Some((2, 1, 128, 256))
    );
    assert!(net.stages[0].blocks[0].downsample.is_none());
}

#[test]
fn missing_tensor_names_file_tensor_and_expected_shape() {
    let mut t = tiny();
    t.remove("layer3.0.bn2.running_var");
    let (path, msg) = load_err("missing.safetensors", &t, &[], &[]);
    assert_mentions(
        &msg,
        &[
            &path.display().to_string(),
            "missing tensor",
            "`layer3.0.bn2.running_var`",
            "[256]",
        ],
    );
    let mut t = tiny();
    t.remove("fc.bias");
    let (_, msg) = load_err("missing-fc.safetensors", &t, &[], &[]);
    assert_mentions(&msg, &["`fc.bias`", "[5]"]);
}

#[test]
fn wrong_shape_names_tensor_and_both_shapes() {
    let mut t = tiny();
    t.insert(
        "layer2.0.conv2.weight".into(),
        (vec![128, 128, 1, 1], vec![0.1; 128 * 128]),
    );
    let (path, msg) = load_err("shape.safetensors", &t, &[], &[]);
    assert_mentions(
        &msg,
        &[
            &path.display().to_string(),
            "`layer2.0.conv2.weight`",
            "expected [128, 128, 3, 3]",
            "got [128, 128, 1, 1]",
        ],
    );
}

#[test]
fn nan_and_inf_name_the_tensor() {
    let mut t = tiny();
    t.get_mut("layer1.0.bn1.weight").unwrap().1[17] = f32::NAN;
    let (path, msg) = load_err("nan.safetensors", &t, &[], &[]);
    assert_mentions(
        &msg,
        &[
            &path.display().to_string(),
            "`layer1.0.bn1.weight`",
            "NaN",
            "index 17",
        ],
    );
    let mut t = tiny();
    t.get_mut("fc.weight").unwrap().1[3] = f32::NEG_INFINITY;
    let (_, msg) = load_err("inf.safetensors", &t, &[], &[]);
    assert_mentions(&msg, &["`fc.weight`", "-inf", "index 3"]);
    // F16 overflow is a non-finite value too: 1e5 is beyond f16's 65504.
    let mut t = tiny();
    t.get_mut("layer4.0.conv1.weight").unwrap().1[0] = 1e5;
    let path = write("inf-f16.safetensors", &serialize(&t, Dtype::F16, &[], &[]));
    let msg = ResNet::load(&path).unwrap_err().to_string();
    assert_mentions(&msg, &["`layer4.0.conv1.weight`", "inf"]);
}

#[test]
fn negative_running_var_names_the_tensor() {
    let mut t = tiny();
    t.get_mut("layer2.0.downsample.1.running_var").unwrap().1[9] = -0.5;
    let (_, msg) = load_err("negvar.safetensors", &t, &[], &[]);
    assert_mentions(
        &msg,
        &[
            "`layer2.0.downsample.1.running_var`",
            "negative variance",
            "-0.5",
            "index 9",
        ],
    );
}

#[test]
fn integer_tensor_where_a_float_belongs_names_tensor_and_dtype() {
    for d in [Dtype::I32, Dtype::I64] {
        let (path, msg) = load_err(
            &format!("int-{d:?}.safetensors"),
            &tiny(),
            &[("bn1.running_mean", d)],
            &[],
        );
        assert_mentions(
            &msg,
            &[
                &path.display().to_string(),
                "`bn1.running_mean`",
                &format!("dtype {d:?}"),
                "F32, F16 and BF16",
            ],
        );
    }
}

#[test]
fn num_batches_tracked_integers_are_ignored() {
    let mut t = tiny();
    let bns: Vec<String> = t
        .keys()
        .filter_map(|k| {
            k.strip_suffix(".running_mean")
                .map(|p| format!("{p}.num_batches_tracked"))
        })
        .collect();
    let overrides: Vec<(&str, Dtype)> = bns.iter().map(|n| (n.as_str(), Dtype::I64)).collect();
    for n in &bns {
        t.insert(n.clone(), (vec![], vec![12345.0]));
    }
    let path = write(
        "nbt.safetensors",
        &serialize(&t, Dtype::F32, &overrides, &[]),
    );
    let net = ResNet::load(&path).unwrap();
    assert_eq!(net.arch, "resnet10");
    assert!(
        !Checkpoint::open(&path)
            .unwrap()
            .tensors
            .keys()
            .any(|k| k.contains("num_batches"))
    );
}

#[test]
fn corrupt_files_give_a_clear_error_naming_the_file() {
    let good = serialize(&tiny(), Dtype::F32, &[], &[]);
    let mut rng = Rng::new(3);
    let random: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    // A header that lies about offsets: the same header with the last tensor's end moved 4
    // bytes past the data, everything else intact.
    let mut header: serde_json::Value = serde_json::from_slice(&good[8..8 + n]).unwrap();
    let (last, _) = header
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.get("data_offsets")?[1].as_u64()?)))
        .max_by_key(|(_, end)| *end)
        .unwrap();
    let end = header[&last]["data_offsets"][1].as_u64().unwrap();
    header[&last]["data_offsets"][1] = (end + 4).into();
    let hj = serde_json::to_vec(&header).unwrap();
    let mut lying = (hj.len() as u64).to_le_bytes().to_vec();
    lying.extend(&hj);
    lying.extend(&good[8 + n..]);
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "random.safetensors",
            &random,
            "not a valid safetensors file",
        ),
        (
            "truncated.safetensors",
            &good[..good.len() / 2],
            "not a valid safetensors file",
        ),
        (
            "truncated-header.safetensors",
            &good[..n / 2],
            "not a valid safetensors file",
        ),
        ("lying.safetensors", &lying, "not a valid safetensors file"),
        ("empty.safetensors", &[], "not a valid safetensors file"),
    ];
    for (name, bytes, want) in cases {
        let path = write(name, bytes);
        let err = ResNet::load(&path).unwrap_err();
        assert!(matches!(err, LoadError::Format { .. }), "{name}: {err:?}");
        assert_mentions(&err.to_string(), &[&path.display().to_string(), want]);
    }
    let missing = scratch("does-not-exist.safetensors");
    let err = ResNet::load(&missing).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
    assert_mentions(
        &err.to_string(),
        &[&missing.display().to_string(), "cannot read checkpoint"],
    );
}

#[test]
fn classes_metadata_must_match_the_classifier() {
    let classes = r#"["a", "b", "c"]"#;
    let (path, msg) = load_err("classes.safetensors", &tiny(), &[], &[("classes", classes)]);
    assert_mentions(
        &msg,
        &[
            &path.display().to_string(),
            "`classes`",
            "lists 3 names",
            "has 5 rows",
        ],
    );
    let (_, msg) = load_err(
        "classes-json.safetensors",
        &tiny(),
        &[],
        &[("classes", "a, b, c, d, e")],
    );
    assert_mentions(&msg, &["`classes`", "not a JSON list of strings"]);
    let (_, msg) = load_err(
        "pre-json.safetensors",
        &tiny(),
        &[],
        &[("preprocess", r#"{"crop_size": 0}"#)],
    );
    assert_mentions(&msg, &["`preprocess`", "`crop_size`", "1..=4096"]);
    let (_, msg) = load_err(
        "pre-std.safetensors",
        &tiny(),
        &[],
        &[("preprocess", r#"{"std": [0.2, 0, 0.2]}"#)],
    );
    assert_mentions(&msg, &["`preprocess`", "`std` must be positive"]);
}

#[test]
fn classes_and_preprocess_metadata_are_parsed() {
    let meta = [
        ("classes", r#"["cat", "dog", "fox", "owl", "emu"]"#),
        (
            "preprocess",
            r#"{"resize_size": 232, "crop_size": 224, "interpolation": "bilinear", "mean": [0.5, 0.25, 0.125], "std": [0.1, 0.2, 0.4]}"#,
        ),
    ];
    let net = ResNet::load(&write(
        "meta.safetensors",
        &serialize(&tiny(), Dtype::F32, &[], &meta),
    ))
    .unwrap();
    assert_eq!(net.classes, ["cat", "dog", "fox", "owl", "emu"]);
    assert_eq!(
        (net.preprocess.resize_size, net.preprocess.crop_size),
        (232, 224)
    );
    assert_eq!(net.preprocess.mean, [0.5, 0.25, 0.125]);
    assert_eq!(net.preprocess.std, [0.1, 0.2, 0.4]);
}

#[test]
fn without_metadata_classes_are_numbered_or_imagenet() {
    let net = ResNet::load(&write(
        "nometa.safetensors",
        &serialize(&tiny(), Dtype::F32, &[], &[]),
    ))
    .unwrap();
    assert_eq!(
        net.classes,
        ["class 0", "class 1", "class 2", "class 3", "class 4"]
    );
    assert_eq!(
        (net.preprocess.resize_size, net.preprocess.crop_size),
        (256, 224)
    );
    let mut t = tiny();
    let mut rng = Rng::new(5);
    t.insert("fc.weight".into(), (vec![1000, 512], rng.vec(512_000)));
    t.insert("fc.bias".into(), (vec![1000], rng.vec(1000)));
    let net = ResNet::load(&write(
        "imagenet.safetensors",
        &serialize(&t, Dtype::F16, &[], &[]),
    ))
    .unwrap();
    assert_eq!(net.classes.len(), 1000);
    assert_eq!(IMAGENET_CLASSES.lines().count(), 1000);
    assert_eq!(
        (net.classes[0].as_str(), net.classes[1].as_str()),
        ("tench", "goldfish")
    );
    assert_eq!(net.classes[999], "toilet tissue");
}

#[test]
fn unknown_naming_scheme_lists_names_found_and_schemes_known() {
    let t: Tensors = tiny()
        .into_iter()
        .map(|(k, v)| (format!("backbone.body.{}", k.replace("layer", "stage")), v))
        .collect();
    let (path, msg) = load_err("unknown.safetensors", &t, &[], &[]);
    assert_mentions(
        &msg,
        &[
            &path.display().to_string(),
            "unknown tensor naming scheme",
            "backbone.body.bn1.bias",
            "torchvision/timm",
            "Hugging Face",
        ],
    );
}

#[test]
fn tensors_a_plain_resnet_has_no_place_for_are_refused() {
    // An SE-ResNet's squeeze-excitation weights would otherwise be silently dropped.
    let mut t = tiny();
    t.insert(
        "layer1.0.se.fc1.weight".into(),
        (vec![4, 64, 1, 1], vec![0.0; 256]),
    );
    let (_, msg) = load_err("se.safetensors", &t, &[], &[]);
    assert_mentions(
        &msg,
        &[
            "1 tensor(s) have no place",
            "layer1.0.se.fc1.weight",
            "not supported",
        ],
    );
}

#[test]
fn prefixed_torchvision_names_load() {
    // `torch.save(nn.DataParallel(model).state_dict())` prefixes every name with `module.`.
    let t: Tensors = tiny()
        .into_iter()
        .map(|(k, v)| (format!("module.{k}"), v))
        .collect();
    let net = ResNet::load(&write(
        "module.safetensors",
        &serialize(&t, Dtype::F32, &[], &[]),
    ))
    .unwrap();
    assert_eq!(
        net.naming,
        Naming::Torchvision {
            prefix: "module.".into()
        }
    );
    let mut t = t;
    t.remove("module.layer4.0.bn1.bias");
    let (_, msg) = load_err("module-missing.safetensors", &t, &[], &[]);
    assert_mentions(&msg, &["`module.layer4.0.bn1.bias`", "[512]"]);
}

#[test]
fn hugging_face_errors_name_the_files_own_tensor_names() {
    let to_hf = |k: &str| -> String {
        let k = k
            .replace("conv1.", "resnet.embedder.embedder.convolution.")
            .replace("bn1.", "resnet.embedder.embedder.normalization.");
        k.replace("fc.", "classifier.1.")
    };
    // Only the stem and fc are renamed, so the stages are missing in HF terms.
    let t: Tensors = tiny()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("layer"))
        .map(|(k, v)| (to_hf(&k), v))
        .collect();
    let (_, msg) = load_err("hf-partial.safetensors", &t, &[], &[]);
    assert_mentions(
        &msg,
        &[
            "no blocks found for `layer1`",
            "`resnet.encoder.stages.0.layers.0.layer.0.convolution.weight`",
        ],
    );
}

#[test]
fn hugging_face_config_that_moves_a_stride_is_refused() {
    // transformers' `downsample_in_bottleneck` / `downsample_in_first_stage` change where the
    // stride is without changing any tensor's shape; only config.json beside the file says so.
    let t: Tensors = tiny().into_iter().map(|(k, v)| (hf_name(&k), v)).collect();
    let dir = scratch("hf-config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("model.safetensors"),
        serialize(&t, Dtype::F32, &[], &[]),
    )
    .unwrap();
    let config = dir.join("config.json");
    std::fs::write(&config, r#"{"layer_type": "basic", "downsample_in_first_stage": false, "downsample_in_bottleneck": false}"#).unwrap();
    let net = ResNet::load(&dir).unwrap();
    assert_eq!(
        (net.arch.as_str(), &net.naming),
        ("resnet10", &Naming::HuggingFace)
    );
    for key in ["downsample_in_bottleneck", "downsample_in_first_stage"] {
        std::fs::write(&config, format!(r#"{{"{key}": true}}"#)).unwrap();
        let msg = ResNet::load(&dir).unwrap_err().to_string();
        assert_mentions(
            &msg,
            &[&config.display().to_string(), &format!("`{key}: true`")],
        );
    }
}

#[test]
fn shard_index_errors_name_the_index() {
    let dir = scratch("bad-shards");
    std::fs::create_dir_all(&dir).unwrap();
    let index = dir.join("model.safetensors.index.json");
    let cases = [
        ("{not json", "invalid JSON"),
        (r#"{"metadata": {}}"#, "no `weight_map`"),
        (r#"{"weight_map": {}}"#, "`weight_map` is empty"),
        (r#"{"weight_map": {"conv1.weight": 3}}"#, "`conv1.weight`"),
    ];
    for (text, want) in cases {
        std::fs::write(&index, text).unwrap();
        let msg = ResNet::load(&index).unwrap_err().to_string();
        assert_mentions(&msg, &[&index.display().to_string(), want]);
    }
    // A shard that is not there: the error names the shard file.
    std::fs::write(
        &index,
        r#"{"weight_map": {"conv1.weight": "model-00001-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let msg = ResNet::load(&dir).unwrap_err().to_string();
    assert_mentions(
        &msg,
        &["model-00001-of-00002.safetensors", "cannot read checkpoint"],
    );
    // The index puts a tensor in a shard that does not hold it.
    std::fs::write(
        dir.join("a.safetensors"),
        serialize(&tiny(), Dtype::F16, &[], &[]),
    )
    .unwrap();
    std::fs::write(
        &index,
        r#"{"weight_map": {"conv1.weight": "a.safetensors", "extra.weight": "a.safetensors"}}"#,
    )
    .unwrap();
    let msg = ResNet::load(&index).unwrap_err().to_string();
    assert_mentions(
        &msg,
        &[
            &index.display().to_string(),
            "`extra.weight`",
            "a.safetensors",
        ],
    );
}

#[test]
fn real_default_weights_load_with_their_metadata() {
    let net = ResNet::load(&default_weights()).unwrap();
    assert_eq!(net.arch, "resnet50");
    assert_eq!(
        net.naming,
        Naming::Torchvision {
            prefix: String::new()
        }
    );
    assert_eq!(net.num_classes(), 8);
    assert_eq!(
        net.classes,
        [
            "circle", "ring", "square", "diamond", "triangle", "cross", "x", "hexagon"
        ]
    );
    assert_eq!(
        (net.preprocess.resize_size, net.preprocess.crop_size),
        (256, 224)
    );
    assert_eq!(net.preprocess.mean, [0.485, 0.456, 0.406]);
    assert_eq!(net.preprocess.std, [0.229, 0.224, 0.225]);
    assert_eq!(net.num_features, 2048);
    let counts: Vec<usize> = net.stages.iter().map(|s| s.blocks.len()).collect();
    assert_eq!(counts, [3, 4, 6, 3]);
}
