//! From WGSL source to recorded work: compiling a shader and its pipelines (inside error
//! scopes, so a bad shader is a typed error naming the kernel), binding buffers to a pipeline
//! ([`Dispatch::builder`]), sizing the workgroup grid, and recording dispatches into a pass.
//! Every kernel type ([`crate::Conv2d`], [`crate::MaxPool`], ...) and the CAM stage go through
//! here.

use crate::GpuError;
use crate::context::GpuContext;

/// Invocations per workgroup of the one-dimensional kernels (`maxpool`, `global_avg_pool`,
/// `linear`, `conv2d_direct`). The single source of this number: their WGSL declares
/// `override WG: u32;` with no value, and their pipelines are created with [`OVERRIDES_1D`],
/// so the shader's `@workgroup_size(WG)` and the dispatch size ([`linear_grid`]) agree.
pub const WORKGROUP_1D: usize = 64;

/// The pipeline-overridable constants (WGSL `override`) the 1-D kernels are created with.
pub const OVERRIDES_1D: &[(&str, f64)] = &[("WG", WORKGROUP_1D as f64)];

/// Compiles `source` and creates its compute pipeline (entry point `main`, layout derived
/// from the shader, pipeline-overridable constants set to `constants`), inside error scopes
/// so a bad shader is a typed error naming `kernel`.
pub fn compute_pipeline(
    ctx: &GpuContext,
    kernel: &str,
    source: &str,
    constants: &[(&str, f64)],
) -> Result<wgpu::ComputePipeline, GpuError> {
    let module = shader_module(ctx, kernel, source)?;
    pipeline(ctx, &module, kernel, "main", constants)
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
    pipeline(ctx, module, kernel, entry, &[])
}

/// [`entry_pipeline`] with pipeline-overridable constants.
fn pipeline(
    ctx: &GpuContext,
    module: &wgpu::ShaderModule,
    kernel: &str,
    entry: &str,
    constants: &[(&str, f64)],
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
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    ..Default::default()
                },
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
/// ```no_run
/// # use shadercam_kernels::*;
/// # fn demo(
/// #     ctx: &GpuContext, pipeline: &wgpu::ComputePipeline, params: &PoolParams,
/// #     input: &wgpu::Buffer, output: &wgpu::Buffer, total: usize,
/// # ) -> Result<Dispatch, GpuError> {
/// let d = Dispatch::builder("maxpool", pipeline)
///     .uniform(params) // binding 0: a new uniform buffer holding `params`
///     .bind(input) // binding 1
///     .bind(output) // binding 2
///     .workgroups(linear_grid(ctx, total, WORKGROUP_1D))
///     .build(ctx)?;
/// # Ok(d)
/// # }
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

/// Splits `workgroups` over x and y so neither exceeds `max_per_dim` (65535 on most adapters);
/// shaders recover the linear index as `wg.x + wg.y * num_workgroups.x`.
pub fn grid(workgroups: u32, max_per_dim: u32) -> (u32, u32) {
    let x = workgroups.clamp(1, max_per_dim);
    (x, workgroups.div_ceil(x).max(1))
}

/// Workgroup counts for `total` invocations of a 1-D kernel of `wg` invocations per group.
pub fn linear_grid(ctx: &GpuContext, total: usize, wg: usize) -> (u32, u32, u32) {
    let (x, y) = grid(
        total.div_ceil(wg) as u32,
        ctx.limits.max_compute_workgroups_per_dimension,
    );
    (x, y, 1)
}
