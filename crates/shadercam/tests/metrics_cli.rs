//! `--metrics` on the command line: `explain --metrics LIST --json` adds a `metrics` object to
//! each record, `eval --metrics LIST` reports each metric's mean over the labelled images, and
//! both agree on the same image (the numbers themselves are checked against the library and
//! CPU versions in the workspace's tests/metrics.rs). One image and cheap metrics: lavapipe
//! runs about one forward pass a second.

mod common;

use common::*;
use serde_json::{Value, json};

const LIST: &str = "cam-mult,drop,increase,complexity,deletion";

#[test]
fn explain_json_carries_the_metrics_and_eval_averages_them() {
    let dir = tmp("metrics", "eval");
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::copy(
        fixture("images/shape_002.png"),
        dir.join("images/shape_002.png"),
    )
    .unwrap();
    let labels: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("labels.json")).unwrap()).unwrap();
    let one = json!({"images": {"shape_002": labels["images"]["shape_002"].clone()}});
    let labels_path = dir.join("labels.json");
    std::fs::write(&labels_path, one.to_string()).unwrap();

    let out_dir = dir.join("out");
    let out = run_ok(&[
        "explain",
        &image("shape_002"),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--json",
        "--metrics",
        LIST,
        "--steps",
        "2",
    ]);
    let rec = &json_lines(&out)[0];
    let m = &rec["metrics"];
    for k in [
        "cam_mult_change",
        "drop_in_confidence",
        "increase_in_confidence",
        "complexity",
        "deletion_auc",
        "target",
        "score",
    ] {
        assert!(m[k].is_number(), "{k} missing from {m}");
    }
    assert!(
        m.get("road_combined").is_none(),
        "road was not asked for: {m}"
    );
    let change = m["cam_mult_change"].as_f64().unwrap();
    assert_eq!(
        m["drop_in_confidence"].as_f64().unwrap(),
        (-change).max(0.0)
    );
    assert_eq!(
        m["increase_in_confidence"].as_f64().unwrap(),
        (change > 0.0) as u8 as f64
    );
    let c = m["complexity"].as_f64().unwrap();
    assert!(c > 0.0 && c < 1.0, "complexity {c}");
    let d = m["deletion_auc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&d), "deletion AUC {d}");
    assert_eq!(m["target"], rec["predictions"][0]["class_index"], "{rec}");

    let out = run_ok(&[
        "eval",
        labels_path.to_str().unwrap(),
        "--json",
        "--metrics",
        LIST,
        "--steps",
        "2",
    ]);
    let s = &json_lines(&out)[0];
    assert_eq!(s["method"], "gradcam");
    for k in ["cam_mult_change", "complexity", "deletion_auc"] {
        let (a, b) = (s["metrics"][k].as_f64().unwrap(), m[k].as_f64().unwrap());
        // The same image, map and perturbations through the same network.
        assert!((a - b).abs() <= 1e-6, "{k}: eval {a} vs explain {b}");
    }
    // Without --json: one more line naming the method and the means.
    let out = run_ok(&[
        "eval",
        labels_path.to_str().unwrap(),
        "--metrics",
        "complexity",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("metrics (gradcam, mean over images): complexity "),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn metric_flags_are_checked_before_any_work() {
    let out = run(&[
        "explain",
        &image("shape_002"),
        "--json",
        "--metrics",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown metric \"nope\""));
    let dir = tmp("metrics", "nojson");
    let out = run(&[
        "explain",
        &image("shape_002"),
        "--out-dir",
        dir.to_str().unwrap(),
        "--metrics",
        "drop",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics"));
    let _ = std::fs::remove_dir_all(&dir);
}
