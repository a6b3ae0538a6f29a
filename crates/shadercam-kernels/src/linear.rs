//! The fully connected classifier (`fc`): logits from the pooled features. Its weight rows
//! are also the class weights `w^c_k` of CAM.

use crate::GpuError;
use crate::context::GpuContext;
use crate::dispatch::{Dispatch, OVERRIDES_1D, WORKGROUP_1D, compute_pipeline, linear_grid};
use crate::shaders;

/// Uniform block of `shaders/linear.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinearParams {
    pub batch: u32,
    pub features4: u32,
    pub classes: u32,
    pub total: u32,
}

/// `shaders/linear.wgsl`.
pub struct Linear {
    pub pipeline: wgpu::ComputePipeline,
}

impl Linear {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(Self {
            pipeline: compute_pipeline(ctx, "linear", shaders::LINEAR, OVERRIDES_1D)?,
        })
    }

    /// `features` must be a multiple of 4.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch(
        &self,
        ctx: &GpuContext,
        label: &str,
        (batch, features, classes): (usize, usize, usize),
        x: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        bias: &wgpu::Buffer,
        logits: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let total = batch * classes;
        let p = LinearParams {
            batch: batch as u32,
            features4: (features / 4) as u32,
            classes: classes as u32,
            total: total as u32,
        };
        Dispatch::builder(label, &self.pipeline)
            .uniform(&p)
            .bind(x)
            .bind(weight)
            .bind(bias)
            .bind(logits)
            .workgroups(linear_grid(ctx, total, WORKGROUP_1D))
            .build(ctx)
    }
}
