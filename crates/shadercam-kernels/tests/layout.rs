//! The Rust side of every network kernel agrees with its WGSL, checked with naga (no GPU):
//! - each uniform struct's `#[repr(C)]` mirror has the WGSL struct's size and, member by
//!   member, its names and byte offsets (a mismatch makes the shader read the wrong fields);
//! - each entry point's `@workgroup_size`, and the tile constants of the convolutions, match
//!   the Rust constants that size their dispatches (a mismatch skips or repeats outputs).
//!
//! Both convolutions are checked as written and as compiled with f16 weights.

use shadercam_kernels::reflect::{
    binding_type_name, constant_u32, struct_layout, validate, workgroup_size_with,
};
use shadercam_kernels::{
    ConvParams, DIRECT_CHANNELS, DIRECT_PIXELS, GapParams, LinearParams, OVERRIDES_1D, PoolParams,
    TILED_CHANNELS, TILED_PIXELS, WORKGROUP_1D, shaders,
};

/// A Rust uniform mirror: its type name (the WGSL struct's), size and `(field, offset)`s.
struct Mirror {
    name: &'static str,
    size: u32,
    fields: Vec<(&'static str, u32)>,
}

/// `mirror!(Type { field, ... })`: every field of `Type`, in WGSL declaration order. Listing a
/// field that `Type` lacks does not compile; leaving one out changes the size or the offsets.
macro_rules! mirror {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        Mirror {
            name: stringify!($ty),
            size: std::mem::size_of::<$ty>() as u32,
            fields: vec![$((stringify!($field), std::mem::offset_of!($ty, $field) as u32)),*],
        }
    };
}

fn mirrors() -> Vec<Mirror> {
    vec![
        mirror!(ConvParams {
            batch,
            in_h,
            in_w,
            cin4,
            out_h,
            out_w,
            cout4,
            kw,
            kh,
            stride,
            pad,
            flags,
            m,
            k4,
            tiles_m,
            _pad,
        }),
        mirror!(PoolParams {
            batch,
            in_h,
            in_w,
            c4,
            out_h,
            out_w,
            kernel,
            stride,
            pad,
            total,
            _pad0,
            _pad1,
        }),
        mirror!(GapParams {
            batch,
            hw,
            c4,
            total
        }),
        mirror!(LinearParams {
            batch,
            features4,
            classes,
            total
        }),
    ]
}

/// A network kernel as the GPU gets it.
struct Kernel {
    /// The shader's name in `shaders::ALL` (`conv2d`, ...).
    base: &'static str,
    /// For messages: the name, plus `(f16 weights)` for that form of a convolution.
    name: String,
    src: String,
    /// The pipeline-overridable constants its pipeline is created with.
    constants: &'static [(&'static str, f64)],
}

/// Every network kernel, the convolutions also in their f16-weight form.
fn kernels() -> Vec<Kernel> {
    let mut out = Vec::new();
    for &(base, src) in shaders::ALL {
        let constants = if base == "conv2d" {
            &[][..]
        } else {
            OVERRIDES_1D
        };
        out.push(Kernel {
            base,
            name: base.to_owned(),
            src: src.to_owned(),
            constants,
        });
        if base.starts_with("conv2d") {
            out.push(Kernel {
                base,
                name: format!("{base} (f16 weights)"),
                src: shaders::with_f16_weights(src),
                constants,
            });
        }
    }
    out
}

#[test]
fn every_uniform_struct_matches_its_rust_mirror() {
    let mirrors = mirrors();
    for Kernel { name, src, .. } in kernels() {
        let module = validate(&name, &src).unwrap_or_else(|e| panic!("{e}"));
        // Every kernel reads its parameters from the uniform struct at binding 0.
        let ty = binding_type_name(&module, 0, 0)
            .unwrap_or_else(|| panic!("{name}.wgsl: no named struct at @group(0) @binding(0)"));
        let rust = mirrors
            .iter()
            .find(|m| m.name == ty)
            .unwrap_or_else(|| panic!("{name}.wgsl: struct {ty} has no Rust mirror in this test"));
        let (size, members) = struct_layout(&module, &ty).unwrap();
        let wgsl: Vec<(&str, u32)> = members.iter().map(|(n, o)| (n.as_str(), *o)).collect();
        assert_eq!(
            wgsl, rust.fields,
            "{name}.wgsl: struct {ty} members (name, byte offset) differ from the Rust mirror \
             (left WGSL, right Rust)"
        );
        assert_eq!(
            size, rust.size,
            "{name}.wgsl: struct {ty} is {size} bytes in WGSL, {} in Rust",
            rust.size
        );
    }
}

#[test]
fn workgroup_sizes_match_the_rust_dispatch_sizes() {
    for Kernel {
        base,
        name,
        src,
        constants,
    } in kernels()
    {
        let module = validate(&name, &src).unwrap_or_else(|e| panic!("{e}"));
        let got = workgroup_size_with(&module, "main", constants)
            .unwrap_or_else(|| panic!("{name}.wgsl: no workgroup size with {constants:?}"));
        let want = if base == "conv2d" {
            // One invocation computes 4 pixels x 4 channels of a TILED_PIXELS x
            // TILED_CHANNELS tile.
            [(TILED_PIXELS / 4 * (TILED_CHANNELS / 4)) as u32, 1, 1]
        } else {
            [WORKGROUP_1D as u32, 1, 1]
        };
        assert_eq!(got, want, "{name}.wgsl: @workgroup_size of `main`");
    }
}

#[test]
fn convolution_tiles_match_the_rust_constants() {
    let tiled = validate("conv2d", shaders::CONV2D).unwrap();
    let get = |m, c| constant_u32(m, c).unwrap_or_else(|| panic!("no const {c}")) as usize;
    assert_eq!(
        get(&tiled, "BM"),
        TILED_PIXELS,
        "conv2d.wgsl: BM vs TILED_PIXELS"
    );
    assert_eq!(
        4 * get(&tiled, "BN4"),
        TILED_CHANNELS,
        "conv2d.wgsl: 4 x BN4 vs TILED_CHANNELS"
    );
    let direct = validate("conv2d_direct", shaders::CONV2D_DIRECT).unwrap();
    assert_eq!(
        get(&direct, "R"),
        DIRECT_PIXELS,
        "conv2d_direct.wgsl: R vs DIRECT_PIXELS"
    );
    assert_eq!(
        4 * get(&direct, "C4"),
        DIRECT_CHANNELS,
        "conv2d_direct.wgsl: 4 x C4 vs DIRECT_CHANNELS"
    );
}

/// The 1-D kernels take their workgroup size only from Rust: without the pipeline constants
/// it is unknown (a literal in the shader would be a second source that can drift).
#[test]
fn one_dimensional_kernels_leave_the_workgroup_size_to_rust() {
    for Kernel {
        name,
        src,
        constants,
        ..
    } in kernels()
    {
        if constants.is_empty() {
            continue;
        }
        let module = validate(&name, &src).unwrap();
        assert_eq!(
            workgroup_size_with(&module, "main", &[]),
            None,
            "{name}.wgsl: @workgroup_size should be `override WG` with no default"
        );
    }
}
