//! EigenCAM (Muhammad & Yeasin 2020; pytorch-grad-cam's `get_2d_projection`): the layer4 maps
//! projected on their first principal component, computed without gradients or weights — the
//! pixel Gram matrix, then power iteration on it (shaders/eigencam.wgsl). The map does not
//! depend on the target class: every target of an image gets the same one.

use super::{Buffers, CamStage, Shape};
use crate::shaders::WORKGROUP_1D;
use crate::uniforms::EigenParams;
use shadercam_kernels::{Dispatch, GpuContext, GpuError, Plan, linear_grid};

/// Power iterations of EigenCAM (49x49 matrices: converges far sooner).
const EIGEN_ITERS: u32 = 300;

/// The largest layer4 map (in pixels) the `power` entry point handles.
pub(super) const MAX_PIXELS: usize = 1024;

impl CamStage {
    /// The Gram matrix `G = M·Mᵀ` of each image's maps (one invocation per entry), then one
    /// workgroup per image centring it and running power iteration, writing the projection
    /// into every target's raw map.
    pub(super) fn plan_eigen(
        &self,
        ctx: &GpuContext,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
    ) -> Result<Vec<Dispatch>, GpuError> {
        let (n, hw) = (s.n, s.hw);
        let gram = ctx.storage("eigencam gram", (n * hw * hw * 4) as u64)?;
        let p = EigenParams {
            batch: n as u32,
            hw: hw as u32,
            c4: s.c4 as u32,
            targets: s.t as u32,
            iters: EIGEN_ITERS,
            ..Default::default()
        };
        Ok(vec![
            Dispatch::builder("eigencam gram", &self.gram)
                .uniform(&p)
                .bind(forward.features())
                .bind(&gram)
                .workgroups(linear_grid(ctx, n * hw * hw, WORKGROUP_1D))
                .build(ctx)?,
            Dispatch::builder("eigencam power", &self.power)
                .uniform(&p)
                .bind_at(2, &gram)
                .bind(&b.raw)
                .workgroups((n as u32, 1, 1))
                .build(ctx)?,
        ])
    }
}
