//! The precision modes and the cooperative-matrix convolution without a GPU: every form of the
//! convolution validates with naga under exactly the shader capabilities its adapter must have
//! (and fails without them), the cooperative form also compiles to SPIR-V (what Vulkan gets)
//! and differs from the f16 SIMT form only in its tile-multiply blocks, and the choices made
//! from what an adapter reports (precision `auto`, cooperative matrices, kernel variant) are
//! checked against listed adapters: the cooperative-matrix shape is chosen from property lists
//! recorded on lavapipe 26, an NVIDIA H200 and an RDNA3-like GPU.
//!
//! Run: `cargo test -p shadercam-kernels --test precision`.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use shadercam_kernels::{
    ConvIo, ConvKernel, ConvVariant, CoopShape, Elem, Precision, choose_cooperative_shape, shaders,
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
    if matches!(k.variant, ConvVariant::Cooperative(_)) {
        caps |= Capabilities::COOPERATIVE_MATRIX | Capabilities::SUBGROUP;
    }
    caps
}

#[test]
fn every_convolution_form_validates_with_only_the_capabilities_it_needs() {
    let all = ConvKernel::all();
    // 2 variants x (f32, f16w) + 2 variants x 4 f16 buffer types + 4 per cooperative shape.
    let shapes = ConvKernel::COOPERATIVE_SHAPES.len();
    assert_eq!(all.len(), 2 * 2 + 2 * 4 + 4 * shapes, "{all:#?}");
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

/// Every cooperative shape the kernel can be made for (8 or 16 on subgroups of 4 to 64, and
/// the out-of-spec 16x16 on subgroups of 8 that tests/cooperative.rs runs on lavapipe).
fn all_coop_shapes() -> Vec<CoopShape> {
    let mut out = Vec::new();
    for frag in [8, 16] {
        for sg in [4, 8, 16, 32, 64] {
            let s = CoopShape::new(frag, sg);
            if s.within_spec() || (frag, sg) == (16, 8) {
                out.push(s);
            }
        }
    }
    out
}

/// Each cooperative form validates, for every shape, and uses the fragment type and counts of
/// its shape.
#[test]
fn every_cooperative_shape_validates() {
    for shape in all_coop_shapes() {
        let k = ConvKernel {
            variant: ConvVariant::Cooperative(shape),
            precision: Precision::F16,
            io: ConvIo::same(Elem::F16),
        };
        let src = k.source();
        validate_with(&format!("{} {shape}", k.name()), &src, capabilities(&k))
            .unwrap_or_else(|e| panic!("{e}"));
        let mat = format!("coop_mat{0}x{0}<f32, C>()", shape.frag);
        assert_eq!(
            src.matches(&mat).count() as u32,
            shape.blocks_per_subgroup(),
            "{shape}: one accumulator per block of the subgroup"
        );
        assert!(src.contains(&format!("const SUBGROUPS: u32 = {}u;", shape.subgroups())));
    }
    // The counts: 8x8 on lavapipe's subgroups of 8 is 64 blocks over 32 subgroups, two K
    // fragments per step; 16x16 on NVIDIA's 32 is 16 blocks over 8 subgroups.
    let lvp = CoopShape::new(8, 8);
    assert_eq!(
        (
            lvp.blocks(),
            lvp.subgroups(),
            lvp.blocks_per_subgroup(),
            lvp.k_fragments()
        ),
        (64, 32, 2, 2)
    );
    let nv = CoopShape::new(16, 32);
    assert_eq!(
        (
            nv.blocks(),
            nv.subgroups(),
            nv.blocks_per_subgroup(),
            nv.k_fragments()
        ),
        (16, 8, 2, 1)
    );
    assert!(!CoopShape::new(16, 8).within_spec());
}

/// The cooperative-matrix form shares everything but its tile multiply with the f16 SIMT
/// form that CI runs on lavapipe: tile loads, addressing, padding, epilogue, bindings.
#[test]
fn the_cooperative_form_differs_from_the_f16_simt_form_only_in_its_tile_multiply() {
    for shape in all_coop_shapes() {
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
                form(ConvVariant::Cooperative(shape)).source(),
            );
            assert_ne!(simt, coop);
            assert_eq!(
                without_blocks(&simt, &MULTIPLY_BLOCKS),
                without_blocks(&coop, &MULTIPLY_BLOCKS),
                "{shape} {io:?}: the forms differ outside the tile-multiply blocks"
            );
            assert!(coop.contains("coopMultiplyAdd(") && !simt.contains("coopMultiplyAdd("));
        }
    }
}

/// The f16 forms compile to SPIR-V (what wgpu hands a Vulkan driver) with naga's own backend,
/// the cooperative one in each shape: catches constructs that validate but that the Vulkan
/// backend cannot express.
#[test]
fn the_f16_forms_compile_to_spir_v() {
    let coop = all_coop_shapes().into_iter().map(|shape| ConvKernel {
        variant: ConvVariant::Cooperative(shape),
        precision: Precision::F16,
        io: ConvIo::same(Elem::F16),
    });
    for k in ConvKernel::all()
        .into_iter()
        .filter(|k| k.precision == Precision::F16)
        .chain(coop)
    {
        let name = k.name();
        let module = validate_with(&name, &k.source(), capabilities(&k)).unwrap();
        let info = Validator::new(ValidationFlags::all(), capabilities(&k))
            .validate(&module)
            .unwrap();
        let mut constants = naga::back::PipelineConstants::default();
        for (n, v) in k.constants() {
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
/// ([`choose_cooperative_shape`]) asks for, in every shape.
#[test]
fn the_cooperative_form_needs_the_workgroup_memory_the_adapter_check_asks_for() {
    for shape in all_coop_shapes() {
        let k = ConvKernel {
            variant: ConvVariant::Cooperative(shape),
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
        assert_eq!(bytes, shaders::COOPERATIVE_WORKGROUP_BYTES, "{shape}");
    }
}

fn prop(
    (m, n, k): (u32, u32, u32),
    ab_type: wgpu::CooperativeScalarType,
    cr_type: wgpu::CooperativeScalarType,
) -> wgpu::CooperativeMatrixProperties {
    wgpu::CooperativeMatrixProperties {
        m_size: m,
        n_size: n,
        k_size: k,
        ab_type,
        cr_type,
        saturating_accumulation: false,
    }
}

/// What the NVIDIA H200 reported (benches/gpu, 2026-11-26): f16 inputs only, three shapes,
/// f16 or f32 accumulators; subgroups of 32.
fn h200_properties() -> Vec<wgpu::CooperativeMatrixProperties> {
    use wgpu::CooperativeScalarType::{F16, F32};
    let mut out = Vec::new();
    for mnk in [(16, 16, 16), (16, 8, 16), (16, 8, 8)] {
        for cr in [F16, F32] {
            out.push(prop(mnk, F16, cr));
        }
    }
    out
}

/// What wgpu 30 reports on Mesa 26.1.6 lavapipe (2026-12-08, this project's CI machine, AVX2):
/// 8x8x8 f16 -> f16 and f16 -> f32 (lavapipe also offers u8 -> u32 and s8 -> s32, which
/// wgpu-hal drops); subgroups of 8, 32 KiB of workgroup memory.
fn lavapipe26_properties() -> Vec<wgpu::CooperativeMatrixProperties> {
    use wgpu::CooperativeScalarType::{F16, F32};
    vec![prop((8, 8, 8), F16, F16), prop((8, 8, 8), F16, F32)]
}

/// An RDNA3-like list (VK_KHR_cooperative_matrix on RADV: 16x16x16 f16 -> f16 / f32, and
/// integer shapes wgpu keeps as i32/u32 accumulators).
fn rdna3_properties() -> Vec<wgpu::CooperativeMatrixProperties> {
    use wgpu::CooperativeScalarType::{F16, F32, I32, U32};
    vec![
        prop((16, 16, 16), F16, F16),
        prop((16, 16, 16), F16, F32),
        prop((16, 16, 16), U32, U32),
        prop((16, 16, 16), I32, I32),
    ]
}

fn gpu_limits() -> wgpu::Limits {
    wgpu::Limits {
        max_compute_workgroup_storage_size: 48 << 10,
        ..wgpu::Limits::default()
    }
}

fn lavapipe_limits() -> wgpu::Limits {
    wgpu::Limits {
        max_compute_workgroup_storage_size: 32 << 10,
        max_compute_invocations_per_workgroup: 1024,
        ..wgpu::Limits::default()
    }
}

fn coop_features() -> wgpu::Features {
    wgpu::Features::SHADER_F16
        | wgpu::Features::SUBGROUP
        | wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX
}

#[test]
fn the_cooperative_shape_is_chosen_from_the_recorded_property_lists() {
    let choose = choose_cooperative_shape;
    let features = coop_features();
    // lavapipe 26: 8x8x8 with the f32 accumulator, subgroups of 8.
    assert_eq!(
        choose(
            features,
            &lavapipe26_properties(),
            &lavapipe_limits(),
            (8, 8)
        ),
        Ok(CoopShape::new(8, 8))
    );
    // The H200: 16x16x16 (the 16x8 shapes are not square), subgroups of 32.
    assert_eq!(
        choose(features, &h200_properties(), &gpu_limits(), (32, 32)),
        Ok(CoopShape::new(16, 32))
    );
    // RDNA3-like, with wave32 or wave64 fixed: 16x16x16 either way.
    for sg in [32, 64] {
        assert_eq!(
            choose(features, &rdna3_properties(), &gpu_limits(), (sg, sg)),
            Ok(CoopShape::new(16, sg))
        );
    }
    // An empty list (lavapipe up to Mesa 25, most GPUs): none, and the reason says so.
    let err = choose(features, &[], &gpu_limits(), (32, 32)).unwrap_err();
    assert!(err.contains("no cooperative-matrix configuration"), "{err}");
}

#[test]
fn cooperative_matrices_are_refused_where_the_kernel_cannot_run_on_them() {
    use wgpu::CooperativeScalarType::{F16, F32};
    let choose = choose_cooperative_shape;
    let (h200, limits, features) = (h200_properties(), gpu_limits(), coop_features());
    // Both square sizes offered: 16 first.
    let both = [prop((8, 8, 8), F16, F32), prop((16, 16, 16), F16, F32)];
    assert_eq!(
        choose(features, &both, &limits, (32, 32)),
        Ok(CoopShape::new(16, 32))
    );
    // Only f16 accumulators (the kernel sums in f32), only f32 inputs (wgpu's Metal 8x8 f32),
    // only non-square shapes: none.
    let f16_acc: Vec<_> = h200.iter().filter(|p| p.cr_type == F16).copied().collect();
    let f32_in = [prop((8, 8, 8), F32, F32)];
    let rect = [prop((16, 8, 16), F16, F32)];
    for props in [&f16_acc[..], &f32_in[..], &rect[..]] {
        let err = choose(features, props, &limits, (32, 32)).unwrap_err();
        assert!(err.contains("f32 accumulator"), "{err}");
    }
    // Each missing feature rules it out, and is named.
    for (f, name) in [
        (wgpu::Features::SHADER_F16, "SHADER_F16"),
        (wgpu::Features::SUBGROUP, "SUBGROUP"),
        (
            wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX,
            "EXPERIMENTAL_COOPERATIVE_MATRIX",
        ),
    ] {
        let err = choose(features - f, &h200, &limits, (32, 32)).unwrap_err();
        assert_eq!(err, format!("the adapter lacks {name}"));
    }
    // WebGPU's default 16 KiB of workgroup memory is too little for the 20 KiB of tiles.
    assert!(choose(features, &h200, &wgpu::Limits::default(), (32, 32)).is_err());
    // A subgroup size that varies (AMD RDNA without a fixed wave size), 128 wide (no 256
    // workgroup of them), or so small that 16x16 blocks run out (16 blocks, 32 subgroups of 8).
    for sizes in [(32, 64), (128, 128), (8, 8)] {
        assert!(
            choose(features, &h200, &limits, sizes).is_err(),
            "{sizes:?}"
        );
    }
    // 8x8 on subgroups of 8 up to 64 is fine (64 blocks).
    for sg in [8, 16, 32, 64] {
        assert_eq!(
            choose(features, &lavapipe26_properties(), &limits, (sg, sg)),
            Ok(CoopShape::new(8, sg))
        );
    }
}

#[test]
fn each_adapter_gets_the_expected_convolution_kernel() {
    use wgpu::DeviceType::{Cpu, DiscreteGpu, IntegratedGpu};
    let pick = ConvVariant::preferred;
    let (lvp, nv) = (Some(CoopShape::new(8, 8)), Some(CoopShape::new(16, 32)));
    // CPU adapters (lavapipe) run the direct kernel in every precision, cooperative matrices
    // or not (measured faster there: benches/README.md).
    for p in [Precision::F32, Precision::F16Weights, Precision::F16] {
        assert_eq!(pick(Cpu, p, None), ConvVariant::Direct);
        assert_eq!(pick(Cpu, p, lvp), ConvVariant::Direct);
    }
    // GPUs: tensor cores for f16 where usable, else the tiled SIMT kernel.
    assert_eq!(
        pick(DiscreteGpu, Precision::F16, nv),
        ConvVariant::Cooperative(CoopShape::new(16, 32))
    );
    assert_eq!(pick(DiscreteGpu, Precision::F16, None), ConvVariant::Tiled);
    assert_eq!(
        pick(IntegratedGpu, Precision::F16, None),
        ConvVariant::Tiled
    );
    assert_eq!(pick(DiscreteGpu, Precision::F32, nv), ConvVariant::Tiled);
    assert_eq!(
        pick(DiscreteGpu, Precision::F16Weights, nv),
        ConvVariant::Tiled
    );
    // Names in profiles and selftest.
    assert_eq!(
        ConvVariant::Cooperative(CoopShape::new(8, 8)).kernel_name(),
        "conv2d_coop8x8"
    );
    assert_eq!(ConvVariant::Direct.kernel_name(), "conv2d_direct");
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
            ConvVariant::Cooperative(CoopShape::new(8, 8)),
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
