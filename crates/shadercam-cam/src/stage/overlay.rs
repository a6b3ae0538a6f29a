//! Scaling and drawing the maps: ReLU + min-max of the raw maps, bilinear upsampling to the
//! crop (cv2.resize's placement), ReLU + min-max again — pytorch-grad-cam's heatmap — and the
//! JET overlay on the crop; and the same heat drawn over the original picture.

use super::{Buffers, CamPlan, CamStage, Normalisation, SCALE_EPS, Shape};
use crate::shaders::WORKGROUP_1D;
use crate::uniforms::{NormParams, OverlayParams, UpParams};
use shadercam_kernels::{Dispatch, GpuContext, GpuError, Plan, grid, linear_grid};

/// The dispatches that draw one map over an original picture, and the buffers they fill.
pub struct OriginalOverlay {
    /// Upsample, blend and finish, in recording order.
    pub dispatches: Vec<Dispatch>,
    /// `[height·width]` RGBA8: the picture with the heat over it (read this back).
    pub output: wgpu::Buffer,
    /// The blend's maximum; clear it on the encoder before the compute pass.
    pub max_bits: wgpu::Buffer,
}

impl CamStage {
    /// From `b.raw` to the heatmaps and overlays of the crop: min-max of the `fh`x`fw` maps
    /// (ReLU first when `relu`), upsampling to the crop, min-max again, then the JET blend
    /// (per-map maximum) and the finished RGBA8 overlays over the un-normalised crop.
    pub(super) fn plan_crop_maps(
        &self,
        ctx: &GpuContext,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
        relu: bool,
        norm: Normalisation,
    ) -> Result<Vec<Dispatch>, GpuError> {
        let crop = s.crop;
        let maps = s.maps() as u32;
        let relu = relu as u32;
        let wg = grid(maps, ctx.limits.max_compute_workgroups_per_dimension);
        let mut ds = Vec::new();
        let p = NormParams {
            maps,
            len: s.hw as u32,
            relu,
            eps: SCALE_EPS,
        };
        ds.push(
            Dispatch::builder(&format!("cam_normalize {}x{}", s.fh, s.fw), &self.normalize)
                .uniform(&p)
                .bind(&b.raw)
                .bind(&b.normed)
                .workgroups((wg.0, wg.1, 1))
                .build(ctx)?,
        );
        let up_p = resize_params(maps, (s.fh, s.fw), (crop, crop), 0);
        ds.push(
            Dispatch::builder("cam_upsample crop", &self.upsample)
                .uniform(&up_p)
                .bind(&b.normed)
                .bind(&b.up)
                .workgroups(linear_grid(ctx, s.maps() * crop * crop, WORKGROUP_1D))
                .build(ctx)?,
        );
        let p = NormParams {
            maps,
            len: (crop * crop) as u32,
            relu,
            eps: SCALE_EPS,
        };
        ds.push(
            Dispatch::builder("cam_normalize crop", &self.normalize)
                .uniform(&p)
                .bind(&b.up)
                .bind(&b.heat)
                .workgroups((wg.0, wg.1, 1))
                .build(ctx)?,
        );
        let op = OverlayParams {
            maps,
            h: crop as u32,
            w: crop as u32,
            mode: 0,
            targets: s.t as u32,
            map_base: 0,
            dim: 1.0,
            _pad: 0,
            mean: [norm.mean[0], norm.mean[1], norm.mean[2], 0.0],
            stdev: [norm.std[0], norm.std[1], norm.std[2], 1.0],
            rect: [0, 0, crop as u32, crop as u32],
        };
        let grid = linear_grid(ctx, s.maps() * crop * crop, WORKGROUP_1D);
        ds.push(
            Dispatch::builder("cam_overlay blend", &self.blend)
                .uniform(&op)
                .bind(&b.heat)
                .bind(&forward.input)
                .bind(&b.none)
                .bind(&b.max_bits)
                .workgroups(grid)
                .build(ctx)?,
        );
        ds.push(
            Dispatch::builder("cam_overlay finish", &self.finish)
                .uniform(&op)
                .bind(&b.heat)
                .bind(&forward.input)
                .bind(&b.none)
                .bind(&b.max_bits)
                .bind(&b.overlay)
                .workgroups(grid)
                .build(ctx)?,
        );
        Ok(ds)
    }

    /// Dispatches that draw map `map` (an index into the plan's `[batch·targets]` maps) over
    /// an original picture of `width`x`height` RGBA8 pixels. `place` maps a picture pixel to the
    /// layer4 map's coordinates (see [`crate::OriginalView`]); pixels outside `rect`
    /// are dimmed.
    #[allow(clippy::too_many_arguments)]
    pub fn original_overlay(
        &self,
        ctx: &GpuContext,
        plan: &CamPlan,
        map: usize,
        (width, height): (usize, usize),
        rgba: &[u32],
        place: [f32; 4],
        rect: [u32; 4],
    ) -> Result<OriginalOverlay, GpuError> {
        // SobelCAM's map is the crop-sized heatmap, drawn from crop coordinates.
        if plan.method == crate::Method::SobelCam {
            let place = place_in_crop(plan, place);
            let src = (&plan.heat, (plan.crop, plan.crop));
            return self.overlay_from(ctx, src, map, (width, height), rgba, place, rect);
        }
        let src = (&plan.norm, (plan.fh, plan.fw));
        self.overlay_from(ctx, src, map, (width, height), rgba, place, rect)
    }

    /// The dispatches of an overlay on an original picture, from map `map` of `src`
    /// (`[maps, sh, sw]`): upsample it onto the picture with `place` (a picture pixel in `src`'s
    /// coordinates), then blend and finish as on the crop. Shared by plain runs, SobelCAM and
    /// aug-smooth's mean.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn overlay_from(
        &self,
        ctx: &GpuContext,
        (src, (sh, sw)): (&wgpu::Buffer, (usize, usize)),
        map: usize,
        (width, height): (usize, usize),
        rgba: &[u32],
        place: [f32; 4],
        rect: [u32; 4],
    ) -> Result<OriginalOverlay, GpuError> {
        let px = width * height;
        let img = ctx.storage_from("original image", rgba)?;
        let up = ctx.storage("original heat", (px * 4) as u64)?;
        let output = ctx.storage("original overlay", (px * 4) as u64)?;
        let max_bits = ctx.storage("original overlay max", 4)?;
        let none = ctx.storage("unused", 16)?;
        let up_p = UpParams {
            maps: 1,
            src_h: sh as u32,
            src_w: sw as u32,
            dst_h: height as u32,
            dst_w: width as u32,
            src_base: map as u32,
            total: px as u32,
            _pad: 0,
            scale_x: place[0],
            offset_x: place[1],
            scale_y: place[2],
            offset_y: place[3],
        };
        let grid = linear_grid(ctx, px, WORKGROUP_1D);
        let op = OverlayParams {
            maps: 1,
            h: height as u32,
            w: width as u32,
            mode: 1,
            targets: 1,
            map_base: 0,
            dim: 0.45,
            rect,
            ..Default::default()
        };
        let dispatches = vec![
            Dispatch::builder("original upsample", &self.upsample)
                .uniform(&up_p)
                .bind(src)
                .bind(&up)
                .workgroups(grid)
                .build(ctx)?,
            Dispatch::builder("original blend", &self.blend)
                .uniform(&op)
                .bind(&up)
                .bind(&none)
                .bind(&img)
                .bind(&max_bits)
                .workgroups(grid)
                .build(ctx)?,
            Dispatch::builder("original finish", &self.finish)
                .uniform(&op)
                .bind(&up)
                .bind(&none)
                .bind(&img)
                .bind(&max_bits)
                .bind(&output)
                .workgroups(grid)
                .build(ctx)?,
        ];
        Ok(OriginalOverlay {
            dispatches,
            output,
            max_bits,
        })
    }
}

/// `place` (a picture pixel in layer4-map coordinates, `m = (c + 0.5)·f/crop − 0.5`) moved to
/// crop coordinates `c = (m + 0.5)·crop/f − 0.5`, for maps that exist only at the crop's size.
pub(super) fn place_in_crop(plan: &CamPlan, place: [f32; 4]) -> [f32; 4] {
    let (kx, ky) = (
        plan.crop as f32 / plan.fw as f32,
        plan.crop as f32 / plan.fh as f32,
    );
    [
        place[0] * kx,
        (place[1] + 0.5) * kx - 0.5,
        place[2] * ky,
        (place[3] + 0.5) * ky - 0.5,
    ]
}

/// cv2.resize's INTER_LINEAR placement for `src` → `dst`: `s = (d + 0.5)·src/dst - 0.5`.
fn resize_params(
    maps: u32,
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    src_base: u32,
) -> UpParams {
    let sx = sw as f32 / dw as f32;
    let sy = sh as f32 / dh as f32;
    UpParams {
        maps,
        src_h: sh as u32,
        src_w: sw as u32,
        dst_h: dh as u32,
        dst_w: dw as u32,
        src_base,
        total: maps * (dh * dw) as u32,
        _pad: 0,
        scale_x: sx,
        offset_x: 0.5 * sx - 0.5,
        scale_y: sy,
        offset_y: 0.5 * sy - 0.5,
    }
}
