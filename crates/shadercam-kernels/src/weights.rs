//! The network's weights on the GPU: each convolution's HWIO weights with both channel
//! counts padded to a multiple of 4 (NHWC4), stored as f32 or as packed f16 pairs, and its
//! bias (BatchNorm already folded in by the loader). Uploaded once by [`crate::GpuResNet`].

use crate::GpuError;
use crate::context::GpuContext;
use crate::conv::ConvShape;
use crate::layout::pad_channels;
use crate::precision::Precision;
use shadercam_loader::ConvLayer;

/// One convolution's weights on the GPU (HWIO, channels padded to multiples of 4).
pub(crate) struct GpuConv {
    pub(crate) name: String,
    pub(crate) weight: wgpu::Buffer,
    pub(crate) bias: wgpu::Buffer,
    pub(crate) cin: usize,
    pub(crate) cout: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) stride: usize,
    pub(crate) pad: usize,
}

impl GpuConv {
    pub(crate) fn upload(
        ctx: &GpuContext,
        layer: &ConvLayer,
        precision: Precision,
    ) -> Result<Self, GpuError> {
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
        let weight = if precision.f16_weights() {
            // Two halves per u32, low half first: what WGSL's unpack2x16float reads, and the
            // bytes of a little-endian `array<vec4<f16>>`.
            let packed: Vec<u32> = w
                .chunks_exact(2)
                .map(|p| {
                    half::f16::from_f32(p[0]).to_bits() as u32
                        | (half::f16::from_f32(p[1]).to_bits() as u32) << 16
                })
                .collect();
            ctx.storage_from(&label, &packed)?
        } else {
            ctx.storage_from(&label, &w)?
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

    pub(crate) fn shape(&self, batch: usize, in_h: usize, in_w: usize) -> ConvShape {
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

/// One residual block: its convolutions in order, the shortcut's downsampling convolution
/// if it has one, and its stage label (`layer2.0`).
pub(crate) struct GpuBlock {
    pub(crate) convs: Vec<GpuConv>,
    pub(crate) downsample: Option<GpuConv>,
    pub(crate) label: String,
}
