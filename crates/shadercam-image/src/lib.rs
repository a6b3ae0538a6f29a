//! Image decoding and torchvision-exact preprocessing for shadercam.
//!
//! The reference pipeline is torchvision's
//! `ImageClassification(resize_size=256, crop_size=224)` applied to
//! `PIL.Image.open(path).convert("RGB")`:
//!
//! 1. [`decode_file`] / [`decode_bytes`]: decode (JPEG with libjpeg-turbo's code through the
//!    `mozjpeg` crate, bit-exact with Pillow; everything else with the `image` crate) and convert
//!    to 8-bit RGB the way Pillow's `convert("RGB")` does (alpha dropped, not blended; 16-bit
//!    samples reduced as Pillow reduces them; see [`pillow_rgb`]). EXIF orientation is NOT
//!    applied, because torchvision does not apply it either.
//! 2. [`preprocess`]: resize the shorter side to `resize_size` with Pillow's antialiased
//!    BILINEAR convolution (bit-exact reimplementation of Pillow's `ImagingResample`, see
//!    [`resample`]), centre crop with Python's `round` (half to even), `/255`, then
//!    `(x - mean) / std` in `f32`, as torch does.
//!
//! Output writers ([`write_png_atomic`], [`write_npy_f32_atomic`]) write a temporary file in the
//! destination directory and rename it into place, so a reader never sees a half-written file.

mod decode;
mod error;
mod geometry;
mod jpeg;
mod preprocess;
pub mod resample;
mod write;

pub use decode::{
    DEFAULT_MAX_PIXELS, decode_bytes, decode_file, decode_file_with, is_image_path, pillow_rgb,
};
pub use error::ImageError;
pub use geometry::CropGeometry;
pub use preprocess::{Prepared, Preprocess, preprocess};
pub use write::{write_npy_f32_atomic, write_png_atomic};
