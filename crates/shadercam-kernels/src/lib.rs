//! GPU side of shadercam: the wgpu context, one Rust type per WGSL compute kernel
//! (convolution with folded BatchNorm and fused residual/ReLU, max-pool, global average pool,
//! fully connected), and [`GpuResNet`], which chains them into a ResNet forward pass.
//!
//! Layout: activations are NHWC with channels padded to a multiple of 4 ("NHWC4"), so that
//! kernels load four channels with one `vec4<f32>` (`vec4<f16>` between layers with
//! `--precision f16`, see [`Precision`]); see ARCHITECTURE.md for why.
//! Reference: He et al., "Deep Residual Learning for Image Recognition" (2015); torchvision's
//! `resnet.py` is the model definition the fixtures were made with.

mod context;
mod conv;
mod dispatch;
mod layout;
mod linear;
mod network;
mod plan;
mod pool;
mod precision;
mod profile;
mod weights;
// Namespaces of their own: the WGSL sources by name, and naga reflection of them.
pub mod reflect;
pub mod shaders;

// Everything public is re-exported here: import from the crate root
// (`use shadercam_kernels::{Dispatch, GpuContext, Plan};`).
pub use context::{GpuContext, Readback};
pub use conv::{
    CONV_RELU, CONV_RESIDUAL, Conv2d, ConvBuffers, ConvIo, ConvKernel, ConvParams, ConvShape,
    ConvVariant, DIRECT_CHANNELS, DIRECT_PIXELS, TILED_CHANNELS, TILED_PIXELS,
};
pub use dispatch::{
    Dispatch, DispatchBuilder, OVERRIDES_1D, WORKGROUP_1D, compute_pipeline, encode,
    entry_pipeline, grid, linear_grid, shader_module,
};
pub use layout::{pad_channels, unpad_channels};
pub use linear::{Linear, LinearParams};
pub use network::{GpuResNet, Kernels};
pub use plan::{BufRef, Plan, Step};
pub use pool::{GapParams, GlobalAvgPool, MaxPool, PoolParams};
pub use precision::{CoopShape, Precision, choose_cooperative_shape};
pub use profile::{submit_and_wait, time_dispatches};
pub use shaders::Elem;

/// GPU-side failures. Messages name the kernel, buffer or batch concerned.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no usable GPU adapter: {0}")]
    NoAdapter(String),
    #[error("creating {what} failed: {message}")]
    Create { what: String, message: String },
    #[error("{what} needs {bytes} bytes in one buffer, over this adapter's limit of {max} bytes")]
    TooLarge { what: String, bytes: u64, max: u64 },
    #[error("GPU execution failed: {0}")]
    Execution(String),
    #[error("bad input: {0}")]
    Input(String),
}

impl GpuError {
    /// Prefixes a creation error with what was being created (`shader conv2d`, ...).
    pub fn with_kind(self, kind: &str, kernel: &str) -> Self {
        match self {
            GpuError::Create { message, .. } => GpuError::Create {
                what: format!("{kind} `{kernel}`"),
                message,
            },
            other => other,
        }
    }
}

/// CPU references of every kernel, their edge shapes and tolerances (tests and `shadercam selftest`).
pub mod reference;
