//! The CAM shaders and the Rust that drives them agree, checked with naga (no GPU needed):
//! - every CAM shader parses and validates, so a broken shader fails on any machine;
//! - the uniform struct at binding 0 of each shader has a Rust mirror in
//!   `shadercam_cam::uniforms` with the same size and, member by member, the same name, type
//!   and byte offset (a mismatch makes the shader read the wrong fields);
//! - each entry point's `@workgroup_size` is the one the stage sizes its dispatch with
//!   (`shadercam_cam::shaders::ENTRY_POINTS`; a mismatch skips or repeats work items), and
//!   that list names every entry point.
//!
//! The last test feeds the same checks deliberately drifted WGSL and expects complaints, so
//! the checks cannot pass vacuously.
//!
//! Run: `cargo test -p shadercam-cam --test shaders`.

use naga::{Module, ScalarKind, TypeInner};
use shadercam_cam::shaders::{self, ENTRY_POINTS};
use shadercam_cam::uniforms::{self, Mirror};
use shadercam_kernels::reflect::{
    binding_type_name, member_drift, struct_layout, validate, workgroup_size,
};

/// A WGSL scalar as Rust spells it (`u32`, `f32`, ...).
fn scalar(s: naga::Scalar) -> String {
    let kind = match s.kind {
        ScalarKind::Uint => "u",
        ScalarKind::Sint => "i",
        ScalarKind::Float => "f",
        other => return format!("{other:?}"),
    };
    format!("{kind}{}", s.width as u32 * 8)
}

/// A WGSL member type as the Rust mirror writes it (`stringify!` of the field's type):
/// `u32`, `f32`, `vec4<f32>` as `[f32; 4]`.
fn rust_spelling(module: &Module, ty: naga::Handle<naga::Type>) -> String {
    match module.types[ty].inner {
        TypeInner::Scalar(s) => scalar(s),
        TypeInner::Vector { size, scalar: s } => format!("[{}; {}]", scalar(s), size as u8),
        ref other => format!("{other:?}"),
    }
}

/// How the uniform struct at binding 0 of shader `name` differs from its Rust mirror among
/// `mirrors`, one line per difference (empty when they agree). Returns the struct's name too.
fn uniform_drift(name: &str, src: &str, mirrors: &[Mirror]) -> (Option<String>, Vec<String>) {
    let module = validate(name, src).unwrap_or_else(|e| panic!("{e}"));
    let Some(ty) = binding_type_name(&module, 0, 0) else {
        return (
            None,
            vec![format!(
                "{name}.wgsl: no named struct at @group(0) @binding(0)"
            )],
        );
    };
    let Some(rust) = mirrors.iter().find(|m| m.name == ty) else {
        return (
            Some(ty.clone()),
            vec![format!(
                "{name}.wgsl: struct {ty} has no Rust mirror in shadercam_cam::uniforms::ALL"
            )],
        );
    };
    let (size, members) = struct_layout(&module, &ty).expect("binding 0's type is a struct");
    let member_types: Vec<String> = module
        .types
        .iter()
        .find_map(|(_, t)| match &t.inner {
            TypeInner::Struct { members, .. } if t.name.as_deref() == Some(ty.as_str()) => Some(
                members
                    .iter()
                    .map(|m| rust_spelling(&module, m.ty))
                    .collect(),
            ),
            _ => None,
        })
        .expect("struct_layout found it");
    let wgsl: Vec<(&str, &str, usize)> = members
        .iter()
        .zip(&member_types)
        .map(|((n, offset), t)| (n.as_str(), t.as_str(), *offset as usize))
        .collect();
    let drift = member_drift(
        name,
        &ty,
        "name, type, byte offset",
        (&wgsl[..], size as usize),
        (rust.fields, rust.size),
    );
    (Some(ty), drift)
}

/// How the entry points of shader `name` differ from `entries` (`(shader, entry point,
/// invocations along x)`): workgroup sizes that disagree, entry points on one side only.
fn workgroup_drift(name: &str, src: &str, entries: &[(&str, &str, usize)]) -> Vec<String> {
    let module = validate(name, src).unwrap_or_else(|e| panic!("{e}"));
    let mut drift = Vec::new();
    for ep in &module.entry_points {
        let Some(&(_, _, x)) = entries.iter().find(|(s, e, _)| *s == name && *e == ep.name) else {
            drift.push(format!(
                "{name}.wgsl: entry point `{}` is not in shaders::ENTRY_POINTS",
                ep.name
            ));
            continue;
        };
        let got = workgroup_size(&module, &ep.name);
        if got != Some([x as u32, 1, 1]) {
            drift.push(format!(
                "{name}.wgsl: @workgroup_size of `{}` is {got:?}, the stage dispatches it \
                 for [{x}, 1, 1]",
                ep.name
            ));
        }
    }
    for (_, e, _) in entries.iter().filter(|(s, _, _)| *s == name) {
        if !module.entry_points.iter().any(|ep| ep.name == *e) {
            drift.push(format!(
                "{name}.wgsl: shaders::ENTRY_POINTS lists `{e}`, the shader has no such entry point"
            ));
        }
    }
    drift
}

#[test]
fn every_cam_shader_parses_and_validates() {
    for (name, src) in shaders::ALL {
        validate(name, src).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn uniform_structs_match_their_rust_mirrors() {
    let mut used = Vec::new();
    for (name, src) in shaders::ALL {
        let (ty, drift) = uniform_drift(name, src, uniforms::ALL);
        assert!(drift.is_empty(), "{}", drift.join("\n"));
        used.extend(ty);
    }
    for m in uniforms::ALL {
        assert!(
            used.iter().any(|t| t == m.name),
            "uniforms::{} mirrors no CAM shader's binding-0 struct",
            m.name
        );
    }
}

#[test]
fn workgroup_sizes_match_the_rust_dispatch_sizes() {
    for (name, src) in shaders::ALL {
        let drift = workgroup_drift(name, src, ENTRY_POINTS);
        assert!(drift.is_empty(), "{}", drift.join("\n"));
    }
    for (s, e, _) in ENTRY_POINTS {
        assert!(
            shaders::ALL.iter().any(|(n, _)| n == s),
            "shaders::ENTRY_POINTS names `{s}::{e}`, but `{s}` is not in shaders::ALL"
        );
    }
}

/// The checks above catch each kind of drift: a member whose type changed (same size) in the
/// Rust mirror, a member added on the WGSL side only, a padding field dropped, a workgroup size changed, an
/// entry point added without telling the stage.
#[test]
fn a_drifted_shader_fails_the_checks() {
    let edit = |src: &str, from: &str, to: &str| {
        assert!(src.contains(from), "test edit `{from}` no longer applies");
        src.replacen(from, to, 1)
    };
    // A Rust field whose type changed: `eps: u32` in the mirror of NormParams.
    let norm = uniforms::NormParams::MIRROR;
    let fields: Vec<(&str, &str, usize)> = norm
        .fields
        .iter()
        .map(|&(n, t, o)| (n, if n == "eps" { "u32" } else { t }, o))
        .collect();
    let retyped = Mirror {
        fields: Box::leak(fields.into_boxed_slice()),
        ..norm
    };
    let (_, drift) = uniform_drift("cam_normalize", shaders::CAM_NORMALIZE, &[retyped]);
    assert!(!drift.is_empty(), "NormParams.eps as u32 went unnoticed");
    // WGSL-side edits.
    let uniform = [
        (
            "cam_normalize",
            shaders::CAM_NORMALIZE,
            "    len: u32,",
            "    len: u32,\n    extra: u32,",
        ),
        (
            "cam_weighted_sum",
            shaders::CAM_WEIGHTED_SUM,
            "    _pad2: u32,\n",
            "",
        ),
    ];
    for (name, src, from, to) in uniform {
        let (_, drift) = uniform_drift(name, &edit(src, from, to), uniforms::ALL);
        assert!(
            !drift.is_empty(),
            "{name}: `{from}` -> `{to}` went unnoticed"
        );
    }
    let wg = edit(
        shaders::CAM_TARGETS,
        "@workgroup_size(64)",
        "@workgroup_size(128)",
    );
    assert!(!workgroup_drift("cam_targets", &wg, ENTRY_POINTS).is_empty());
    let extra = format!(
        "{}\n@compute @workgroup_size(64)\nfn extra() {{}}\n",
        shaders::CAM_TARGETS
    );
    assert!(!workgroup_drift("cam_targets", &extra, ENTRY_POINTS).is_empty());
}
