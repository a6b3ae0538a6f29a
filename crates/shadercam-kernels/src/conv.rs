//! The convolution of ResNet: one layer's convolution with its BatchNorm folded in (at load
//! time, by the loader) and the block's epilogue fused (residual add, ReLU), as a GEMM over
//! NHWC4 activations and HWIO weights. Two WGSL templates compute it, one for GPUs and one for
//! CPU adapters, the GPU one also on cooperative matrices ([`ConvVariant`]); each in every
//! [`Precision`] ([`ConvKernel`] puts a form's source together).

use crate::GpuError;
use crate::context::GpuContext;
use crate::dispatch::{Dispatch, OVERRIDES_1D, WORKGROUP_1D, compute_pipeline, grid, linear_grid};
use crate::precision::{CoopShape, Precision};
use crate::shaders::{self, Elem};
use std::collections::HashMap;
use std::sync::Mutex;

/// Uniform block of `shaders/conv2d.wgsl` and `shaders/conv2d_direct.wgsl` (same fields, same order).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvParams {
    pub batch: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub cin4: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub cout4: u32,
    pub kw: u32,
    pub kh: u32,
    pub stride: u32,
    pub pad: u32,
    pub flags: u32,
    pub m: u32,
    pub k4: u32,
    pub tiles_m: u32,
    pub _pad: u32,
}

/// Convolution geometry: what a conv layer needs to know to be dispatched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    /// Input channels, already padded to a multiple of 4.
    pub cin: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvShape {
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.in_h + 2 * self.pad - self.kh) / self.stride + 1,
            (self.in_w + 2 * self.pad - self.kw) / self.stride + 1,
        )
    }
    /// Multiply-adds of the whole convolution (for GFLOP/s figures).
    pub fn macs(&self) -> u64 {
        let (oh, ow) = self.out_hw();
        (self.batch * oh * ow * self.cout * self.kh * self.kw * self.cin) as u64
    }
}

/// Which convolution kernel runs a layer. All compute the same thing (see
/// `shaders/conv2d.wgsl` for the formula) from the same buffers and uniform block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvVariant {
    /// `shaders/conv2d.wgsl`: [`TILED_PIXELS`] x [`TILED_CHANNELS`] output tiles staged
    /// through workgroup memory, 256 invocations of 4 pixels x 4 channels each. For GPUs.
    Tiled,
    /// `shaders/conv2d_direct.wgsl`: no workgroup memory, [`WORKGROUP_1D`] invocations of
    /// [`DIRECT_PIXELS`] pixels x [`DIRECT_CHANNELS`] channels each, loading straight from
    /// storage. For CPU adapters (lavapipe), where it is 1.3-2.9x faster than `Tiled` per layer
    /// (benches/README.md).
    Direct,
    /// `shaders/conv2d.wgsl` with its tile multiply done by cooperative matrices (tensor
    /// cores; [`crate::shaders::with_cooperative_matrix`]) of the given fragment shape: the
    /// same tiles, addressing and epilogue as `Tiled`, f16 operands and f32 accumulators. Only
    /// with [`Precision::F16`], on adapters with cooperative matrices
    /// ([`GpuContext::cooperative`], chosen by [`crate::choose_cooperative_shape`]).
    Cooperative(CoopShape),
}

impl ConvVariant {
    /// The variants every adapter runs, in every precision (tests and benches loop over them).
    pub const ALL: [ConvVariant; 2] = [ConvVariant::Tiled, ConvVariant::Direct];

    /// Output pixels (GEMM rows) covered by one unit of `tiles_m`.
    fn rows_per_tile(self) -> usize {
        match self {
            ConvVariant::Tiled | ConvVariant::Cooperative(_) => TILED_PIXELS,
            ConvVariant::Direct => DIRECT_PIXELS,
        }
    }

    /// The variant the network uses on an adapter of type `device_type` in `precision`
    /// (already resolved), `cooperative` being the adapter's cooperative-matrix shape if any:
    /// `Direct` on CPU adapters (faster there than either tiled form, cooperative matrices
    /// included: benches/README.md), `Cooperative` for f16 on GPUs that have them, `Tiled`
    /// otherwise. `SHADERCAM_CONV` overrides it ([`ConvVariant::from_env`]).
    pub fn preferred(
        device_type: wgpu::DeviceType,
        precision: Precision,
        cooperative: Option<CoopShape>,
    ) -> ConvVariant {
        match (device_type, cooperative) {
            (wgpu::DeviceType::Cpu, _) => ConvVariant::Direct,
            (_, Some(shape)) if precision == Precision::F16 => ConvVariant::Cooperative(shape),
            _ => ConvVariant::Tiled,
        }
    }

    /// The variant `SHADERCAM_CONV` names, for benchmarks and checks of one kernel through the
    /// whole network: `tiled`, `direct` or `coop` (the adapter's cooperative shape; needs
    /// `--precision f16`). `None` when unset or `auto`; an error for anything else.
    pub fn from_env(cooperative: Option<CoopShape>) -> Result<Option<ConvVariant>, String> {
        let Ok(v) = std::env::var("SHADERCAM_CONV") else {
            return Ok(None);
        };
        match v.as_str() {
            "" | "auto" => Ok(None),
            "tiled" => Ok(Some(ConvVariant::Tiled)),
            "direct" => Ok(Some(ConvVariant::Direct)),
            "coop" | "cooperative" => match cooperative {
                Some(shape) => Ok(Some(ConvVariant::Cooperative(shape))),
                None => Err(
                    "SHADERCAM_CONV=coop, but this adapter has no usable cooperative matrices \
                     (`shadercam selftest` says why)"
                        .into(),
                ),
            },
            other => Err(format!(
                "SHADERCAM_CONV={other:?}: expected auto, tiled, direct or coop"
            )),
        }
    }

    /// The kernel's short name: `conv2d`, `conv2d_direct`, `conv2d_coop8x8`, `conv2d_coop16x16`.
    pub fn kernel_name(self) -> String {
        match self {
            ConvVariant::Tiled => "conv2d".into(),
            ConvVariant::Direct => "conv2d_direct".into(),
            ConvVariant::Cooperative(s) => format!("conv2d_coop{0}x{0}", s.frag),
        }
    }
}

// The tile sizes below are fixed by how each shader maps invocations to outputs (and size its
// register and workgroup arrays), so they stay WGSL `const`s rather than pipeline overrides;
// tests/layout.rs checks these Rust copies against the shaders.

/// Output pixels per workgroup of `conv2d.wgsl` (its `BM`): one unit of `tiles_m`.
pub const TILED_PIXELS: usize = 64;
/// Output channels per workgroup of `conv2d.wgsl` (4 x its `BN4`): one unit of the grid's z.
pub const TILED_CHANNELS: usize = 64;
/// Pixels per invocation of `conv2d_direct.wgsl` (its `R`).
pub const DIRECT_PIXELS: usize = 8;
/// Output channels per invocation of `conv2d_direct.wgsl` (4 x its `C4`).
pub const DIRECT_CHANNELS: usize = 8;

/// The element types of a convolution's `input` and `output` buffers. The residual is stored
/// as the precision's activations ([`Precision::activations`]). In f16 the network's first
/// convolution reads the f32 image (`F32 -> F16`) and its last one writes the f32 maps the CAM
/// stage reads (`F16 -> F32`); every other one is `F16 -> F16`. In f32 and f16w everything is f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvIo {
    pub input: Elem,
    pub output: Elem,
}

impl ConvIo {
    /// Both buffers stored as `e`.
    pub fn same(e: Elem) -> Self {
        Self {
            input: e,
            output: e,
        }
    }
}

/// One form of the convolution shader: which kernel, in which precision, on which buffer
/// types. [`ConvKernel::source`] puts its WGSL together from the templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvKernel {
    pub variant: ConvVariant,
    /// A concrete precision (not `Auto`).
    pub precision: Precision,
    pub io: ConvIo,
}

impl ConvKernel {
    /// Every form the network can build: each variant in each precision on each buffer type
    /// it allows (the cooperative-matrix one only in f16, in the shapes of
    /// [`ConvKernel::COOPERATIVE_SHAPES`]). For tests that validate them all.
    pub fn all() -> Vec<ConvKernel> {
        let mut out = Vec::new();
        let variants = [ConvVariant::Tiled, ConvVariant::Direct]
            .into_iter()
            .chain(Self::COOPERATIVE_SHAPES.map(ConvVariant::Cooperative));
        for variant in variants {
            for precision in [Precision::F32, Precision::F16Weights, Precision::F16] {
                for input in [Elem::F32, Elem::F16] {
                    for output in [Elem::F32, Elem::F16] {
                        let k = ConvKernel {
                            variant,
                            precision,
                            io: ConvIo { input, output },
                        };
                        if k.check().is_ok() {
                            out.push(k);
                        }
                    }
                }
            }
        }
        out
    }

    /// Why this combination does not exist, if it does not.
    pub fn check(&self) -> Result<(), String> {
        let act = self.precision.activations();
        if self.precision == Precision::Auto {
            return Err("precision `auto` must be resolved first (Precision::resolve)".into());
        }
        if act == Elem::F32 && self.io != ConvIo::same(Elem::F32) {
            return Err(format!(
                "{} stores every activation as f32, not {:?}",
                self.precision, self.io
            ));
        }
        if matches!(self.variant, ConvVariant::Cooperative(_)) && self.precision != Precision::F16 {
            return Err(format!(
                "the cooperative-matrix convolution multiplies f16, not {}",
                self.precision
            ));
        }
        Ok(())
    }

    /// The kernel's name in labels and messages: `conv2d`, `conv2d_direct (f16w)`,
    /// `conv2d_coop8x8 (f16, f32 -> f16)`.
    pub fn name(&self) -> String {
        let base = self.variant.kernel_name();
        match self.precision {
            Precision::F16 => format!(
                "{base} (f16, {} -> {})",
                self.io.input.wgsl(),
                self.io.output.wgsl()
            ),
            Precision::F32 => base.to_owned(),
            p => format!("{base} ({p})"),
        }
    }

    /// The WGSL of this form: the variant's template with its `precision`, `weights` and (for
    /// `Cooperative`) tile-multiply blocks swapped.
    pub fn source(&self) -> String {
        let template = match self.variant {
            ConvVariant::Tiled | ConvVariant::Cooperative(_) => shaders::CONV2D,
            ConvVariant::Direct => shaders::CONV2D_DIRECT,
        };
        let src = match self.precision {
            Precision::F32 | Precision::Auto => template.to_owned(),
            Precision::F16Weights => shaders::with_f16_weights(template),
            Precision::F16 => shaders::with_native_f16_weights(template),
        };
        if self.precision != Precision::F16 {
            return src;
        }
        let cooperative = matches!(self.variant, ConvVariant::Cooperative(_));
        let mut aliases = vec![
            ("In4", self.io.input),
            ("Res4", Elem::F16),
            ("Out4", self.io.output),
        ];
        // The tiles of conv2d.wgsl hold f16 (conv2d_direct.wgsl has none).
        if self.variant != ConvVariant::Direct {
            aliases.push(("Operand", Elem::F16));
        }
        let src = shaders::with_precision_block(&src, &aliases, cooperative);
        match self.variant {
            ConvVariant::Cooperative(shape) => shaders::with_cooperative_matrix(&src, shape),
            _ => src,
        }
    }

    /// The pipeline-overridable constants its pipeline is created with.
    pub fn constants(&self) -> Vec<(&'static str, f64)> {
        match self.variant {
            ConvVariant::Tiled | ConvVariant::Cooperative(_) => Vec::new(),
            ConvVariant::Direct => OVERRIDES_1D.to_vec(),
        }
    }

    /// The cooperative shapes [`ConvKernel::all`] includes: lavapipe 26's 8x8 on subgroups of 8
    /// and NVIDIA's 16x16 on subgroups of 32.
    pub const COOPERATIVE_SHAPES: [CoopShape; 2] = [CoopShape::new(8, 8), CoopShape::new(16, 32)];
}

/// The buffers of one convolution, in the shader's binding order (1..=5; binding 0 is the
/// uniform [`ConvParams`]): NHWC4 input, HWIO weights, bias, the residual (any buffer when the
/// `CONV_RESIDUAL` flag is off) and the NHWC4 output.
#[derive(Clone, Copy)]
pub struct ConvBuffers<'a> {
    pub input: &'a wgpu::Buffer,
    pub weight: &'a wgpu::Buffer,
    pub bias: &'a wgpu::Buffer,
    pub residual: &'a wgpu::Buffer,
    pub output: &'a wgpu::Buffer,
}

/// Fused convolution + folded BN + residual + ReLU, NHWC4 activations and HWIO weights
/// `[kh*kw*cin4, cout4]`. Creates the pipeline of each [`ConvKernel`] form on first use and
/// keeps it; picks a variant per adapter ([`ConvVariant::preferred`]).
pub struct Conv2d {
    /// The resolved precision (never `Auto`).
    pub precision: Precision,
    /// The variant the network uses on this adapter. Tests may set another.
    pub preferred: ConvVariant,
    /// The adapter's cooperative-matrix shape, if it has usable ones.
    cooperative: Option<CoopShape>,
    pipelines: Mutex<HashMap<(ConvVariant, ConvIo), wgpu::ComputePipeline>>,
}

/// [`ConvParams::flags`] bit: apply ReLU after bias and residual.
pub const CONV_RELU: u32 = 1;
/// [`ConvParams::flags`] bit: add the `residual` buffer (the block's shortcut) before ReLU.
pub const CONV_RESIDUAL: u32 = 2;

impl Conv2d {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Self::with_precision(ctx, Precision::F32)
    }

    /// The convolution in `precision` (`Auto` is resolved for this adapter; `F16` is an error
    /// on one without `SHADER_F16`). Creates the preferred variant's pipeline for activations
    /// in and out now, so that a shader the driver rejects fails here; other forms on first use.
    pub fn with_precision(ctx: &GpuContext, precision: Precision) -> Result<Self, GpuError> {
        let precision = precision
            .resolve(ctx.info.device_type, ctx.features)
            .map_err(|message| GpuError::Create {
                what: format!("the {precision} convolution"),
                message,
            })?;
        let refuse = |message: String| GpuError::Create {
            what: format!("the {precision} convolution"),
            message,
        };
        let preferred = match ConvVariant::from_env(ctx.cooperative).map_err(refuse)? {
            Some(v) => v,
            None => ConvVariant::preferred(ctx.info.device_type, precision, ctx.cooperative),
        };
        let conv = Self {
            precision,
            preferred,
            cooperative: ctx.cooperative,
            pipelines: Mutex::new(HashMap::new()),
        };
        conv.pipeline(ctx, conv.preferred, conv.io())?;
        Ok(conv)
    }

    /// The buffer types of a convolution between two hidden layers: the precision's
    /// activations in and out.
    pub fn io(&self) -> ConvIo {
        ConvIo::same(self.precision.activations())
    }

    /// The pipeline of `variant` on `io` buffers, created on first use.
    pub fn pipeline(
        &self,
        ctx: &GpuContext,
        variant: ConvVariant,
        io: ConvIo,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(&(variant, io)) {
            return Ok(p.clone());
        }
        let kernel = ConvKernel {
            variant,
            precision: self.precision,
            io,
        };
        let refuse = |message: String| GpuError::Create {
            what: format!("pipeline `{}`", kernel.name()),
            message,
        };
        kernel.check().map_err(refuse)?;
        if let ConvVariant::Cooperative(shape) = variant {
            // Another fragment size than the chosen one may run (tests run the 16x16 form on
            // lavapipe), but only on the device's cooperative matrices and subgroup size.
            match self.cooperative {
                None => {
                    return Err(refuse(format!(
                        "{} has no usable cooperative matrices ({})",
                        ctx.describe(),
                        ctx.cooperative_refusal.as_deref().unwrap_or("turned off")
                    )));
                }
                Some(have) if have.subgroup_size != shape.subgroup_size => {
                    return Err(refuse(format!(
                        "the kernel was made for subgroups of {}, the adapter's have {}",
                        shape.subgroup_size, have.subgroup_size
                    )));
                }
                Some(_) => {}
            }
        }
        let pipeline =
            compute_pipeline(ctx, &kernel.name(), &kernel.source(), &kernel.constants())?;
        cache.insert((variant, io), pipeline.clone());
        Ok(pipeline)
    }

    pub fn params(&self, variant: ConvVariant, s: &ConvShape, flags: u32) -> ConvParams {
        let (oh, ow) = s.out_hw();
        let m = s.batch * oh * ow;
        ConvParams {
            batch: s.batch as u32,
            in_h: s.in_h as u32,
            in_w: s.in_w as u32,
            cin4: (s.cin / 4) as u32,
            out_h: oh as u32,
            out_w: ow as u32,
            cout4: (s.cout / 4) as u32,
            kw: s.kw as u32,
            kh: s.kh as u32,
            stride: s.stride as u32,
            pad: s.pad as u32,
            flags,
            m: m as u32,
            k4: (s.kh * s.kw * s.cin / 4) as u32,
            tiles_m: m.div_ceil(variant.rows_per_tile()) as u32,
            _pad: 0,
        }
    }

    /// Dispatch with an explicit variant (tests and benches run every variant on any adapter),
    /// on buffers holding the precision's activations ([`Conv2d::io`]).
    pub fn dispatch_variant(
        &self,
        ctx: &GpuContext,
        variant: ConvVariant,
        label: &str,
        s: &ConvShape,
        flags: u32,
        buffers: ConvBuffers<'_>,
    ) -> Result<Dispatch, GpuError> {
        self.dispatch_io(ctx, variant, self.io(), label, s, flags, buffers)
    }

    /// Dispatch with an explicit variant and buffer types: `io` says how `input` and `output`
    /// are stored (the network's first and last convolutions differ from the rest in f16).
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch_io(
        &self,
        ctx: &GpuContext,
        variant: ConvVariant,
        io: ConvIo,
        label: &str,
        s: &ConvShape,
        flags: u32,
        b: ConvBuffers<'_>,
    ) -> Result<Dispatch, GpuError> {
        assert!(
            s.cin.is_multiple_of(4) && s.cout.is_multiple_of(4),
            "conv2d expects NHWC4 (channels padded to 4)"
        );
        let pipeline = self.pipeline(ctx, variant, io)?;
        let p = self.params(variant, s, flags);
        let max_dim = ctx.limits.max_compute_workgroups_per_dimension;
        let workgroups = match variant {
            ConvVariant::Tiled | ConvVariant::Cooperative(_) => {
                let (x, y) = grid(p.tiles_m, max_dim);
                (x, y, s.cout.div_ceil(TILED_CHANNELS) as u32)
            }
            ConvVariant::Direct => {
                let items = p.tiles_m as usize * s.cout.div_ceil(DIRECT_CHANNELS);
                linear_grid(ctx, items, WORKGROUP_1D)
            }
        };
        Dispatch::builder(label, &pipeline)
            .uniform(&p)
            .bind(b.input)
            .bind(b.weight)
            .bind(b.bias)
            .bind(b.residual)
            .bind(b.output)
            .workgroups(workgroups)
            .build(ctx)
    }
}
