//! The closed-form family (CAM, Grad-CAM, HiResCAM, XGrad-CAM, Grad-CAM++, LayerCAM,
//! GradCAMElementWise, AblationCAM, FinerCAM, ShapleyCAM, FEM): for a network that ends in
//! global average pooling and one linear layer, each method's channel weights α are a formula
//! of the fc weights, the logits and the layer4 maps (docs/cam-math.md derives each one). Also
//! the weighted sum `Σ_k α_k A_k`, which Score-CAM and RandomCAM share.

use super::{Buffers, CamStage, Shape};
use crate::Method;
use crate::shaders::WORKGROUP_1D;
use crate::uniforms::{SumParams, TargetParams, WeightParams};
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
            classes: s.classes as u32,
            ..Default::default()
        };
        Dispatch::builder("cam_weights", &self.weights)
            .uniform(&p)
            .bind(forward.features())
            .bind(net.fc_weight())
            .bind(&b.targets)
            .bind(&b.alphas)
            .bind(&forward.logits)
            .bind(&b.class_vec)
            .bind(&b.image_mins)
            .workgroups(linear_grid(ctx, s.maps() * s.c4, WORKGROUP_1D))
            .build(ctx)
    }

    /// The raw maps `Σ_k α_k A_k` (shaders/cam_weighted_sum.wgsl) from `b.alphas` into
    /// `b.raw`, one invocation per map pixel; with `clamp`, `Σ_k max(α_k A_k, 0)`
    /// (GradCAMElementWise).
    pub(super) fn plan_weighted_sum(
        &self,
        ctx: &GpuContext,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
        clamp: bool,
    ) -> Result<Dispatch, GpuError> {
        let p = SumParams {
            batch: s.n as u32,
            targets: s.t as u32,
            hw: s.hw as u32,
            c4: s.c4 as u32,
            total: (s.maps() * s.hw) as u32,
            clamp: clamp as u32,
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

    /// `v = ∂score/∂logits` per (image, target) for FinerCAM and ShapleyCAM
    /// (shaders/cam_targets.wgsl, entry point `class_vector`), into `b.class_vec`; FinerCAM's
    /// comparison classes into `b.chosen`. Runs after target selection.
    pub(super) fn plan_class_vector(
        &self,
        ctx: &GpuContext,
        net: &GpuResNet,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
        method: Method,
    ) -> Result<Dispatch, GpuError> {
        let p = TargetParams {
            batch: s.n as u32,
            classes: s.classes as u32,
            k: s.t as u32,
            mode: if method == Method::FinerCam { 1 } else { 2 },
            // pytorch-grad-cam's comparison_categories [1, 2, 3], clamped to classes − 1.
            comparisons: 3.min(s.classes - 1) as u32,
            ..Default::default()
        };
        Dispatch::builder("cam_targets class_vector", &self.class_vector)
            .uniform(&p)
            .bind(&forward.logits)
            .bind_at(3, &b.targets)
            .bind(net.fc_bias())
            .bind(&b.class_vec)
            .bind(&b.chosen)
            .workgroups(super::groups_x(s.maps()))
            .build(ctx)
    }

    /// min(A) over each image's layer4 maps (shaders/cam_weights.wgsl, entry point
    /// `image_min`), one workgroup per image: AblationCAM's ablation value depends on it.
    pub(super) fn plan_image_min(
        &self,
        ctx: &GpuContext,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
    ) -> Result<Dispatch, GpuError> {
        let p = WeightParams {
            batch: s.n as u32,
            hw: s.hw as u32,
            c4: s.c4 as u32,
            ..Default::default()
        };
        Dispatch::builder("cam_weights image_min", &self.image_min)
            .uniform(&p)
            .bind(forward.features())
            .bind_at(7, &b.image_mins)
            .workgroups((s.n as u32, 1, 1))
            .build(ctx)
    }
}
