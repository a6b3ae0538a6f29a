//! [`Explainer`]: preprocessed images in, predictions and maps out — the forward pass and the
//! CAM stage recorded into one command encoder, one submit, one readback per batch.

use crate::stage::{AugPlan, CamPlan, CamStage, Normalisation, OriginalOverlay};
use crate::{CamError, Method, Targets};
use shadercam_image::CropGeometry;
use shadercam_kernels::{GpuContext, GpuError, GpuResNet, Precision};
use shadercam_loader::ResNet;
use std::sync::Arc;

/// What to compute for each image.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainOptions {
    pub method: Method,
    pub targets: Targets,
    /// Also read the layer4 maps back (for the `--maps` grid).
    pub keep_features: bool,
    /// pytorch-grad-cam's `eigen_smooth`: the map is the first principal component of the
    /// weighted maps `α_k·A_k` instead of their sum (docs/cam-math.md).
    pub eigen_smooth: bool,
    /// pytorch-grad-cam's `aug_smooth`: the mean of the maps of six augmented inputs
    /// (horizontal flip × brightness 0.9, 1, 1.1), each flipped back.
    pub aug_smooth: bool,
    /// The seed of RandomCAM's weights (numpy's `np.random.seed`).
    pub seed: u64,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        Self {
            method: Method::GradCam,
            targets: Targets::TopK(1),
            keep_features: false,
            eigen_smooth: false,
            aug_smooth: false,
            seed: 0,
        }
    }
}

/// `aug_smooth`'s augmented copies of each input, in ttach's order (itertools.product of
/// HorizontalFlip's `[False, True]` and Multiply's `[0.9, 1, 1.1]`): `(flipped, factor)`. Each
/// copy is the normalised input flipped (along the width) and then multiplied by the factor.
pub const AUG_COPIES: [(bool, f32); 6] = [
    (false, 0.9),
    (false, 1.0),
    (false, 1.1),
    (true, 0.9),
    (true, 1.0),
    (true, 1.1),
];

/// The copy that is the input itself (no flip, factor 1). In an aug-smoothed run, everything an
/// [`Explanation`] holds besides the heatmaps and the overlays is this copy's.
pub const AUG_IDENTITY: usize = 1;

/// The [`AUG_COPIES`] of one `crop`x`crop` HWC image, one after another.
fn augment(x: &[f32], crop: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len() * AUG_COPIES.len());
    for &(flip, factor) in &AUG_COPIES {
        for y in 0..crop {
            for col in 0..crop {
                let src = if flip { crop - 1 - col } else { col };
                let p = (y * crop + src) * 3;
                out.extend(x[p..p + 3].iter().map(|&v| v * factor));
            }
        }
    }
    out
}

/// HWC (3 channels) to NHWC4 (a zero fourth channel), the layout of the forward plan's input.
fn to_nhwc4(x: &[f32]) -> Vec<f32> {
    x.chunks_exact(3)
        .flat_map(|c| [c[0], c[1], c[2], 0.0])
        .collect()
}

/// The user's picture, to draw the first target's heat over it (outside the crop dimmed).
/// `width`x`height` may be smaller than the original (a display copy); `geometry` is the
/// original's crop geometry.
#[derive(Clone, Debug)]
pub struct OriginalView {
    pub width: usize,
    pub height: usize,
    /// RGBA8 pixels, packed little-endian (`r | g << 8 | b << 16 | a << 24`).
    pub rgba: Vec<u32>,
    pub geometry: CropGeometry,
}

/// Everything computed for one image.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub logits: Vec<f32>,
    /// Explained classes, best first for top-k.
    pub targets: Vec<usize>,
    /// Layer4 map size `(h, w)` and the crop size.
    pub map_size: (usize, usize),
    pub crop: usize,
    /// Per target: the map before ReLU and scaling, `[h·w]` (for `cam`: `Σ_k w^c_k f_k`).
    /// With `aug_smooth`: the un-augmented copy's ([`AUG_IDENTITY`]), as are `logits`,
    /// `targets`, `features` and the [`StageMaps`]; `heatmaps`, `overlays` and
    /// `original_overlay` come from the mean of the six copies.
    pub raw: Vec<Vec<f32>>,
    /// Per target: the heatmap pytorch-grad-cam returns, `[crop·crop]`, values in [0, 1].
    pub heatmaps: Vec<Vec<f32>>,
    /// Per target: the crop with the heat over it, RGBA8 `[crop·crop]`.
    pub overlays: Vec<Vec<u32>>,
    /// The first target's heat over the original picture, when an [`OriginalView`] was given.
    pub original_overlay: Option<Vec<u32>>,
    /// Layer4 maps `[h·w, channels]` when `keep_features` was set.
    pub features: Option<Vec<f32>>,
}

/// The two post-processing stages between [`Explanation::raw`] and [`Explanation::heatmaps`],
/// read back from the GPU by [`Explainer::explain_with_stages`] (docs/cam-math.md, section 4).
#[derive(Clone, Debug)]
pub struct StageMaps {
    /// Per target: the raw map after ReLU (not for `cam`) and min-max, `[h·w]` in [0, 1).
    pub normalised: Vec<Vec<f32>>,
    /// Per target: `normalised` resized to the crop as cv2.resize does, `[crop·crop]`, before
    /// the second ReLU + min-max that gives the heatmap.
    pub upsampled: Vec<Vec<f32>>,
}

/// An overlay on an original picture, planned for one batch: which image of the batch it
/// draws, and its dispatches and buffers.
struct PendingOverlay {
    image: usize,
    overlay: OriginalOverlay,
}

/// The network and the CAM stage on one device, created once.
pub struct Explainer {
    pub ctx: GpuContext,
    pub model: ResNet,
    pub net: GpuResNet,
    pub cam: CamStage,
    cached: Option<CamPlan>,
}

impl Explainer {
    /// Uploads the weights and creates every pipeline.
    pub fn new(ctx: GpuContext, model: ResNet) -> Result<Self, CamError> {
        Self::with_precision(ctx, model, Precision::F32)
    }

    /// Like [`Explainer::new`], with the convolution weights stored as `precision`.
    pub fn with_precision(
        ctx: GpuContext,
        model: ResNet,
        precision: Precision,
    ) -> Result<Self, CamError> {
        let net = GpuResNet::with_precision(&ctx, &model, precision)?;
        let cam = CamStage::new(&ctx)?;
        Ok(Self {
            ctx,
            model,
            net,
            cam,
            cached: None,
        })
    }

    /// The largest batch the adapter's limits allow for `crop`x`crop` inputs.
    pub fn max_batch(&self, crop: usize) -> usize {
        self.net.max_batch(&self.ctx, crop, crop)
    }

    fn normalisation(&self) -> Normalisation {
        Normalisation {
            mean: self.model.preprocess.mean,
            std: self.model.preprocess.std,
        }
    }

    /// Logits only, `[n][classes]`, for `n` HWC images of `crop`x`crop`.
    pub fn classify(&mut self, inputs_hwc: &[f32], crop: usize) -> Result<Vec<Vec<f32>>, CamError> {
        let per = crop * crop * 3;
        let n = inputs_hwc.len() / per;
        let max = self.max_batch(crop);
        let classes = self.model.num_classes();
        let mut out = Vec::with_capacity(n);
        for chunk in inputs_hwc.chunks(max * per) {
            let b = chunk.len() / per;
            let logits = self.net.forward(&self.ctx, chunk, b, crop, crop)?;
            out.extend(logits.chunks(classes).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    /// Forward + CAM for `n` HWC images (3 channels, `crop`x`crop`, normalised), in batches the
    /// adapter can hold; `originals[i]` (if given) gets the heat drawn over it.
    pub fn explain(
        &mut self,
        inputs_hwc: &[f32],
        crop: usize,
        originals: &[Option<OriginalView>],
        opts: &ExplainOptions,
    ) -> Result<Vec<Explanation>, CamError> {
        let all = self.explain_batches(inputs_hwc, crop, originals, opts, false)?;
        Ok(all.into_iter().map(|(e, _)| e).collect())
    }

    /// [`Explainer::explain`], also reading back each map's intermediate stages (what
    /// `explain --dump-stages` writes): the same dispatches, two more buffers read.
    pub fn explain_with_stages(
        &mut self,
        inputs_hwc: &[f32],
        crop: usize,
        originals: &[Option<OriginalView>],
        opts: &ExplainOptions,
    ) -> Result<Vec<(Explanation, StageMaps)>, CamError> {
        let all = self.explain_batches(inputs_hwc, crop, originals, opts, true)?;
        Ok(all
            .into_iter()
            .map(|(e, s)| (e, s.expect("stages were requested")))
            .collect())
    }

    fn explain_batches(
        &mut self,
        inputs_hwc: &[f32],
        crop: usize,
        originals: &[Option<OriginalView>],
        opts: &ExplainOptions,
        stages: bool,
    ) -> Result<Vec<(Explanation, Option<StageMaps>)>, CamError> {
        let per = crop * crop * 3;
        if inputs_hwc.is_empty() || !inputs_hwc.len().is_multiple_of(per) {
            return Err(CamError::Options(format!(
                "expected a whole number of {crop}x{crop}x3 images, got {} floats",
                inputs_hwc.len()
            )));
        }
        let n = inputs_hwc.len() / per;
        // aug_smooth: the six copies of an image always share one batch.
        let copies = if opts.aug_smooth { AUG_COPIES.len() } else { 1 };
        let max = self.max_batch(crop).max(1) / copies;
        if max == 0 {
            return Err(CamError::Options(format!(
                "--aug-smooth runs {copies} augmented copies of each image in one batch, but \
                 this adapter holds only {} {crop}x{crop} image(s) per batch",
                self.max_batch(crop)
            )));
        }
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(max) {
            let b = max.min(n - start);
            let orig: Vec<Option<&OriginalView>> = (start..start + b)
                .map(|i| originals.get(i).and_then(Option::as_ref))
                .collect();
            out.extend(self.explain_batch(
                &inputs_hwc[start * per..(start + b) * per],
                start,
                b,
                crop,
                &orig,
                opts,
                stages,
            )?);
        }
        Ok(out)
    }

    /// Builds (or reuses) the plans for one batch shape.
    fn plans(&mut self, n: usize, crop: usize, opts: &ExplainOptions) -> Result<(), CamError> {
        let fwd = self.net.plan(&self.ctx, n, crop, crop)?;
        let reuse = self
            .cached
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c.forward(), &fwd) && c.options == *opts);
        if !reuse {
            self.cached = None; // free the old buffers first
            let norm = self.normalisation();
            self.cached = Some(self.cam.plan(&self.ctx, &mut self.net, fwd, opts, norm)?);
        }
        Ok(())
    }

    /// Builds (or reuses) the plans for `inputs` (whole `crop`x`crop` HWC images) and uploads
    /// them to the forward plan's input buffer; returns the context and the CAM plan to record.
    /// Used by [`crate::profile`], which times or lists what [`Explainer::explain`] records.
    pub(crate) fn prepare(
        &mut self,
        inputs: &[f32],
        crop: usize,
        opts: &ExplainOptions,
    ) -> Result<(&GpuContext, &CamPlan), CamError> {
        let n = inputs.len() / (crop * crop * 3);
        self.plans(n, crop, opts)?;
        let cp = self.cached.as_ref().expect("plan built above");
        cp.forward().upload(&self.ctx, inputs)?;
        cp.upload_batch(&self.ctx, 0);
        Ok((&self.ctx, cp))
    }

    /// `first`: the batch's first image in the caller's list (RandomCAM's draws depend on it).
    #[allow(clippy::too_many_arguments)]
    fn explain_batch(
        &mut self,
        inputs: &[f32],
        first: usize,
        n: usize,
        crop: usize,
        originals: &[Option<&OriginalView>],
        opts: &ExplainOptions,
        stages: bool,
    ) -> Result<Vec<(Explanation, Option<StageMaps>)>, CamError> {
        // aug_smooth: the network and the CAM stage see the six copies of each image.
        let copies = if opts.aug_smooth { AUG_COPIES.len() } else { 1 };
        let augmented: Vec<f32>;
        let fwd_inputs = if opts.aug_smooth {
            let per = crop * crop * 3;
            augmented = inputs.chunks(per).flat_map(|x| augment(x, crop)).collect();
            &augmented
        } else {
            inputs
        };
        self.plans(n * copies, crop, opts)?;
        let norm = self.normalisation();
        let ctx = &self.ctx;
        let cp = self.cached.as_ref().expect("plan built above");
        let fwd = cp.forward().clone();
        fwd.upload(ctx, fwd_inputs)?;
        cp.upload_batch(ctx, first * copies);
        let t = cp.targets;
        let (fh, fw) = (cp.fh, cp.fw);
        let aug: Option<AugPlan> = if opts.aug_smooth {
            let flips = AUG_COPIES
                .iter()
                .enumerate()
                .fold(0u32, |m, (a, &(f, _))| m | ((f as u32) << a));
            Some(
                self.cam
                    .aug_plan(ctx, cp, copies, flips, &to_nhwc4(inputs), norm)?,
            )
        } else {
            None
        };

        // Per-image overlays on the original pictures (first target only).
        let mut extra: Vec<PendingOverlay> = Vec::new();
        for (i, o) in originals.iter().enumerate() {
            if let Some(o) = o {
                let (place, rect) =
                    crate::post::original_placement(&o.geometry, o.width, o.height, (fh, fw));
                let size = (o.width, o.height);
                let overlay = match &aug {
                    Some(a) => self.cam.aug_original_overlay(
                        ctx,
                        cp,
                        a,
                        i * t,
                        size,
                        &o.rgba,
                        place,
                        rect,
                    )?,
                    None => {
                        self.cam
                            .original_overlay(ctx, cp, i * t, size, &o.rgba, place, rect)?
                    }
                };
                extra.push(PendingOverlay { image: i, overlay });
            }
        }

        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("explain"),
            });
        cp.clear(&mut encoder);
        for e in &extra {
            encoder.clear_buffer(&e.overlay.max_bits, 0, None);
        }
        if let Some(a) = &aug {
            encoder.clear_buffer(&a.max_bits, 0, None);
        }
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("forward + cam"),
                timestamp_writes: None,
            });
            fwd.record(&mut pass);
            cp.record(&mut pass);
            for d in aug.iter().flat_map(|a| a.dispatches.iter()) {
                d.record(&mut pass);
            }
            for e in &extra {
                for d in &e.overlay.dispatches {
                    d.record(&mut pass);
                }
            }
        }
        let classes = fwd.classes;
        let crop2 = crop * crop;
        // `nf`: images the network ran (copies included); the heatmaps and overlays read are
        // the mean's (`n` images) with aug_smooth, else the plan's own.
        let nf = n * copies;
        let (heat_buf, overlay_buf) = match &aug {
            Some(a) => (&a.mean, &a.overlay),
            None => (&cp.heat, &cp.overlay),
        };
        let mut reads: Vec<(&wgpu::Buffer, u64)> = vec![
            (&fwd.logits, (nf * classes * 4) as u64),
            (&cp.targets_buf, (nf * t * 4) as u64),
            (&cp.raw, (nf * t * fh * fw * 4) as u64),
            (heat_buf, (n * t * crop2 * 4) as u64),
            (overlay_buf, (n * t * crop2 * 4) as u64),
        ];
        if opts.keep_features {
            reads.push((fwd.features(), (nf * fh * fw * fwd.feat_c * 4) as u64));
        }
        if stages {
            reads.push((&cp.norm, (nf * t * fh * fw * 4) as u64));
            reads.push((&cp.up, (nf * t * crop2 * 4) as u64));
        }
        for e in &extra {
            let o = originals[e.image].expect("overlay only for given originals");
            reads.push((&e.overlay.output, (o.width * o.height * 4) as u64));
        }
        let data = ctx.submit_and_read(encoder, &reads).map_err(|e| match e {
            GpuError::Execution(m) => GpuError::Execution(format!(
                "batch of {nf} image(s) failed: {m} (try a smaller --batch, or check the GPU driver)"
            )),
            other => other,
        })?;
        let logits = data[0].to_vec::<f32>();
        let targets = data[1].to_vec::<u32>();
        let raw = data[2].to_vec::<f32>();
        let heat = data[3].to_vec::<f32>();
        let overlay = data[4].to_vec::<u32>();
        let features = opts.keep_features.then(|| data[5].to_vec::<f32>());
        let mut next = 5 + opts.keep_features as usize;
        let stage_data = stages.then(|| {
            next += 2;
            (
                data[next - 2].to_vec::<f32>(),
                data[next - 1].to_vec::<f32>(),
            )
        });
        let first_extra = next;
        let mut results = Vec::with_capacity(n);
        for b in 0..n {
            // The network's image whose logits, targets and raw maps this image reports.
            let src = if aug.is_some() {
                b * copies + AUG_IDENTITY
            } else {
                b
            };
            let maps = src * t..(src + 1) * t;
            let shown = b * t..(b + 1) * t;
            let stage_maps = stage_data.as_ref().map(|(norm, up)| StageMaps {
                normalised: maps
                    .clone()
                    .map(|m| norm[m * fh * fw..(m + 1) * fh * fw].to_vec())
                    .collect(),
                upsampled: maps
                    .clone()
                    .map(|m| up[m * crop2..(m + 1) * crop2].to_vec())
                    .collect(),
            });
            let explanation = Explanation {
                logits: logits[src * classes..(src + 1) * classes].to_vec(),
                targets: targets[maps.clone()].iter().map(|&c| c as usize).collect(),
                map_size: (fh, fw),
                crop,
                raw: maps
                    .clone()
                    .map(|m| raw[m * fh * fw..(m + 1) * fh * fw].to_vec())
                    .collect(),
                heatmaps: shown
                    .clone()
                    .map(|m| heat[m * crop2..(m + 1) * crop2].to_vec())
                    .collect(),
                overlays: shown
                    .map(|m| overlay[m * crop2..(m + 1) * crop2].to_vec())
                    .collect(),
                original_overlay: extra
                    .iter()
                    .position(|e| e.image == b)
                    .map(|j| data[first_extra + j].to_vec::<u32>()),
                features: features.as_ref().map(|f| {
                    let per = fh * fw * fwd.feat_c;
                    f[src * per..(src + 1) * per].to_vec()
                }),
            };
            results.push((explanation, stage_maps));
        }
        Ok(results)
    }
}
