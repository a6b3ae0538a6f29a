//! The pictures that get written besides the GPU's overlays: packed RGBA8 buffers as images,
//! OpenCV's JET colours on the CPU, and the `--maps` grid of layer4 channels with their weights.

use image::{Rgb, RgbImage};

/// Longest side of the picture the full-image overlay is drawn on (bigger photos are shown
/// scaled down, so a 6000x4000 photo does not need 400 MB of GPU buffers).
pub const MAX_OVERLAY_SIDE: u32 = 2048;

/// An RGBA8-packed buffer as an RGB image.
pub fn rgba_to_image(px: &[u32], w: usize, h: usize) -> RgbImage {
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let v = px[y as usize * w + x as usize];
        Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
    })
}

/// OpenCV's COLORMAP_JET table, read from shaders/cam_overlay.wgsl (one source of truth).
fn jet_table() -> &'static [[u8; 3]; 256] {
    static TABLE: std::sync::OnceLock<[[u8; 3]; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let src = crate::shaders::CAM_OVERLAY;
        let body = &src[src
            .find("const JET")
            .expect("JET table in cam_overlay.wgsl")..];
        let body = &body[body.find("array<u32, 256>(").expect("JET initialiser") + 16
            ..body.find(");").expect("end of JET")];
        let mut t = [[0u8; 3]; 256];
        for (i, v) in body
            .split(',')
            .filter_map(|x| {
                u32::from_str_radix(x.trim().trim_start_matches("0x").trim_end_matches('u'), 16)
                    .ok()
            })
            .enumerate()
            .take(256)
        {
            t[i] = [v as u8, (v >> 8) as u8, (v >> 16) as u8];
        }
        t
    })
}

/// OpenCV's JET colour of a value in [0, 1] (`uint8(255 * v)` then the table, as the overlay does).
pub fn jet(v: f32) -> [u8; 3] {
    jet_table()[((255.0 * v.clamp(0.0, 1.0)) as usize).min(255)]
}

/// The `--maps` picture: one tile per channel, its map scaled to [0, 1] and coloured, with
/// `k` and `w^c_k` written under it — "which feature maps, times how much" made visible.
pub fn maps_grid(
    features: &[f32],
    (fh, fw): (usize, usize),
    channels: &[(usize, f32, f32)],
) -> RgbImage {
    const TILE: u32 = 112;
    const LABEL: u32 = 14;
    let k = features.len() / (fh * fw);
    let cols = (channels.len() as f64).sqrt().ceil().max(1.0) as u32;
    let rows = (channels.len() as u32).div_ceil(cols).max(1);
    let mut img = RgbImage::from_pixel(
        cols * (TILE + 4),
        rows * (TILE + LABEL + 4),
        Rgb([255, 255, 255]),
    );
    for (i, &(c, w, _)) in channels.iter().enumerate() {
        let (ox, oy) = (
            (i as u32 % cols) * (TILE + 4) + 2,
            (i as u32 / cols) * (TILE + LABEL + 4) + 2,
        );
        let vals: Vec<f32> = (0..fh * fw).map(|p| features[p * k + c]).collect();
        let (lo, hi) = vals
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        for y in 0..TILE {
            for x in 0..TILE {
                let v =
                    vals[(y as usize * fh / TILE as usize) * fw + x as usize * fw / TILE as usize];
                img.put_pixel(ox + x, oy + y, Rgb(jet((v - lo) / (hi - lo + 1e-7))));
            }
        }
        draw_text(&mut img, ox, oy + TILE + 3, &format!("k={c} w={w:.3}"));
    }
    img
}

/// 3x5 pixel glyphs for the characters the map labels use.
fn glyph(ch: char) -> [u8; 5] {
    match ch {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '-' => [0, 0, 7, 0, 0],
        '.' => [0, 0, 0, 0, 2],
        '=' => [0, 7, 0, 7, 0],
        'k' => [4, 5, 6, 5, 5],
        'w' => [0, 5, 5, 7, 5],
        _ => [0; 5],
    }
}

fn draw_text(img: &mut RgbImage, x0: u32, y0: u32, text: &str) {
    for (i, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3u32 {
                if bits & (4 >> col) != 0 {
                    // 2x scale.
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let (x, y) = (x0 + i as u32 * 8 + col * 2 + dx, y0 + row as u32 * 2 + dy);
                        if x < img.width() && y < img.height() {
                            img.put_pixel(x, y, Rgb([0, 0, 0]));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn jet_table_is_opencvs() {
        // COLORMAP_JET's ends and middle (dumped with shaders/jet_lut.py).
        assert_eq!(super::jet(0.0), [0, 0, 128]);
        assert_eq!(super::jet(1.0), [128, 0, 0]);
        assert_eq!(super::jet(127.0 / 255.0), [126, 255, 130]);
    }
}
