//! Score-CAM (Wang et al. 2020, pytorch-grad-cam's `ScoreCAM`): each layer4 channel, upsampled
//! and min-max scaled, masks the input; the network runs on every masked input and the
//! softmax over channels of the target's masked scores are the weights α. The masked inputs
//! go through the network in chunks the adapter can hold, all recorded in the same pass.

use super::{Buffers, CamStage, Shape};
use crate::CamError;
use crate::uniforms::{MaskParams, SoftmaxParams};
use shadercam_kernels::{Dispatch, GpuContext, GpuResNet, Plan, linear_grid};
use std::sync::Arc;

impl CamStage {
    /// Per image and chunk of channels: the channels' ranges, the masked inputs, the chunk's
    /// own forward pass and the gathered target scores; then one softmax per map into
    /// `b.alphas`. Returns the chunk's forward plan (kept alive with its buffers) and the
    /// dispatches, in recording order.
    pub(super) fn plan_score(
        &self,
        ctx: &GpuContext,
        net: &mut GpuResNet,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
    ) -> Result<(Arc<Plan>, Vec<Dispatch>), CamError> {
        let (n, t, c, crop) = (s.n, s.t, s.c, s.crop);
        let feats = forward.features();
        let chunk = net.max_batch(ctx, crop, crop).min(64).min(c);
        let splan = net.plan_uncached(ctx, chunk, crop, crop)?;
        let scores = ctx.storage("scorecam scores", (n * t * c * 4) as u64)?;
        let ranges = ctx.storage("scorecam ranges", (chunk * 8) as u64)?;
        let mut chunks = Vec::new();
        for image in 0..n {
            for k0 in (0..c).step_by(chunk) {
                let count = chunk.min(c - k0);
                let mp = MaskParams {
                    h: crop as u32,
                    w: crop as u32,
                    fh: s.fh as u32,
                    fw: s.fw as u32,
                    c4: s.c4 as u32,
                    image: image as u32,
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
                for st in &splan.steps {
                    chunks.push(Dispatch {
                        label: st.dispatch.label.clone(),
                        pipeline: st.dispatch.pipeline.clone(),
                        bind_group: st.dispatch.bind_group.clone(),
                        workgroups: st.dispatch.workgroups,
                    });
                }
                let sp = SoftmaxParams {
                    targets: t as u32,
                    classes: s.classes as u32,
                    maps: c as u32,
                    image: image as u32,
                    k0: k0 as u32,
                    count: count as u32,
                    pairs: s.maps() as u32,
                    _pad: 0,
                };
                chunks.push(self.dispatch(
                    ctx,
                    &self.sc_gather,
                    "scorecam gather",
                    bytemuck::bytes_of(&sp),
                    &[(1, &splan.logits), (2, &b.targets), (3, &scores)],
                    (((count * t) as u32).div_ceil(64), 1, 1),
                )?);
            }
        }
        let sp = SoftmaxParams {
            targets: t as u32,
            classes: s.classes as u32,
            maps: c as u32,
            pairs: s.maps() as u32,
            ..Default::default()
        };
        chunks.push(self.dispatch(
            ctx,
            &self.sc_softmax,
            "scorecam softmax",
            bytemuck::bytes_of(&sp),
            &[(3, &scores), (4, &b.alphas)],
            (s.maps() as u32, 1, 1),
        )?);
        Ok((splan, chunks))
    }
}
