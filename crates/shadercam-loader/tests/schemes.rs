//! Which checkpoints the loader recognises, without a GPU: every naming scheme (torchvision,
//! timm with `num_batches_tracked`, a `module.` prefix, Hugging Face transformers), dtype and
//! sharding of the same weights folds identically; names and configs it cannot place are
//! refused with messages that say why; and the ResNet family (ResNet-18/34/50/101/152,
//! wide_resnet50_2) is told apart by names and shapes alone.
//!
//! The GPU half of these checks (the same weights under other names give the same logits;
//! random-weight ResNet-18/34/101 against a float64 forward) is the workspace's tests/family/.

mod common;

use common::{assert_mentions, load_err, scratch, tiny, write};
use safetensors::Dtype;
use shadercam_loader::testing::{
    Tensors, assert_same_net, default_weights, fresh_dir, from_bytes, hf_name, renamed,
    resnet_shapes, serialize, with_num_batches_tracked, write_sharded,
};
use shadercam_loader::{Checkpoint, Naming, ResNet};
use std::collections::HashMap;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------------
// The default weights in every scheme, dtype and layout

#[test]
fn default_weights_in_every_scheme_dtype_and_sharding_fold_identically() {
    let original = ResNet::load(&default_weights()).unwrap();
    let ck = Checkpoint::open(&default_weights()).unwrap();
    let tv: Tensors = ck
        .tensors
        .iter()
        .map(|(k, t)| (k.clone(), (t.shape.clone(), t.data.clone())))
        .collect();
    let meta = ck.metadata.clone();
    let none = HashMap::new();
    let hf = renamed(&with_num_batches_tracked(&tv), hf_name);

    // The stored values are F16, so F32 and F16 re-encodings are exact: equal folded weights.
    let exact: [(&str, Tensors, Dtype, Naming); 5] = [
        (
            "torchvision F32",
            tv.clone(),
            Dtype::F32,
            Naming::Torchvision {
                prefix: String::new(),
            },
        ),
        (
            "timm F16 + num_batches_tracked",
            with_num_batches_tracked(&tv),
            Dtype::F16,
            Naming::Torchvision {
                prefix: String::new(),
            },
        ),
        (
            "DataParallel `module.` F32",
            renamed(&tv, |k| format!("module.{k}")),
            Dtype::F32,
            Naming::Torchvision {
                prefix: "module.".into(),
            },
        ),
        (
            "Hugging Face F32",
            hf.clone(),
            Dtype::F32,
            Naming::HuggingFace,
        ),
        (
            "Hugging Face F16",
            hf.clone(),
            Dtype::F16,
            Naming::HuggingFace,
        ),
    ];
    for (what, t, dtype, naming) in exact {
        let net = from_bytes(what, &serialize(&t, dtype, &meta));
        assert_eq!(net.naming, naming, "{what}");
        assert_eq!(net.classes, original.classes, "{what}");
        assert_same_net(what, &net, &original, 0.0);
    }
    // BF16 rounds F16's 11 significant bits to 8, so it cannot equal the original; it must
    // equal the same rounding done here and stored as F32 (the workspace's
    // tests/family/ bounds its logits on the GPU).
    let bf16 = from_bytes("Hugging Face BF16", &serialize(&hf, Dtype::BF16, &none));
    assert_eq!(
        bf16.classes,
        (0..8).map(|i| format!("class {i}")).collect::<Vec<_>>()
    );
    let rounded: Tensors = hf
        .iter()
        .map(|(k, (s, v))| {
            (
                k.clone(),
                (
                    s.clone(),
                    v.iter()
                        .map(|&x| half::bf16::from_f32(x).to_f32())
                        .collect(),
                ),
            )
        })
        .collect();
    let rounded = from_bytes("BF16-rounded F32", &serialize(&rounded, Dtype::F32, &none));
    assert_same_net("Hugging Face BF16", &bf16, &rounded, 0.0);

    // Sharded, torchvision names, metadata only in the index (as JSON values, not strings),
    // loaded by the index's path.
    let dir = fresh_dir(scratch("sharded-tv"));
    let index_meta = serde_json::json!({
        "total_size": 51_000_000,
        "classes": serde_json::from_str::<serde_json::Value>(&meta["classes"]).unwrap(),
        "preprocess": serde_json::from_str::<serde_json::Value>(&meta["preprocess"]).unwrap(),
    });
    let index = write_sharded(&dir, &tv, 3, Dtype::F16, &none, index_meta);
    let net = ResNet::load(&index).unwrap();
    assert_eq!(
        (net.source.as_path(), &net.classes, &net.preprocess),
        (index.as_path(), &original.classes, &original.preprocess)
    );
    assert_same_net("sharded torchvision (3 shards)", &net, &original, 0.0);

    // Sharded, Hugging Face names, metadata in the first shard, loaded by its directory.
    let dir = fresh_dir(scratch("sharded-hf"));
    write_sharded(
        &dir,
        &hf,
        2,
        Dtype::F32,
        &meta,
        serde_json::json!({ "total_size": 102_000_000 }),
    );
    let net = ResNet::load(&dir).unwrap();
    assert_eq!(
        (&net.naming, &net.classes),
        (&Naming::HuggingFace, &original.classes)
    );
    assert_same_net("sharded Hugging Face (2 shards)", &net, &original, 0.0);
}

// ---------------------------------------------------------------------------------------------
// Names the loader cannot place

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
        &serialize(&t, Dtype::F32, &HashMap::new()),
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
        serialize(&t, Dtype::F32, &HashMap::new()),
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
        serialize(&tiny(), Dtype::F16, &HashMap::new()),
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

// ---------------------------------------------------------------------------------------------
// Architecture detection

#[test]
fn the_family_is_detected_from_names_and_shapes() {
    // Constant weights: only names and shapes matter here. wide_resnet101_2 is left out for
    // memory (127M parameters); it differs from wide_resnet50_2 only in layer3's block count.
    let cases: [(&str, [usize; 4], bool, usize, usize); 6] = [
        ("resnet18", [2, 2, 2, 2], false, 64, 512),
        ("resnet34", [3, 4, 6, 3], false, 64, 512),
        ("resnet50", [3, 4, 6, 3], true, 64, 2048),
        ("resnet101", [3, 4, 23, 3], true, 64, 2048),
        ("resnet152", [3, 8, 36, 3], true, 64, 2048),
        ("wide_resnet50_2", [3, 4, 6, 3], true, 128, 2048),
    ];
    for (arch, blocks, bottleneck, width, features) in cases {
        let shapes = resnet_shapes(blocks, bottleneck, width, 1000);
        let ck = Checkpoint {
            path: PathBuf::from(arch),
            tensors: shapes
                .into_iter()
                .map(|(k, s)| {
                    let v = if k.ends_with("running_var") {
                        1.0
                    } else {
                        0.01
                    };
                    let n = s.iter().product();
                    (k, shadercam_loader::Tensor::new(s, vec![v; n]))
                })
                .collect(),
            metadata: HashMap::new(),
        };
        let net = ResNet::from_checkpoint(&ck).unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert_eq!(net.arch, arch);
        assert_eq!(
            net.stages
                .iter()
                .map(|s| s.blocks.len())
                .collect::<Vec<_>>(),
            blocks,
            "{arch}"
        );
        assert_eq!(
            (net.num_features, net.num_classes(), net.classes[0].as_str()),
            (features, 1000, "tench"),
            "{arch}"
        );
        let inner = &net.stages[2].blocks[0].convs[if bottleneck { 1 } else { 0 }];
        assert_eq!(
            (inner.kh, inner.stride, inner.cout),
            (3, 2, if bottleneck { 256 * width / 64 } else { 256 }),
            "{arch}: layer3.0 strided 3x3"
        );
    }
}
