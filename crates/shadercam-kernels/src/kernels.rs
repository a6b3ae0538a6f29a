//! One Rust type per WGSL kernel: it owns the compute pipeline, mirrors the shader's uniform
//! struct, and knows its dispatch size. Pipelines are created once; bind groups, uniform
//! buffers and dispatches are made once per network plan.

use crate::GpuError;
use crate::context::{GpuContext, grid};
use crate::shaders;

/// Compiles `source` and creates its compute pipeline (entry point `main`, layout derived
/// from the shader), inside error scopes so a bad shader is a typed error naming `kernel`.
pub fn compute_pipeline(
    ctx: &GpuContext,
    kernel: &str,
    source: &str,
) -> Result<wgpu::ComputePipeline, GpuError> {
    entry_pipeline(ctx, &shader_module(ctx, kernel, source)?, kernel, "main")
}

/// Compiles one WGSL file; a parse or validation error names `kernel`.
pub fn shader_module(
    ctx: &GpuContext,
    kernel: &str,
    source: &str,
) -> Result<wgpu::ShaderModule, GpuError> {
    ctx.scoped(kernel, || {
        ctx.device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(kernel),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            })
    })
    .map_err(|e| e.with_kind("shader", kernel))
}

/// The compute pipeline of entry point `entry` of `module` (layout derived from the shader).
pub fn entry_pipeline(
    ctx: &GpuContext,
    module: &wgpu::ShaderModule,
    kernel: &str,
    entry: &str,
) -> Result<wgpu::ComputePipeline, GpuError> {
    let label = if entry == "main" {
        kernel.to_owned()
    } else {
        format!("{kernel}::{entry}")
    };
    ctx.scoped(&label, || {
        ctx.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: None,
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
    })
    .map_err(|e| e.with_kind("pipeline", &label))
}

/// A recorded dispatch: pipeline, bind group and workgroup counts. Made once per plan by a
/// [`DispatchBuilder`], recorded into a pass as often as needed. Cloning is cheap (wgpu
/// handles are reference-counted).
#[derive(Clone, Debug)]
pub struct Dispatch {
    pub label: String,
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub workgroups: (u32, u32, u32),
}

impl Dispatch {
    /// Starts a dispatch of `pipeline`; see [`DispatchBuilder`].
    pub fn builder<'a>(label: &str, pipeline: &'a wgpu::ComputePipeline) -> DispatchBuilder<'a> {
        DispatchBuilder {
            label: label.to_owned(),
            pipeline,
            bindings: Vec::new(),
            next: 0,
            workgroups: None,
        }
    }

    /// Records this dispatch into `pass`.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let (x, y, z) = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// What one binding of a [`DispatchBuilder`] holds.
enum Resource<'a> {
    /// An existing buffer, bound whole.
    Buffer(&'a wgpu::Buffer),
    /// The bytes of a uniform block; its buffer is created by [`DispatchBuilder::build`].
    Uniform(Vec<u8>),
}

/// Collects the bindings (group 0) and workgroup count of one [`Dispatch`]:
///
/// ```ignore
/// let d = Dispatch::builder("maxpool", &pipeline)
///     .uniform(&params)   // binding 0: a new uniform buffer holding `params`
///     .bind(&input)       // binding 1
///     .bind(&output)      // binding 2
///     .workgroups(linear_grid(ctx, total, WORKGROUP_1D))
///     .build(ctx)?;
/// ```
///
/// Bindings are numbered in the order they are added, starting at 0; [`DispatchBuilder::bind_at`]
/// gives a number explicitly, and a later `bind`/`uniform` continues after the highest so far.
pub struct DispatchBuilder<'a> {
    label: String,
    pipeline: &'a wgpu::ComputePipeline,
    bindings: Vec<(u32, Resource<'a>)>,
    next: u32,
    workgroups: Option<(u32, u32, u32)>,
}

impl<'a> DispatchBuilder<'a> {
    fn push(mut self, binding: u32, resource: Resource<'a>) -> Self {
        self.bindings.push((binding, resource));
        self.next = self.next.max(binding + 1);
        self
    }

    /// A new uniform buffer holding `value` (a `#[repr(C)]` mirror of the shader's uniform
    /// struct) at the next binding.
    pub fn uniform<T: bytemuck::Pod>(self, value: &T) -> Self {
        self.uniform_bytes(bytemuck::bytes_of(value))
    }

    /// A new uniform buffer holding `bytes` at the next binding.
    pub fn uniform_bytes(self, bytes: &[u8]) -> Self {
        let next = self.next;
        self.push(next, Resource::Uniform(bytes.to_vec()))
    }

    /// `buffer` (storage or uniform), bound whole at the next binding.
    pub fn bind(self, buffer: &'a wgpu::Buffer) -> Self {
        let next = self.next;
        self.push(next, Resource::Buffer(buffer))
    }

    /// `buffer`, bound whole at binding number `binding`.
    pub fn bind_at(self, binding: u32, buffer: &'a wgpu::Buffer) -> Self {
        self.push(binding, Resource::Buffer(buffer))
    }

    /// How many workgroups to dispatch along x, y and z.
    pub fn workgroups(mut self, workgroups: (u32, u32, u32)) -> Self {
        self.workgroups = Some(workgroups);
        self
    }

    /// Creates the uniform buffers and the bind group (inside error scopes: a binding that does
    /// not match the shader is a [`GpuError::Create`] naming the dispatch's label).
    pub fn build(self, ctx: &GpuContext) -> Result<Dispatch, GpuError> {
        let label = self.label;
        let Some(workgroups) = self.workgroups else {
            return Err(GpuError::Create {
                what: label,
                message: "no workgroup count given (DispatchBuilder::workgroups)".into(),
            });
        };
        let mut uniforms = Vec::new();
        for (binding, resource) in &self.bindings {
            if let Resource::Uniform(bytes) = resource {
                uniforms.push((*binding, ctx.uniform_bytes(&label, bytes)?));
            }
        }
        let mut entries: Vec<wgpu::BindGroupEntry> = self
            .bindings
            .iter()
            .filter_map(|(binding, resource)| match resource {
                Resource::Buffer(b) => Some(wgpu::BindGroupEntry {
                    binding: *binding,
                    resource: b.as_entire_binding(),
                }),
                Resource::Uniform(_) => None,
            })
            .chain(uniforms.iter().map(|(binding, b)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: b.as_entire_binding(),
            }))
            .collect();
        entries.sort_by_key(|e| e.binding);
        let layout = self.pipeline.get_bind_group_layout(0);
        let bind_group = ctx.scoped(&label, || {
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&label),
                layout: &layout,
                entries: &entries,
            })
        })?;
        Ok(Dispatch {
            label,
            pipeline: self.pipeline.clone(),
            bind_group,
            workgroups,
        })
    }
}

/// Uniform block of `shaders/conv2d.wgsl` and `shaders/conv2d_direct.wgsl` (same fields, same order).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvParams {
    pub batch: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub cin4: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub cout4: u32,
    pub kw: u32,
    pub kh: u32,
    pub stride: u32,
    pub pad: u32,
    pub flags: u32,
    pub m: u32,
    pub k4: u32,
    pub tiles_m: u32,
    pub _pad: u32,
}

/// Convolution geometry: what a conv layer needs to know to be dispatched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    /// Input channels, already padded to a multiple of 4.
    pub cin: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvShape {
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.in_h + 2 * self.pad - self.kh) / self.stride + 1,
            (self.in_w + 2 * self.pad - self.kw) / self.stride + 1,
        )
    }
    /// Multiply-adds of the whole convolution (for GFLOP/s figures).
    pub fn macs(&self) -> u64 {
        let (oh, ow) = self.out_hw();
        (self.batch * oh * ow * self.cout * self.kh * self.kw * self.cin) as u64
    }
}

/// Which convolution kernel runs a layer. Both compute the same thing (see
/// `shaders/conv2d.wgsl` for the formula) from the same buffers and uniform block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvVariant {
    /// `shaders/conv2d.wgsl`: 64x64 output tiles staged through workgroup memory, 256
    /// invocations of 4 pixels x 4 channels each. For GPUs.
    Tiled,
    /// `shaders/conv2d_direct.wgsl`: no workgroup memory, 64 invocations of
    /// [`DIRECT_PIXELS`] pixels x [`DIRECT_CHANNELS`] channels each, loading straight from
    /// storage. For CPU adapters (lavapipe), where it is 1.3-2.9x faster than `Tiled` per layer
    /// (benches/README.md).
    Direct,
}

impl ConvVariant {
    pub const ALL: [ConvVariant; 2] = [ConvVariant::Tiled, ConvVariant::Direct];

    /// Output pixels (GEMM rows) covered by one unit of `tiles_m`.
    fn rows_per_tile(self) -> usize {
        match self {
            ConvVariant::Tiled => 64,
            ConvVariant::Direct => DIRECT_PIXELS,
        }
    }
}

/// Pixels per invocation of `conv2d_direct.wgsl` (its `R`).
pub const DIRECT_PIXELS: usize = 8;
/// Output channels per invocation of `conv2d_direct.wgsl` (4 x its `C4`).
pub const DIRECT_CHANNELS: usize = 8;

/// Fused convolution + folded BN + residual + ReLU, NHWC4 activations and HWIO weights
/// `[kh*kw*cin4, cout4]`. Owns one pipeline per [`ConvVariant`] and picks one per adapter.
/// How convolution weights are stored on the GPU (arithmetic is f32 either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 weights: the reference path, within 1e-5 of PyTorch's float64 logits.
    #[default]
    F32,
    /// f16 weights (packed pairs, `unpack2x16float`): half the weight memory and bandwidth,
    /// works on every adapter; tolerance measured in tests/forward.rs.
    F16,
}

pub struct Conv2d {
    pub precision: Precision,
    pub tiled: wgpu::ComputePipeline,
    pub direct: wgpu::ComputePipeline,
    /// The variant [`Conv2d::dispatch`] uses: `Direct` on CPU adapters, `Tiled` elsewhere.
    pub preferred: ConvVariant,
}

pub const CONV_RELU: u32 = 1;
pub const CONV_RESIDUAL: u32 = 2;
const CONV_TILE_N: usize = 64;

impl Conv2d {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Self::with_precision(ctx, Precision::F32)
    }

    /// Pipelines reading weights stored as `precision`.
    pub fn with_precision(ctx: &GpuContext, precision: Precision) -> Result<Self, GpuError> {
        let preferred = match ctx.info.device_type {
            wgpu::DeviceType::Cpu => ConvVariant::Direct,
            _ => ConvVariant::Tiled,
        };
        let build = |name: &str, src: &str| match precision {
            Precision::F32 => compute_pipeline(ctx, name, src),
            Precision::F16 => compute_pipeline(
                ctx,
                &format!("{name} (f16 weights)"),
                &shaders::with_f16_weights(src),
            ),
        };
        Ok(Self {
            precision,
            tiled: build("conv2d", shaders::CONV2D)?,
            direct: build("conv2d_direct", shaders::CONV2D_DIRECT)?,
            preferred,
        })
    }

    pub fn params(&self, variant: ConvVariant, s: &ConvShape, flags: u32) -> ConvParams {
        let (oh, ow) = s.out_hw();
        let m = s.batch * oh * ow;
        ConvParams {
            batch: s.batch as u32,
            in_h: s.in_h as u32,
            in_w: s.in_w as u32,
            cin4: (s.cin / 4) as u32,
            out_h: oh as u32,
            out_w: ow as u32,
            cout4: (s.cout / 4) as u32,
            kw: s.kw as u32,
            kh: s.kh as u32,
            stride: s.stride as u32,
            pad: s.pad as u32,
            flags,
            m: m as u32,
            k4: (s.kh * s.kw * s.cin / 4) as u32,
            tiles_m: m.div_ceil(variant.rows_per_tile()) as u32,
            _pad: 0,
        }
    }

    /// Dispatch with this adapter's [`Conv2d::preferred`] variant.
    /// Buffers: input, weight, bias, residual (any buffer when unused), output.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch(
        &self,
        ctx: &GpuContext,
        label: &str,
        s: &ConvShape,
        flags: u32,
        input: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        bias: &wgpu::Buffer,
        residual: &wgpu::Buffer,
        output: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        self.dispatch_variant(
            ctx,
            self.preferred,
            label,
            s,
            flags,
            input,
            weight,
            bias,
            residual,
            output,
        )
    }

    /// Dispatch with an explicit variant (tests and benches run every variant on any adapter).
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch_variant(
        &self,
        ctx: &GpuContext,
        variant: ConvVariant,
        label: &str,
        s: &ConvShape,
        flags: u32,
        input: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        bias: &wgpu::Buffer,
        residual: &wgpu::Buffer,
        output: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        assert!(
            s.cin.is_multiple_of(4) && s.cout.is_multiple_of(4),
            "conv2d expects NHWC4 (channels padded to 4)"
        );
        let p = self.params(variant, s, flags);
        let max_dim = ctx.limits.max_compute_workgroups_per_dimension;
        let (pipeline, workgroups) = match variant {
            ConvVariant::Tiled => {
                let (x, y) = grid(p.tiles_m, max_dim);
                (&self.tiled, (x, y, s.cout.div_ceil(CONV_TILE_N) as u32))
            }
            ConvVariant::Direct => {
                let items = p.tiles_m as usize * s.cout.div_ceil(DIRECT_CHANNELS);
                (&self.direct, linear_grid(ctx, items, 64))
            }
        };
        Dispatch::builder(label, pipeline)
            .uniform(&p)
            .bind(input)
            .bind(weight)
            .bind(bias)
            .bind(residual)
            .bind(output)
            .workgroups(workgroups)
            .build(ctx)
    }
}

/// Uniform block of `shaders/maxpool.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolParams {
    pub batch: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub c4: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub kernel: u32,
    pub stride: u32,
    pub pad: u32,
    pub total: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// `shaders/maxpool.wgsl`.
pub struct MaxPool {
    pub pipeline: wgpu::ComputePipeline,
}

impl MaxPool {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(Self {
            pipeline: compute_pipeline(ctx, "maxpool", shaders::MAXPOOL)?,
        })
    }

    /// Output size of a `kernel`/`stride`/`pad` pool (PyTorch's floor mode).
    pub fn out_hw(
        in_h: usize,
        in_w: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> (usize, usize) {
        (
            (in_h + 2 * pad - kernel) / stride + 1,
            (in_w + 2 * pad - kernel) / stride + 1,
        )
    }

    /// `c` must be a multiple of 4.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch(
        &self,
        ctx: &GpuContext,
        label: &str,
        (batch, in_h, in_w, c): (usize, usize, usize, usize),
        (kernel, stride, pad): (usize, usize, usize),
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let (oh, ow) = Self::out_hw(in_h, in_w, kernel, stride, pad);
        let total = batch * oh * ow * c / 4;
        let p = PoolParams {
            batch: batch as u32,
            in_h: in_h as u32,
            in_w: in_w as u32,
            c4: (c / 4) as u32,
            out_h: oh as u32,
            out_w: ow as u32,
            kernel: kernel as u32,
            stride: stride as u32,
            pad: pad as u32,
            total: total as u32,
            _pad0: 0,
            _pad1: 0,
        };
        Dispatch::builder(label, &self.pipeline)
            .uniform(&p)
            .bind(input)
            .bind(output)
            .workgroups(linear_grid(ctx, total, 64))
            .build(ctx)
    }
}

/// Workgroup counts for `total` invocations of a 1-D kernel of `wg` invocations per group.
pub fn linear_grid(ctx: &GpuContext, total: usize, wg: usize) -> (u32, u32, u32) {
    let (x, y) = grid(
        total.div_ceil(wg) as u32,
        ctx.limits.max_compute_workgroups_per_dimension,
    );
    (x, y, 1)
}

/// Uniform block of `shaders/global_avg_pool.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GapParams {
    pub batch: u32,
    pub hw: u32,
    pub c4: u32,
    pub total: u32,
}

/// `shaders/global_avg_pool.wgsl`.
pub struct GlobalAvgPool {
    pub pipeline: wgpu::ComputePipeline,
}

impl GlobalAvgPool {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(Self {
            pipeline: compute_pipeline(ctx, "global_avg_pool", shaders::GLOBAL_AVG_POOL)?,
        })
    }

    pub fn dispatch(
        &self,
        ctx: &GpuContext,
        label: &str,
        (batch, hw, c): (usize, usize, usize),
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let total = batch * c / 4;
        let p = GapParams {
            batch: batch as u32,
            hw: hw as u32,
            c4: (c / 4) as u32,
            total: total as u32,
        };
        Dispatch::builder(label, &self.pipeline)
            .uniform(&p)
            .bind(input)
            .bind(output)
            .workgroups(linear_grid(ctx, total, 64))
            .build(ctx)
    }
}

/// Uniform block of `shaders/linear.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinearParams {
    pub batch: u32,
    pub features4: u32,
    pub classes: u32,
    pub total: u32,
}

/// `shaders/linear.wgsl`.
pub struct Linear {
    pub pipeline: wgpu::ComputePipeline,
}

impl Linear {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(Self {
            pipeline: compute_pipeline(ctx, "linear", shaders::LINEAR)?,
        })
    }

    /// `features` must be a multiple of 4.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch(
        &self,
        ctx: &GpuContext,
        label: &str,
        (batch, features, classes): (usize, usize, usize),
        x: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        bias: &wgpu::Buffer,
        logits: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let total = batch * classes;
        let p = LinearParams {
            batch: batch as u32,
            features4: (features / 4) as u32,
            classes: classes as u32,
            total: total as u32,
        };
        Dispatch::builder(label, &self.pipeline)
            .uniform(&p)
            .bind(x)
            .bind(weight)
            .bind(bias)
            .bind(logits)
            .workgroups(linear_grid(ctx, total, 64))
            .build(ctx)
    }
}

/// Every pipeline of the network, created once.
pub struct Kernels {
    pub conv2d: Conv2d,
    pub maxpool: MaxPool,
    pub gap: GlobalAvgPool,
    pub linear: Linear,
}

impl Kernels {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Self::with_precision(ctx, Precision::F32)
    }

    pub fn with_precision(ctx: &GpuContext, precision: Precision) -> Result<Self, GpuError> {
        Ok(Self {
            conv2d: Conv2d::with_precision(ctx, precision)?,
            maxpool: MaxPool::new(ctx)?,
            gap: GlobalAvgPool::new(ctx)?,
            linear: Linear::new(ctx)?,
        })
    }
}

/// Records `dispatches` into one compute pass of a new encoder.
pub fn encode(ctx: &GpuContext, dispatches: &[&Dispatch]) -> wgpu::CommandEncoder {
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("shadercam"),
        });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("shadercam"),
            timestamp_writes: None,
        });
        for d in dispatches {
            d.record(&mut pass);
        }
    }
    encoder
}

/// Pads the last dimension of a row-major `[rows, c]` tensor to `c4 = ceil(c/4)*4` with zeros.
pub fn pad_channels(data: &[f32], c: usize) -> Vec<f32> {
    let c4 = c.next_multiple_of(4);
    if c4 == c {
        return data.to_vec();
    }
    let mut out = vec![0f32; data.len() / c * c4];
    for (src, dst) in data.chunks_exact(c).zip(out.chunks_exact_mut(c4)) {
        dst[..c].copy_from_slice(src);
    }
    out
}

/// Inverse of [`pad_channels`].
pub fn unpad_channels(data: &[f32], c: usize) -> Vec<f32> {
    let c4 = c.next_multiple_of(4);
    data.chunks_exact(c4)
        .flat_map(|r| r[..c].iter().copied())
        .collect()
}
