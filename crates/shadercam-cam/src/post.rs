//! CPU post-processing of a finished heatmap: its peak and the CAM paper's bounding box, both
//! mapped back to the original picture's pixel coordinates.

use shadercam_image::CropGeometry;

/// Index `(x, y)` of the largest value of a `w`-wide map (the first one on ties, like argmax).
pub fn peak(map: &[f32], w: usize) -> (usize, usize) {
    let i = map
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0;
    (i % w, i / w)
}

/// The CAM paper's localisation box (Zhou et al. 2016, section 3.1 "Weakly-supervised object
/// localization"): pixels at or above `frac` of the map's maximum, largest 8-connected
/// component, its bounding box `[x0, y0, x1, y1]` (inclusive). `None` for an all-zero map.
pub fn cam_box(map: &[f32], w: usize, frac: f32) -> Option<[usize; 4]> {
    let h = map.len() / w;
    let max = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max.is_nan() || max <= 0.0 {
        return None;
    }
    let thr = frac * max;
    let mut label = vec![0u32; map.len()];
    let mut best: Option<(usize, [usize; 4])> = None;
    let mut stack = Vec::new();
    let mut next = 0u32;
    for start in 0..map.len() {
        if map[start] < thr || label[start] != 0 {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        let (mut count, mut bb) = (0usize, [usize::MAX, usize::MAX, 0, 0]);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            count += 1;
            bb = [bb[0].min(x), bb[1].min(y), bb[2].max(x), bb[3].max(y)];
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if label[j] == 0 && map[j] >= thr {
                        label[j] = next;
                        stack.push(j);
                    }
                }
            }
        }
        if best.is_none_or(|(c, _)| count > c) {
            best = Some((count, bb));
        }
    }
    best.map(|(_, bb)| bb)
}

/// Pixel `(x, y)` of the crop → the original pixel whose area contains that pixel's centre.
pub fn crop_pixel_to_original(g: &CropGeometry, x: usize, y: usize) -> (u32, u32) {
    let (ox, oy) = g.crop_to_original(x as f32 + 0.5, y as f32 + 0.5);
    (
        (ox.floor() as u32).min(g.orig_w.saturating_sub(1)),
        (oy.floor() as u32).min(g.orig_h.saturating_sub(1)),
    )
}

/// An inclusive crop-pixel box → the inclusive original-pixel box covering the same area.
pub fn crop_box_to_original(g: &CropGeometry, b: [usize; 4]) -> [u32; 4] {
    let (x0, y0) = g.crop_to_original(b[0] as f32, b[1] as f32);
    let (x1, y1) = g.crop_to_original(b[2] as f32 + 1.0, b[3] as f32 + 1.0);
    let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max.saturating_sub(1));
    [
        clamp(x0.floor(), g.orig_w),
        clamp(y0.floor(), g.orig_h),
        clamp(x1.ceil() - 1.0, g.orig_w),
        clamp(y1.ceil() - 1.0, g.orig_h),
    ]
}

/// Intersection over union of two inclusive pixel boxes.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0]) + 1.0).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1]) + 1.0).max(0.0);
    let inter = iw * ih;
    let area = |r: [f32; 4]| (r[2] - r[0] + 1.0).max(0.0) * (r[3] - r[1] + 1.0).max(0.0);
    inter / (area(a) + area(b) - inter).max(1e-9)
}

/// The placement of a displayed picture (`width`x`height`, possibly scaled from the original)
/// on the layer4 map grid, for shaders/cam_upsample.wgsl: `s = d·scale + offset` per axis
/// (pixel centres), plus the rectangle of displayed pixels that the crop covers.
pub fn original_placement(
    g: &CropGeometry,
    width: usize,
    height: usize,
    (fh, fw): (usize, usize),
) -> ([f32; 4], [u32; 4]) {
    let axis = |disp: usize, resized: u32, off: u32, f: usize| -> (f32, f32) {
        // display pixel d (centre d+0.5) → resized coordinate (d+0.5)·resized/disp − 0.5
        // → crop coordinate − off → map coordinate (c+0.5)·f/crop − 0.5.
        let r = resized as f64 / disp as f64;
        let m = f as f64 / g.crop as f64;
        ((r * m) as f32, ((0.5 * r - off as f64) * m - 0.5) as f32)
    };
    let (sx, ox) = axis(width, g.resized_w, g.left, fw);
    let (sy, oy) = axis(height, g.resized_h, g.top, fh);
    let x0 = (g.left as f64 * width as f64 / g.resized_w as f64).floor() as u32;
    let y0 = (g.top as f64 * height as f64 / g.resized_h as f64).floor() as u32;
    let x1 = ((g.left + g.crop) as f64 * width as f64 / g.resized_w as f64).ceil() as u32;
    let y1 = ((g.top + g.crop) as f64 * height as f64 / g.resized_h as f64).ceil() as u32;
    (
        [sx, ox, sy, oy],
        [x0, y0, x1.min(width as u32), y1.min(height as u32)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_takes_the_first_maximum() {
        assert_eq!(peak(&[0.0, 1.0, 1.0, 0.5], 2), (1, 0));
    }

    #[test]
    fn box_is_the_largest_component_above_the_threshold() {
        #[rustfmt::skip]
        let m = [
            1.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.5, 0.5, 0.0,
            0.0, 0.0, 0.5, 0.9, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.1,
        ];
        // The lone 1.0 is one pixel; the 4-pixel blob wins; 0.1 < 0.2 stays out.
        assert_eq!(cam_box(&m, 5, 0.2), Some([2, 1, 3, 2]));
        assert_eq!(cam_box(&[0.0; 4], 2, 0.2), None);
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        assert_eq!(iou([0.0, 0.0, 9.0, 9.0], [0.0, 0.0, 9.0, 9.0]), 1.0);
        assert_eq!(iou([0.0, 0.0, 4.0, 4.0], [5.0, 5.0, 9.0, 9.0]), 0.0);
    }

    #[test]
    fn placement_of_an_uncropped_square_picture_is_a_plain_resize() {
        // 224x224 → resized 256x256, crop 224 at 16: the display pixel centres map exactly like
        // cv2.resize of the 7x7 map onto the 256 grid, shifted by the crop.
        let g = CropGeometry::new(224, 224, 256, 224);
        let ([sx, ox, _, _], rect) = original_placement(&g, 224, 224, (7, 7));
        let r = 256.0 / 224.0;
        assert!((sx - r * 7.0 / 224.0).abs() < 1e-6);
        assert!((ox - ((0.5 * r - 16.0) * 7.0 / 224.0 - 0.5)).abs() < 1e-6);
        assert_eq!(rect, [14, 14, 210, 210]);
    }
}
