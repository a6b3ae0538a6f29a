//! GPU side of shadercam: the wgpu context, one Rust type per WGSL compute kernel
//! (convolution with folded BatchNorm and fused residual/ReLU, max-pool, global average pool,
//! fully connected), and [`GpuResNet`], which chains them into a ResNet forward pass.
//!
//! Layout: activations are NHWC with channels padded to a multiple of 4 ("NHWC4"), so that
//! kernels load four channels with one `vec4<f32>`; see ARCHITECTURE.md for why.
//! Reference: He et al., "Deep Residual Learning for Image Recognition" (2015); torchvision's
//! `resnet.py` is the model definition the fixtures were made with.

pub mod context;
pub mod kernels;
pub mod network;
pub mod shaders;

pub use context::GpuContext;
pub use network::{GpuResNet, Plan};

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
