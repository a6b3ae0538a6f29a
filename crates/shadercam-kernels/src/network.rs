//! The ResNet forward pass on the GPU: weights uploaded once, a [`Plan`] (activation buffers,
//! bind groups, dispatch list) built once per input shape, and the whole network recorded into
//! one compute pass and one submit.
//!
//! Data flow per plan: `input` (NHWC4) → stem conv (+BN+ReLU) → max-pool → stages of residual
//! blocks (each conv a fused conv+BN[+residual]+ReLU dispatch) → `features` (the last stage's
//! maps, kept on the GPU for the CAM stage) → global average pool → fc → `logits`.
//!
//! With `--precision f16` ([`Precision::F16`]) the activations between layers are f16; the
//! input, the `features` and everything after them stay f32: the stem convolution reads f32
//! and writes f16, the network's last convolution reads f16 and writes f32.

use crate::GpuError;
use crate::context::GpuContext;
use crate::conv::{CONV_RELU, CONV_RESIDUAL, Conv2d, ConvBuffers, ConvIo, ConvKernel};
use crate::dispatch::{Dispatch, encode};
use crate::linear::Linear;
use crate::plan::{BufRef, Plan, Step};
use crate::pool::{GlobalAvgPool, MaxPool};
use crate::precision::Precision;
use crate::shaders::Elem;
use crate::weights::{GpuBlock, GpuConv};
use shadercam_loader::ResNet;
use std::collections::HashMap;
use std::sync::Arc;

/// Every pipeline of the network, created once.
pub struct Kernels {
    pub conv2d: Conv2d,
    pub maxpool: MaxPool,
    pub gap: GlobalAvgPool,
    pub linear: Linear,
}

impl Kernels {
    /// Every pipeline, with f32 convolution weights.
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Self::with_precision(ctx, Precision::F32)
    }

    /// Every pipeline in `precision` (`Auto` resolved for this adapter).
    pub fn with_precision(ctx: &GpuContext, precision: Precision) -> Result<Self, GpuError> {
        let conv2d = Conv2d::with_precision(ctx, precision)?;
        let act = conv2d.precision.activations();
        Ok(Self {
            conv2d,
            maxpool: MaxPool::with_activations(ctx, act)?,
            gap: GlobalAvgPool::new(ctx)?,
            linear: Linear::new(ctx)?,
        })
    }
}

/// A ResNet whose weights live on the GPU.
pub struct GpuResNet {
    pub kernels: Kernels,
    stem: GpuConv,
    stages: Vec<Vec<GpuBlock>>,
    fc_weight: wgpu::Buffer,
    fc_bias: wgpu::Buffer,
    pub num_features: usize,
    pub num_classes: usize,
    plans: HashMap<(usize, usize, usize), Arc<Plan>>,
}

impl GpuResNet {
    /// Creates every pipeline and uploads every weight, once.
    pub fn new(ctx: &GpuContext, net: &ResNet) -> Result<Self, GpuError> {
        Self::with_precision(ctx, net, Precision::F32)
    }

    /// Like [`GpuResNet::new`] in `precision` ([`Precision::Auto`] is resolved for this
    /// adapter: [`GpuResNet::precision`] says what it became).
    pub fn with_precision(
        ctx: &GpuContext,
        net: &ResNet,
        precision: Precision,
    ) -> Result<Self, GpuError> {
        let kernels = Kernels::with_precision(ctx, precision)?;
        let precision = kernels.conv2d.precision;
        let stem = GpuConv::upload(ctx, &net.stem, precision)?;
        let mut stages = Vec::new();
        for (s, stage) in net.stages.iter().enumerate() {
            let mut blocks = Vec::new();
            for (b, block) in stage.blocks.iter().enumerate() {
                blocks.push(GpuBlock {
                    convs: block
                        .convs
                        .iter()
                        .map(|c| GpuConv::upload(ctx, c, precision))
                        .collect::<Result<_, _>>()?,
                    downsample: block
                        .downsample
                        .as_ref()
                        .map(|c| GpuConv::upload(ctx, c, precision))
                        .transpose()?,
                    label: format!("layer{}.{b}", s + 1),
                });
            }
            stages.push(blocks);
        }
        assert!(
            net.num_features.is_multiple_of(4),
            "feature count must be a multiple of 4"
        );
        Ok(Self {
            kernels,
            stem,
            stages,
            fc_weight: ctx.storage_from("fc.weight", &net.fc_weight)?,
            fc_bias: ctx.storage_from("fc.bias", &net.fc_bias)?,
            num_features: net.num_features,
            num_classes: net.num_classes(),
            plans: HashMap::new(),
        })
    }

    /// The precision the network runs in (never `Auto`).
    pub fn precision(&self) -> Precision {
        self.kernels.conv2d.precision
    }

    /// `fc.weight` on the GPU, row-major `[classes, num_features]`: the CAM weights `w^c_k`.
    pub fn fc_weight(&self) -> &wgpu::Buffer {
        &self.fc_weight
    }

    /// `fc.bias` on the GPU, `[classes]` (ShapleyCAM's Hessian term needs `y − b`).
    pub fn fc_bias(&self) -> &wgpu::Buffer {
        &self.fc_bias
    }

    /// The largest activation buffer of one image, in bytes, for an `h`x`w` input: the
    /// largest activation in the precision's storage, or the f32 maps of the last stage.
    pub fn bytes_per_image(&self, h: usize, w: usize) -> u64 {
        let act = self.precision().activations().bytes();
        let s = self.stem.shape(1, h, w);
        let (sh, sw) = s.out_hw();
        let mut max = (sh * sw * s.cout).max(h * w * 4);
        let mut last = 0;
        let (mut ih, mut iw) = MaxPool::out_hw(sh, sw, 3, 2, 1);
        for stage in &self.stages {
            for block in stage {
                for c in &block.convs {
                    let (oh, ow) = c.shape(1, ih, iw).out_hw();
                    max = max.max(oh * ow * c.cout).max(ih * iw * c.cin);
                    last = oh * ow * c.cout;
                    ih = if c.stride > 1 { oh } else { ih };
                    iw = if c.stride > 1 { ow } else { iw };
                }
            }
        }
        (max * act).max(last * 4) as u64
    }

    /// `(layer, kernel)` for every convolution of the plan for `batch` images of `h`x`w`
    /// (built and cached as [`GpuResNet::plan`] does): which form of the convolution runs each
    /// layer, e.g. `("layer1.0.conv2", "conv2d_coop8x8 (f16, f16 -> f16)")`.
    pub fn conv_kernels(
        &mut self,
        ctx: &GpuContext,
        batch: usize,
        h: usize,
        w: usize,
    ) -> Result<Vec<(String, String)>, GpuError> {
        Ok(self
            .plan(ctx, batch, h, w)?
            .steps
            .iter()
            .filter(|s| s.kernel.starts_with("conv2d"))
            .map(|s| (s.dispatch.label.clone(), s.kernel.clone()))
            .collect())
    }

    /// The largest batch whose buffers fit the adapter's binding limits for `h`x`w` inputs.
    pub fn max_batch(&self, ctx: &GpuContext, h: usize, w: usize) -> usize {
        (ctx.max_binding_bytes() / self.bytes_per_image(h, w).max(1)).max(1) as usize
    }

    /// The plan for `batch` images of `h`x`w`, built on first use and cached.
    pub fn plan(
        &mut self,
        ctx: &GpuContext,
        batch: usize,
        h: usize,
        w: usize,
    ) -> Result<Arc<Plan>, GpuError> {
        if let Some(p) = self.plans.get(&(batch, h, w)) {
            return Ok(p.clone());
        }
        if batch > self.max_batch(ctx, h, w) {
            return Err(GpuError::TooLarge {
                what: format!("a batch of {batch} images of {h}x{w}"),
                bytes: self.bytes_per_image(h, w) * batch as u64,
                max: ctx.max_binding_bytes(),
            });
        }
        // Keep memory bounded: one cached plan per network is enough for a CLI run.
        self.plans.clear();
        let plan = Arc::new(self.build_plan(ctx, batch, h, w)?);
        self.plans.insert((batch, h, w), plan.clone());
        Ok(plan)
    }

    /// A fresh plan that is not cached and shares no buffer with any other (Score-CAM runs its
    /// masked-input chunks through one while the main plan's layer4 maps are still being read).
    pub fn plan_uncached(
        &self,
        ctx: &GpuContext,
        batch: usize,
        h: usize,
        w: usize,
    ) -> Result<Arc<Plan>, GpuError> {
        Ok(Arc::new(self.build_plan(ctx, batch, h, w)?))
    }

    fn build_plan(
        &self,
        ctx: &GpuContext,
        batch: usize,
        h: usize,
        w: usize,
    ) -> Result<Plan, GpuError> {
        let act_bytes = self.bytes_per_image(h, w) * batch as u64;
        let input = ctx.storage("input", (batch * h * w * 4 * 4) as u64)?;
        let acts: Vec<wgpu::Buffer> = (0..4)
            .map(|i| ctx.storage(&format!("activation {i}"), act_bytes))
            .collect::<Result<_, _>>()?;
        let pooled = ctx.storage("pooled", (batch * self.num_features * 4) as u64)?;
        let logits = ctx.storage("logits", (batch * self.num_classes * 4) as u64)?;
        // Placeholder bound to the residual slot of convolutions that have none.
        let none = ctx.storage("no residual", 16)?;
        let k = &self.kernels;
        // Activations between layers; the input image and the last stage's maps are f32.
        let act = self.precision().activations();
        let e_act = act.bytes();
        let mut steps = Vec::new();
        let conv_step = |c: &GpuConv,
                         stage: &str,
                         src: &wgpu::Buffer,
                         (ih, iw): (usize, usize),
                         flags: u32,
                         res: Option<&wgpu::Buffer>,
                         (dst, io): (usize, ConvIo)|
         -> Result<(Step, (usize, usize)), GpuError> {
            let shape = c.shape(batch, ih, iw);
            let (oh, ow) = shape.out_hw();
            let d = k.conv2d.dispatch_io(
                ctx,
                k.conv2d.preferred,
                io,
                &c.name,
                &shape,
                flags | if res.is_some() { CONV_RESIDUAL } else { 0 },
                ConvBuffers {
                    input: src,
                    weight: &c.weight,
                    bias: &c.bias,
                    residual: res.unwrap_or(&none),
                    output: &acts[dst],
                },
            )?;
            let weight_bytes = if self.precision().f16_weights() { 2 } else { 4 };
            let bytes = batch * ih * iw * c.cin * io.input.bytes()
                + c.kh * c.kw * c.cin * c.cout * weight_bytes
                + batch * oh * ow * c.cout * (io.output.bytes() + res.is_some() as usize * e_act);
            let kernel = ConvKernel {
                variant: k.conv2d.preferred,
                precision: k.conv2d.precision,
                io,
            }
            .name();
            Ok((
                Step {
                    dispatch: d,
                    kernel,
                    stage: stage.to_owned(),
                    output: BufRef::Act(dst),
                    out_shape: [batch, oh, ow, c.cout],
                    out_elem: io.output,
                    macs: shape.macs(),
                    bytes: bytes as u64,
                },
                (oh, ow),
            ))
        };

        let hidden = ConvIo::same(act);
        let from_image = ConvIo {
            input: Elem::F32,
            output: act,
        };
        let to_features = ConvIo {
            input: act,
            output: Elem::F32,
        };

        // Stem: conv1+bn1+relu into act 0, max-pool into act 1.
        let (st, (sh, sw)) = conv_step(
            &self.stem,
            "stem",
            &input,
            (h, w),
            CONV_RELU,
            None,
            (0, from_image),
        )?;
        steps.push(st);
        let (ph, pw) = MaxPool::out_hw(sh, sw, 3, 2, 1);
        let d = k.maxpool.dispatch(
            ctx,
            "maxpool",
            (batch, sh, sw, self.stem.cout),
            (3, 2, 1),
            &acts[0],
            &acts[1],
        )?;
        steps.push(Step {
            dispatch: d,
            kernel: "maxpool".into(),
            stage: "maxpool".into(),
            output: BufRef::Act(1),
            out_shape: [batch, ph, pw, self.stem.cout],
            out_elem: act,
            macs: 0,
            bytes: ((batch * (sh * sw + ph * pw) * self.stem.cout) * e_act) as u64,
        });

        let (mut x, mut hw, mut c) = (1usize, (ph, pw), self.stem.cout);
        let free = |used: &[usize]| {
            (0..4)
                .find(|i| !used.contains(i))
                .expect("4 buffers suffice for a residual block")
        };
        let blocks = self.stages.iter().map(Vec::len).sum::<usize>();
        for (i, block) in self.stages.iter().flatten().enumerate() {
            // Chain the convolutions through buffers other than the block input `x`.
            let n = block.convs.len();
            let mut cur = x;
            let mut cur_hw = hw;
            let mut used = vec![x];
            for conv in &block.convs[..n - 1] {
                let dst = free(&used);
                let (st, ohw) =
                    conv_step(conv, "", &acts[cur], cur_hw, CONV_RELU, None, (dst, hidden))?;
                steps.push(st);
                used.push(dst);
                cur = dst;
                cur_hw = ohw;
            }
            let shortcut = match &block.downsample {
                Some(ds) => {
                    let dst = free(&used);
                    let (st, _) = conv_step(ds, "", &acts[x], hw, 0, None, (dst, hidden))?;
                    steps.push(st);
                    used.push(dst);
                    dst
                }
                None => x,
            };
            // The last conv adds the shortcut and applies ReLU; it may overwrite anything
            // but its own inputs (the previous conv's output and the shortcut).
            // The network's very last one writes the f32 maps the CAM stage reads.
            let dst = free(&[cur, shortcut]);
            let last = &block.convs[n - 1];
            let io = if i + 1 == blocks { to_features } else { hidden };
            let (st, ohw) = conv_step(
                last,
                &block.label,
                &acts[cur],
                cur_hw,
                CONV_RELU,
                Some(&acts[shortcut]),
                (dst, io),
            )?;
            steps.push(st);
            x = dst;
            hw = ohw;
            c = last.cout;
        }
        let d = k
            .gap
            .dispatch(ctx, "avgpool", (batch, hw.0 * hw.1, c), &acts[x], &pooled)?;
        steps.push(Step {
            dispatch: d,
            kernel: "global_avg_pool".into(),
            stage: "avgpool".into(),
            output: BufRef::Pooled,
            out_shape: [batch, 1, 1, c],
            out_elem: Elem::F32,
            macs: 0,
            bytes: ((batch * (hw.0 * hw.1 + 1) * c) * 4) as u64,
        });
        let d = k.linear.dispatch(
            ctx,
            "fc",
            (batch, self.num_features, self.num_classes),
            &pooled,
            &self.fc_weight,
            &self.fc_bias,
            &logits,
        )?;
        steps.push(Step {
            dispatch: d,
            kernel: "linear".into(),
            stage: "fc".into(),
            output: BufRef::Logits,
            out_shape: [batch, 1, 1, self.num_classes],
            out_elem: Elem::F32,
            macs: (batch * self.num_features * self.num_classes) as u64,
            bytes: ((batch * self.num_features
                + self.num_features * self.num_classes
                + batch * self.num_classes)
                * 4) as u64,
        });
        Ok(Plan {
            batch,
            in_h: h,
            in_w: w,
            input,
            acts,
            pooled,
            logits,
            steps,
            features: BufRef::Act(x),
            feat_h: hw.0,
            feat_w: hw.1,
            feat_c: c,
            classes: self.num_classes,
        })
    }

    /// Runs `batch` HWC images (3 channels, `h`x`w`) and returns the logits `[batch, classes]`.
    /// One submit; the layer4 maps stay on the GPU in the plan's [`Plan::features`].
    pub fn forward(
        &mut self,
        ctx: &GpuContext,
        images_hwc: &[f32],
        batch: usize,
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>, GpuError> {
        let plan = self.plan(ctx, batch, h, w)?;
        plan.upload(ctx, images_hwc)?;
        let steps: Vec<&Dispatch> = plan.steps.iter().map(|s| &s.dispatch).collect();
        let enc = encode(ctx, &steps);
        let bytes = (batch * self.num_classes * 4) as u64;
        let out = ctx.submit_and_read(enc, &[(&plan.logits, bytes)])?;
        Ok(out[0].to_vec::<f32>())
    }

    /// Runs the network up to and including the stage labelled `stage` (`stem`, `maxpool`,
    /// `layer1.0`, ..., `avgpool`, `fc`) and returns its output, NHWC with channels unpadded to
    /// `channels`, plus that NHWC shape (f16 outputs converted to f32). For stage-by-stage
    /// debugging against PyTorch.
    pub fn forward_until(
        &mut self,
        ctx: &GpuContext,
        images_hwc: &[f32],
        batch: usize,
        (h, w): (usize, usize),
        stage: &str,
    ) -> Result<(Vec<f32>, [usize; 4]), GpuError> {
        let plan = self.plan(ctx, batch, h, w)?;
        let last = plan
            .steps
            .iter()
            .position(|s| s.stage == stage)
            .ok_or_else(|| GpuError::Input(format!("no stage named {stage:?}")))?;
        plan.upload(ctx, images_hwc)?;
        let steps: Vec<&Dispatch> = plan.steps[..=last].iter().map(|s| &s.dispatch).collect();
        let enc = encode(ctx, &steps);
        let s = &plan.steps[last];
        let elems = s.out_shape.iter().product::<usize>();
        let bytes = (elems * s.out_elem.bytes()) as u64;
        let out = ctx.submit_and_read(enc, &[(plan.buffer(s.output), bytes)])?;
        let values = match s.out_elem {
            Elem::F32 => out[0].to_vec::<f32>(),
            Elem::F16 => out[0]
                .to_vec::<u16>()
                .into_iter()
                .map(|h| half::f16::from_bits(h).to_f32())
                .collect(),
        };
        Ok((values, s.out_shape))
    }
}
