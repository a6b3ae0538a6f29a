//! Reading WGSL on the CPU with naga, the shader compiler inside wgpu: validation, entry-point
//! workgroup sizes, uniform struct layouts and named constants. No GPU needed, so tests can
//! hold the Rust side (the `#[repr(C)]` uniform mirrors, the constants that size dispatches)
//! to what the shaders declare on any machine, and tools can check a shader before running it.
//!
//! Layouts are WGSL's (the WGSL spec, "Memory Layout"), as naga computes them: a struct's
//! size and each member's byte offset, the same in every address space.

use naga::{Expression, Literal, Module, TypeInner};

/// Parses and validates `src` (named `name` in messages) with every capability allowed: the
/// module, or the parse/validation error as text that points into the source.
pub fn validate(name: &str, src: &str) -> Result<Module, String> {
    let module = naga::front::wgsl::parse_str(src)
        .map_err(|e| format!("{name}.wgsl: {}", e.emit_to_string(src)))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| format!("{name}.wgsl fails validation: {}", e.emit_to_string(src)))?;
    Ok(module)
}

/// `@workgroup_size` of entry point `entry`: literal sizes, or pipeline-overridable constants
/// (`override`) at their default values. `None` if there is no such entry point or an override
/// has no default (see [`workgroup_size_with`]).
pub fn workgroup_size(module: &Module, entry: &str) -> Option<[u32; 3]> {
    workgroup_size_with(module, entry, &[])
}

/// `@workgroup_size` of entry point `entry` when the pipeline is created with `constants`
/// (`(override name, value)`, as in wgpu's `PipelineCompilationOptions::constants`); overrides
/// not given take their default. `None` if there is no such entry point or a size cannot be
/// worked out (an override with no value, or an expression more complex than a literal or an
/// override).
pub fn workgroup_size_with(
    module: &Module,
    entry: &str,
    constants: &[(&str, f64)],
) -> Option<[u32; 3]> {
    let ep = module.entry_points.iter().find(|e| e.name == entry)?;
    let Some(overrides) = &ep.workgroup_size_overrides else {
        return Some(ep.workgroup_size);
    };
    let mut size = ep.workgroup_size;
    for (dim, expr) in size.iter_mut().zip(overrides) {
        if let Some(expr) = expr {
            *dim = eval_u32(module, *expr, constants)?;
        }
    }
    Some(size)
}

/// The value of a module-scope expression that is a literal, or an override (its value in
/// `constants`, else its default), as a u32.
fn eval_u32(
    module: &Module,
    expr: naga::Handle<Expression>,
    constants: &[(&str, f64)],
) -> Option<u32> {
    match module.global_expressions[expr] {
        Expression::Literal(lit) => literal_u32(lit),
        Expression::Constant(c) => eval_u32(module, module.constants[c].init, constants),
        Expression::Override(o) => {
            let o = &module.overrides[o];
            let name = o.name.as_deref()?;
            match constants.iter().rev().find(|(n, _)| *n == name) {
                Some(&(_, v)) if v >= 0.0 && v <= u32::MAX as f64 && v.fract() == 0.0 => {
                    Some(v as u32)
                }
                Some(_) => None,
                None => eval_u32(module, o.init?, constants),
            }
        }
        _ => None,
    }
}

fn literal_u32(lit: Literal) -> Option<u32> {
    match lit {
        Literal::U32(v) => Some(v),
        Literal::I32(v) => u32::try_from(v).ok(),
        Literal::AbstractInt(v) => u32::try_from(v).ok(),
        _ => None,
    }
}

/// Size and member `(name, byte offset)`s, in declaration order, of the struct named `name`.
pub fn struct_layout(module: &Module, name: &str) -> Option<(u32, Vec<(String, u32)>)> {
    module.types.iter().find_map(|(_, ty)| match &ty.inner {
        TypeInner::Struct { members, span } if ty.name.as_deref() == Some(name) => Some((
            *span,
            members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                .collect(),
        )),
        _ => None,
    })
}

/// The value of the module-scope `const NAME` (an integer literal), e.g. a tile size.
pub fn constant_u32(module: &Module, name: &str) -> Option<u32> {
    let (_, c) = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))?;
    eval_u32(module, c.init, &[])
}

/// The name of the type of the global bound at `@group(group) @binding(binding)`, e.g. the
/// uniform struct `ConvParams` of `var<uniform> P: ConvParams`.
pub fn binding_type_name(module: &Module, group: u32, binding: u32) -> Option<String> {
    let (_, var) = module.global_variables.iter().find(|(_, v)| {
        v.binding
            .as_ref()
            .is_some_and(|b| b.group == group && b.binding == binding)
    })?;
    module.types[var.ty].name.clone()
}

/// How the uniform struct `ty` of shader `name` differs from its Rust mirror, one message per
/// difference: each member as the WGSL lays it out (`wgsl`) against the mirror's (`rust`), in
/// order (`what` names the parts of a member, e.g. `"name, byte offset"`), then the struct's
/// size in bytes. Empty when they agree.
pub fn member_drift<T: PartialEq + std::fmt::Debug>(
    name: &str,
    ty: &str,
    what: &str,
    (wgsl, wgsl_size): (&[T], usize),
    (rust, rust_size): (&[T], usize),
) -> Vec<String> {
    let mut drift = Vec::new();
    for i in 0..wgsl.len().max(rust.len()) {
        let (w, r) = (wgsl.get(i), rust.get(i));
        if w != r {
            drift.push(format!(
                "{name}.wgsl: struct {ty} member {i} ({what}): WGSL {w:?}, Rust {r:?}"
            ));
        }
    }
    if wgsl_size != rust_size {
        drift.push(format!(
            "{name}.wgsl: struct {ty} is {wgsl_size} bytes in WGSL, {rust_size} in Rust"
        ));
    }
    drift
}
