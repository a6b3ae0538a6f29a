//! The pictures that get written besides the GPU's overlays: packed RGBA8 buffers as images,
//! OpenCV's JET colours on the CPU, the `--maps` grid of layer4 channels with their weights, and
//! the 3x5 pixel font every label is written in.

use crate::report::ChannelContribution;
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
pub fn jet_table() -> &'static [[u8; 3]; 256] {
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
/// the channel `k`, its class weight `w = w^c_k`, its spatial mean `mean = mean(A_k)` and its
/// share of the logit `w*mean` written under it — "which feature maps, times how much" made
/// visible. The shares of all channels plus `b_c` add up to the logit (docs/tutorial.md).
pub fn maps_grid(
    features: &[f32],
    (fh, fw): (usize, usize),
    channels: &[ChannelContribution],
) -> RgbImage {
    const TILE: u32 = 112;
    const LABEL: u32 = 4 * LINE;
    let k = features.len() / (fh * fw);
    let cols = (channels.len() as f64).sqrt().ceil().max(1.0) as u32;
    let rows = (channels.len() as u32).div_ceil(cols).max(1);
    let mut img = RgbImage::from_pixel(
        cols * (TILE + 4),
        rows * (TILE + LABEL + 4),
        Rgb([255, 255, 255]),
    );
    for (i, ch) in channels.iter().enumerate() {
        let c = ch.k;
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
        for (line, text) in tile_label(ch).iter().enumerate() {
            draw_text(&mut img, ox, oy + TILE + 3 + line as u32 * LINE, text);
        }
    }
    img
}

/// Height of one line of 2x-scaled text, with its spacing.
pub(crate) const LINE: u32 = 12;

/// The four lines under a `--maps` tile.
fn tile_label(ch: &ChannelContribution) -> [String; 4] {
    [
        format!("k={}", ch.k),
        format!("w={:.3}", ch.weight),
        format!("mean={:.3}", ch.mean),
        format!("w*mean={:.3}", ch.contribution),
    ]
}

/// The 3x5 pixel glyph of `ch`, one row per entry (bit 4 the left column), or `None` for a
/// character the font lacks. Letters are drawn as capitals, except `k` and `w` (the `--maps`
/// labels' lower case). A space is a blank glyph.
pub(crate) fn glyph(ch: char) -> Option<[u8; 5]> {
    Some(match ch.to_ascii_lowercase() {
        ' ' => [0; 5],
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
        'a' => [2, 5, 7, 5, 5],
        'b' => [6, 5, 6, 5, 6],
        'c' => [3, 4, 4, 4, 3],
        'd' => [6, 5, 5, 5, 6],
        'e' => [7, 4, 6, 4, 7],
        'f' => [7, 4, 6, 4, 4],
        'g' => [3, 4, 5, 5, 3],
        'h' => [5, 5, 7, 5, 5],
        'i' => [7, 2, 2, 2, 7],
        'j' => [1, 1, 1, 5, 2],
        'l' => [4, 4, 4, 4, 7],
        'm' => [5, 7, 7, 5, 5],
        'n' => [6, 5, 5, 5, 5],
        'o' => [2, 5, 5, 5, 2],
        'p' => [6, 5, 6, 4, 4],
        'q' => [2, 5, 5, 6, 3],
        'r' => [6, 5, 6, 5, 5],
        's' => [3, 4, 2, 1, 6],
        't' => [7, 2, 2, 2, 2],
        'u' => [5, 5, 5, 5, 7],
        'v' => [5, 5, 5, 5, 2],
        'x' => [5, 5, 2, 5, 5],
        'y' => [5, 5, 2, 2, 2],
        'z' => [7, 1, 2, 4, 7],
        '+' => [0, 2, 7, 2, 0],
        '*' => [0, 5, 2, 5, 0],
        '/' => [1, 1, 2, 4, 4],
        ':' => [0, 2, 0, 2, 0],
        ',' => [0, 0, 0, 2, 4],
        '_' => [0, 0, 0, 0, 7],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        '[' => [3, 2, 2, 2, 3],
        ']' => [6, 2, 2, 2, 6],
        '<' => [1, 2, 4, 2, 1],
        '>' => [4, 2, 1, 2, 4],
        '^' => [2, 5, 0, 0, 0],
        '%' => [5, 1, 2, 4, 5],
        _ => return None,
    })
}

/// Width in pixels of `text` drawn at `scale` (4 pixels per character at scale 1).
pub(crate) fn text_width(text: &str, scale: u32) -> u32 {
    (text.chars().count() as u32 * 4 * scale).saturating_sub(scale)
}

/// Writes `text` in black at 2x scale, top-left corner at `(x0, y0)`.
pub(crate) fn draw_text(img: &mut RgbImage, x0: u32, y0: u32, text: &str) {
    draw_text_with(img, x0, y0, text, Rgb([0, 0, 0]), 2);
}

/// Writes `text` in `colour` at `scale` (each glyph pixel a `scale`x`scale` square), clipped to
/// the image. Debug builds refuse a character the font lacks, so no label loses a character
/// silently.
pub(crate) fn draw_text_with(
    img: &mut RgbImage,
    x0: u32,
    y0: u32,
    text: &str,
    colour: Rgb<u8>,
    scale: u32,
) {
    for (i, ch) in text.chars().enumerate() {
        debug_assert!(glyph(ch).is_some(), "no glyph for {ch:?} in {text:?}");
        let g = glyph(ch).unwrap_or([0; 5]);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3u32 {
                if bits & (4 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let x = x0 + (i as u32 * 4 + col) * scale + dx;
                        let y = y0 + row as u32 * scale + dy;
                        if x < img.width() && y < img.height() {
                            img.put_pixel(x, y, colour);
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

    #[test]
    fn every_label_character_has_a_glyph() {
        // A character without a glyph used to be drawn as a blank: "mean" would have read
        // "   n" with the two-letter font. Every label this crate writes, with its worst values.
        let ch = crate::ChannelContribution {
            k: 2047,
            weight: -1.234,
            mean: 0.567,
            contribution: -0.7,
        };
        let mut labels: Vec<String> = super::tile_label(&ch).to_vec();
        labels.extend(crate::figure::every_label());
        for text in &labels {
            for c in text.chars() {
                assert!(super::glyph(c).is_some(), "no glyph for {c:?} in {text:?}");
            }
        }
        // Distinct letters stay distinct.
        let letters: Vec<[u8; 5]> = ('a'..='z').filter_map(super::glyph).collect();
        assert_eq!(letters.len(), 26);
        for (i, a) in letters.iter().enumerate() {
            assert!(
                !letters[i + 1..].contains(a),
                "glyph of {:?} repeats",
                (b'a' + i as u8) as char
            );
        }
    }
}
