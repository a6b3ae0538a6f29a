//! Numeric precision of the network ([`Precision`], `--precision`) and the choices that depend
//! on the adapter: what `auto` means on it ([`Precision::resolve`]) and whether its cooperative
//! matrices (tensor cores) can run the f16 convolution ([`cooperative_matrix_usable`]). The
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
    /// tensor core's (f16 x f16 + f32); on adapters with cooperative matrices it runs on them
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

/// Whether the cooperative-matrix convolution can run on an adapter: it offers a 16x16x16
/// configuration with f16 A/B and an f32 accumulator (`properties`, from
/// `Adapter::cooperative_matrix_properties`), the features it needs (`SHADER_F16`, `SUBGROUP`
/// for the subgroup index, `EXPERIMENTAL_COOPERATIVE_MATRIX`), enough workgroup memory for
/// its tiles ([`COOPERATIVE_WORKGROUP_BYTES`]), and a fixed subgroup size of 16, 32 or 64
/// (`subgroup_sizes`: the adapter's min and max). The kernel deals the 16 blocks of its tile
/// to the subgroups by a pipeline constant made from that size, so a size that varies between
/// dispatches (min != max, as on some AMD and Intel GPUs) is not usable.
pub fn cooperative_matrix_usable(
    features: wgpu::Features,
    properties: &[wgpu::CooperativeMatrixProperties],
    limits: &wgpu::Limits,
    subgroup_sizes: (u32, u32),
) -> bool {
    use wgpu::CooperativeScalarType as S;
    let needed = wgpu::Features::SHADER_F16
        | wgpu::Features::SUBGROUP
        | wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
    let shape = properties.iter().any(|p| {
        (p.m_size, p.n_size, p.k_size) == (16, 16, 16) && p.ab_type == S::F16 && p.cr_type == S::F32
    });
    let (min, max) = subgroup_sizes;
    features.contains(needed)
        && shape
        && limits.max_compute_workgroup_storage_size >= COOPERATIVE_WORKGROUP_BYTES
        && limits.max_compute_invocations_per_workgroup >= 256
        && min == max
        && matches!(min, 16 | 32 | 64)
}
