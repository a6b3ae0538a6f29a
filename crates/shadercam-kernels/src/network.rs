//! The ResNet forward pass on the GPU: weights uploaded once, a [`Plan`] (activation buffers,
//! bind groups, dispatch list) built once per input shape, and the whole network recorded into
//! one compute pass and one submit.
//!
//! Data flow per plan: `input` (NHWC4) → stem conv (+BN+ReLU) → max-pool → stages of residual
//! blocks (each conv a fused conv+BN[+residual]+ReLU dispatch) → `features` (the last stage's
//! maps, kept on the GPU for the CAM stage) → global average pool → fc → `logits`.

use crate::GpuError;
use crate::context::GpuContext;
use crate::kernels::{
    CONV_RELU, CONV_RESIDUAL, ConvShape, Dispatch, Kernels, Precision, encode, pad_channels,
};
use shadercam_loader::{ConvLayer, ResNet};
use std::collections::HashMap;
use std::sync::Arc;

/// One convolution's weights on the GPU (HWIO, channels padded to multiples of 4).
struct GpuConv {
    name: String,
    weight: wgpu::Buffer,
    bias: wgpu::Buffer,
    cin: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
}

impl GpuConv {
    fn upload(ctx: &GpuContext, layer: &ConvLayer, precision: Precision) -> Result<Self, GpuError> {
        let (cin4, cout4) = (
            layer.cin.next_multiple_of(4),
            layer.cout.next_multiple_of(4),
        );
        let mut w = vec![0f32; layer.kh * layer.kw * cin4 * cout4];
        for tap in 0..layer.kh * layer.kw {
            for ci in 0..layer.cin {
                let src = (tap * layer.cin + ci) * layer.cout;
                let dst = (tap * cin4 + ci) * cout4;
                w[dst..dst + layer.cout].copy_from_slice(&layer.weight[src..src + layer.cout]);
            }
        }
        let label = format!("{}.weight", layer.name);
        let weight = match precision {
            Precision::F32 => ctx.storage_from(&label, &w)?,
            // Two halves per u32, low half first: what WGSL's unpack2x16float reads.
            Precision::F16 => {
                let packed: Vec<u32> = w
                    .chunks_exact(2)
                    .map(|p| {
                        half::f16::from_f32(p[0]).to_bits() as u32
                            | (half::f16::from_f32(p[1]).to_bits() as u32) << 16
                    })
                    .collect();
                ctx.storage_from(&label, &packed)?
            }
        };
        Ok(Self {
            name: layer.name.clone(),
            weight,
            bias: ctx.storage_from(
                &format!("{}.bias", layer.name),
                &pad_channels(&layer.bias, layer.cout),
            )?,
            cin: cin4,
            cout: cout4,
            kh: layer.kh,
            kw: layer.kw,
            stride: layer.stride,
            pad: layer.pad,
        })
    }

    fn shape(&self, batch: usize, in_h: usize, in_w: usize) -> ConvShape {
        ConvShape {
            batch,
            in_h,
            in_w,
            cin: self.cin,
            cout: self.cout,
            kh: self.kh,
            kw: self.kw,
            stride: self.stride,
            pad: self.pad,
        }
    }
}

struct GpuBlock {
    convs: Vec<GpuConv>,
    downsample: Option<GpuConv>,
    label: String,
}

/// A dispatch plus where its result lands, so tests can stop after any stage and read it.
pub struct Step {
    pub dispatch: Dispatch,
    /// e.g. `stem`, `maxpool`, `layer1.0`, `layer4.2`, `avgpool`, `fc`; empty for inner convs.
    pub stage: String,
    /// Which buffer holds the output, and its NHWC shape (channels padded).
    pub output: BufRef,
    pub out_shape: [usize; 4],
    /// Multiply-adds (for the profiler's GFLOP/s column).
    pub macs: u64,
    /// Bytes the dispatch must read and write at least once (for the profiler's GB/s column).
    pub bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufRef {
    Act(usize),
    Pooled,
    Logits,
}

/// Everything needed to run one input shape: buffers, bind groups and the dispatch list.
pub struct Plan {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub input: wgpu::Buffer,
    acts: Vec<wgpu::Buffer>,
    pub pooled: wgpu::Buffer,
    pub logits: wgpu::Buffer,
    pub steps: Vec<Step>,
    features: BufRef,
    /// Spatial size and (padded) channel count of the CAM layer's maps.
    pub feat_h: usize,
    pub feat_w: usize,
    pub feat_c: usize,
    pub classes: usize,
}

impl Plan {
    /// The last stage's maps, NHWC4 `[batch, feat_h, feat_w, feat_c]`, valid after a forward.
    pub fn features(&self) -> &wgpu::Buffer {
        self.buffer(self.features)
    }

    pub fn buffer(&self, r: BufRef) -> &wgpu::Buffer {
        match r {
            BufRef::Act(i) => &self.acts[i],
            BufRef::Pooled => &self.pooled,
            BufRef::Logits => &self.logits,
        }
    }

    /// Uploads `batch` images, HWC with 3 channels, into the NHWC4 input buffer.
    pub fn upload(&self, ctx: &GpuContext, images_hwc: &[f32]) -> Result<(), GpuError> {
        let want = self.batch * self.in_h * self.in_w * 3;
        if images_hwc.len() != want {
            return Err(GpuError::Input(format!(
                "expected {} floats ({} images of {}x{}x3), got {}",
                want,
                self.batch,
                self.in_h,
                self.in_w,
                images_hwc.len()
            )));
        }
        ctx.queue.write_buffer(
            &self.input,
            0,
            bytemuck::cast_slice(&pad_channels(images_hwc, 3)),
        );
        Ok(())
    }

    /// Records every dispatch of the network, in order, into `pass`.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        for s in &self.steps {
            s.dispatch.record(pass);
        }
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

    /// Like [`GpuResNet::new`] with convolution weights stored as `precision`.
    pub fn with_precision(
        ctx: &GpuContext,
        net: &ResNet,
        precision: Precision,
    ) -> Result<Self, GpuError> {
        let kernels = Kernels::with_precision(ctx, precision)?;
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

    /// `fc.weight` on the GPU, row-major `[classes, num_features]`: the CAM weights `w^c_k`.
    pub fn fc_weight(&self) -> &wgpu::Buffer {
        &self.fc_weight
    }

    /// The largest activation of one image, in bytes, for an `h`x`w` input.
    pub fn bytes_per_image(&self, h: usize, w: usize) -> u64 {
        let s = self.stem.shape(1, h, w);
        let (sh, sw) = s.out_hw();
        let mut max = (sh * sw * s.cout).max(h * w * 4);
        let (mut ih, mut iw) = crate::kernels::MaxPool::out_hw(sh, sw, 3, 2, 1);
        for stage in &self.stages {
            for block in stage {
                for c in &block.convs {
                    let (oh, ow) = c.shape(1, ih, iw).out_hw();
                    max = max.max(oh * ow * c.cout).max(ih * iw * c.cin);
                    ih = if c.stride > 1 { oh } else { ih };
                    iw = if c.stride > 1 { ow } else { iw };
                }
            }
        }
        (max * 4) as u64
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
        let mut steps = Vec::new();
        let conv_step = |c: &GpuConv,
                         stage: &str,
                         src: &wgpu::Buffer,
                         (ih, iw): (usize, usize),
                         flags: u32,
                         res: Option<&wgpu::Buffer>,
                         dst: usize|
         -> Result<(Step, (usize, usize)), GpuError> {
            let shape = c.shape(batch, ih, iw);
            let (oh, ow) = shape.out_hw();
            let d = k.conv2d.dispatch(
                ctx,
                &c.name,
                &shape,
                flags | if res.is_some() { CONV_RESIDUAL } else { 0 },
                src,
                &c.weight,
                &c.bias,
                res.unwrap_or(&none),
                &acts[dst],
            )?;
            let elems = batch * ih * iw * c.cin
                + c.kh * c.kw * c.cin * c.cout
                + batch * oh * ow * c.cout * (1 + res.is_some() as usize);
            Ok((
                Step {
                    dispatch: d,
                    stage: stage.to_owned(),
                    output: BufRef::Act(dst),
                    out_shape: [batch, oh, ow, c.cout],
                    macs: shape.macs(),
                    bytes: (elems * 4) as u64,
                },
                (oh, ow),
            ))
        };

        // Stem: conv1+bn1+relu into act 0, max-pool into act 1.
        let (st, (sh, sw)) = conv_step(&self.stem, "stem", &input, (h, w), CONV_RELU, None, 0)?;
        steps.push(st);
        let (ph, pw) = crate::kernels::MaxPool::out_hw(sh, sw, 3, 2, 1);
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
            stage: "maxpool".into(),
            output: BufRef::Act(1),
            out_shape: [batch, ph, pw, self.stem.cout],
            macs: 0,
            bytes: ((batch * (sh * sw + ph * pw) * self.stem.cout) * 4) as u64,
        });

        let (mut x, mut hw, mut c) = (1usize, (ph, pw), self.stem.cout);
        let free = |used: &[usize]| {
            (0..4)
                .find(|i| !used.contains(i))
                .expect("4 buffers suffice for a residual block")
        };
        for stage in &self.stages {
            for block in stage {
                // Chain the convolutions through buffers other than the block input `x`.
                let n = block.convs.len();
                let mut cur = x;
                let mut cur_hw = hw;
                let mut used = vec![x];
                for conv in &block.convs[..n - 1] {
                    let dst = free(&used);
                    let (st, ohw) = conv_step(conv, "", &acts[cur], cur_hw, CONV_RELU, None, dst)?;
                    steps.push(st);
                    used.push(dst);
                    cur = dst;
                    cur_hw = ohw;
                }
                let shortcut = match &block.downsample {
                    Some(ds) => {
                        let dst = free(&used);
                        let (st, _) = conv_step(ds, "", &acts[x], hw, 0, None, dst)?;
                        steps.push(st);
                        used.push(dst);
                        dst
                    }
                    None => x,
                };
                // The last conv adds the shortcut and applies ReLU; it may overwrite anything
                // but its own inputs (the previous conv's output and the shortcut).
                let dst = free(&[cur, shortcut]);
                let last = &block.convs[n - 1];
                let (st, ohw) = conv_step(
                    last,
                    &block.label,
                    &acts[cur],
                    cur_hw,
                    CONV_RELU,
                    Some(&acts[shortcut]),
                    dst,
                )?;
                steps.push(st);
                x = dst;
                hw = ohw;
                c = last.cout;
            }
        }
        let d = k
            .gap
            .dispatch(ctx, "avgpool", (batch, hw.0 * hw.1, c), &acts[x], &pooled)?;
        steps.push(Step {
            dispatch: d,
            stage: "avgpool".into(),
            output: BufRef::Pooled,
            out_shape: [batch, 1, 1, c],
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
            stage: "fc".into(),
            output: BufRef::Logits,
            out_shape: [batch, 1, 1, self.num_classes],
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
    /// `channels`, plus that NHWC shape. For stage-by-stage debugging against PyTorch.
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
        let bytes = (s.out_shape.iter().product::<usize>() * 4) as u64;
        let out = ctx.submit_and_read(enc, &[(plan.buffer(s.output), bytes)])?;
        Ok((out[0].to_vec::<f32>(), s.out_shape))
    }
}
