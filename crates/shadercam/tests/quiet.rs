//! A normal run prints nothing but its results (stdout) and the summary line (stderr).
//!
//! Regression: on headless machines every run used to print
//! `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` twice (Mesa 22.3 probing
//! window systems). The recommended setup (Mesa 25 lavapipe, as .ci/run installs) is silent,
//! and shadercam never asks for a window system itself. This test runs in that setup; if a
//! driver or library starts printing again, it fails and shows what was printed.

mod common;

#[test]
fn explain_prints_only_results_and_the_summary() {
    let out_dir = common::tmp("quiet", "explain");
    let image = common::fixture("images/shape_004.png");
    let out = common::shadercam()
        .arg("explain")
        .arg(&image)
        .arg("--out-dir")
        .arg(&out_dir)
        .env_remove("SHADERCAM_WEIGHTS")
        .env_remove("XDG_RUNTIME_DIR") // as on a headless CI machine
        .output()
        .expect("run shadercam");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    // stderr: exactly the summary line (no progress bar: stderr is not a terminal here).
    assert_eq!(
        stderr.trim_end(),
        "1 ok, 0 failed",
        "stderr should hold only the summary line; got:\n{stderr}"
    );
    // stdout: one result line for the one image.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one result line expected; got:\n{stdout}");
    assert!(
        lines[0].contains("shape_004.png") && lines[0].contains("->"),
        "unexpected result line: {}",
        lines[0]
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}
