//! The closed-form gradient family (CAM, Grad-CAM, HiResCAM, XGrad-CAM, Grad-CAM++,
//! LayerCAM): for a network that ends in global average pooling and one linear layer, each
//! method's channel weights α are a formula of the fc row and the layer4 maps
//! (docs/cam-math.md derives each one). Also the weighted sum `Σ_k α_k A_k`, which Score-CAM
//! shares.

use super::{Buffers, CamStage, Shape};
use crate::Method;
use crate::shaders::WORKGROUP_1D;
use crate::uniforms::{SumParams, WeightParams};
use shadercam_kernels::{Dispatch, GpuContext, GpuError, GpuResNet, Plan, linear_grid};

impl CamStage {
    /// The channel weights α of `method` (shaders/cam_weights.wgsl), one invocation per
    /// (image, target, four channels), written to `b.alphas`.
    pub(super) fn plan_weights(
        &self,
        ctx: &GpuContext,
        net: &GpuResNet,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
        method: Method,
    ) -> Result<Dispatch, GpuError> {
        let p = WeightParams {
            batch: s.n as u32,
            targets: s.t as u32,
            hw: s.hw as u32,
            c4: s.c4 as u32,
            method: method.weight_code(),
            total: (s.maps() * s.c4) as u32,
            ..Default::default()
        };
        Dispatch::builder("cam_weights", &self.weights)
            .uniform(&p)
            .bind(forward.features())
            .bind(net.fc_weight())
            .bind(&b.targets)
            .bind(&b.alphas)
            .workgroups(linear_grid(ctx, s.maps() * s.c4, WORKGROUP_1D))
            .build(ctx)
    }

    /// The raw maps `Σ_k α_k A_k` (shaders/cam_weighted_sum.wgsl) from `b.alphas` into
    /// `b.raw`, one invocation per map pixel.
    pub(super) fn plan_weighted_sum(
        &self,
        ctx: &GpuContext,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
    ) -> Result<Dispatch, GpuError> {
        let p = SumParams {
            batch: s.n as u32,
            targets: s.t as u32,
            hw: s.hw as u32,
            c4: s.c4 as u32,
            total: (s.maps() * s.hw) as u32,
            ..Default::default()
        };
        Dispatch::builder("cam_weighted_sum", &self.weighted_sum)
            .uniform(&p)
            .bind(forward.features())
            .bind(&b.alphas)
            .bind(&b.raw)
            .workgroups(linear_grid(ctx, s.maps() * s.hw, WORKGROUP_1D))
            .build(ctx)
    }
}
