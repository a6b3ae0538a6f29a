//! The Rust side of every network kernel agrees with its WGSL, checked with naga (no GPU):
//! - each uniform struct's `#[repr(C)]` mirror has the WGSL struct's size and, member by
//!   member, its names and byte offsets (a mismatch makes the shader read the wrong fields);
//! - each entry point's `@workgroup_size`, and the tile constants of the convolutions, match
//!   the Rust constants that size their dispatches (a mismatch skips or repeats outputs);
//! - the 1-D kernels take their workgroup size from Rust alone (`override WG` with no value).
//!
//! Both convolutions are checked as written and in every form the network compiles (f16
//! weights, f16 activations, cooperative matrices). The last test feeds the same checks
//! deliberately drifted WGSL, so they cannot pass vacuously.
//!
//! Run: `cargo test -p shadercam-kernels --test layout`.

use shadercam_kernels::reflect::{
    binding_type_name, constant_u32, member_drift, struct_layout, validate, workgroup_size_with,
};
use shadercam_kernels::{
    ConvKernel, ConvParams, ConvVariant, DIRECT_CHANNELS, DIRECT_PIXELS, Elem, GapParams,
    LinearParams, OVERRIDES_1D, PoolParams, TILED_CHANNELS, TILED_PIXELS, WORKGROUP_1D, shaders,
};

/// A Rust uniform mirror: its type name (the WGSL struct's), size and `(field, offset)`s.
struct Mirror {
    name: &'static str,
    size: usize,
    fields: Vec<(&'static str, usize)>,
}

/// `mirror!(Type { field, ... })`: every field of `Type`, in WGSL declaration order. Listing a
/// field that `Type` lacks does not compile; leaving one out changes the size or the offsets.
macro_rules! mirror {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        Mirror {
            name: stringify!($ty),
            size: std::mem::size_of::<$ty>(),
            fields: vec![$((stringify!($field), std::mem::offset_of!($ty, $field))),*],
        }
    };
}

#[rustfmt::skip]
fn mirrors() -> Vec<Mirror> {
    vec![
        mirror!(ConvParams {
            batch, in_h, in_w, cin4, out_h, out_w, cout4, kw, kh, stride, pad, flags, m, k4,
            tiles_m, _pad,
        }),
        mirror!(PoolParams {
            batch, in_h, in_w, c4, out_h, out_w, kernel, stride, pad, total, _pad0, _pad1,
        }),
        mirror!(GapParams { batch, hw, c4, total }),
        mirror!(LinearParams { batch, features4, classes, total }),
    ]
}

/// A network kernel as the GPU gets it.
struct Kernel {
    /// The shader's name in `shaders::ALL` (`conv2d`, ...).
    base: &'static str,
    /// For messages: the name, plus `(f16 weights)` for that form of a convolution.
    name: String,
    src: String,
}

impl Kernel {
    /// The pipeline-overridable constants its pipeline is created with: the 1-D workgroup
    /// size for all but the tiled convolution, whose workgroup shape is fixed by its tiles.
    fn constants(&self) -> &'static [(&'static str, f64)] {
        if self.base == "conv2d" {
            &[]
        } else {
            OVERRIDES_1D
        }
    }
}

/// Every network kernel, the convolutions in every form the network builds (each precision
/// and buffer type, the cooperative-matrix one included: `ConvKernel::all`), the max-pool
/// also on f16 activations.
fn kernels() -> Vec<Kernel> {
    let mut out = Vec::new();
    for &(base, src) in shaders::ALL {
        out.push(Kernel {
            base,
            name: base.to_owned(),
            src: src.to_owned(),
        });
        if base == "maxpool" {
            out.push(Kernel {
                base,
                name: format!("{base} (f16)"),
                src: shaders::maxpool_source(Elem::F16),
            });
        }
    }
    for k in ConvKernel::all() {
        let base = match k.variant {
            ConvVariant::Tiled | ConvVariant::Cooperative(_) => "conv2d",
            ConvVariant::Direct => "conv2d_direct",
        };
        out.push(Kernel {
            base,
            name: k.name(),
            src: k.source(),
        });
    }
    out
}

/// How the uniform struct at binding 0 of `k` differs from its Rust mirror, one line per
/// difference (empty when they agree).
fn uniform_drift(k: &Kernel) -> Vec<String> {
    let name = &k.name;
    let module = validate(name, &k.src).unwrap_or_else(|e| panic!("{e}"));
    // Every kernel reads its parameters from the uniform struct at binding 0.
    let Some(ty) = binding_type_name(&module, 0, 0) else {
        return vec![format!(
            "{name}.wgsl: no named struct at @group(0) @binding(0)"
        )];
    };
    let mirrors = mirrors();
    let Some(rust) = mirrors.iter().find(|m| m.name == ty) else {
        return vec![format!(
            "{name}.wgsl: struct {ty} has no Rust mirror in this test"
        )];
    };
    let (size, members) = struct_layout(&module, &ty).expect("binding 0's type is a struct");
    let wgsl: Vec<(&str, usize)> = members
        .iter()
        .map(|(n, offset)| (n.as_str(), *offset as usize))
        .collect();
    member_drift(
        name,
        &ty,
        "name, byte offset",
        (&wgsl[..], size as usize),
        (&rust.fields[..], rust.size),
    )
}

/// How `k`'s workgroup size and tile constants differ from the Rust constants that size its
/// dispatch (empty when they agree).
fn workgroup_drift(k: &Kernel) -> Vec<String> {
    let name = &k.name;
    let module = validate(name, &k.src).unwrap_or_else(|e| panic!("{e}"));
    let mut drift = Vec::new();
    // (what, value in WGSL, value in Rust)
    let mut checks: Vec<(&str, Option<usize>, usize)> = Vec::new();
    let constant = |c| constant_u32(&module, c).map(|v| v as usize);
    let size = workgroup_size_with(&module, "main", k.constants());
    if size.is_some_and(|s| s[1..] != [1, 1]) {
        drift.push(format!(
            "{name}.wgsl: `main` is not a 1-D workgroup: {size:?}"
        ));
    }
    let x = size.map(|s| s[0] as usize);
    if k.base == "conv2d" {
        checks.push(("BM (TILED_PIXELS)", constant("BM"), TILED_PIXELS));
        let bn = constant("BN4").map(|v| 4 * v);
        checks.push(("4 x BN4 (TILED_CHANNELS)", bn, TILED_CHANNELS));
        // One invocation computes 4 pixels x 4 channels of the tile.
        let invocations = TILED_PIXELS / 4 * (TILED_CHANNELS / 4);
        checks.push(("@workgroup_size of `main`", x, invocations));
    } else {
        if k.base == "conv2d_direct" {
            checks.push(("R (DIRECT_PIXELS)", constant("R"), DIRECT_PIXELS));
            let c = constant("C4").map(|v| 4 * v);
            checks.push(("4 x C4 (DIRECT_CHANNELS)", c, DIRECT_CHANNELS));
        }
        checks.push(("@workgroup_size of `main`", x, WORKGROUP_1D));
        // Rust is the only source: without its constants the size is unknown.
        if let Some(s) = workgroup_size_with(&module, "main", &[]) {
            drift.push(format!(
                "{name}.wgsl: @workgroup_size is {s:?} without Rust's constants; it should be \
                 `override WG` with no value"
            ));
        }
    }
    for (what, wgsl, rust) in checks {
        if wgsl != Some(rust) {
            drift.push(format!(
                "{name}.wgsl: {what} is {wgsl:?} in WGSL, {rust} in Rust"
            ));
        }
    }
    drift
}

#[test]
fn every_uniform_struct_matches_its_rust_mirror() {
    for k in kernels() {
        let drift = uniform_drift(&k);
        assert!(drift.is_empty(), "{}", drift.join("\n"));
    }
}

#[test]
fn workgroup_sizes_and_tiles_match_the_rust_dispatch_sizes() {
    for k in kernels() {
        let drift = workgroup_drift(&k);
        assert!(drift.is_empty(), "{}", drift.join("\n"));
    }
}

/// The checks above catch each kind of drift: two members swapped (same size), a member added
/// on the WGSL side only, a padding field dropped, a tile size changed, a workgroup size
/// written as a literal again.
#[test]
fn a_drifted_shader_fails_the_checks() {
    let drifted = |base: &'static str, from: &str, to: &str| {
        let src = shaders::ALL.iter().find(|(n, _)| *n == base).unwrap().1;
        assert!(src.contains(from), "test edit `{from}` no longer applies");
        Kernel {
            base,
            name: format!("{base} (drifted: `{from}` -> `{to}`)"),
            src: src.replacen(from, to, 1),
        }
    };
    let uniform = [
        drifted(
            "conv2d",
            "    kw: u32,\n    kh: u32,",
            "    kh: u32,\n    kw: u32,",
        ),
        drifted(
            "linear",
            "    total: u32,",
            "    total: u32,\n    extra: u32,",
        ),
        drifted("maxpool", "    _pad1: u32,\n", ""),
    ];
    for k in uniform {
        assert!(!uniform_drift(&k).is_empty(), "{} went unnoticed", k.name);
    }
    let workgroup = [
        drifted("conv2d", "const BM: u32 = 64u;", "const BM: u32 = 32u;"),
        drifted("conv2d_direct", "const R: u32 = 8u;", "const R: u32 = 4u;"),
        drifted(
            "conv2d_direct",
            "const C4: u32 = 2u;",
            "const C4: u32 = 4u;",
        ),
        drifted("conv2d", "@workgroup_size(256)", "@workgroup_size(128)"),
        drifted("maxpool", "override WG: u32;", "override WG: u32 = 64u;"),
        drifted(
            "global_avg_pool",
            "@workgroup_size(WG)",
            "@workgroup_size(64)",
        ),
    ];
    for k in workgroup {
        assert!(!workgroup_drift(&k).is_empty(), "{} went unnoticed", k.name);
    }
}
