//! A [`Plan`]: everything needed to run the network on one input shape (batch, height,
//! width): activation buffers, bind groups and the ordered dispatch list, built once by
//! [`crate::GpuResNet::plan`] and then only recorded and submitted.

use crate::GpuError;
use crate::context::GpuContext;
use crate::dispatch::Dispatch;
use crate::layout::pad_channels;
use crate::shaders::Elem;

/// A dispatch plus where its result lands, so tests can stop after any stage and read it.
pub struct Step {
    pub dispatch: Dispatch,
    /// The kernel that runs it: the convolution form's name (`conv2d_direct (f16, f16 -> f16)`,
    /// `conv2d_coop8x8 (f16, f32 -> f16)`, [`crate::ConvKernel::name`]), `maxpool`,
    /// `global_avg_pool` or `linear`.
    pub kernel: String,
    /// e.g. `stem`, `maxpool`, `layer1.0`, `layer4.2`, `avgpool`, `fc`; empty for inner convs.
    pub stage: String,
    /// Which buffer holds the output, and its NHWC shape (channels padded).
    pub output: BufRef,
    pub out_shape: [usize; 4],
    /// How the output is stored: f16 between the layers of `--precision f16`, else f32.
    pub out_elem: Elem,
    /// Multiply-adds (for the profiler's GFLOP/s column).
    pub macs: u64,
    /// Bytes the dispatch must read and write at least once (for the profiler's GB/s column).
    pub bytes: u64,
}

/// Which of a plan's buffers holds a step's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufRef {
    /// One of the four activation buffers the blocks rotate through.
    Act(usize),
    /// The globally pooled features `[batch, num_features]`.
    Pooled,
    /// The logits `[batch, classes]`.
    Logits,
}

/// Everything needed to run one input shape: buffers, bind groups and the dispatch list.
pub struct Plan {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub input: wgpu::Buffer,
    pub(crate) acts: Vec<wgpu::Buffer>,
    pub pooled: wgpu::Buffer,
    pub logits: wgpu::Buffer,
    pub steps: Vec<Step>,
    pub(crate) features: BufRef,
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
