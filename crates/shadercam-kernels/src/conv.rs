//! The convolution of ResNet: one layer's convolution with its BatchNorm folded in (at load
//! time, by the loader) and the block's epilogue fused (residual add, ReLU), as a GEMM over
//! NHWC4 activations and HWIO weights. Two WGSL kernels compute it, one for GPUs and one for
//! CPU adapters ([`ConvVariant`]); either can read f32 or f16 weights ([`Precision`]).

use crate::GpuError;
use crate::context::GpuContext;
use crate::dispatch::{Dispatch, OVERRIDES_1D, WORKGROUP_1D, compute_pipeline, grid, linear_grid};
use crate::shaders;

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

/// Which convolution kernel runs a layer. Both compute the same thing (see
/// `shaders/conv2d.wgsl` for the formula) from the same buffers and uniform block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvVariant {
    /// `shaders/conv2d.wgsl`: [`TILED_PIXELS`] x [`TILED_CHANNELS`] output tiles staged
    /// through workgroup memory, 256 invocations of 4 pixels x 4 channels each. For GPUs.
    Tiled,
    /// `shaders/conv2d_direct.wgsl`: no workgroup memory, [`WORKGROUP_1D`] invocations of
    /// [`DIRECT_PIXELS`] pixels x [`DIRECT_CHANNELS`] channels each, loading straight from
    /// storage. For CPU adapters (lavapipe), where it is 1.3-2.9x faster than `Tiled` per layer
    /// (benches/README.md).
    Direct,
}

impl ConvVariant {
    pub const ALL: [ConvVariant; 2] = [ConvVariant::Tiled, ConvVariant::Direct];

    /// Output pixels (GEMM rows) covered by one unit of `tiles_m`.
    fn rows_per_tile(self) -> usize {
        match self {
            ConvVariant::Tiled => TILED_PIXELS,
            ConvVariant::Direct => DIRECT_PIXELS,
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

/// How convolution weights are stored on the GPU (arithmetic is f32 either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 weights: the reference path, within 1e-5 of PyTorch's float64 logits.
    #[default]
    F32,
    /// f16 weights (packed pairs, `unpack2x16float`): half the weight memory and bandwidth,
    /// works on every adapter; tolerance measured in tests/forward.rs.
    F16,
}

/// Fused convolution + folded BN + residual + ReLU, NHWC4 activations and HWIO weights
/// `[kh*kw*cin4, cout4]`. Owns one pipeline per [`ConvVariant`] and picks one per adapter.
pub struct Conv2d {
    pub precision: Precision,
    pub tiled: wgpu::ComputePipeline,
    pub direct: wgpu::ComputePipeline,
    /// The variant [`Conv2d::dispatch`] uses: `Direct` on CPU adapters, `Tiled` elsewhere.
    pub preferred: ConvVariant,
}

/// [`ConvParams::flags`] bit: apply ReLU after bias and residual.
pub const CONV_RELU: u32 = 1;
/// [`ConvParams::flags`] bit: add the `residual` buffer (the block's shortcut) before ReLU.
pub const CONV_RESIDUAL: u32 = 2;

impl Conv2d {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Self::with_precision(ctx, Precision::F32)
    }

    /// Pipelines reading weights stored as `precision`.
    pub fn with_precision(ctx: &GpuContext, precision: Precision) -> Result<Self, GpuError> {
        let preferred = match ctx.info.device_type {
            wgpu::DeviceType::Cpu => ConvVariant::Direct,
            _ => ConvVariant::Tiled,
        };
        let build = |name: &str, src: &str, constants| match precision {
            Precision::F32 => compute_pipeline(ctx, name, src, constants),
            Precision::F16 => compute_pipeline(
                ctx,
                &format!("{name} (f16 weights)"),
                &shaders::with_f16_weights(src),
                constants,
            ),
        };
        Ok(Self {
            precision,
            tiled: build("conv2d", shaders::CONV2D, &[])?,
            direct: build("conv2d_direct", shaders::CONV2D_DIRECT, OVERRIDES_1D)?,
            preferred,
        })
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

    /// Dispatch with this adapter's [`Conv2d::preferred`] variant.
    /// Buffers: input, weight, bias, residual (any buffer when unused), output.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch(
        &self,
        ctx: &GpuContext,
        label: &str,
        s: &ConvShape,
        flags: u32,
        input: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        bias: &wgpu::Buffer,
        residual: &wgpu::Buffer,
        output: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        self.dispatch_variant(
            ctx,
            self.preferred,
            label,
            s,
            flags,
            input,
            weight,
            bias,
            residual,
            output,
        )
    }

    /// Dispatch with an explicit variant (tests and benches run every variant on any adapter).
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch_variant(
        &self,
        ctx: &GpuContext,
        variant: ConvVariant,
        label: &str,
        s: &ConvShape,
        flags: u32,
        input: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        bias: &wgpu::Buffer,
        residual: &wgpu::Buffer,
        output: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        assert!(
            s.cin.is_multiple_of(4) && s.cout.is_multiple_of(4),
            "conv2d expects NHWC4 (channels padded to 4)"
        );
        let p = self.params(variant, s, flags);
        let max_dim = ctx.limits.max_compute_workgroups_per_dimension;
        let (pipeline, workgroups) = match variant {
            ConvVariant::Tiled => {
                let (x, y) = grid(p.tiles_m, max_dim);
                (&self.tiled, (x, y, s.cout.div_ceil(TILED_CHANNELS) as u32))
            }
            ConvVariant::Direct => {
                let items = p.tiles_m as usize * s.cout.div_ceil(DIRECT_CHANNELS);
                (&self.direct, linear_grid(ctx, items, WORKGROUP_1D))
            }
        };
        Dispatch::builder(label, pipeline)
            .uniform(&p)
            .bind(input)
            .bind(weight)
            .bind(bias)
            .bind(residual)
            .bind(output)
            .workgroups(workgroups)
            .build(ctx)
    }
}
