//! Every shader under shaders/ is registered by a crate (so the naga checks of that crate see
//! it), and every one says in its header what one invocation computes. No GPU needed.
//!
//! The naga validation and Rust/WGSL layout checks live with each crate's shaders:
//! crates/shadercam-kernels/tests/{shaders,layout}.rs and crates/shadercam-cam/tests/shaders.rs.

use std::collections::BTreeSet;

fn all() -> Vec<(&'static str, &'static str)> {
    shadercam_kernels::shaders::ALL
        .iter()
        .chain(shadercam_cam::shaders::ALL)
        .copied()
        .collect()
}

#[test]
fn every_wgsl_file_is_registered() {
    let dir = shadercam_suite::root().join("shaders");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "wgsl")
                .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    let known: BTreeSet<String> = all().iter().map(|(n, _)| n.to_string()).collect();
    let missing: Vec<_> = on_disk.difference(&known).collect();
    assert!(
        missing.is_empty(),
        "shaders/ files no crate registers in shaders::ALL: {missing:?}"
    );
}

#[test]
fn every_shader_says_what_one_invocation_computes() {
    // STYLE: each kernel's header comment states what one invocation computes.
    for (name, src) in all() {
        let header: String = src
            .lines()
            .take_while(|l| l.starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(header.len() > 100, "{name}.wgsl has no header comment");
        assert!(
            header.contains("One invocation")
                || header.contains("one invocation")
                || header.contains("One workgroup")
                || header.contains("one workgroup"),
            "{name}.wgsl's header does not say what one invocation (or workgroup) computes"
        );
    }
}
