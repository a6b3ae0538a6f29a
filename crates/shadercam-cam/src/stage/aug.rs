//! pytorch-grad-cam's `aug_smooth`: the batch holds six augmented copies of each image (ttach's
//! HorizontalFlip × Multiply([0.9, 1, 1.1]), built by the explainer); after the usual CAM
//! dispatches, `aug_mean` averages each image's six heatmaps, flipped back
//! (shaders/aug_mean.wgsl), and the overlays are drawn from that mean with the same overlay
//! kernels as the plain run.

use super::{CamPlan, CamStage, Normalisation, OriginalOverlay};
use crate::shaders::WORKGROUP_1D;
use crate::uniforms::{AugParams, OverlayParams};
use shadercam_kernels::{Dispatch, GpuContext, GpuError, linear_grid};

/// The dispatches and buffers of one aug-smoothed batch.
pub(crate) struct AugPlan {
    /// `[images, targets, crop, crop]`: the mean heatmaps (what the library returns).
    pub mean: wgpu::Buffer,
    /// `[images, targets, crop, crop]` RGBA8 overlays of the mean over the un-augmented crop.
    pub overlay: wgpu::Buffer,
    /// Per-map maxima of the overlay blend; clear before the compute pass.
    pub max_bits: wgpu::Buffer,
    /// Mean, blend, finish, in recording order.
    pub dispatches: Vec<Dispatch>,
}

impl CamStage {
    /// Plans the mean of `plan`'s heatmaps over `copies` consecutive copies per image (copy `a`
    /// flipped when bit `a` of `flips` is set) and its overlays over `crops_nhwc4`, the
    /// un-augmented normalised crops (NHWC4, `[images, crop·crop]` of `[f32; 4]`).
    pub(crate) fn aug_plan(
        &self,
        ctx: &GpuContext,
        plan: &CamPlan,
        copies: usize,
        flips: u32,
        crops_nhwc4: &[f32],
        norm: Normalisation,
    ) -> Result<AugPlan, GpuError> {
        let (crop, t) = (plan.crop, plan.targets);
        let images = plan.batch / copies;
        let maps = images * t;
        let px = maps * crop * crop;
        let mean = ctx.storage("aug mean heatmaps", (px * 4) as u64)?;
        let overlay = ctx.storage("aug overlays", (px * 4) as u64)?;
        let max_bits = ctx.storage("aug overlay maxima", (maps * 4) as u64)?;
        let crops = ctx.storage_from("aug un-augmented crops", crops_nhwc4)?;
        let none = ctx.storage("unused", 16)?;
        let grid = linear_grid(ctx, px, WORKGROUP_1D);
        let p = AugParams {
            images: images as u32,
            targets: t as u32,
            h: crop as u32,
            w: crop as u32,
            copies: copies as u32,
            flips,
            total: px as u32,
            _pad: 0,
        };
        let op = OverlayParams {
            maps: maps as u32,
            h: crop as u32,
            w: crop as u32,
            mode: 0,
            targets: t as u32,
            map_base: 0,
            dim: 1.0,
            _pad: 0,
            mean: [norm.mean[0], norm.mean[1], norm.mean[2], 0.0],
            stdev: [norm.std[0], norm.std[1], norm.std[2], 1.0],
            rect: [0, 0, crop as u32, crop as u32],
        };
        let dispatches = vec![
            Dispatch::builder("aug_mean", &self.aug_mean)
                .uniform(&p)
                .bind(&plan.heat)
                .bind(&mean)
                .workgroups(grid)
                .build(ctx)?,
            Dispatch::builder("aug overlay blend", &self.blend)
                .uniform(&op)
                .bind(&mean)
                .bind(&crops)
                .bind(&none)
                .bind(&max_bits)
                .workgroups(grid)
                .build(ctx)?,
            Dispatch::builder("aug overlay finish", &self.finish)
                .uniform(&op)
                .bind(&mean)
                .bind(&crops)
                .bind(&none)
                .bind(&max_bits)
                .bind(&overlay)
                .workgroups(grid)
                .build(ctx)?,
        ];
        Ok(AugPlan {
            mean,
            overlay,
            max_bits,
            dispatches,
        })
    }

    /// The mean heatmap `map` (an index into the aug plan's `[images·targets]` maps) drawn over
    /// an original picture, as [`CamStage::original_overlay`] draws a plain run's map; `place`
    /// maps a picture pixel to layer4-map coordinates (`fh`x`fw`), moved here to crop
    /// coordinates because the mean exists only at the crop's size.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn aug_original_overlay(
        &self,
        ctx: &GpuContext,
        plan: &CamPlan,
        aug: &AugPlan,
        map: usize,
        (width, height): (usize, usize),
        rgba: &[u32],
        place: [f32; 4],
        rect: [u32; 4],
    ) -> Result<OriginalOverlay, GpuError> {
        let place = super::overlay::place_in_crop(plan, place);
        let src = (&aug.mean, (plan.crop, plan.crop));
        self.overlay_from(ctx, src, map, (width, height), rgba, place, rect)
    }
}
