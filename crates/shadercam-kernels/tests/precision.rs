//! The precision modes and the cooperative-matrix convolution without a GPU: every form of the
//! convolution validates with naga under exactly the shader capabilities its adapter must have
//! (and fails without them), the cooperative form also compiles to SPIR-V (what Vulkan gets)
//! and differs from the f16 SIMT form only in its tile-multiply blocks, and the choices made
//! from what an adapter reports (precision `auto`, cooperative matrices, kernel variant) are
//! checked against listed adapters.
//!
//! Run: `cargo test -p shadercam-kernels --test precision`.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use shadercam_kernels::{
    ConvIo, ConvKernel, ConvVariant, Elem, Precision, cooperative_matrix_usable, shaders,
};

/// Parses `src` and validates it allowing only `caps`.
fn validate_with(name: &str, src: &str, caps: Capabilities) -> Result<naga::Module, String> {
    let module = naga::front::wgsl::parse_str(src)
        .map_err(|e| format!("{name}: {}", e.emit_to_string(src)))?;
    Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| format!("{name}: {}", e.emit_to_string(src)))?;
    Ok(module)
}

/// The shader capabilities a form needs: f16 arithmetic for the f16 forms, plus cooperative
/// matrices and subgroups (for `subgroup_id`) for the cooperative one. wgpu grants
/// `SHADER_FLOAT16_IN_FLOAT32` (`unpack2x16float`) wherever it runs compute.
fn capabilities(k: &ConvKernel) -> Capabilities {
    let mut caps = Capabilities::SHADER_FLOAT16_IN_FLOAT32;
    if k.precision == Precision::F16 {
        caps |= Capabilities::SHADER_FLOAT16;
    }
    if k.variant == ConvVariant::Cooperative {
        caps |= Capabilities::COOPERATIVE_MATRIX | Capabilities::SUBGROUP;
    }
    caps
}

#[test]
fn every_convolution_form_validates_with_only_the_capabilities_it_needs() {
    let all = ConvKernel::all();
    // 2 variants x (f32, f16w) + 2 variants x 4 f16 buffer types + 4 cooperative.
    assert_eq!(all.len(), 2 * 2 + 2 * 4 + 4, "{all:#?}");
    for k in &all {
        let caps = capabilities(k);
        validate_with(&k.name(), &k.source(), caps).unwrap_or_else(|e| panic!("{e}"));
        // And not with less: each capability listed is really used.
        for cap in [
            Capabilities::SHADER_FLOAT16,
            Capabilities::COOPERATIVE_MATRIX,
            Capabilities::SUBGROUP,
        ] {
            if caps.contains(cap) {
                assert!(
                    validate_with(&k.name(), &k.source(), caps - cap).is_err(),
                    "{} validates without {cap:?}",
                    k.name()
                );
            }
        }
    }
}

/// The source with the blocks `names` emptied and `enable` lines dropped, for comparing forms.
fn without_blocks(src: &str, names: &[&str]) -> String {
    let mut out = names
        .iter()
        .fold(src.to_owned(), |s, n| shaders::swap_block(&s, n, ""));
    out = out
        .lines()
        .filter(|l| !l.starts_with("enable "))
        .collect::<Vec<_>>()
        .join("\n");
    out
}

const MULTIPLY_BLOCKS: [&str; 5] = [
    "multiply-decls",
    "entry",
    "multiply-init",
    "multiply",
    "multiply-finish",
];

/// The cooperative-matrix form shares everything but its tile multiply with the f16 SIMT
/// form that CI runs on lavapipe: tile loads, addressing, padding, epilogue, bindings.
#[test]
fn the_cooperative_form_differs_from_the_f16_simt_form_only_in_its_tile_multiply() {
    for io in [
        ConvIo::same(Elem::F16),
        ConvIo {
            input: Elem::F32,
            output: Elem::F16,
        },
        ConvIo {
            input: Elem::F16,
            output: Elem::F32,
        },
    ] {
        let form = |variant| ConvKernel {
            variant,
            precision: Precision::F16,
            io,
        };
        let (simt, coop) = (
            form(ConvVariant::Tiled).source(),
            form(ConvVariant::Cooperative).source(),
        );
        assert_ne!(simt, coop);
        assert_eq!(
            without_blocks(&simt, &MULTIPLY_BLOCKS),
            without_blocks(&coop, &MULTIPLY_BLOCKS),
            "{io:?}: the forms differ outside the tile-multiply blocks"
        );
        assert!(coop.contains("coopMultiplyAdd(") && !simt.contains("coopMultiplyAdd("));
    }
}

/// The f16 forms compile to SPIR-V (what wgpu hands a Vulkan driver) with naga's own backend,
/// the cooperative one with its `SUBGROUPS` constant set as for a 32-wide subgroup (NVIDIA):
/// catches constructs that validate but that the Vulkan backend cannot express.
#[test]
fn the_f16_forms_compile_to_spir_v() {
    for k in ConvKernel::all()
        .into_iter()
        .filter(|k| k.precision == Precision::F16)
    {
        let name = k.name();
        let module = validate_with(&name, &k.source(), capabilities(&k)).unwrap();
        let info = Validator::new(ValidationFlags::all(), capabilities(&k))
            .validate(&module)
            .unwrap();
        let mut constants = naga::back::PipelineConstants::default();
        for (n, v) in k.constants(32) {
            constants.insert(n.to_owned(), v);
        }
        let (module, info) = naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            Some((naga::ShaderStage::Compute, "main")),
            &constants,
        )
        .unwrap_or_else(|e| panic!("{name}: overrides: {e}"));
        let options = naga::back::spv::Options {
            lang_version: (1, 6),
            ..Default::default()
        };
        let words = naga::back::spv::write_vec(&module, &info, &options, None)
            .unwrap_or_else(|e| panic!("{name}: SPIR-V: {e}"));
        assert!(words.len() > 100, "{name}: {} SPIR-V words", words.len());
    }
}

/// The cooperative form's workgroup memory (tiles and product) is what the adapter check
/// ([`cooperative_matrix_usable`]) asks for.
#[test]
fn the_cooperative_form_needs_the_workgroup_memory_the_adapter_check_asks_for() {
    let k = ConvKernel {
        variant: ConvVariant::Cooperative,
        precision: Precision::F16,
        io: ConvIo::same(Elem::F16),
    };
    let module = validate_with(&k.name(), &k.source(), capabilities(&k)).unwrap();
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    let bytes: u32 = module
        .global_variables
        .iter()
        .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
        .map(|(_, v)| layouter[v.ty].size)
        .sum();
    assert_eq!(bytes, shaders::COOPERATIVE_WORKGROUP_BYTES);
}

/// What the NVIDIA H200 reported (benches/gpu, 2026-11-26): f16 inputs only, three shapes,
/// f16 or f32 accumulators.
fn h200_properties() -> Vec<wgpu::CooperativeMatrixProperties> {
    use wgpu::CooperativeScalarType::{F16, F32};
    let mut out = Vec::new();
    for (m, n, k) in [(16, 16, 16), (16, 8, 16), (16, 8, 8)] {
        for cr_type in [F16, F32] {
            out.push(wgpu::CooperativeMatrixProperties {
                m_size: m,
                n_size: n,
                k_size: k,
                ab_type: F16,
                cr_type,
                saturating_accumulation: false,
            });
        }
    }
    out
}

fn gpu_limits() -> wgpu::Limits {
    wgpu::Limits {
        max_compute_workgroup_storage_size: 48 << 10,
        ..wgpu::Limits::default()
    }
}

fn coop_features() -> wgpu::Features {
    wgpu::Features::SHADER_F16
        | wgpu::Features::SUBGROUP
        | wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX
}

#[test]
fn cooperative_matrices_are_used_only_where_the_kernel_can_run_on_them() {
    let (h200, limits, features) = (h200_properties(), gpu_limits(), coop_features());
    assert!(cooperative_matrix_usable(
        features,
        &h200,
        &limits,
        (32, 32)
    ));
    // Subgroups of 16 or 64 (4 or 16 per workgroup) work too.
    for s in [16, 64] {
        assert!(cooperative_matrix_usable(features, &h200, &limits, (s, s)));
    }
    // No 16x16x16 f16 -> f32 configuration: only f16 accumulators, or only 8x8 f32 (wgpu's
    // Metal path), or nothing (lavapipe).
    let f16_acc: Vec<_> = h200
        .iter()
        .filter(|p| p.cr_type == wgpu::CooperativeScalarType::F16)
        .copied()
        .collect();
    let metal = [wgpu::CooperativeMatrixProperties {
        m_size: 8,
        n_size: 8,
        k_size: 8,
        ab_type: wgpu::CooperativeScalarType::F32,
        cr_type: wgpu::CooperativeScalarType::F32,
        saturating_accumulation: false,
    }];
    for props in [&f16_acc[..], &metal[..], &[]] {
        assert!(!cooperative_matrix_usable(
            features,
            props,
            &limits,
            (32, 32)
        ));
    }
    // Each missing feature rules it out.
    for f in [
        wgpu::Features::SHADER_F16,
        wgpu::Features::SUBGROUP,
        wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX,
    ] {
        assert!(!cooperative_matrix_usable(
            features - f,
            &h200,
            &limits,
            (32, 32)
        ));
    }
    // WebGPU's default 16 KiB of workgroup memory is too little for the 20 KiB of tiles.
    assert!(!cooperative_matrix_usable(
        features,
        &h200,
        &wgpu::Limits::default(),
        (32, 32)
    ));
    // A subgroup size that varies (AMD RDNA: 32 or 64) or 128 wide cannot be dealt blocks by
    // a pipeline constant.
    for sizes in [(32, 64), (128, 128), (8, 8)] {
        assert!(!cooperative_matrix_usable(features, &h200, &limits, sizes));
    }
}

#[test]
fn each_adapter_gets_the_expected_convolution_kernel() {
    use wgpu::DeviceType::{Cpu, DiscreteGpu, IntegratedGpu};
    let pick = ConvVariant::preferred;
    // CPU adapters (lavapipe) run the direct kernel in every precision.
    for p in [Precision::F32, Precision::F16Weights, Precision::F16] {
        assert_eq!(pick(Cpu, p, false), ConvVariant::Direct);
    }
    // GPUs: tensor cores for f16 where usable, else the tiled SIMT kernel.
    assert_eq!(
        pick(DiscreteGpu, Precision::F16, true),
        ConvVariant::Cooperative
    );
    assert_eq!(pick(DiscreteGpu, Precision::F16, false), ConvVariant::Tiled);
    assert_eq!(
        pick(IntegratedGpu, Precision::F16, false),
        ConvVariant::Tiled
    );
    assert_eq!(pick(DiscreteGpu, Precision::F32, true), ConvVariant::Tiled);
    assert_eq!(
        pick(DiscreteGpu, Precision::F16Weights, true),
        ConvVariant::Tiled
    );
}

#[test]
fn auto_is_f16_on_gpus_with_f16_and_f32_elsewhere() {
    use wgpu::DeviceType::{Cpu, DiscreteGpu, IntegratedGpu};
    let f16 = wgpu::Features::SHADER_F16;
    let none = wgpu::Features::empty();
    let resolve = |p: Precision, t, f| p.resolve(t, f).unwrap();
    assert_eq!(resolve(Precision::Auto, DiscreteGpu, f16), Precision::F16);
    assert_eq!(resolve(Precision::Auto, IntegratedGpu, f16), Precision::F16);
    assert_eq!(resolve(Precision::Auto, DiscreteGpu, none), Precision::F32);
    // lavapipe has SHADER_F16, and f32 is faster there (benches/README.md).
    assert_eq!(resolve(Precision::Auto, Cpu, f16), Precision::F32);
    // Explicit choices are kept where the adapter can run them ...
    for p in [Precision::F32, Precision::F16Weights] {
        assert_eq!(resolve(p, DiscreteGpu, none), p);
    }
    assert_eq!(resolve(Precision::F16, Cpu, f16), Precision::F16);
    // ... and f16 without SHADER_F16 is an error that says what to use instead.
    let err = Precision::F16.resolve(DiscreteGpu, none).unwrap_err();
    assert!(err.contains("SHADER_F16") && err.contains("f16w"), "{err}");
}

/// f16 buffers only where the precision stores f16: f32 and f16w keep every activation f32,
/// and the cooperative kernel exists only in f16.
#[test]
fn impossible_forms_are_refused_with_a_reason() {
    let f16_io = ConvIo::same(Elem::F16);
    for (variant, precision, io) in [
        (ConvVariant::Tiled, Precision::F32, f16_io),
        (ConvVariant::Direct, Precision::F16Weights, f16_io),
        (
            ConvVariant::Cooperative,
            Precision::F32,
            ConvIo::same(Elem::F32),
        ),
        (ConvVariant::Tiled, Precision::Auto, ConvIo::same(Elem::F32)),
    ] {
        let k = ConvKernel {
            variant,
            precision,
            io,
        };
        assert!(k.check().is_err(), "{k:?} accepted");
    }
}

/// The max-pool in f16 validates with SHADER_FLOAT16 and needs it.
#[test]
fn the_f16_max_pool_validates() {
    let src = shaders::maxpool_source(Elem::F16);
    validate_with("maxpool (f16)", &src, Capabilities::SHADER_FLOAT16).unwrap();
    assert!(validate_with("maxpool (f16)", &src, Capabilities::empty()).is_err());
    validate_with(
        "maxpool",
        &shaders::maxpool_source(Elem::F32),
        Capabilities::empty(),
    )
    .unwrap();
}
