//! Every WGSL kernel parses and validates with naga — no GPU needed, so a broken shader fails
//! on any machine (wgpu's own `naga/tests` do the same).

#[test]
fn every_shader_parses_and_validates() {
    // The convolutions also as compiled with `--precision f16` (weights block swapped).
    let f16: Vec<(String, String)> = ["conv2d", "conv2d_direct"]
        .iter()
        .map(|n| {
            let src = shadercam_kernels::shaders::ALL
                .iter()
                .find(|(m, _)| m == n)
                .unwrap()
                .1;
            (
                format!("{n} (f16 weights)"),
                shadercam_kernels::shaders::with_f16_weights(src),
            )
        })
        .collect();
    let all = shadercam_kernels::shaders::ALL
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .chain(f16);
    for (name, src) in all {
        let (name, src) = (name.as_str(), src.as_str());
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}.wgsl fails validation: {e:?}"));
        assert!(
            module.entry_points.iter().any(|e| e.name == "main"),
            "{name}.wgsl has no `main` entry point"
        );
    }
}
