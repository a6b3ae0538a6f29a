//! The CAM stage's pipelines and its per-batch plan: buffers, bind groups and dispatches that
//! turn the layer4 maps left on the GPU by a forward pass into normalised heatmaps and overlays.
//!
//! Order of the dispatches (all in the forward pass's command encoder, one submit):
//! targets (top-k on the GPU) → channel weights α (closed form, EigenCAM's power iteration, or
//! Score-CAM's masked forwards + softmax) → weighted sum `Σ_k α_k A_k` → ReLU + min-max →
//! bilinear upsampling to the crop → ReLU + min-max → JET overlay.
//!
//! This module validates the request, allocates the buffers every method shares and chains
//! the parts; each method family plans its own dispatches: [`weights`] (the closed-form
//! gradient methods and the weighted sum), [`eigen`] (EigenCAM), [`score`] (Score-CAM),
//! [`baselines`] (SobelCAM, RandomCAM) and [`overlay`] (scaling, upsampling and drawing, on the
//! crop and on the original picture).

mod aug;
mod baselines;
mod eigen;
mod overlay;
mod score;
mod weights;

pub(crate) use aug::AugPlan;
pub use baselines::numpy_uniform;
pub use overlay::OriginalOverlay;

use crate::shaders::WORKGROUP_1D;
use crate::uniforms::TargetParams;
use crate::{CamError, ExplainOptions, Method, Targets};
use shadercam_kernels::{
    Dispatch, GpuContext, GpuError, GpuResNet, Plan, compute_pipeline, entry_pipeline,
    shader_module,
};
use std::sync::Arc;

/// pytorch-grad-cam's `scale_cam_image` epsilon: `x / (max + 1e-7)`.
pub const SCALE_EPS: f32 = 1e-7;

/// Workgroups along x for `n` items, one invocation each, [`WORKGROUP_1D`] per workgroup: for
/// the entry points that index with `global_invocation_id.x` alone (small counts).
fn groups_x(n: usize) -> (u32, u32, u32) {
    (n.div_ceil(WORKGROUP_1D) as u32, 1, 1)
}

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
    aug_mean: wgpu::ComputePipeline,
    power: wgpu::ComputePipeline,
    sc_range: wgpu::ComputePipeline,
    sc_mask: wgpu::ComputePipeline,
    sc_gather: wgpu::ComputePipeline,
    sc_softmax: wgpu::ComputePipeline,
    class_vector: wgpu::ComputePipeline,
    image_min: wgpu::ComputePipeline,
    sobel: wgpu::ComputePipeline,
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
    /// The options this plan was built for (a plan is reused only for equal options).
    pub options: ExplainOptions,
    pub fh: usize,
    pub fw: usize,
    pub crop: usize,
    /// `[batch, targets]` u32 class indices.
    pub targets_buf: wgpu::Buffer,
    /// `[batch, targets, fh·fw]`: the map before ReLU and scaling.
    pub raw: wgpu::Buffer,
    /// `[batch, targets, fh·fw]`: after ReLU + min-max.
    pub norm: wgpu::Buffer,
    /// `[batch, targets, crop, crop]`: `norm` upsampled to the crop, before the second min-max.
    pub up: wgpu::Buffer,
    /// `[batch, targets, crop, crop]`: upsampled and scaled again — pytorch-grad-cam's output.
    pub heat: wgpu::Buffer,
    /// `[batch, targets, crop, crop]` RGBA8 overlays.
    pub overlay: wgpu::Buffer,
    /// Per-map maxima of the overlay blend (cleared before each run).
    pub max_bits: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    /// Score-CAM: the forward plan of the masked-input chunks and the per-chunk dispatches.
    scorecam: Option<(Arc<Plan>, Vec<Dispatch>)>,
    /// RandomCAM: the channel-weight buffer its draws are written to before each batch.
    random: Option<baselines::RandomWeights>,
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

    /// Writes what depends on the batch's place in the caller's list of images before it runs:
    /// RandomCAM's weights, numpy's draws `[first·C, (first + batch)·C)` (image `j` of one
    /// `explain` call takes the `j`-th row, as the library given all images as one batch).
    /// Nothing for the other methods.
    pub fn upload_batch(&self, ctx: &GpuContext, first: usize) {
        if let Some(r) = &self.random {
            r.upload(ctx, first);
        }
    }

    /// Clears what must start at zero; call on the encoder before the compute pass.
    pub fn clear(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.clear_buffer(&self.max_bits, 0, None);
    }
}

/// The sizes one plan is built for, read off the forward plan and the target request.
struct Shape {
    /// Images in the batch.
    n: usize,
    /// Targets (maps) per image.
    t: usize,
    /// Layer4 map height and width, and `fh·fw`.
    fh: usize,
    fw: usize,
    hw: usize,
    /// Layer4 channels, and the same in `vec4`s.
    c: usize,
    c4: usize,
    /// Side of the square input crop.
    crop: usize,
    /// The classifier's classes.
    classes: usize,
}

impl Shape {
    /// Checks the request against the forward plan: at least one target, a square crop, a map
    /// EigenCAM can hold, class indices the model has. Returns the shape and the class list
    /// of `Targets::Fixed` (zeros, unused, for top-k).
    fn check(
        forward: &Plan,
        targets: &Targets,
        method: Method,
        seed: u64,
    ) -> Result<(Self, Vec<u32>), CamError> {
        let (n, t) = (forward.batch, targets.count());
        let (fh, fw, c) = (forward.feat_h, forward.feat_w, forward.feat_c);
        let hw = fh * fw;
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
        if method == Method::RandomCam && seed > u32::MAX as u64 {
            return Err(CamError::Options(format!(
                "randomcam's seed must be at most {} (numpy's np.random.seed), got {seed}",
                u32::MAX
            )));
        }
        if method == Method::EigenCam && hw > eigen::MAX_PIXELS {
            return Err(CamError::Options(format!(
                "eigencam supports layer4 maps of up to {} pixels, got {fh}x{fw}",
                eigen::MAX_PIXELS
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
        let shape = Shape {
            n,
            t,
            fh,
            fw,
            hw,
            c,
            c4: c / 4,
            crop: forward.in_h,
            classes,
        };
        Ok((shape, fixed))
    }

    /// Maps in the batch: one per (image, target).
    fn maps(&self) -> usize {
        self.n * self.t
    }
}

/// The buffers shared by the method families, allocated once per plan.
struct Buffers {
    /// `[t]` the fixed target classes (zeros for top-k).
    fixed: wgpu::Buffer,
    /// `[n, t]` u32 class indices chosen on the GPU.
    targets: wgpu::Buffer,
    /// `[n, t, c]` channel weights α.
    alphas: wgpu::Buffer,
    /// `[n, t, classes]` ∂score/∂logits of FinerCAM and ShapleyCAM (cam_targets.wgsl).
    class_vec: wgpu::Buffer,
    /// `[n, t, 4]` FinerCAM's main class and its comparison classes.
    chosen: wgpu::Buffer,
    /// `[n]` min(A) over each image's layer4 maps (AblationCAM).
    image_mins: wgpu::Buffer,
    /// `[n, t, fh·fw]` the map before ReLU and scaling.
    raw: wgpu::Buffer,
    /// `[n, t, fh·fw]` after ReLU + min-max.
    normed: wgpu::Buffer,
    /// `[n, t, crop, crop]` upsampled, before the second min-max.
    up: wgpu::Buffer,
    /// `[n, t, crop, crop]` the heatmaps.
    heat: wgpu::Buffer,
    /// `[n, t, crop, crop]` RGBA8 overlays.
    overlay: wgpu::Buffer,
    /// `[n, t]` per-map maxima of the overlay blend.
    max_bits: wgpu::Buffer,
    /// A small buffer for bindings an entry point does not read.
    none: wgpu::Buffer,
}

impl Buffers {
    fn new(ctx: &GpuContext, s: &Shape, fixed: &[u32]) -> Result<Self, GpuError> {
        let (maps, hw, crop2) = (s.maps(), s.hw, s.crop * s.crop);
        Ok(Self {
            fixed: ctx.storage_from("cam fixed targets", fixed)?,
            targets: ctx.storage("cam targets", (maps * 4) as u64)?,
            alphas: ctx.storage("cam alphas", (maps * s.c * 4) as u64)?,
            class_vec: ctx.storage("cam class vectors", (maps * s.classes * 4) as u64)?,
            chosen: ctx.storage("cam finercam classes", (maps * 4 * 4) as u64)?,
            image_mins: ctx.storage("cam image minima", (s.n * 4) as u64)?,
            raw: ctx.storage("cam raw maps", (maps * hw * 4) as u64)?,
            normed: ctx.storage("cam normalised maps", (maps * hw * 4) as u64)?,
            up: ctx.storage("cam upsampled", (maps * crop2 * 4) as u64)?,
            heat: ctx.storage("cam heatmaps", (maps * crop2 * 4) as u64)?,
            overlay: ctx.storage("cam overlays", (maps * crop2 * 4) as u64)?,
            max_bits: ctx.storage("cam overlay maxima", (maps * 4) as u64)?,
            none: ctx.storage("unused", 16)?,
        })
    }
}

impl CamStage {
    /// Compiles the CAM shaders and creates every pipeline, once (a shader or pipeline that
    /// fails is a typed error naming it).
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        use crate::shaders::*;
        let one = |name: &str, src: &str| compute_pipeline(ctx, name, src, &[]);
        let overlay = shader_module(ctx, "cam_overlay", CAM_OVERLAY)?;
        let eigen = shader_module(ctx, "eigencam", EIGENCAM)?;
        let mask = shader_module(ctx, "scorecam_mask", SCORECAM_MASK)?;
        let softmax = shader_module(ctx, "scorecam_softmax", SCORECAM_SOFTMAX)?;
        let targets = shader_module(ctx, "cam_targets", CAM_TARGETS)?;
        let weights = shader_module(ctx, "cam_weights", CAM_WEIGHTS)?;
        Ok(Self {
            targets: entry_pipeline(ctx, &targets, "cam_targets", "main")?,
            weights: entry_pipeline(ctx, &weights, "cam_weights", "main")?,
            weighted_sum: one("cam_weighted_sum", CAM_WEIGHTED_SUM)?,
            normalize: one("cam_normalize", CAM_NORMALIZE)?,
            upsample: one("cam_upsample", CAM_UPSAMPLE)?,
            blend: entry_pipeline(ctx, &overlay, "cam_overlay", "blend")?,
            finish: entry_pipeline(ctx, &overlay, "cam_overlay", "finish")?,
            gram: entry_pipeline(ctx, &eigen, "eigencam", "gram_entry")?,
            aug_mean: one("aug_mean", AUG_MEAN)?,
            power: entry_pipeline(ctx, &eigen, "eigencam", "power")?,
            sc_range: entry_pipeline(ctx, &mask, "scorecam_mask", "range")?,
            sc_mask: entry_pipeline(ctx, &mask, "scorecam_mask", "mask")?,
            sc_gather: entry_pipeline(ctx, &softmax, "scorecam_softmax", "gather")?,
            sc_softmax: entry_pipeline(ctx, &softmax, "scorecam_softmax", "softmax")?,
            class_vector: entry_pipeline(ctx, &targets, "cam_targets", "class_vector")?,
            image_min: entry_pipeline(ctx, &weights, "cam_weights", "image_min")?,
            sobel: one("sobel", SOBEL)?,
        })
    }

    /// Builds the CAM plan reading `forward`'s layer4 maps and logits.
    pub fn plan(
        &self,
        ctx: &GpuContext,
        net: &mut GpuResNet,
        forward: Arc<Plan>,
        opts: &ExplainOptions,
        norm: Normalisation,
    ) -> Result<CamPlan, CamError> {
        let (targets, method) = (&opts.targets, opts.method);
        if !method.implemented() {
            return Err(CamError::Options(format!(
                "{method} is not implemented yet"
            )));
        }
        let (s, fixed) = Shape::check(&forward, targets, method, opts.seed)?;
        let b = Buffers::new(ctx, &s, &fixed)?;
        let fixed_targets = matches!(targets, Targets::Fixed(_));
        let mut ds = vec![self.plan_targets(ctx, &forward, &s, &b, fixed_targets)?];
        let mut scorecam = None;
        let mut random = None;
        match method {
            Method::EigenCam => ds.extend(self.plan_eigen(ctx, &forward, &s, &b)?),
            Method::KpcaCam => ds.extend(self.plan_kpca(ctx, &forward, &s, &b)?),
            Method::EigenGradCam => {
                ds.push(self.plan_weights(ctx, net, &forward, &s, &b, Method::GradCam)?)
            }
            Method::ScoreCam => scorecam = Some(self.plan_score(ctx, net, &forward, &s, &b)?),
            Method::SobelCam => ds.push(self.plan_sobel(ctx, &forward, &s, &b, norm)?),
            Method::RandomCam => random = Some(baselines::RandomWeights::new(&s, &b, opts.seed)),
            Method::FinerCam | Method::ShapleyCam => {
                ds.push(self.plan_class_vector(ctx, net, &forward, &s, &b, method)?);
                ds.push(self.plan_weights(ctx, net, &forward, &s, &b, method)?);
            }
            Method::AblationCam => {
                ds.push(self.plan_image_min(ctx, &forward, &s, &b)?);
                ds.push(self.plan_weights(ctx, net, &forward, &s, &b, method)?);
            }
            _ => ds.push(self.plan_weights(ctx, net, &forward, &s, &b, method)?),
        }
        if let Some(rows) = eigen::projection(opts) {
            // EigenGradCAM, or --eigen-smooth: the projection replaces the weighted sum.
            let linear = eigen::Kernel::Linear;
            ds.extend(self.plan_projection(ctx, &forward, &s, &b, rows, linear)?);
        } else if !matches!(
            method,
            Method::EigenCam | Method::KpcaCam | Method::SobelCam
        ) {
            let clamp = method == Method::GradCamElementWise;
            ds.push(self.plan_weighted_sum(ctx, &forward, &s, &b, clamp)?);
        }
        let crop_maps = self.plan_crop_maps(ctx, &forward, &s, &b, method.relu(), norm)?;
        if method == Method::SobelCam {
            // The Sobel map is the heatmap itself: only the overlay's dispatches remain.
            let overlay = |d: &Dispatch| d.label.starts_with("cam_overlay");
            ds.extend(crop_maps.into_iter().filter(overlay));
        } else {
            ds.extend(crop_maps);
        }
        Ok(CamPlan {
            batch: s.n,
            targets: s.t,
            spec: targets.clone(),
            method,
            options: opts.clone(),
            fh: s.fh,
            fw: s.fw,
            crop: s.crop,
            targets_buf: b.targets,
            raw: b.raw,
            norm: b.normed,
            up: b.up,
            heat: b.heat,
            overlay: b.overlay,
            max_bits: b.max_bits,
            dispatches: ds,
            scorecam,
            random,
            forward,
        })
    }

    /// Target selection: the top-k classes of each image's logits, or the fixed list.
    fn plan_targets(
        &self,
        ctx: &GpuContext,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
        fixed: bool,
    ) -> Result<Dispatch, GpuError> {
        let p = TargetParams {
            batch: s.n as u32,
            classes: s.classes as u32,
            k: s.t as u32,
            fixed: fixed as u32,
            ..Default::default()
        };
        Dispatch::builder("cam_targets", &self.targets)
            .uniform(&p)
            .bind(&forward.logits)
            .bind(&b.fixed)
            .bind(&b.targets)
            .workgroups(groups_x(s.n))
            .build(ctx)
    }
}
