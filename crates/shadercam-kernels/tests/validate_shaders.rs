//! Every WGSL kernel parses and validates with naga — no GPU needed, so a broken shader fails
//! on any machine (wgpu's own `naga/tests` do the same).

#[test]
fn every_shader_parses_and_validates() {
    for (name, src) in shadercam_kernels::shaders::ALL {
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
