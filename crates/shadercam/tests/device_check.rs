//! benches/gpu/device-check.sh --dry-run: the script that runs on a lent NVIDIA machine, run
//! here on whatever adapter there is (lavapipe in CI) with tiny counts and placeholder PyTorch
//! rows, so that a mistake in it shows up before it costs device time.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[test]
fn the_device_check_dry_run_writes_its_table_and_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("shadercam-device-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    // Under .ci/mesa26.sh's env.sh every shadercam process starts through SHADERCAM_RUNNER
    // (Mesa 26's dynamic loader): the script gets a one-line wrapper that does so.
    let bin = match std::env::var("SHADERCAM_RUNNER")
        .ok()
        .filter(|r| !r.is_empty())
    {
        Some(runner) => {
            std::fs::create_dir_all(&out).unwrap();
            let wrapper = out.join("shadercam");
            std::fs::write(
                &wrapper,
                format!(
                    "#!/bin/sh\nexec '{runner}' '{}' \"$@\"\n",
                    env!("CARGO_BIN_EXE_shadercam")
                ),
            )
            .unwrap();
            std::fs::set_permissions(
                &wrapper,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
            wrapper
        }
        None => env!("CARGO_BIN_EXE_shadercam").into(),
    };
    let run = Command::new("bash")
        .arg(root.join("benches/gpu/device-check.sh"))
        .arg("--dry-run")
        .env("SHADERCAM_BIN", &bin)
        .env("OUT", &out)
        .env_remove("SHADERCAM_WEIGHTS")
        .env_remove("BATCHES")
        .env_remove("PRECISIONS")
        // selftest itself is tested in tests/selftest.rs: here the cheaper half of its checks
        // (the Direct conv kernel) is enough to exercise the script's selftest step.
        .env("SELFTEST_ARGS", "--filter direct")
        .output()
        .expect("run bash");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "exit {:?}\n{stderr}", run.status);

    let selftest = std::fs::read_to_string(out.join("selftest.txt")).unwrap();
    assert!(selftest.contains("checks passed"), "{selftest}");

    // Every precision `bench --help` lists (f32 among them), each at both dry-run batches.
    let bench: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("shadercam_bench.json")).unwrap())
            .unwrap();
    let runs = bench.as_object().unwrap();
    assert!(runs.contains_key("f32_bs1"), "{bench}");
    let table = std::fs::read_to_string(out.join("table.txt")).unwrap();
    for (key, r) in runs {
        let (precision, batch) = key.rsplit_once("_bs").unwrap();
        assert!(r["forward_ms_median"].as_f64().unwrap() > 0.0, "{key}: {r}");
        assert_eq!(r["batch"].to_string(), batch, "{key}");
        let other = if batch == "1" { "2" } else { "1" };
        assert!(
            runs.contains_key(&format!("{precision}_bs{other}")),
            "{bench}"
        );
        assert!(
            table.contains(&format!("shadercam {precision}")),
            "no row for {precision}:\n{table}"
        );
    }
    for row in ["pytorch-grad-cam GradCAM", "x torch"] {
        assert!(table.contains(row), "no {row:?} in the table:\n{table}");
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["dry_run"], true);
    assert_eq!(summary["anchors_are_placeholders"], true);
    let ratio = summary["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == "shadercam f32" && r["batch"] == 2)
        .and_then(|r| r["x_grad_cam_lib"].as_f64());
    assert!(ratio.is_some_and(|x| x > 0.0), "{summary}");
    for f in ["torch.json", "log.txt"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // The device tool brings back at most 8 files from $OUT.
    assert!(std::fs::read_dir(&out).unwrap().count() <= 8);
    let _ = std::fs::remove_dir_all(&out);
}
