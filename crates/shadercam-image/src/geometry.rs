//! Resize-and-centre-crop geometry, exactly as torchvision computes it.

/// Where the crop sits: original `(w, h)` -> resized `(rw, rh)` -> crop at `(left, top)` of
/// size `crop` x `crop` in resized pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropGeometry {
    pub orig_w: u32,
    pub orig_h: u32,
    pub resized_w: u32,
    pub resized_h: u32,
    pub left: u32,
    pub top: u32,
    pub crop: u32,
}

impl CropGeometry {
    /// torchvision `F.resize(img, resize_size)` then `F.center_crop(img, crop)`:
    /// - shorter side -> `resize_size`, longer side -> `int(resize_size * long / short)`
    ///   (`_compute_resized_output_size`, truncation);
    /// - `left = int(round((resized_w - crop) / 2.0))` with Python's round-half-to-even,
    ///   likewise `top`.
    ///
    /// Sizes saturate at `u32::MAX`; `left`/`top` are 0 when the resized side is smaller than
    /// `crop` (torchvision would pad; [`crate::preprocess`] rejects that configuration). Zero
    /// input sizes are treated as 1 so that the function never divides by zero.
    pub fn new(orig_w: u32, orig_h: u32, resize_size: u32, crop: u32) -> Self {
        let (w, h) = (orig_w.max(1), orig_h.max(1));
        let (short, long) = if w <= h { (w, h) } else { (h, w) };
        let new_long = resized_long(resize_size, short, long);
        let (resized_w, resized_h) = if w <= h {
            (resize_size, new_long)
        } else {
            (new_long, resize_size)
        };
        CropGeometry {
            orig_w,
            orig_h,
            resized_w,
            resized_h,
            left: centre_offset(resized_w, crop),
            top: centre_offset(resized_h, crop),
            crop,
        }
    }

    /// Map a point in crop space to the original image.
    ///
    /// Both coordinate systems are continuous with pixel `i` covering `[i, i + 1)` (so the centre
    /// of crop pixel `i` is `i + 0.5`; pass `i as f32 + 0.5` to map a pixel centre). The mapping is
    /// the one Pillow's resampler uses (`in = out * in_size / out_size` per axis), and the result
    /// is clamped to `[0, orig_w] x [0, orig_h]`.
    pub fn crop_to_original(&self, x: f32, y: f32) -> (f32, f32) {
        let map = |v: f32, offset: u32, orig: u32, resized: u32| -> f32 {
            let scale = f64::from(orig) / f64::from(resized.max(1));
            let o = (f64::from(offset) + f64::from(v)) * scale;
            (o as f32).clamp(0.0, orig as f32)
        };
        (
            map(x, self.left, self.orig_w, self.resized_w),
            map(y, self.top, self.orig_h, self.resized_h),
        )
    }
}

/// `int(resize_size * long / short)` with Python semantics: the product is exact, the division is
/// a correctly rounded double division, then truncation.
fn resized_long(resize_size: u32, short: u32, long: u32) -> u32 {
    let v = (f64::from(resize_size) * f64::from(long)) / f64::from(short);
    if v >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        v as u32
    }
}

/// `int(round((size - crop) / 2.0))` with Python's round-half-to-even.
fn centre_offset(size: u32, crop: u32) -> u32 {
    let d = size.saturating_sub(crop);
    let half = d / 2;
    // d odd -> exactly x.5 -> round to the even neighbour of half, half + 1.
    if d % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_half_to_even() {
        // (size - crop) / 2: 0 -> 0, 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 16.5 -> 16, 17.5 -> 18.
        assert_eq!(centre_offset(224, 224), 0);
        assert_eq!(centre_offset(225, 224), 0);
        assert_eq!(centre_offset(227, 224), 2);
        assert_eq!(centre_offset(229, 224), 2);
        assert_eq!(centre_offset(257, 224), 16);
        assert_eq!(centre_offset(259, 224), 18);
        assert_eq!(centre_offset(256, 224), 16);
        assert_eq!(centre_offset(100, 224), 0);
        for d in 0u32..200 {
            let expect = (f64::from(d) / 2.0).round_ties_even() as u32;
            assert_eq!(centre_offset(224 + d, 224), expect, "d={d}");
        }
    }

    #[test]
    fn fixture_geometries() {
        // 860x512 (shape_001): 256 * 860 / 512 = 430.0.
        let g = CropGeometry::new(860, 512, 256, 224);
        assert_eq!(
            (g.resized_w, g.resized_h, g.left, g.top),
            (430, 256, 103, 16)
        );
        // 512x868 (shape_004): 256 * 868 / 512 = 434.0 -> top = round(105.0) = 105.
        let g = CropGeometry::new(512, 868, 256, 224);
        assert_eq!(
            (g.resized_w, g.resized_h, g.left, g.top),
            (256, 434, 16, 105)
        );
        // truncation: 256 * 500 / 333 = 384.38 -> 384.
        let g = CropGeometry::new(500, 333, 256, 224);
        assert_eq!((g.resized_w, g.resized_h), (384, 256));
        // 256 * 451 / 300 = 384.85 -> 384 (not rounded up).
        let g = CropGeometry::new(300, 451, 256, 224);
        assert_eq!((g.resized_w, g.resized_h), (256, 384));
    }

    #[test]
    fn one_by_one_and_extreme_aspect() {
        let g = CropGeometry::new(1, 1, 256, 224);
        assert_eq!(
            (g.resized_w, g.resized_h, g.left, g.top),
            (256, 256, 16, 16)
        );
        // 5000x3: 256 * 5000 / 3 = 426666.67 -> 426666; left = round(426442 / 2) = 213221.
        let g = CropGeometry::new(5000, 3, 256, 224);
        assert_eq!(
            (g.resized_w, g.resized_h, g.left, g.top),
            (426_666, 256, 213_221, 16)
        );
        let g = CropGeometry::new(3, 5000, 256, 224);
        assert_eq!(
            (g.resized_w, g.resized_h, g.left, g.top),
            (256, 426_666, 16, 213_221)
        );
        // saturation instead of overflow
        let g = CropGeometry::new(1, u32::MAX, 256, 224);
        assert_eq!(g.resized_h, u32::MAX);
        let g = CropGeometry::new(0, 0, 256, 224);
        assert_eq!((g.resized_w, g.resized_h), (256, 256));
    }

    #[test]
    fn crop_to_original_corners_and_centre() {
        // 512x512 -> 256x256, crop at (16,16): factor 2.
        let g = CropGeometry::new(512, 512, 256, 224);
        assert_eq!(g.crop_to_original(0.0, 0.0), (32.0, 32.0));
        assert_eq!(g.crop_to_original(224.0, 224.0), (480.0, 480.0));
        assert_eq!(g.crop_to_original(112.0, 112.0), (256.0, 256.0));
        // pixel centre 0.5 in crop -> 16.5 resized -> 33.0 original.
        assert_eq!(g.crop_to_original(0.5, 0.5), (33.0, 33.0));
        // Non-square: 860x512 -> 430x256, crop at (103,16).
        let g = CropGeometry::new(860, 512, 256, 224);
        let (x, y) = g.crop_to_original(112.0, 112.0);
        assert!((x - 215.0 * 2.0).abs() < 1e-3, "{x}");
        assert!((y - 128.0 * 2.0).abs() < 1e-3, "{y}");
        // Clamping: 1x1 image, everything maps inside [0,1].
        let g = CropGeometry::new(1, 1, 256, 224);
        let (x, y) = g.crop_to_original(0.0, 0.0);
        assert!((x - 16.0 / 256.0).abs() < 1e-6 && (y - 16.0 / 256.0).abs() < 1e-6);
        assert_eq!(g.crop_to_original(1e6, -1e6), (1.0, 0.0));
        let g = CropGeometry::new(5000, 3, 256, 224);
        let (x, y) = g.crop_to_original(112.0, 112.0);
        assert!((x - 2500.0).abs() < 0.01, "{x}");
        assert!((y - 1.5).abs() < 1e-4, "{y}");
    }
}
