//! Every shader under shaders/ is registered by a crate (so it is compiled and validated), and
//! the CAM stage's shaders parse and validate with naga — no GPU needed.

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
fn cam_shaders_parse_and_validate() {
    for (name, src) in shadercam_cam::shaders::ALL {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}.wgsl fails validation: {e:?}"));
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
