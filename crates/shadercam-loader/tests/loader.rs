//! One checkpoint file's contents, without a GPU: dtypes, BatchNorm folding, the HWIO layout,
//! the metadata, and every error a bad file can produce, each asserted by what its message
//! names. The checkpoints are written by the tests themselves (`common::tiny`, a ResNet with one
//! basic block per stage). Which layouts are recognised (naming schemes, shards, depths) is
//! `schemes.rs`.

mod common;

use common::{assert_mentions, load_err, scratch, serialize, tiny, write};
use safetensors::Dtype;
use shadercam_loader::testing::{Rng, Tensors, assert_same_weights, default_weights};
use shadercam_loader::{BN_EPS, Checkpoint, IMAGENET_CLASSES, LoadError, Naming, ResNet};

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
