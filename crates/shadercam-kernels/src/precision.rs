//! Numeric precision of the network ([`Precision`], `--precision`) and the choices that depend
//! on the adapter: what `auto` means on it ([`Precision::resolve`]) and which cooperative-matrix
//! shape (tensor cores) the f16 convolution runs with there ([`choose_cooperative_shape`]). The
//! choices are plain functions of what the adapter reports, so they are unit-tested without one.

use crate::shaders::{COOPERATIVE_WORKGROUP_BYTES, Elem};

/// How the network stores and multiplies numbers. `--precision` on the command line.
///
/// | mode          | weights | activations between layers | multiply operands | accumulate, bias, residual, ReLU |
/// |---------------|---------|----------------------------|-------------------|----------------------------------|
/// | `F32`         | f32     | f32                        | f32               | f32                              |
/// | `F16Weights`  | f16     | f32                        | f16 x f32         | f32                              |
/// | `F16`         | f16     | f16 (NHWC4 as `vec4<f16>`) | f16 x f16         | f32                              |
///
/// In every mode the input image, the last stage's maps (what global average pooling, the
/// classifier and every CAM method read) and the logits are f32, so the CAM stage is the same.
/// Tolerances against PyTorch are measured and asserted in tests/forward.rs, tests/cam.rs and
/// tests/precision.rs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// The reference: within 1e-3 of PyTorch's float64 logits.
    #[default]
    F32,
    /// f16 weights (packed pairs, WGSL's `unpack2x16float`), f32 activations and arithmetic:
    /// half the weight memory, works on every adapter (`--precision f16w`).
    F16Weights,
    /// f16 weights and activations, f32 accumulation (`--precision f16`): half the memory
    /// traffic of every layer. Each product of two f16 is exact in f32, so the arithmetic is a
    /// tensor core's (f16 x f16 + f32); on GPUs with cooperative matrices it runs on them
    /// ([`crate::ConvVariant::Cooperative`]). Needs the adapter's `SHADER_F16`.
    F16,
    /// The fastest of the above that the adapter runs within the tested tolerance
    /// ([`Precision::resolve`]); resolved when the network is built.
    Auto,
}

impl Precision {
    /// The concrete precision this one means on an adapter of type `device_type` with
    /// `features`: itself, or for [`Precision::Auto`], [`Precision::F16`] on GPUs with
    /// `SHADER_F16` and [`Precision::F32`] elsewhere. On CPU adapters (lavapipe) `Auto` is f32,
    /// which is measured faster there (benches/README.md): a CPU converts every f16 it loads
    /// and gains little from the smaller loads. An error (the message says what to use) for
    /// `F16` on an adapter without `SHADER_F16`.
    pub fn resolve(
        self,
        device_type: wgpu::DeviceType,
        features: wgpu::Features,
    ) -> Result<Precision, String> {
        let f16 = features.contains(wgpu::Features::SHADER_F16);
        match self {
            Precision::Auto if device_type == wgpu::DeviceType::Cpu => Ok(Precision::F32),
            Precision::Auto if f16 => Ok(Precision::F16),
            Precision::Auto => Ok(Precision::F32),
            Precision::F16 if !f16 => Err(
                "--precision f16 needs f16 arithmetic in shaders (the adapter's SHADER_F16 \
                 feature), which this adapter lacks: use f16w (f16 weights only), f32 or auto"
                    .into(),
            ),
            p => Ok(p),
        }
    }

    /// How activations between layers are stored (the last stage's output is f32 always).
    pub fn activations(self) -> Elem {
        match self {
            Precision::F16 => Elem::F16,
            _ => Elem::F32,
        }
    }

    /// Whether convolution weights are stored as f16 (packed two per `u32`, low half first).
    pub fn f16_weights(self) -> bool {
        matches!(self, Precision::F16Weights | Precision::F16)
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16Weights => "f16w",
            Precision::F16 => "f16",
            Precision::Auto => "auto",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The shape the cooperative-matrix convolution runs with: square `frag` x `frag` x `frag`
/// fragments (f16 A and B, f32 accumulator), on subgroups of `subgroup_size` invocations.
///
/// The kernel keeps the f16 SIMT kernel's 64x64 output tile, 256 invocations and 16-deep K
/// step (`shaders/conv2d.wgsl`); what follows from the shape is how that tile is cut:
/// `(64 / frag)²` blocks of `frag` x `frag`, dealt to the `256 / subgroup_size` subgroups of a
/// workgroup, `16 / frag` fragment multiplies per block per K step. Workgroup memory is the
/// same for every shape ([`COOPERATIVE_WORKGROUP_BYTES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CoopShape {
    /// M = N = K of one fragment: 8 (lavapipe 26, Apple) or 16 (NVIDIA, AMD RDNA3).
    pub frag: u32,
    /// Invocations per subgroup (fixed on the adapter).
    pub subgroup_size: u32,
}

impl CoopShape {
    pub const fn new(frag: u32, subgroup_size: u32) -> Self {
        Self {
            frag,
            subgroup_size,
        }
    }

    /// Subgroups per 256-invocation workgroup.
    pub fn subgroups(self) -> u32 {
        256 / self.subgroup_size
    }

    /// `frag` x `frag` blocks in the 64x64 tile.
    pub fn blocks(self) -> u32 {
        (64 / self.frag) * (64 / self.frag)
    }

    /// Blocks each subgroup accumulates: at least one. Fewer blocks than subgroups happens
    /// only for 16x16 fragments on subgroups of 8, which no adapter offers (see
    /// [`CoopShape::within_spec`]); then two subgroups compute each block.
    pub fn blocks_per_subgroup(self) -> u32 {
        (self.blocks() / self.subgroups()).max(1)
    }

    /// Fragment multiplies along K per 16-deep K step.
    pub fn k_fragments(self) -> u32 {
        16 / self.frag
    }

    /// Whether the tile has a block for every subgroup, so that each block is computed once.
    /// [`choose_cooperative_shape`] picks only such shapes; the others exist for the test that
    /// runs the 16x16 form on lavapipe's 8-wide subgroups.
    pub fn within_spec(self) -> bool {
        self.blocks() >= self.subgroups()
    }

    /// The WGSL matrix type, `coop_mat8x8` or `coop_mat16x16`.
    pub fn wgsl_type(self) -> String {
        format!("coop_mat{0}x{0}", self.frag)
    }

    /// `8x8x8` or `16x16x16`.
    pub fn mnk(self) -> String {
        format!("{0}x{0}x{0}", self.frag)
    }
}

impl std::fmt::Display for CoopShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} f16 -> f32 on subgroups of {} ({} blocks of {}x{} per 64x64 tile, {} per subgroup)",
            self.mnk(),
            self.subgroup_size,
            self.blocks(),
            self.frag,
            self.frag,
            self.blocks_per_subgroup()
        )
    }
}

/// The cooperative-matrix shape the f16 convolution uses on an adapter, or why it cannot use
/// any. From what the adapter reports: its features (`SHADER_F16`, `SUBGROUP` for the subgroup
/// index, `EXPERIMENTAL_COOPERATIVE_MATRIX`), `properties` (from
/// `Adapter::cooperative_matrix_properties`), limits (workgroup memory for the tiles,
/// [`COOPERATIVE_WORKGROUP_BYTES`], and 256 invocations) and subgroup sizes (min, max).
///
/// - Only square fragments of 8 or 16 with f16 A/B and an **f32 accumulator**: an f16
///   accumulator would round every partial sum to 11 bits, where the f16 SIMT kernel sums in
///   f32. Of those, 16 before 8 (a quarter of the fragment operations per tile).
/// - The subgroup size must be fixed (min == max): blocks are dealt to subgroups by a constant
///   compiled into the shader, so a size that varies between pipelines (some AMD and Intel
///   GPUs report 32..64 or 8..32) is refused. It must be 4 to 64 (a power of two) and leave a
///   block for every subgroup ([`CoopShape::within_spec`]).
pub fn choose_cooperative_shape(
    features: wgpu::Features,
    properties: &[wgpu::CooperativeMatrixProperties],
    limits: &wgpu::Limits,
    subgroup_sizes: (u32, u32),
) -> Result<CoopShape, String> {
    use wgpu::CooperativeScalarType as S;
    let needed = wgpu::Features::SHADER_F16
        | wgpu::Features::SUBGROUP
        | wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
    if !features.contains(needed) {
        let missing: Vec<&str> = [
            (wgpu::Features::SHADER_F16, "SHADER_F16"),
            (wgpu::Features::SUBGROUP, "SUBGROUP"),
            (
                wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX,
                "EXPERIMENTAL_COOPERATIVE_MATRIX",
            ),
        ]
        .into_iter()
        .filter(|(f, _)| !features.contains(*f))
        .map(|(_, name)| name)
        .collect();
        return Err(format!("the adapter lacks {}", missing.join(" and ")));
    }
    if properties.is_empty() {
        return Err("the adapter lists no cooperative-matrix configuration".into());
    }
    let offered: Vec<String> = properties
        .iter()
        .map(|p| {
            format!(
                "{}x{}x{} {:?}->{:?}",
                p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type
            )
        })
        .collect();
    let square_f32 = |frag: u32| {
        properties.iter().any(|p| {
            (p.m_size, p.n_size, p.k_size) == (frag, frag, frag)
                && p.ab_type == S::F16
                && p.cr_type == S::F32
        })
    };
    let frags: Vec<u32> = [16, 8].into_iter().filter(|&f| square_f32(f)).collect();
    if frags.is_empty() {
        return Err(format!(
            "none of the offered configurations ({}) is 8x8x8 or 16x16x16 with f16 inputs and an \
             f32 accumulator",
            offered.join(", ")
        ));
    }
    let (min, max) = subgroup_sizes;
    if min != max {
        return Err(format!(
            "the subgroup size varies ({min}..{max}); the kernel needs a fixed one"
        ));
    }
    if limits.max_compute_workgroup_storage_size < COOPERATIVE_WORKGROUP_BYTES {
        return Err(format!(
            "{} bytes of workgroup memory, the kernel needs {COOPERATIVE_WORKGROUP_BYTES}",
            limits.max_compute_workgroup_storage_size
        ));
    }
    if limits.max_compute_invocations_per_workgroup < 256 {
        return Err(format!(
            "{} invocations per workgroup, the kernel needs 256",
            limits.max_compute_invocations_per_workgroup
        ));
    }
    if !matches!(min, 4 | 8 | 16 | 32 | 64) {
        return Err(format!(
            "subgroups of {min}: the kernel deals its blocks to subgroups of 4 to 64"
        ));
    }
    frags
        .iter()
        .map(|&f| CoopShape::new(f, min))
        .find(|s| s.within_spec())
        .ok_or_else(|| {
            format!(
                "subgroups of {min} outnumber the {}x{} blocks of the 64x64 tile",
                frags[0], frags[0]
            )
        })
}
