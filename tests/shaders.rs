//! Every shader under shaders/ is registered by a crate, and every one (the convolutions also in
//! their f16-weight form) parses and validates with naga — no GPU needed, so a broken shader
//! fails on any machine (wgpu's own `naga/tests` do the same).

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

/// Parses and validates one WGSL source with naga; panics naming the shader.
fn validate(name: &str, src: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(src)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}.wgsl fails validation: {e:?}"));
    module
}

#[test]
fn every_shader_parses_and_validates() {
    for (name, src) in shadercam_cam::shaders::ALL {
        validate(name, src);
    }
    // The network's kernels are created with entry point `main`.
    for (name, src) in shadercam_kernels::shaders::ALL {
        let module = validate(name, src);
        assert!(
            module.entry_points.iter().any(|e| e.name == "main"),
            "{name}.wgsl has no `main` entry point"
        );
    }
    // The convolutions also as compiled with `--precision f16` (weights block swapped).
    for name in ["conv2d", "conv2d_direct"] {
        let src = all().iter().find(|(n, _)| *n == name).unwrap().1;
        validate(
            &format!("{name} (f16 weights)"),
            &shadercam_kernels::shaders::with_f16_weights(src),
        );
    }
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
