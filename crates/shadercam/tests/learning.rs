//! The learning aids of `shadercam explain`, run as the real binary on the tutorial's two
//! images: `--dump-stages` (each stage of the map as .npy and .png, and the stages chain as
//! docs/cam-math.md section 4 says), `--maps` with `--json` (the CAM paper's identity
//! `logit_c = b_c + Σ_k w^c_k · mean(A_k)`), and `--method all` (the gallery). The numbers that
//! docs/tutorial.md prints are formatted here the same way and must appear there, so the
//! tutorial cannot drift from what the commands print. The exercises' answers are
//! tests/exercises.rs.

use serde_json::Value;
use std::path::PathBuf;

mod common;

use common::{image, json_lines, quoted, read_npy, root, run_ok};

fn tmp(name: &str) -> PathBuf {
    common::tmp("learning", name)
}

/// `scale_cam_image` after an optional ReLU: `(x - min) / (max - min + 1e-7)`.
fn min_max(x: &[f32], relu: bool) -> Vec<f32> {
    let r: Vec<f32> = x
        .iter()
        .map(|&v| if relu { v.max(0.0) } else { v })
        .collect();
    let lo = r.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    r.iter().map(|v| (v - lo) / (hi - lo + 1e-7)).collect()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The stages of `cam` (no ReLU) and `gradcam` (ReLU), written and chained; the identity
/// checked on the printed numbers; the tutorial's tables as printed.
#[test]
fn dump_stages_and_the_cam_identity() {
    for (method, relu) in [("cam", false), ("gradcam", true)] {
        for name in ["shape_004", "photo_chelsea"] {
            let dir = tmp(&format!("{method}-{name}"));
            let d = dir.to_str().unwrap();
            let out = run_ok(&[
                "explain",
                &image(name),
                "--method",
                method,
                "--maps",
                "6",
                "--dump-stages",
                "--save-heatmap",
                "--json",
                "--out-dir",
                d,
                "-q",
            ]);
            let rec = &json_lines(&out)[0];
            let stage = |s: &str| read_npy(&dir.join(format!("{name}.stage{s}.npy")));
            let (s1, raw) = stage("1-raw");
            let (s2, norm) = stage("2-normalised");
            let (s3, up) = stage("3-upsampled");
            let (s4, heat) = stage("4-heat");
            assert_eq!(
                [s1, s2, s3, s4],
                [vec![7, 7], vec![7, 7], vec![224, 224], vec![224, 224]]
            );
            for s in ["1-raw", "2-normalised", "3-upsampled", "4-heat"] {
                let png = dir.join(format!("{name}.stage{s}.png"));
                assert!(image::open(&png).is_ok(), "{}", png.display());
            }
            // Each stage follows from the one before (docs/cam-math.md, section 4).
            assert!(
                max_abs(&norm, &min_max(&raw, relu)) < 1e-6,
                "{method} {name}: stage 2"
            );
            assert!(
                max_abs(&heat, &min_max(&up, relu)) < 1e-6,
                "{method} {name}: stage 4"
            );
            let (_, saved) = read_npy(&dir.join(format!("{name}.heatmap.npy")));
            assert_eq!(heat, saved, "stage 4 is the heatmap --save-heatmap writes");
            let rows: Vec<f32> = rec["raw_map"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|v| num(v) as f32))
                .collect();
            assert_eq!(rows, raw, "raw_map is stage 1");

            // logit_c = b_c + Σ_k w^c_k · mean(A_k), and for cam the raw map's mean is the sum.
            let parts = &rec["logit_parts"];
            let (bias, sum, logit) = (
                num(&parts["bias"]),
                num(&parts["channels"]),
                num(&parts["logit"]),
            );
            assert!(
                (bias + sum - logit).abs() < 1e-3,
                "{name}: {bias} + {sum} != {logit}"
            );
            let mean = raw.iter().map(|&v| v as f64).sum::<f64>() / raw.len() as f64;
            let scale = if relu { 1.0 / 49.0 } else { 1.0 };
            assert!(
                (mean - sum * scale).abs() < 1e-4 * sum.abs().max(1.0),
                "{name}: mean {mean}"
            );
            let ch = rec["channels"].as_array().unwrap();
            assert_eq!(ch.len(), 6);
            for c in ch {
                let (w, m, con) = (num(&c["w"]), num(&c["mean"]), num(&c["contribution"]));
                assert!((w * m - con).abs() < 1e-5 * con.abs().max(1.0));
            }
            if method == "cam" {
                quoted(&format!("{logit:.3} = {bias:.3} + {sum:.3}"));
                quoted(&format!("mean of the 49 numbers: {mean:.3}"));
                for c in ch.iter().take(5) {
                    quoted(&format!(
                        "| {} | {:.3} | {:.3} | {:.3} |",
                        c["k"],
                        num(&c["w"]),
                        num(&c["mean"]),
                        num(&c["contribution"])
                    ));
                }
                // The rows as `jq -c '.raw_map[] | map(. * 10 | round / 10)'` prints them.
                for row in rec["raw_map"].as_array().unwrap() {
                    let cells: Vec<String> = row
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| format!("{}", (num(v) * 10.0).round() / 10.0))
                        .collect();
                    quoted(&format!("[{}]", cells.join(",")));
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// `--method all`: one gallery picture per image and one record per method, in order; the
/// methods that coincide on a ResNet say so in their `vs` field; the tutorial's table.
#[test]
fn method_all_draws_the_gallery() {
    let dir = tmp("gallery");
    let d = dir.to_str().unwrap();
    let (a, b) = (image("shape_004"), image("photo_chelsea"));
    let out = run_ok(&[
        "explain",
        &a,
        &b,
        "--method",
        "all",
        "--json",
        "--out-dir",
        d,
        "-q",
    ]);
    let recs = json_lines(&out);
    // Method::ALL's order without scorecam; eigengradcam and kpcacam only once implemented.
    let methods: Vec<&str> = [
        "cam",
        "gradcam",
        "hirescam",
        "xgradcam",
        "gradcam++",
        "layercam",
        "eigencam",
        "ablationcam",
        "eigengradcam",
        "gradcamelementwise",
        "finercam",
        "kpcacam",
        "shapleycam",
        "fem",
        "sobelcam",
        "randomcam",
    ]
    .into_iter()
    .filter(|m| !["eigengradcam", "kpcacam"].contains(m) || recs.iter().any(|r| r["method"] == *m))
    .collect();
    assert_eq!(recs.len(), 2 * methods.len());
    let diff = |i: usize| num(&recs[i]["vs"]["max_abs_diff"]);
    for (i, m) in methods.iter().enumerate() {
        for img in 0..2 {
            let r = &recs[img * methods.len() + i];
            assert_eq!(r["method"], *m);
            assert_eq!(r["vs"]["method"], "gradcam");
            assert_eq!(
                r["target"],
                recs[img * methods.len()]["target"],
                "one class per image"
            );
        }
        // Grad-CAM, HiResCAM and XGrad-CAM are one map on a ResNet (docs/cam-math.md, 3.2-3.4).
        if ["gradcam", "hirescam", "xgradcam"].contains(m) {
            assert!(diff(i) < 1e-5 && diff(methods.len() + i) < 1e-5, "{m}");
        }
        quoted(&format!(
            "| {m} | {:.3} | {:.3} |",
            diff(i),
            diff(methods.len() + i)
        ));
    }
    for name in ["shape_004", "photo_chelsea"] {
        let g = image::open(dir.join(format!("{name}.gallery.png"))).expect("gallery picture");
        assert!(
            g.width() > 4 * 224 && g.height() > 2 * 224,
            "4 columns, 2 rows of 224x224 crops"
        );
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "only the two galleries"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // One method's extras need a single method.
    let bad = common::shadercam()
        .args([
            "explain",
            &a,
            "--method",
            "all",
            "--maps",
            "3",
            "--out-dir",
            d,
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("single --method"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every PNG under docs/ is written by docs/make-pictures.sh (so none can go stale), and every
/// picture the docs show exists. No GPU needed.
#[test]
fn every_picture_in_docs_is_made_by_the_script() {
    let docs = root().join("docs");
    let script = std::fs::read_to_string(docs.join("make-pictures.sh")).unwrap();
    // The script's loop variables, expanded: `$out/$name.maps.png` → docs/pictures/x.maps.png.
    let expanded: String = ["shape_004", "photo_chelsea"]
        .iter()
        .map(|n| script.replace("$out", "docs/pictures").replace("$name", n))
        .collect();
    let mut pngs = Vec::new();
    let mut dirs = vec![docs.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "png") {
                pngs.push(p);
            }
        }
    }
    assert!(
        pngs.len() >= 3,
        "docs/ holds the README's pictures at least"
    );
    for p in &pngs {
        let rel = p
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        assert!(
            expanded.contains(&format!("{rel}\"")) || expanded.contains(&format!("{rel}\n")),
            "{rel} is not written by docs/make-pictures.sh: add it there or delete it"
        );
    }
    for md in ["tutorial.md", "kernels.md", "cam-math.md"] {
        let text = std::fs::read_to_string(docs.join(md)).unwrap_or_default();
        for (at, _) in text.match_indices("](pictures/") {
            let rest = &text[at + 2..];
            let target = &rest[..rest.find(')').unwrap()];
            assert!(
                docs.join(target).is_file(),
                "docs/{md} shows {target}, which does not exist"
            );
        }
    }
}

/// docs/cam-math.md section 7 names every test of the files it describes, so its list (and the
/// counts a reader would make from it) cannot go stale when tests move. No GPU needed.
#[test]
fn cam_math_lists_every_test() {
    let doc = std::fs::read_to_string(root().join("docs/cam-math.md")).unwrap();
    let section = &doc[doc.find("## 7. What we verified").expect("section 7")..];
    for file in [
        "tests/cam.rs",
        "tests/cam_methods.rs",
        "tests/cam_smoothing.rs",
        "crates/shadercam/tests/cli.rs",
        "crates/shadercam/tests/learning.rs",
        "crates/shadercam/tests/exercises.rs",
    ] {
        let src = std::fs::read_to_string(root().join(file))
            .unwrap_or_else(|e| panic!("{file} (named in docs/cam-math.md section 7): {e}"));
        let mut after_test = false;
        for line in src.lines().map(str::trim) {
            if line == "#[test]" {
                after_test = true;
            } else if after_test && line.starts_with("fn ") {
                let name = &line[3..line.find('(').unwrap()];
                assert!(
                    section.contains(&format!("`{name}`")),
                    "docs/cam-math.md section 7 does not name {file}'s test `{name}`"
                );
                after_test = false;
            }
        }
    }
}

/// The numbers of docs/cam-math.md section 3.5 (how large Grad-CAM++'s ε is next to `2g²`),
/// recomputed from the embedded checkpoint's fc weights. No GPU needed.
#[test]
fn grad_cam_plus_plus_epsilon_is_measured() {
    let model = shadercam_loader::ResNet::load(&root().join("weights/resnet50-shapes.safetensors"))
        .unwrap();
    let mut w: Vec<f64> = model.fc_weight.iter().map(|&v| (v as f64).abs()).collect();
    w.sort_by(f64::total_cmp);
    let n = w.len();
    let median = (w[n / 2 - 1] + w[n / 2]) / 2.0; // n is even (8 x 2048), as numpy's median
    let (eps, hw) = (1e-6, 49.0);
    let g = median / hw;
    let threshold = hw * (eps / 2.0f64).sqrt();
    let below = w.iter().filter(|&&v| v < threshold).count() as f64 / n as f64;
    let doc = std::fs::read_to_string(root().join("docs/cam-math.md")).unwrap();
    for text in [
        format!("median `|w^c_k|`, {median:.3},"),
        format!("`ε / (2 g_k²)` is {:.3}", eps / (2.0 * g * g)),
        format!("the {:.1}% of its fc weights", 100.0 * below),
        format!("below `49 · sqrt(ε/2)` ({threshold:.3})"),
    ] {
        assert!(
            doc.contains(&text),
            "docs/cam-math.md section 3.5 should say {text:?}"
        );
    }
}
