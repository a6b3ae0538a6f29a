//! The wgpu device: adapter choice, limits, error capture and small buffer helpers.

use crate::GpuError;
use std::sync::{Arc, Mutex};

/// The device, its queue and what we learned about the adapter. Handles are reference-counted,
/// so this is cheap to clone and has no lifetimes (wgpu's `repeated_compute` pattern).
#[derive(Clone)]
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// The cooperative-matrix (tensor-core) shape the f16 convolution uses on this device
    /// ([`crate::choose_cooperative_shape`]), if any; the device was then created with them, and
    /// `--precision f16` on a GPU runs [`crate::ConvVariant::Cooperative`].
    /// `SHADERCAM_COOPERATIVE_MATRIX=0` turns them off.
    pub cooperative: Option<crate::CoopShape>,
    /// Why [`GpuContext::cooperative`] is `None`, for `selftest` and error messages.
    pub cooperative_refusal: Option<String>,
    /// The first error wgpu reported outside an error scope (e.g. device loss mid-batch).
    uncaptured: Arc<Mutex<Option<String>>>,
    lost: Arc<std::sync::atomic::AtomicBool>,
}

/// Rank of an adapter type: lower is preferred (discrete > integrated > virtual > CPU).
fn type_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Native APIs before anything else wgpu may offer.
fn backend_rank(b: wgpu::Backend) -> u8 {
    match b {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    }
}

impl GpuContext {
    /// Picks the best adapter: a discrete GPU over an integrated one over a CPU one (lavapipe).
    /// `SHADERCAM_ADAPTER` (a case-insensitive substring of the adapter name) picks another;
    /// wgpu's `WGPU_BACKEND` restricts the backends searched.
    pub fn new() -> Result<Self, GpuError> {
        pollster::block_on(Self::new_async(|_| {}))
    }

    /// Like [`GpuContext::new`], but the device is created with `adjust`ed (lower) limits —
    /// e.g. a small `max_storage_buffer_binding_size` to exercise batch splitting as a smaller
    /// GPU would.
    pub fn with_limits(adjust: impl FnOnce(&mut wgpu::Limits)) -> Result<Self, GpuError> {
        pollster::block_on(Self::new_async(adjust))
    }

    async fn new_async(adjust: impl FnOnce(&mut wgpu::Limits)) -> Result<Self, GpuError> {
        // The native APIs (Vulkan, Metal, DX12): the only backends this build compiles (the
        // workspace's wgpu features leave out OpenGL ES). WGPU_BACKEND narrows them.
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if std::env::var_os("WGPU_BACKEND").is_none() {
            desc.backends = wgpu::Backends::PRIMARY;
        }
        let backends = desc.backends;
        let instance = wgpu::Instance::new(desc);
        let mut adapters = instance.enumerate_adapters(backends).await;
        let found: Vec<String> = adapters
            .iter()
            .map(|a| {
                let i = a.get_info();
                format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type)
            })
            .collect();
        if let Ok(want) = std::env::var("SHADERCAM_ADAPTER") {
            let want_lc = want.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&want_lc));
            if adapters.is_empty() {
                return Err(GpuError::NoAdapter(format!(
                    "SHADERCAM_ADAPTER={want:?} matches none of the adapters found: {found:?}"
                )));
            }
        }
        // Compute shaders need storage buffers in the compute stage.
        adapters.retain(|a| a.limits().max_storage_buffers_per_shader_stage >= 6);
        adapters.sort_by_key(|a| {
            let i = a.get_info();
            (type_rank(i.device_type), backend_rank(i.backend))
        });
        let Some(adapter) = adapters.into_iter().next() else {
            return Err(GpuError::NoAdapter(format!(
                "searched backends {backends:?}, found {found:?} (none usable for compute). \
                 Install a Vulkan driver; on a machine without a GPU, Mesa's software rasteriser \
                 lavapipe works: `apt-get install mesa-vulkan-drivers` (Debian/Ubuntu)"
            )));
        };
        let info = adapter.get_info();
        let mut limits = adapter.limits();
        adjust(&mut limits);
        let wanted = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            | wgpu::Features::SHADER_F16;
        let mut features = adapter.features() & wanted;
        // Cooperative matrices are an experimental wgpu feature: requested only when the f16
        // convolution can use them, and unless SHADERCAM_COOPERATIVE_MATRIX=0.
        let coop_features =
            wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX | wgpu::Features::SUBGROUP;
        let choice = if std::env::var("SHADERCAM_COOPERATIVE_MATRIX").is_ok_and(|v| v == "0") {
            Err("turned off by SHADERCAM_COOPERATIVE_MATRIX=0".to_owned())
        } else {
            crate::precision::choose_cooperative_shape(
                adapter.features() & (wanted | coop_features),
                &adapter.cooperative_matrix_properties(),
                &limits,
                (info.subgroup_min_size, info.subgroup_max_size),
            )
        };
        let (cooperative, cooperative_refusal) = match choice {
            Ok(shape) => (Some(shape), None),
            Err(why) => (None, Some(why)),
        };
        let experimental_features = if cooperative.is_some() {
            features |= coop_features;
            // The workspace denies unsafe code; this is its one exception. wgpu makes enabling
            // its EXPERIMENTAL_* features unsafe because their implementation may still have
            // bugs that cause undefined behaviour (wgpu-types `ExperimentalFeatures::enabled`).
            // Only cooperative matrices are requested, and the one shader that uses them (the
            // convolution's cooperative form) is validated by naga in this crate's tests.
            #[allow(unsafe_code)]
            unsafe {
                wgpu::ExperimentalFeatures::enabled()
            }
        } else {
            wgpu::ExperimentalFeatures::default()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("shadercam"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features,
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::NoAdapter(format!("{} refused a device: {e}", info.name)))?;
        let uncaptured = Arc::new(Mutex::new(None::<String>));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        let sink = uncaptured.clone();
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let lost_flag = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            lost_flag.store(true, std::sync::atomic::Ordering::SeqCst);
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| format!("device lost ({reason:?}): {msg}"));
        });
        Ok(Self {
            device,
            queue,
            info,
            limits,
            features,
            cooperative,
            cooperative_refusal,
            uncaptured,
            lost,
        })
    }

    /// A software rasteriser (lavapipe, WARP, SwiftShader): batches and tiles are sized for it.
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// `name (backend, type)` for messages and the bench output.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    /// Takes the error wgpu reported outside any error scope, if any.
    pub fn take_uncaptured(&self) -> Option<String> {
        self.uncaptured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Runs `f` inside validation and out-of-memory error scopes; an error becomes
    /// [`GpuError::Create`] naming `what`.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T, GpuError> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(val.pop());
        let o = pollster::block_on(oom.pop());
        match v.or(o) {
            Some(e) => Err(GpuError::Create {
                what: what.to_owned(),
                message: e.to_string(),
            }),
            None => Ok(out),
        }
    }

    /// A storage buffer holding `data` (f32 or any Pod), usable as a copy source and target.
    /// Created unmapped and filled through the queue: `create_buffer_init` panics on a lost
    /// device, this returns an error.
    pub fn storage_from<T: bytemuck::Pod>(
        &self,
        label: &str,
        data: &[T],
    ) -> Result<wgpu::Buffer, GpuError> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let buf = self.storage(label, bytes.len() as u64)?;
        if !bytes.is_empty() {
            self.queue.write_buffer(&buf, 0, bytes);
        }
        Ok(buf)
    }

    /// An uninitialised (zeroed) storage buffer of `bytes` bytes.
    pub fn storage(&self, label: &str, bytes: u64) -> Result<wgpu::Buffer, GpuError> {
        self.alive()?;
        self.check_size(label, bytes)?;
        self.scoped(label, || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes.max(16).next_multiple_of(16),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// A uniform buffer holding `bytes` (one `#[repr(C)]` params struct).
    pub fn uniform_bytes(&self, label: &str, bytes: &[u8]) -> Result<wgpu::Buffer, GpuError> {
        self.alive()?;
        let buf = self.scoped(label, || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (bytes.len() as u64).next_multiple_of(16),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        self.queue.write_buffer(&buf, 0, bytes);
        Ok(buf)
    }

    /// A uniform buffer holding one `#[repr(C)]` params struct.
    pub fn uniform<T: bytemuck::Pod>(
        &self,
        label: &str,
        value: &T,
    ) -> Result<wgpu::Buffer, GpuError> {
        self.uniform_bytes(label, bytemuck::bytes_of(value))
    }

    /// An error if wgpu reported the device lost (driver reset, out of memory, destroyed).
    pub fn alive(&self) -> Result<(), GpuError> {
        if self.lost.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(GpuError::Execution(
                self.take_uncaptured()
                    .unwrap_or_else(|| "the GPU device was lost".into()),
            ));
        }
        Ok(())
    }

    /// Fails early, naming the buffer, when one binding would exceed the adapter's limits.
    pub fn check_size(&self, label: &str, bytes: u64) -> Result<(), GpuError> {
        let max = self.max_binding_bytes();
        if bytes > max {
            return Err(GpuError::TooLarge {
                what: label.to_owned(),
                bytes,
                max,
            });
        }
        Ok(())
    }

    /// The largest buffer a storage binding may cover on this adapter.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Submits `encoder`, copies each `(buffer, bytes)` of `reads` (its first `bytes` bytes)
    /// back and waits: one full GPU sync. The copies are recorded into `encoder` before it is
    /// submitted. One [`Readback`] per read, in order; the caller says what the bytes hold:
    /// `out[0].to_vec::<f32>()`.
    pub fn submit_and_read(
        &self,
        mut encoder: wgpu::CommandEncoder,
        reads: &[(&wgpu::Buffer, u64)],
    ) -> Result<Vec<Readback>, GpuError> {
        self.alive()?;
        let mut stagings = Vec::new();
        for (i, (src, bytes)) in reads.iter().enumerate() {
            // Buffer copies move whole 4-byte words.
            let size = bytes.next_multiple_of(4).max(4);
            let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("readback {i}")),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            encoder.copy_buffer_to_buffer(src, 0, &staging, 0, size);
            stagings.push((staging, *bytes as usize));
        }
        self.queue.submit([encoder.finish()]);
        for (s, _) in &stagings {
            s.slice(..).map_async(wgpu::MapMode::Read, |_| {});
        }
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Execution(format!("waiting for the GPU failed: {e}")))?;
        if let Some(e) = self.take_uncaptured() {
            return Err(GpuError::Execution(e));
        }
        let mut out = Vec::new();
        for (s, len) in &stagings {
            let view = s
                .slice(..)
                .get_mapped_range()
                .map_err(|e| GpuError::Execution(format!("reading results back failed: {e}")))?;
            out.push(Readback {
                bytes: view[..*len].to_vec(),
            });
            drop(view);
            s.unmap();
        }
        Ok(out)
    }

    /// Reads a whole storage buffer back as elements of `T` (tests and debugging: one full GPU
    /// sync).
    pub fn read_buffer<T: bytemuck::Pod>(&self, buf: &wgpu::Buffer) -> Result<Vec<T>, GpuError> {
        let encoder = self.device.create_command_encoder(&Default::default());
        let out = self.submit_and_read(encoder, &[(buf, buf.size())])?;
        Ok(out[0].to_vec::<T>())
    }
}

/// The bytes of one buffer read back by [`GpuContext::submit_and_read`]. They carry no type:
/// the caller says what they hold with [`Readback::to_vec`] (`f32` logits, `u32` indices, `u64`
/// timestamps, `[u8; 4]` RGBA pixels, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readback {
    bytes: Vec<u8>,
}

impl Readback {
    /// The bytes read, exactly as many as were asked for.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes as consecutive elements of `T`, copied out (no alignment needed). A tail
    /// shorter than one `T` is dropped rather than a panic: 10 bytes read as `u32` give 2
    /// elements, and a zero-sized `T` gives none.
    pub fn to_vec<T: bytemuck::Pod>(&self) -> Vec<T> {
        let size = std::mem::size_of::<T>();
        if size == 0 {
            return Vec::new();
        }
        self.bytes()
            .chunks_exact(size)
            .map(bytemuck::pod_read_unaligned::<T>)
            .collect()
    }
}
