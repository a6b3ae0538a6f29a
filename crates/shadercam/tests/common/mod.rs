//! Helpers shared by the integration tests that run the real `shadercam` binary: where the
//! repository and its fixtures are, a fresh temporary folder per test, running the binary
//! (asserting that a GPU adapter was found and nothing panicked), and reading what it writes.
//! Each test file includes this module with `mod common;`; not every file uses every helper.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (two folders above this crate).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A path under tests/fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// The fixture picture `tests/fixtures/images/{name}.png`, as a command-line argument.
pub fn image(name: &str) -> String {
    fixture(&format!("images/{name}.png")).display().to_string()
}

/// An empty path in the temporary folder, `shadercam-{suite}-{name}-{pid}` (removed if an
/// earlier run left it; not created).
pub fn tmp(suite: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shadercam-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Runs `cmd`, asserting that it found a GPU adapter and did not panic.
pub fn output(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run shadercam");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("no usable GPU adapter"),
        "no GPU adapter: install one (`apt-get install mesa-vulkan-drivers` for lavapipe)\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "shadercam panicked:\n{stderr}"
    );
    out
}

/// A command that starts the shadercam binary under test: through `SHADERCAM_RUNNER` when
/// that is set. `.ci/mesa26.sh`'s `env.sh` sets it (with cargo's runner) because Mesa 26
/// lavapipe on Debian 12 needs each process started by trixie's dynamic loader; cargo starts
/// the test binaries that way, and this starts the binaries they spawn the same way.
pub fn shadercam() -> Command {
    match std::env::var_os("SHADERCAM_RUNNER").filter(|r| !r.is_empty()) {
        Some(runner) => {
            let mut c = Command::new(runner);
            c.arg(env!("CARGO_BIN_EXE_shadercam"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_shadercam")),
    }
}

/// `shadercam args...` with the embedded model (`SHADERCAM_WEIGHTS` unset), through [`output`].
pub fn run(args: &[&str]) -> Output {
    output(shadercam().args(args).env_remove("SHADERCAM_WEIGHTS"))
}

/// [`run`], asserting exit code 0 (the panic shows the arguments, status and stderr).
pub fn run_ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Each line of stdout parsed as JSON.
pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Asserts that docs/tutorial.md quotes `text` as it is printed or measured now.
pub fn quoted(text: &str) {
    let doc = std::fs::read_to_string(root().join("docs/tutorial.md")).expect("docs/tutorial.md");
    assert!(
        doc.contains(text),
        "docs/tutorial.md does not quote {text:?} (what is printed or measured now): update it"
    );
}

/// Reads a little-endian f32 .npy file written by shadercam, checking its header:
/// (shape, values).
pub fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..6], b"\x93NUMPY", "{}: not a .npy file", path.display());
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let data = b[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (shape, data)
}
