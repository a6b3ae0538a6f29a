//! `--model`, `shadercam models`, `--classes` and `.pth` checkpoints through the real binary.
//! Downloads go to a local server in the Hugging Face Hub's URL layout
//! (`shadercam_hub::testing`) through `HF_ENDPOINT`, and into temporary `HF_HOME` and
//! `TORCH_HOME` folders: no test touches the network or the user's caches. The served
//! "resnet50" is the repository's shapes ResNet-50 (8 classes), which is all a test needs.

use serde_json::Value;
use shadercam_hub::testing::TestServer;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::root;

/// The fixture picture `shape_000`, as a command-line argument.
fn image() -> String {
    common::image("shape_000")
}

/// A fresh, created temporary folder for a test's caches.
fn tmp(name: &str) -> PathBuf {
    let d = common::tmp("models", name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `shadercam args...` with the hub and torch.hub pointed at `server` and caches under `home`,
/// plus `extra` environment variables.
fn run(server: &TestServer, home: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut cmd = common::shadercam();
    cmd.args(args);
    for k in [
        "SHADERCAM_WEIGHTS",
        "SHADERCAM_MODEL",
        "HF_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "HF_TOKEN",
        "XDG_CACHE_HOME",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("HF_ENDPOINT", &server.url)
        .env("HF_HOME", home.join("hf"))
        .env("TORCH_HOME", home.join("torch"))
        .env("SHADERCAM_TORCH_MIRROR", format!("{}/models", server.url))
        .env("HF_HUB_ETAG_TIMEOUT", "2")
        .env("HF_HUB_DOWNLOAD_TIMEOUT", "2");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    common::output(&mut cmd)
}

/// `shadercam args...` as [`run`] runs it (no extra variables), asserting exit code `code`:
/// its stderr.
fn fails(server: &TestServer, home: &Path, args: &[&str], code: i32) -> String {
    let out = run(server, home, args, &[]);
    assert_eq!(out.status.code(), Some(code));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: &Output) -> (String, String) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    (stdout, stderr)
}

fn models_json(server: &TestServer, home: &Path) -> Vec<Value> {
    let (stdout, _) = ok(&run(server, home, &["models", "--json"], &[]));
    serde_json::from_str(&stdout).unwrap()
}

/// timm's `config.json` for `resnet50.tv2_in1k` as the hub serves it (the keys
/// `save_config_for_hf` writes; values from timm's `pretrained_cfg`).
const TV2_CONFIG: &str = r#"{"architecture": "resnet50", "num_classes": 1000, "num_features": 2048,
 "pretrained_cfg": {"tag": "tv2_in1k", "custom_load": false, "input_size": [3, 176, 176],
 "test_input_size": [3, 224, 224], "fixed_input_size": false, "interpolation": "bilinear",
 "crop_pct": 0.875, "test_crop_pct": 0.965, "crop_mode": "center",
 "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "num_classes": 1000,
 "pool_size": [7, 7], "first_conv": "conv1", "classifier": "fc"}}"#;

#[test]
fn models_lists_every_name_without_touching_the_network() {
    let server = TestServer::start();
    let home = tmp("list");
    let (stdout, _) = ok(&run(&server, &home, &["models"], &[]));
    for name in [
        "resnet18.tv",
        "resnet50.tv2",
        "wide_resnet101_2.tv2",
        "hf.co/timm/resnet50.tv2_in1k",
        "232/224",
        "HF_HOME",
    ] {
        assert!(stdout.contains(name), "{name} missing:\n{stdout}");
    }
    let all = models_json(&server, &home);
    assert_eq!(all.len(), 12);
    assert!(all.iter().all(|m| m["cached"].is_null()));
    let r50 = all.iter().find(|m| m["name"] == "resnet50.tv2").unwrap();
    assert_eq!(r50["default_for"], "resnet50");
    assert_eq!(r50["resize"], 232);
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

/// First run downloads weights and config into the hub cache; later runs (also through
/// `SHADERCAM_MODEL`) use the cache and make no request.
#[test]
fn a_model_is_downloaded_once_then_read_from_the_cache() {
    let server = TestServer::start();
    let home = tmp("download");
    let weights = std::fs::read(root().join("weights/resnet50-shapes.safetensors")).unwrap();
    server.add_hub_file(
        "timm/resnet50.tv2_in1k",
        "model.safetensors",
        &weights,
        true,
    );
    server.add_hub_file(
        "timm/resnet50.tv2_in1k",
        "config.json",
        TV2_CONFIG.as_bytes(),
        false,
    );

    let img = image();
    let out = run(
        &server,
        &home,
        &["classify", "--model", "resnet50", "--json", &img],
        &[],
    );
    let (stdout, stderr) = ok(&out);
    assert!(stderr.contains("downloading"), "{stderr}");
    // timm's config agrees with the table (232 / 224): no warning.
    assert!(!stderr.contains("warning"), "{stderr}");
    let rec: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    // The served file's own class names (the shapes model's metadata).
    let top = rec["predictions"][0]["label"].as_str().unwrap();
    let shapes = [
        "circle", "ring", "square", "diamond", "triangle", "cross", "x", "hexagon",
    ];
    assert!(shapes.contains(&top), "{rec}");
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "{requests:?}"); // HEAD + GET for each of the two files

    let all = models_json(&server, &home);
    let r50 = all.iter().find(|m| m["name"] == "resnet50.tv2").unwrap();
    let path = r50["cached"]["path"].as_str().unwrap();
    assert!(
        path.starts_with(
            &home
                .join("hf/hub/models--timm--resnet50.tv2_in1k/snapshots")
                .display()
                .to_string()
        ),
        "{path}"
    );

    let (_, stderr) = ok(&run(
        &server,
        &home,
        &["classify", &img],
        &[("SHADERCAM_MODEL", "resnet50.tv2")],
    ));
    assert!(!stderr.contains("downloading"), "{stderr}");
    assert_eq!(
        server.requests().len(),
        4,
        "a cached model makes no request"
    );
}

#[test]
fn an_unavailable_model_names_every_url_and_cache() {
    let server = TestServer::start();
    let home = tmp("missing");
    let stderr = fails(
        &server,
        &home,
        &["classify", "--model", "resnet18", &image()],
        1,
    );
    for needle in [
        "resnet18.tv",
        "/timm/resnet18.tv_in1k/resolve/main/model.safetensors: HTTP 404",
        "/models/resnet18-f37072fd.pth: HTTP 404",
        "models--timm--resnet18.tv_in1k",
        "torch/hub/checkpoints/resnet18-f37072fd.pth",
    ] {
        assert!(stderr.contains(needle), "{needle} missing:\n{stderr}");
    }

    // A hung server: a timeout, not a hang.
    server.silent(true);
    let start = std::time::Instant::now();
    let stderr = fails(
        &server,
        &home,
        &["classify", "--model", "resnet18", &image()],
        1,
    );
    assert!(start.elapsed().as_secs() < 30);
    assert!(
        stderr.contains("no answer within 2 s") && stderr.contains("--weights FILE"),
        "{stderr}"
    );
}

#[test]
fn model_usage_errors_exit_2() {
    let server = TestServer::start();
    let home = tmp("usage");
    let stderr = fails(
        &server,
        &home,
        &["classify", "--model", "resnet51", &image()],
        2,
    );
    assert!(
        stderr.contains("resnet51") && stderr.contains("resnet50.tv2"),
        "{stderr}"
    );
    fails(
        &server,
        &home,
        &[
            "classify",
            "--model",
            "resnet50",
            "--weights",
            "x.pth",
            &image(),
        ],
        2,
    );
    assert!(server.requests().is_empty());
}

/// A PyTorch training checkpoint straight from `torch.save`, named classes from a file.
#[test]
fn a_pth_checkpoint_with_a_classes_file() {
    let server = TestServer::start();
    let home = tmp("pth");
    let pth = root().join("tests/fixtures/pth/resnet10-wrapped-f16.pth");
    let names = home.join("classes.txt");
    let labels = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen"];
    std::fs::write(&names, labels.join("\n") + "\n").unwrap();
    let args = [
        "classify",
        "--weights",
        pth.to_str().unwrap(),
        "--classes",
        names.to_str().unwrap(),
        "--json",
        "--top-k",
        "8",
    ];
    let img = image();
    let (stdout, _) = ok(&run(&server, &home, &[&args[..], &[&img]].concat(), &[]));
    let rec: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    for l in labels {
        assert!(rec.to_string().contains(&format!("\"{l}\"")), "{l}: {rec}");
    }

    std::fs::write(&names, "just\ntwo\n").unwrap();
    let out = run(&server, &home, &[&args[..], &[&img]].concat(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("classes.txt")
            && stderr.contains("2 class names")
            && stderr.contains("8 outputs"),
        "{stderr}"
    );
}
