//! The CAM stage's pipelines and its per-batch plan: buffers, bind groups and dispatches that
//! turn the layer4 maps left on the GPU by a forward pass into normalised heatmaps and overlays.
//!
//! Order of the dispatches (all in the forward pass's command encoder, one submit):
//! targets (top-k on the GPU) → channel weights α (closed form, EigenCAM's power iteration, or
//! Score-CAM's masked forwards + softmax) → weighted sum `Σ_k α_k A_k` → ReLU + min-max →
//! bilinear upsampling to the crop → ReLU + min-max → JET overlay.

use crate::{CamError, Method, Targets};
use shadercam_kernels::kernels::{Dispatch, entry_pipeline, linear_grid, shader_module};
use shadercam_kernels::network::Plan;
use shadercam_kernels::{GpuContext, GpuError, GpuResNet};
use std::sync::Arc;

/// pytorch-grad-cam's `scale_cam_image` epsilon: `x / (max + 1e-7)`.
pub const SCALE_EPS: f32 = 1e-7;
/// Power iterations of EigenCAM (49x49 matrices: converges far sooner).
const EIGEN_ITERS: u32 = 300;

macro_rules! params {
    ($name:ident { $($f:ident : $t:ty),* $(,)? }) => {
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name { $(pub $f: $t),* }
    };
}

params!(TargetParams {
    batch: u32,
    classes: u32,
    k: u32,
    fixed: u32
});
params!(WeightParams {
    batch: u32,
    targets: u32,
    hw: u32,
    c4: u32,
    method: u32,
    total: u32,
    _pad0: u32,
    _pad1: u32
});
params!(SumParams {
    batch: u32,
    targets: u32,
    hw: u32,
    c4: u32,
    total: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32
});
params!(NormParams {
    maps: u32,
    len: u32,
    relu: u32,
    eps: f32
});
params!(UpParams {
    maps: u32,
    src_h: u32,
    src_w: u32,
    dst_h: u32,
    dst_w: u32,
    src_base: u32,
    total: u32,
    _pad: u32,
    scale_x: f32,
    offset_x: f32,
    scale_y: f32,
    offset_y: f32,
});
params!(OverlayParams {
    maps: u32,
    h: u32,
    w: u32,
    mode: u32,
    targets: u32,
    map_base: u32,
    dim: f32,
    _pad: u32,
    mean: [f32; 4],
    stdev: [f32; 4],
    rect: [u32; 4],
});
params!(EigenParams {
    batch: u32,
    hw: u32,
    c4: u32,
    targets: u32,
    iters: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32
});
params!(MaskParams {
    h: u32,
    w: u32,
    fh: u32,
    fw: u32,
    c4: u32,
    image: u32,
    k0: u32,
    count: u32
});
params!(SoftmaxParams {
    targets: u32,
    classes: u32,
    maps: u32,
    image: u32,
    k0: u32,
    count: u32,
    pairs: u32,
    _pad: u32
});

/// Every pipeline of the CAM stage, created once.
pub struct CamStage {
    targets: wgpu::ComputePipeline,
    weights: wgpu::ComputePipeline,
    weighted_sum: wgpu::ComputePipeline,
    normalize: wgpu::ComputePipeline,
    upsample: wgpu::ComputePipeline,
    blend: wgpu::ComputePipeline,
    finish: wgpu::ComputePipeline,
    gram: wgpu::ComputePipeline,
    power: wgpu::ComputePipeline,
    sc_range: wgpu::ComputePipeline,
    sc_mask: wgpu::ComputePipeline,
    sc_gather: wgpu::ComputePipeline,
    sc_softmax: wgpu::ComputePipeline,
}

/// How the crop and the original picture are un-normalised for the overlay.
#[derive(Clone, Copy, Debug)]
pub struct Normalisation {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// Buffers and dispatches of one (forward plan, targets, method) combination.
pub struct CamPlan {
    pub batch: usize,
    pub targets: usize,
    /// The target request this plan was built for (fixed targets are baked into a buffer).
    pub spec: Targets,
    pub method: Method,
    pub fh: usize,
    pub fw: usize,
    pub crop: usize,
    /// `[batch, targets]` u32 class indices.
    pub targets_buf: wgpu::Buffer,
    /// `[batch, targets, fh·fw]`: the map before ReLU and scaling.
    pub raw: wgpu::Buffer,
    /// `[batch, targets, fh·fw]`: after ReLU + min-max.
    pub norm: wgpu::Buffer,
    /// `[batch, targets, crop, crop]`: upsampled and scaled again — pytorch-grad-cam's output.
    pub heat: wgpu::Buffer,
    /// `[batch, targets, crop, crop]` RGBA8 overlays.
    pub overlay: wgpu::Buffer,
    /// Per-map maxima of the overlay blend (cleared before each run).
    pub max_bits: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    /// Score-CAM: the forward plan of the masked-input chunks and the per-chunk dispatches.
    scorecam: Option<(Arc<Plan>, Vec<Dispatch>)>,
    forward: Arc<Plan>,
}

impl CamPlan {
    /// Records the CAM dispatches (after the forward pass's) into `pass`.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        for d in self.dispatches() {
            d.record(pass);
        }
    }

    /// Every CAM dispatch in recording order: target selection first, then Score-CAM's
    /// masked-input chunks (if any), then the rest.
    pub fn dispatches(&self) -> impl Iterator<Item = &Dispatch> {
        let (targets, rest) = self.dispatches.split_at(1);
        targets
            .iter()
            .chain(self.scorecam.iter().flat_map(|(_, c)| c.iter()))
            .chain(rest.iter())
    }

    /// The forward plan whose buffers this plan reads.
    pub fn forward(&self) -> &Arc<Plan> {
        &self.forward
    }

    /// Clears what must start at zero; call on the encoder before the compute pass.
    pub fn clear(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.clear_buffer(&self.max_bits, 0, None);
    }
}

impl CamStage {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        use crate::shaders::*;
        let one = |name: &str, src: &str| {
            entry_pipeline(ctx, &shader_module(ctx, name, src)?, name, "main")
        };
        let overlay = shader_module(ctx, "cam_overlay", CAM_OVERLAY)?;
        let eigen = shader_module(ctx, "eigencam", EIGENCAM)?;
        let mask = shader_module(ctx, "scorecam_mask", SCORECAM_MASK)?;
        let softmax = shader_module(ctx, "scorecam_softmax", SCORECAM_SOFTMAX)?;
        Ok(Self {
            targets: one("cam_targets", CAM_TARGETS)?,
            weights: one("cam_weights", CAM_WEIGHTS)?,
            weighted_sum: one("cam_weighted_sum", CAM_WEIGHTED_SUM)?,
            normalize: one("cam_normalize", CAM_NORMALIZE)?,
            upsample: one("cam_upsample", CAM_UPSAMPLE)?,
            blend: entry_pipeline(ctx, &overlay, "cam_overlay", "blend")?,
            finish: entry_pipeline(ctx, &overlay, "cam_overlay", "finish")?,
            gram: entry_pipeline(ctx, &eigen, "eigencam", "gram_entry")?,
            power: entry_pipeline(ctx, &eigen, "eigencam", "power")?,
            sc_range: entry_pipeline(ctx, &mask, "scorecam_mask", "range")?,
            sc_mask: entry_pipeline(ctx, &mask, "scorecam_mask", "mask")?,
            sc_gather: entry_pipeline(ctx, &softmax, "scorecam_softmax", "gather")?,
            sc_softmax: entry_pipeline(ctx, &softmax, "scorecam_softmax", "softmax")?,
        })
    }

    fn dispatch(
        &self,
        ctx: &GpuContext,
        pipeline: &wgpu::ComputePipeline,
        label: &str,
        params: &[u8],
        buffers: &[(u32, &wgpu::Buffer)],
        workgroups: (u32, u32, u32),
    ) -> Result<Dispatch, GpuError> {
        let ubuf = ctx.uniform_bytes(label, params)?;
        let layout = pipeline.get_bind_group_layout(0);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: ubuf.as_entire_binding(),
        }];
        entries.extend(buffers.iter().map(|(i, b)| wgpu::BindGroupEntry {
            binding: *i,
            resource: b.as_entire_binding(),
        }));
        let bind_group = ctx.scoped(label, || {
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout: &layout,
                entries: &entries,
            })
        })?;
        Ok(Dispatch {
            label: label.to_owned(),
            pipeline: pipeline.clone(),
            bind_group,
            workgroups,
        })
    }

    /// Builds the CAM plan reading `forward`'s layer4 maps and logits.
    #[allow(clippy::too_many_arguments)]
    pub fn plan(
        &self,
        ctx: &GpuContext,
        net: &mut GpuResNet,
        forward: Arc<Plan>,
        targets: &Targets,
        method: Method,
        norm: Normalisation,
    ) -> Result<CamPlan, CamError> {
        let (n, t) = (forward.batch, targets.count());
        let (fh, fw, c) = (forward.feat_h, forward.feat_w, forward.feat_c);
        let hw = fh * fw;
        let c4 = c / 4;
        let crop = forward.in_h;
        if t == 0 {
            return Err(CamError::Options(
                "at least one target class is needed (--top-k must be >= 1)".into(),
            ));
        }
        if forward.in_h != forward.in_w {
            return Err(CamError::Options(
                "the CAM stage expects a square crop".into(),
            ));
        }
        if method == Method::EigenCam && hw > 1024 {
            return Err(CamError::Options(format!(
                "eigencam supports layer4 maps of up to 1024 pixels, got {fh}x{fw}"
            )));
        }
        let classes = forward.classes;
        let fixed: Vec<u32> = match targets {
            Targets::Fixed(v) => {
                if let Some(bad) = v.iter().find(|&&c| c >= classes) {
                    return Err(CamError::Options(format!(
                        "target class {bad} is outside the model's {classes} classes (0..{})",
                        classes - 1
                    )));
                }
                v.iter().map(|&c| c as u32).collect()
            }
            Targets::TopK(k) => {
                if *k > classes {
                    return Err(CamError::Options(format!(
                        "--top-k {k} exceeds the model's {classes} classes"
                    )));
                }
                vec![0; *k]
            }
        };
        let fixed_buf = ctx.storage_from("cam fixed targets", &fixed)?;
        let targets_buf = ctx.storage("cam targets", (n * t * 4) as u64)?;
        let alphas = ctx.storage("cam alphas", (n * t * c * 4) as u64)?;
        let raw = ctx.storage("cam raw maps", (n * t * hw * 4) as u64)?;
        let normed = ctx.storage("cam normalised maps", (n * t * hw * 4) as u64)?;
        let up = ctx.storage("cam upsampled", (n * t * crop * crop * 4) as u64)?;
        let heat = ctx.storage("cam heatmaps", (n * t * crop * crop * 4) as u64)?;
        let overlay = ctx.storage("cam overlays", (n * t * crop * crop * 4) as u64)?;
        let max_bits = ctx.storage("cam overlay maxima", (n * t * 4) as u64)?;
        let none = ctx.storage("unused", 16)?;
        let feats = forward.features();

        let mut ds = Vec::new();
        let p = TargetParams {
            batch: n as u32,
            classes: classes as u32,
            k: t as u32,
            fixed: matches!(targets, Targets::Fixed(_)) as u32,
        };
        ds.push(self.dispatch(
            ctx,
            &self.targets,
            "cam_targets",
            bytemuck::bytes_of(&p),
            &[(1, &forward.logits), (2, &fixed_buf), (3, &targets_buf)],
            ((n as u32).div_ceil(64), 1, 1),
        )?);

        let mut scorecam = None;
        match method {
            Method::EigenCam => {
                let gram = ctx.storage("eigencam gram", (n * hw * hw * 4) as u64)?;
                let p = EigenParams {
                    batch: n as u32,
                    hw: hw as u32,
                    c4: c4 as u32,
                    targets: t as u32,
                    iters: EIGEN_ITERS,
                    ..Default::default()
                };
                ds.push(self.dispatch(
                    ctx,
                    &self.gram,
                    "eigencam gram",
                    bytemuck::bytes_of(&p),
                    &[(1, feats), (2, &gram)],
                    linear_grid(ctx, n * hw * hw, 64),
                )?);
                ds.push(self.dispatch(
                    ctx,
                    &self.power,
                    "eigencam power",
                    bytemuck::bytes_of(&p),
                    &[(2, &gram), (3, &raw)],
                    (n as u32, 1, 1),
                )?);
            }
            Method::ScoreCam => {
                let chunk = net.max_batch(ctx, crop, crop).min(64).min(c);
                let splan = net.plan_uncached(ctx, chunk, crop, crop)?;
                let scores = ctx.storage("scorecam scores", (n * t * c * 4) as u64)?;
                let ranges = ctx.storage("scorecam ranges", (chunk * 8) as u64)?;
                let mut chunks = Vec::new();
                for b in 0..n {
                    for k0 in (0..c).step_by(chunk) {
                        let count = chunk.min(c - k0);
                        let mp = MaskParams {
                            h: crop as u32,
                            w: crop as u32,
                            fh: fh as u32,
                            fw: fw as u32,
                            c4: c4 as u32,
                            image: b as u32,
                            k0: k0 as u32,
                            count: count as u32,
                        };
                        chunks.push(self.dispatch(
                            ctx,
                            &self.sc_range,
                            "scorecam range",
                            bytemuck::bytes_of(&mp),
                            &[(1, feats), (4, &ranges)],
                            ((count as u32).div_ceil(64), 1, 1),
                        )?);
                        let bufs = [
                            (1, feats),
                            (2, &forward.input),
                            (3, &splan.input),
                            (4, &ranges),
                        ];
                        chunks.push(self.dispatch(
                            ctx,
                            &self.sc_mask,
                            "scorecam mask",
                            bytemuck::bytes_of(&mp),
                            &bufs,
                            linear_grid(ctx, count * crop * crop, 64),
                        )?);
                        // The chunk's own forward pass (its dispatches are shared by every chunk).
                        for s in &splan.steps {
                            chunks.push(Dispatch {
                                label: s.dispatch.label.clone(),
                                pipeline: s.dispatch.pipeline.clone(),
                                bind_group: s.dispatch.bind_group.clone(),
                                workgroups: s.dispatch.workgroups,
                            });
                        }
                        let sp = SoftmaxParams {
                            targets: t as u32,
                            classes: classes as u32,
                            maps: c as u32,
                            image: b as u32,
                            k0: k0 as u32,
                            count: count as u32,
                            pairs: (n * t) as u32,
                            _pad: 0,
                        };
                        chunks.push(self.dispatch(
                            ctx,
                            &self.sc_gather,
                            "scorecam gather",
                            bytemuck::bytes_of(&sp),
                            &[(1, &splan.logits), (2, &targets_buf), (3, &scores)],
                            (((count * t) as u32).div_ceil(64), 1, 1),
                        )?);
                    }
                }
                let sp = SoftmaxParams {
                    targets: t as u32,
                    classes: classes as u32,
                    maps: c as u32,
                    pairs: (n * t) as u32,
                    ..Default::default()
                };
                chunks.push(self.dispatch(
                    ctx,
                    &self.sc_softmax,
                    "scorecam softmax",
                    bytemuck::bytes_of(&sp),
                    &[(3, &scores), (4, &alphas)],
                    ((n * t) as u32, 1, 1),
                )?);
                scorecam = Some((splan, chunks));
            }
            _ => {
                let p = WeightParams {
                    batch: n as u32,
                    targets: t as u32,
                    hw: hw as u32,
                    c4: c4 as u32,
                    method: method.weight_code(),
                    total: (n * t * c4) as u32,
                    ..Default::default()
                };
                ds.push(self.dispatch(
                    ctx,
                    &self.weights,
                    "cam_weights",
                    bytemuck::bytes_of(&p),
                    &[
                        (1, feats),
                        (2, net.fc_weight()),
                        (3, &targets_buf),
                        (4, &alphas),
                    ],
                    linear_grid(ctx, n * t * c4, 64),
                )?);
            }
        }
        if method != Method::EigenCam {
            let p = SumParams {
                batch: n as u32,
                targets: t as u32,
                hw: hw as u32,
                c4: c4 as u32,
                total: (n * t * hw) as u32,
                ..Default::default()
            };
            ds.push(self.dispatch(
                ctx,
                &self.weighted_sum,
                "cam_weighted_sum",
                bytemuck::bytes_of(&p),
                &[(1, feats), (2, &alphas), (3, &raw)],
                linear_grid(ctx, n * t * hw, 64),
            )?);
        }
        let maps = (n * t) as u32;
        let relu = method.relu() as u32;
        let wg =
            shadercam_kernels::context::grid(maps, ctx.limits.max_compute_workgroups_per_dimension);
        let p = NormParams {
            maps,
            len: hw as u32,
            relu,
            eps: SCALE_EPS,
        };
        ds.push(self.dispatch(
            ctx,
            &self.normalize,
            "cam_normalize 7x7",
            bytemuck::bytes_of(&p),
            &[(1, &raw), (2, &normed)],
            (wg.0, wg.1, 1),
        )?);
        let up_p = resize_params(maps, (fh, fw), (crop, crop), 0);
        ds.push(self.dispatch(
            ctx,
            &self.upsample,
            "cam_upsample crop",
            bytemuck::bytes_of(&up_p),
            &[(1, &normed), (2, &up)],
            linear_grid(ctx, n * t * crop * crop, 64),
        )?);
        let p = NormParams {
            maps,
            len: (crop * crop) as u32,
            relu,
            eps: SCALE_EPS,
        };
        ds.push(self.dispatch(
            ctx,
            &self.normalize,
            "cam_normalize crop",
            bytemuck::bytes_of(&p),
            &[(1, &up), (2, &heat)],
            (wg.0, wg.1, 1),
        )?);
        let op = OverlayParams {
            maps,
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
        let grid = linear_grid(ctx, n * t * crop * crop, 64);
        ds.push(self.dispatch(
            ctx,
            &self.blend,
            "cam_overlay blend",
            bytemuck::bytes_of(&op),
            &[(1, &heat), (2, &forward.input), (3, &none), (4, &max_bits)],
            grid,
        )?);
        ds.push(self.dispatch(
            ctx,
            &self.finish,
            "cam_overlay finish",
            bytemuck::bytes_of(&op),
            &[
                (1, &heat),
                (2, &forward.input),
                (3, &none),
                (4, &max_bits),
                (5, &overlay),
            ],
            grid,
        )?);
        Ok(CamPlan {
            batch: n,
            targets: t,
            spec: targets.clone(),
            method,
            fh,
            fw,
            crop,
            targets_buf,
            raw,
            norm: normed,
            heat,
            overlay,
            max_bits,
            dispatches: ds,
            scorecam,
            forward,
        })
    }

    /// Dispatches that draw map `map` (an index into the plan's `[batch·targets]` maps) over
    /// an original picture of `width`x`height` RGBA8 pixels. `place` maps a picture pixel to the
    /// 7x7 map's coordinates (see [`crate::explain::OriginalView`]); pixels outside `rect` are
    /// dimmed. Returns the dispatches, the output buffer and the maxima buffer to clear.
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
    ) -> Result<(Vec<Dispatch>, wgpu::Buffer, wgpu::Buffer), GpuError> {
        let px = width * height;
        let img = ctx.storage_from("original image", rgba)?;
        let up = ctx.storage("original heat", (px * 4) as u64)?;
        let out = ctx.storage("original overlay", (px * 4) as u64)?;
        let max_bits = ctx.storage("original overlay max", 4)?;
        let none = ctx.storage("unused", 16)?;
        let up_p = UpParams {
            maps: 1,
            src_h: plan.fh as u32,
            src_w: plan.fw as u32,
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
        let grid = linear_grid(ctx, px, 64);
        let mut ds = vec![self.dispatch(
            ctx,
            &self.upsample,
            "original upsample",
            bytemuck::bytes_of(&up_p),
            &[(1, &plan.norm), (2, &up)],
            grid,
        )?];
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
        ds.push(self.dispatch(
            ctx,
            &self.blend,
            "original blend",
            bytemuck::bytes_of(&op),
            &[(1, &up), (2, &none), (3, &img), (4, &max_bits)],
            grid,
        )?);
        ds.push(self.dispatch(
            ctx,
            &self.finish,
            "original finish",
            bytemuck::bytes_of(&op),
            &[(1, &up), (2, &none), (3, &img), (4, &max_bits), (5, &out)],
            grid,
        )?);
        Ok((ds, out, max_bits))
    }
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
