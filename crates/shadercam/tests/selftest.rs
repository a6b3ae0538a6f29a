//! `shadercam selftest` on whatever adapter wgpu finds (lavapipe in CI): every check passes
//! here, a wrong GPU value is caught (exit 1, the check says FAIL), and the fixture compiled
//! into the binary is what `selftest/make_fixture.py` makes from tests/fixtures.

mod common;

use common::{output, root};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn selftest(args: &[&str]) -> Output {
    output(
        common::shadercam()
            .arg("selftest")
            .args(args)
            .env_remove("SHADERCAM_WEIGHTS"),
    )
}

/// The lines of the check table: those ending in PASS or FAIL (a failing line goes on with
/// its reason).
fn check_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.contains(" ms  PASS") || l.contains(" ms  FAIL"))
        .collect()
}

#[test]
fn every_check_passes_on_this_adapter() {
    let out = selftest(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for header in ["adapter ", "backend ", "driver ", "features ", "coop "] {
        assert!(
            stdout.lines().any(|l| l.starts_with(header)),
            "no {header:?} line:\n{stdout}"
        );
    }
    assert!(stdout.contains("SHADER_F16") && stdout.contains("EXPERIMENTAL_COOPERATIVE_MATRIX"));
    let lines = check_lines(&stdout);
    for l in &lines {
        assert!(
            l.ends_with(" ms  PASS"),
            "a check did not pass: {l}\n{stdout}"
        );
    }
    // Every kind of check ran: both conv kernels in every precision, the other kernels, and
    // the whole network's logits and map.
    // (start of the name, rest of it): f16 covers `f16` and `f16w`, however the precision
    // of f16 weights is spelled on the command line.
    for (start, rest) in [
        ("conv2d tiled f32", ""),
        ("conv2d direct f32", ""),
        ("conv2d tiled f16", ""),
        ("conv2d direct f16", ""),
        ("maxpool", ""),
        ("global_avg_pool", ""),
        ("linear", ""),
        ("network tiled f32", ": logits"),
        ("network direct f32", ": gradcam"),
        ("network direct f16", ": logits"),
        ("network direct f16", ": gradcam"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(start) && l.contains(&format!("{rest} "))),
            "no check named {start}..{rest}:\n{stdout}"
        );
    }
    // Where the adapter has cooperative matrices (Mesa 26 lavapipe in CI: 8x8), the header
    // names the shape and the cooperative kernel is checked alone and through the network.
    let coop = stdout.lines().find(|l| l.starts_with("coop ")).unwrap();
    if let Some(frag) = ["8x8x8", "16x16x16"].iter().find(|f| coop.contains(*f)) {
        let name = format!("coop{}", &frag[..frag.rfind('x').unwrap()]);
        for start in [format!("conv2d {name} f16"), format!("network {name} f16")] {
            assert!(
                lines.iter().any(|l| l.starts_with(&start)),
                "{coop}: no check named {start}:\n{stdout}"
            );
        }
    } else {
        assert!(coop.contains("none usable: "), "{coop}");
    }
    assert!(
        stdout.contains(&format!("all {} checks passed", lines.len())),
        "{stdout}"
    );
}

/// A kernel result off by 1.0 (`--inject-fault`, the documented test hook) must fail its
/// check and the run; the other checks still pass. JSON output.
#[test]
fn a_wrong_kernel_result_fails_the_run() {
    let out = selftest(&["--json", "--filter", "pool", "--inject-fault", "maxpool"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["passed"], false);
    assert_eq!(v["fault_injected"], "maxpool");
    let checks = v["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["maxpool", "global_avg_pool"], "--filter pool");
    let maxpool = &checks[0];
    assert_eq!(maxpool["passed"], false);
    assert!(maxpool["error"].as_f64().unwrap() >= 1.0, "{maxpool}");
    assert!(
        maxpool["detail"]
            .as_str()
            .unwrap()
            .contains("outside tolerance"),
        "{maxpool}"
    );
    assert_eq!(checks[1]["passed"], true, "{}", checks[1]);
    assert!(v["adapter"].as_str().is_some_and(|a| !a.is_empty()));
}

/// A logit off by 1.0 must fail the whole-network check (text output).
#[test]
fn a_wrong_logit_fails_the_run() {
    let name = "network direct f32: logits";
    let out = selftest(&["--filter", "network direct f32", "--inject-fault", name]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAULT INJECTED"), "{stdout}");
    let lines = check_lines(&stdout);
    assert_eq!(lines.len(), 2, "logits and gradcam:\n{stdout}");
    let bad = lines.iter().find(|l| l.starts_with(name)).unwrap();
    assert!(bad.contains(" ms  FAIL"), "{stdout}");
    assert!(bad.contains("logits vs PyTorch"), "{bad}");
    let map = lines.iter().find(|l| l.contains(": gradcam")).unwrap();
    assert!(map.ends_with(" ms  PASS"), "{stdout}");
    assert!(stdout.contains("1 of 2 checks FAILED"), "{stdout}");
}

#[test]
fn a_filter_that_matches_nothing_is_a_usage_error() {
    let out = selftest(&["--filter", "no such check"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// The committed fixture (crates/shadercam/selftest/) is what make_fixture.py makes: the PNG
/// and PyTorch's values for it, bit for bit, and the default checkpoint's fc bias.
#[test]
fn the_embedded_fixture_is_made_from_the_test_fixtures() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("selftest");
    let fixtures = root().join("tests/fixtures");
    assert_eq!(
        std::fs::read(here.join("shape_002.png")).unwrap(),
        std::fs::read(fixtures.join("images/shape_002.png")).unwrap(),
        "selftest/shape_002.png differs from tests/fixtures: rerun selftest/make_fixture.py"
    );
    let ours = std::fs::read(here.join("shape_002.reference.safetensors")).unwrap();
    assert!(ours.len() < 1 << 20, "keep the embedded fixture small");
    let ours = safetensors::SafeTensors::deserialize(&ours).unwrap();
    let refs = std::fs::read(fixtures.join("reference.safetensors")).unwrap();
    let refs = safetensors::SafeTensors::deserialize(&refs).unwrap();
    for key in ["logits", "gradcam"] {
        let a = ours.tensor(key).unwrap();
        let b = refs.tensor(&format!("shape_002.{key}")).unwrap();
        assert_eq!(
            (a.dtype(), a.shape(), a.data()),
            (b.dtype(), b.shape(), b.data()),
            "{key} differs from tests/fixtures/reference.safetensors: rerun selftest/make_fixture.py"
        );
    }
    let model = shadercam_loader::ResNet::load(&root().join("weights/resnet50-shapes.safetensors"))
        .unwrap();
    let bias: Vec<f32> = ours
        .tensor("checkpoint.fc.bias")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(
        bias, model.fc_bias,
        "the default checkpoint changed: rerun selftest/make_fixture.py"
    );
}
