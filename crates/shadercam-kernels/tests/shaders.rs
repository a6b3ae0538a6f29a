//! Every network kernel (the convolutions also in their f16-weight form) parses and validates
//! with naga — no GPU needed, so a broken shader fails on any machine (wgpu's own `naga/tests`
//! do the same). That every shader's header says what one invocation computes is checked for
//! all shaders of both crates at once, in the workspace's tests/shaders.rs.

use shadercam_kernels::{reflect, shaders};

#[test]
fn every_kernel_parses_and_validates() {
    // The network's kernels are created with entry point `main`.
    for (name, src) in shaders::ALL {
        let module = reflect::validate(name, src).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            module.entry_points.iter().any(|e| e.name == "main"),
            "{name}.wgsl has no `main` entry point"
        );
    }
    // The convolutions also as compiled with `--precision f16w` (weights block swapped); every
    // other form: tests/precision.rs.
    for name in ["conv2d", "conv2d_direct"] {
        let src = shaders::ALL.iter().find(|(n, _)| *n == name).unwrap().1;
        reflect::validate(
            &format!("{name} (f16 weights)"),
            &shaders::with_f16_weights(src),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A shader that does not parse is an error naming it, not a panic: tools can report it.
#[test]
fn a_broken_shader_is_an_error_naming_it() {
    let err = reflect::validate("broken", "fn main( {").unwrap_err();
    assert!(err.contains("broken.wgsl"), "{err}");
}
