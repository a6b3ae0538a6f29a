//! Score-CAM (Wang et al. 2020, pytorch-grad-cam's `ScoreCAM`): each layer4 channel, upsampled
//! and min-max scaled, masks the input; the network runs on every masked input and the
//! softmax over channels of the target's masked scores are the weights α. The masked inputs
//! go through the network in chunks the adapter can hold, all recorded in the same pass.

use super::{Buffers, CamStage, Shape, groups_x};
use crate::CamError;
use crate::shaders::WORKGROUP_1D;
use crate::uniforms::{MaskParams, SoftmaxParams};
use shadercam_kernels::{Dispatch, GpuContext, GpuResNet, Plan, linear_grid};
use std::sync::Arc;

/// The most masked images one Score-CAM chunk runs through the network (the adapter's limit
/// and the channel count may make it fewer): bounds the chunk's buffers.
const MAX_CHUNK: usize = 64;

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
        let chunk = net.max_batch(ctx, crop, crop).min(MAX_CHUNK).min(c);
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
                chunks.push(
                    Dispatch::builder("scorecam range", &self.sc_range)
                        .uniform(&mp)
                        .bind(feats)
                        .bind_at(4, &ranges)
                        .workgroups(groups_x(count))
                        .build(ctx)?,
                );
                chunks.push(
                    Dispatch::builder("scorecam mask", &self.sc_mask)
                        .uniform(&mp)
                        .bind(feats)
                        .bind(&forward.input)
                        .bind(&splan.input)
                        .bind(&ranges)
                        .workgroups(linear_grid(ctx, count * crop * crop, WORKGROUP_1D))
                        .build(ctx)?,
                );
                // The chunk's own forward pass (its dispatches are shared by every chunk).
                chunks.extend(splan.steps.iter().map(|st| st.dispatch.clone()));
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
                chunks.push(
                    Dispatch::builder("scorecam gather", &self.sc_gather)
                        .uniform(&sp)
                        .bind(&splan.logits)
                        .bind(&b.targets)
                        .bind(&scores)
                        .workgroups(groups_x(count * t))
                        .build(ctx)?,
                );
            }
        }
        let sp = SoftmaxParams {
            targets: t as u32,
            classes: s.classes as u32,
            maps: c as u32,
            pairs: s.maps() as u32,
            ..Default::default()
        };
        chunks.push(
            Dispatch::builder("scorecam softmax", &self.sc_softmax)
                .uniform(&sp)
                .bind_at(3, &scores)
                .bind(&b.alphas)
                .workgroups((s.maps() as u32, 1, 1))
                .build(ctx)?,
        );
        Ok((splan, chunks))
    }
}
