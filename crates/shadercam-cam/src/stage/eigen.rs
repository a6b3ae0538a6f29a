//! The principal-component maps (shaders/eigencam.wgsl): EigenCAM (Muhammad & Yeasin 2020;
//! pytorch-grad-cam's `get_2d_projection` of the layer4 maps), EigenGradCAM (the same of
//! `g ⊙ A`), the `eigen_smooth` option of the weight methods (the same of `α ⊙ A`, or of
//! `max(g ⊙ A, 0)` for gradcamelementwise) and KPCA-CAM (`get_2d_projection_kernel`: sklearn's
//! KernelPCA with the sigmoid kernel). Each is the pixel Gram matrix of (column-scaled) maps,
//! then one workgroup per matrix centring it (and applying the kernel) and running power
//! iteration on it. EigenCAM and KPCA-CAM do not depend on the target class: every target of an
//! image gets the same map; the scaled variants have one matrix per (image, target).

use super::{Buffers, CamStage, Shape};
use crate::shaders::WORKGROUP_1D;
use crate::uniforms::EigenParams;
use crate::{CamError, ExplainOptions, Method};
use shadercam_kernels::{Dispatch, GpuContext, Plan, linear_grid};

/// Power iterations (49x49 matrices: converges far sooner; the slowest fixture's eigenvalue
/// ratio λ2/λ1 is 0.69, so 300 steps shrink the error by 0.69^300 ≈ 1e-48).
const EIGEN_ITERS: u32 = 300;

/// The largest layer4 map (in pixels) the `power` entry point handles.
pub(super) const MAX_PIXELS: usize = 1024;

/// The matrix whose principal component is taken: `EigenParams::rows`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rows {
    /// The layer4 maps `A` (one matrix per image).
    Maps = 0,
    /// `A · diag(α)`, α the target's channel weights in `b.alphas` (one per (image, target)).
    Scaled = 1,
    /// `max(A · diag(α), 0)` (one per (image, target)).
    Clamped = 2,
}

/// Linear PCA or the sigmoid-kernel PCA: `EigenParams::kernel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kernel {
    Linear = 0,
    Sigmoid = 1,
}

/// The projection that replaces the weighted sum `Σ_k α_k A_k` for `opts`, if any:
/// EigenGradCAM always (α = g, written by `cam_weights` as for Grad-CAM), and with
/// `eigen_smooth` every method that goes through BaseCAM's `get_cam_image` (or, like
/// gradcamelementwise, HiResCAM and LayerCAM, its own `get_2d_projection` branch). EigenCAM,
/// KPCA-CAM, FEM and SobelCAM ignore `eigen_smooth`, as the library does.
pub(super) fn projection(opts: &ExplainOptions) -> Option<Rows> {
    match opts.method {
        Method::EigenGradCam => Some(Rows::Scaled),
        Method::EigenCam | Method::KpcaCam | Method::Fem | Method::SobelCam => None,
        Method::GradCamElementWise if opts.eigen_smooth => Some(Rows::Clamped),
        _ if opts.eigen_smooth => Some(Rows::Scaled),
        _ => None,
    }
}

impl CamStage {
    /// EigenCAM: the projection of the unweighted maps.
    pub(super) fn plan_eigen(
        &self,
        ctx: &GpuContext,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
    ) -> Result<Vec<Dispatch>, CamError> {
        self.plan_projection(ctx, forward, s, b, Rows::Maps, Kernel::Linear)
    }

    /// KPCA-CAM: the sigmoid-kernel PCA of the unweighted maps.
    pub(super) fn plan_kpca(
        &self,
        ctx: &GpuContext,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
    ) -> Result<Vec<Dispatch>, CamError> {
        self.plan_projection(ctx, forward, s, b, Rows::Maps, Kernel::Sigmoid)
    }

    /// The Gram matrix `G = M·Mᵀ` of each image's (or each (image, target)'s) matrix `M`
    /// (`rows`), one invocation per entry; then one workgroup per matrix centring it, applying
    /// `kernel`, and running power iteration, writing the projection into `b.raw`.
    pub(super) fn plan_projection(
        &self,
        ctx: &GpuContext,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
        rows: Rows,
        kernel: Kernel,
    ) -> Result<Vec<Dispatch>, CamError> {
        let (n, hw) = (s.n, s.hw);
        if hw > MAX_PIXELS {
            return Err(CamError::Options(format!(
                "the principal-component maps support layer4 maps of up to {MAX_PIXELS} \
                 pixels, got {}x{}",
                s.fh, s.fw
            )));
        }
        let matrices = if rows == Rows::Maps { n } else { s.maps() };
        let gram = ctx.storage("eigencam gram", (matrices * hw * hw * 4) as u64)?;
        let p = EigenParams {
            batch: n as u32,
            hw: hw as u32,
            c4: s.c4 as u32,
            targets: s.t as u32,
            iters: EIGEN_ITERS,
            rows: rows as u32,
            kernel: kernel as u32,
            gamma: 1.0 / s.c as f32,
        };
        let scale = if rows == Rows::Maps {
            &b.none
        } else {
            &b.alphas
        };
        Ok(vec![
            Dispatch::builder("eigencam gram", &self.gram)
                .uniform(&p)
                .bind(forward.features())
                .bind(&gram)
                .bind_at(4, scale)
                .workgroups(linear_grid(ctx, matrices * hw * hw, WORKGROUP_1D))
                .build(ctx)?,
            Dispatch::builder("eigencam power", &self.power)
                .uniform(&p)
                .bind_at(2, &gram)
                .bind(&b.raw)
                .workgroups((matrices as u32, 1, 1))
                .build(ctx)?,
        ])
    }
}
