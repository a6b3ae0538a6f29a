//! torchvision `ImageClassification(resize_size, crop_size)` on an 8-bit RGB image.

use image::RgbImage;

use crate::resample::resize_bilinear_window;
use crate::{CropGeometry, ImageError};

/// Preprocessing parameters (torchvision `ImageClassification` with bilinear interpolation and
/// antialiasing, which is what Pillow always does).
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    pub resize_size: u32,
    pub crop_size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Default for Preprocess {
    /// `resize_size` 256, `crop_size` 224, ImageNet mean and std.
    fn default() -> Self {
        Preprocess {
            resize_size: 256,
            crop_size: 224,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }
}

/// The network input and where it came from.
pub struct Prepared {
    /// `[crop, crop, 3]` HWC, `(v / 255 - mean) / std` in `f32`.
    pub tensor_hwc: Vec<f32>,
    pub geometry: CropGeometry,
    /// The 8-bit resized-and-cropped RGB image the tensor was made from (`crop` x `crop`); this
    /// is the image pytorch-grad-cam's `show_cam_on_image` blends the heatmap onto.
    pub crop_rgb: RgbImage,
}

/// Resize (Pillow antialiased bilinear, bit-exact), centre crop and normalise.
///
/// Only the crop window of the resized image is computed, so extreme aspect ratios (a 5000x3
/// image resizes to 426666x256) cost no more than square ones. Errors only for unusable
/// parameters: zero sizes, `resize_size < crop_size` (torchvision would zero-pad; not
/// supported) or a zero `std`.
pub fn preprocess(img: &RgbImage, p: &Preprocess) -> Result<Prepared, ImageError> {
    let bad = |detail: String| Err(ImageError::InvalidPreprocess { detail });
    if p.crop_size == 0 || p.resize_size == 0 {
        return bad(format!(
            "resize_size {} and crop_size {} must both be at least 1",
            p.resize_size, p.crop_size
        ));
    }
    if p.resize_size < p.crop_size {
        return bad(format!(
            "resize_size {} is smaller than crop_size {} (torchvision would zero-pad; \
             use resize_size >= crop_size)",
            p.resize_size, p.crop_size
        ));
    }
    if p.std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
        return bad(format!("std {:?} must be finite and non-zero", p.std));
    }
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return bad(format!("image is {w}x{h}: no pixels"));
    }
    let g = CropGeometry::new(w, h, p.resize_size, p.crop_size);
    if g.resized_w == u32::MAX || g.resized_h == u32::MAX {
        return bad(format!(
            "a {w}x{h} image resized to short side {} would be wider than 2^32 pixels",
            p.resize_size
        ));
    }
    let crop = g.crop;
    let rgb = resize_bilinear_window(
        img.as_raw(),
        w,
        h,
        g.resized_w,
        g.resized_h,
        g.left,
        g.top,
        crop,
        crop,
    );
    // torch: `img.to(float32) / 255`, then `sub_(mean).div_(std)`, all in f32.
    let mut tensor_hwc = Vec::with_capacity(rgb.len());
    for px in rgb.chunks_exact(3) {
        for ((&v, &mean), &std) in px.iter().zip(&p.mean).zip(&p.std) {
            tensor_hwc.push((f32::from(v) / 255.0 - mean) / std);
        }
    }
    let crop_rgb = RgbImage::from_raw(crop, crop, rgb).expect("window is crop x crop x 3");
    Ok(Prepared {
        tensor_hwc,
        geometry: g,
        crop_rgb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_and_extreme_images_do_not_panic() {
        let p = Preprocess::default();
        for &(w, h) in &[
            (1u32, 1u32),
            (1, 2),
            (2, 1),
            (5000, 3),
            (3, 5000),
            (224, 224),
            (223, 225),
        ] {
            let img = RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
            });
            let out = preprocess(&img, &p).unwrap();
            assert_eq!(out.tensor_hwc.len(), 224 * 224 * 3, "{w}x{h}");
            assert_eq!(out.crop_rgb.dimensions(), (224, 224));
        }
        // 1x1: every output pixel is the input pixel.
        let img = RgbImage::from_pixel(1, 1, image::Rgb([10, 128, 250]));
        let out = preprocess(&img, &p).unwrap();
        assert!(out.crop_rgb.pixels().all(|px| px.0 == [10, 128, 250]));
        let expect_r = (10.0f32 / 255.0 - 0.485) / 0.229;
        assert_eq!(out.tensor_hwc[0], expect_r);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let img = RgbImage::new(4, 4);
        let mut p = Preprocess {
            resize_size: 200,
            ..Preprocess::default()
        };
        let e = preprocess(&img, &p).err().unwrap().to_string();
        assert!(e.contains("smaller than crop_size"), "{e}");
        p.resize_size = 0;
        let e = preprocess(&img, &p).err().unwrap().to_string();
        assert!(e.contains("at least 1"), "{e}");
        p = Preprocess::default();
        p.std[1] = 0.0;
        let e = preprocess(&img, &p).err().unwrap().to_string();
        assert!(e.contains("non-zero"), "{e}");
        let e = preprocess(&RgbImage::new(0, 5), &Preprocess::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no pixels"), "{e}");
    }
}
