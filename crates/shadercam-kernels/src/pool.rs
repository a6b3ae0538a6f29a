//! The two pooling kernels of ResNet: the 3x3/2 max-pool after the stem and the global
//! average pool before the classifier (whose plain mean is what CAM rests on). Both NHWC4.

use crate::GpuError;
use crate::context::GpuContext;
use crate::dispatch::{Dispatch, OVERRIDES_1D, WORKGROUP_1D, compute_pipeline, linear_grid};
use crate::shaders::{self, Elem};

/// Uniform block of `shaders/maxpool.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolParams {
    pub batch: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub c4: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub kernel: u32,
    pub stride: u32,
    pub pad: u32,
    pub total: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// `shaders/maxpool.wgsl`.
pub struct MaxPool {
    pub pipeline: wgpu::ComputePipeline,
}

impl MaxPool {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Self::with_activations(ctx, Elem::F32)
    }

    /// The max-pool on activations stored as `act` (f16 with `--precision f16`).
    pub fn with_activations(ctx: &GpuContext, act: Elem) -> Result<Self, GpuError> {
        let name = match act {
            Elem::F32 => "maxpool",
            Elem::F16 => "maxpool (f16)",
        };
        Ok(Self {
            pipeline: compute_pipeline(ctx, name, &shaders::maxpool_source(act), OVERRIDES_1D)?,
        })
    }

    /// Output size of a `kernel`/`stride`/`pad` pool (PyTorch's floor mode).
    pub fn out_hw(
        in_h: usize,
        in_w: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> (usize, usize) {
        (
            (in_h + 2 * pad - kernel) / stride + 1,
            (in_w + 2 * pad - kernel) / stride + 1,
        )
    }

    /// `c` must be a multiple of 4.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch(
        &self,
        ctx: &GpuContext,
        label: &str,
        (batch, in_h, in_w, c): (usize, usize, usize, usize),
        (kernel, stride, pad): (usize, usize, usize),
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let (oh, ow) = Self::out_hw(in_h, in_w, kernel, stride, pad);
        let total = batch * oh * ow * c / 4;
        let p = PoolParams {
            batch: batch as u32,
            in_h: in_h as u32,
            in_w: in_w as u32,
            c4: (c / 4) as u32,
            out_h: oh as u32,
            out_w: ow as u32,
            kernel: kernel as u32,
            stride: stride as u32,
            pad: pad as u32,
            total: total as u32,
            _pad0: 0,
            _pad1: 0,
        };
        Dispatch::builder(label, &self.pipeline)
            .uniform(&p)
            .bind(input)
            .bind(output)
            .workgroups(linear_grid(ctx, total, WORKGROUP_1D))
            .build(ctx)
    }
}

/// Uniform block of `shaders/global_avg_pool.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GapParams {
    pub batch: u32,
    pub hw: u32,
    pub c4: u32,
    pub total: u32,
}

/// `shaders/global_avg_pool.wgsl`.
pub struct GlobalAvgPool {
    pub pipeline: wgpu::ComputePipeline,
}

impl GlobalAvgPool {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(Self {
            pipeline: compute_pipeline(
                ctx,
                "global_avg_pool",
                shaders::GLOBAL_AVG_POOL,
                OVERRIDES_1D,
            )?,
        })
    }

    pub fn dispatch(
        &self,
        ctx: &GpuContext,
        label: &str,
        (batch, hw, c): (usize, usize, usize),
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let total = batch * c / 4;
        let p = GapParams {
            batch: batch as u32,
            hw: hw as u32,
            c4: (c / 4) as u32,
            total: total as u32,
        };
        Dispatch::builder(label, &self.pipeline)
            .uniform(&p)
            .bind(input)
            .bind(output)
            .workgroups(linear_grid(ctx, total, WORKGROUP_1D))
            .build(ctx)
    }
}
