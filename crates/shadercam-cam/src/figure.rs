//! Pictures for learning what the CAM stage does: one stage of a map with its colour scale
//! (`explain --dump-stages`), and the gallery of every method side by side (`--method all`).
//! docs/tutorial.md shows both; docs/make-pictures.sh regenerates them.

use crate::draw::{LINE, draw_text, draw_text_with, jet, text_width};
use image::{Rgb, RgbImage};

/// How a stage's values become colours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColourScale {
    /// A signed map (the raw map, before any ReLU): blue below zero, white at zero, red above,
    /// symmetric about zero so that the sign is what one sees.
    Signed,
    /// A map in [0, 1] (after min-max): OpenCV's JET, the overlay's colours, on the fixed
    /// range [0, 1], so a maximum below 1 shows as a colour short of dark red.
    Unit,
}

/// Side of a displayed cell of a small map (7x7 → 392 pixels): wide enough to print a value
/// such as `-0.123` inside the cell.
const CELL: u32 = 56;
/// Width of the colour bar and of the gap on each side of it.
const BAR: u32 = 16;
const GAP: u32 = 8;
/// Characters reserved for the colour bar's tick labels.
const TICK_CHARS: u32 = 7;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);

/// A value in at most six characters, as the stage pictures print it: three decimals below 1,
/// two below 10, one below 100.
pub(crate) fn short(v: f32) -> String {
    let a = v.abs();
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    // "-0.000" says nothing a "0.000" does not.
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_owned()
    } else {
        s
    }
}

/// The colour of `v` under `scale`, with `m = max |v|` of the map for [`ColourScale::Signed`].
fn colour(v: f32, scale: ColourScale, m: f32) -> Rgb<u8> {
    match scale {
        ColourScale::Unit => Rgb(jet(v)),
        ColourScale::Signed => {
            // Moreland's cool-warm end colours, reached at ±m, white at 0.
            let t = if m > 0.0 {
                (v / m).clamp(-1.0, 1.0)
            } else {
                0.0
            };
            let end = if t < 0.0 {
                [59.0, 76.0, 192.0]
            } else {
                [180.0, 4.0, 38.0]
            };
            let t = t.abs();
            Rgb(end.map(|e: f32| (255.0 + (e - 255.0) * t).round() as u8))
        }
    }
}

/// Black or white, whichever reads better on `bg`.
fn ink(bg: Rgb<u8>) -> Rgb<u8> {
    let [r, g, b] = bg.0.map(f32::from);
    if 0.299 * r + 0.587 * g + 0.114 * b > 140.0 {
        BLACK
    } else {
        WHITE
    }
}

/// One stage of a map as a picture: `title` on top, the `h`x`w` map (`map`, row-major), and a
/// colour bar with its range on the right. Maps of up to 16x16 are drawn as [`CELL`]-pixel
/// cells with each value printed in its cell; larger maps (the crop-sized stages) pixel for
/// pixel.
pub fn stage_picture(
    map: &[f32],
    (h, w): (usize, usize),
    title: &str,
    scale: ColourScale,
) -> RgbImage {
    assert_eq!(
        map.len(),
        h * w,
        "stage_picture: {h}x{w} map of {} values",
        map.len()
    );
    let m = map.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
    let small = h <= 16 && w <= 16;
    let cell = if small { CELL } else { 1 };
    let (mw, mh) = (w as u32 * cell, h as u32 * cell);
    let top = 2 * LINE + 4;
    let width = (mw + 2 * GAP + BAR + TICK_CHARS * 8).max(text_width(title, 2) + 8);
    let mut img = RgbImage::from_pixel(width, top + mh + GAP, WHITE);
    draw_text(&mut img, 4, 4, title);
    let (lo, hi) = map
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    draw_text(
        &mut img,
        4,
        4 + LINE,
        &format!("min {} max {}", short(lo), short(hi)),
    );
    for y in 0..mh {
        for x in 0..mw {
            let v = map[(y / cell) as usize * w + (x / cell) as usize];
            img.put_pixel(x, top + y, colour(v, scale, m));
        }
    }
    if small {
        for (i, &v) in map.iter().enumerate() {
            let text = short(v);
            let bg = colour(v, scale, m);
            let x = (i % w) as u32 * cell + cell.saturating_sub(text_width(&text, 2)) / 2;
            let y = (i / w) as u32 * cell + (cell - 10) / 2;
            draw_text_with(&mut img, x, top + y, &text, ink(bg), 2);
        }
    }
    // The colour bar: top = the range's maximum, bottom = its minimum.
    let (bar_lo, bar_hi) = match scale {
        ColourScale::Signed => (-m, m),
        ColourScale::Unit => (0.0, 1.0),
    };
    let bx = mw + GAP;
    for y in 0..mh {
        let v = bar_hi + (bar_lo - bar_hi) * (y as f32 + 0.5) / mh as f32;
        for x in 0..BAR {
            img.put_pixel(bx + x, top + y, colour(v, scale, m));
        }
    }
    let tx = bx + BAR + 4;
    draw_text(&mut img, tx, top, &short(bar_hi));
    draw_text(
        &mut img,
        tx,
        top + mh / 2 - 5,
        &short((bar_lo + bar_hi) / 2.0),
    );
    draw_text(&mut img, tx, top + mh - 10, &short(bar_lo));
    img
}

/// Tiles side by side, up to `cols` per row, each with its label above it (one line per `\n`).
/// Every tile is placed on a cell the size of the largest one.
pub fn gallery(tiles: &[(String, RgbImage)], cols: usize) -> RgbImage {
    let cols = cols.clamp(1, tiles.len().max(1)) as u32;
    let rows = (tiles.len() as u32).div_ceil(cols).max(1);
    let lines = tiles
        .iter()
        .map(|(l, _)| l.lines().count() as u32)
        .max()
        .unwrap_or(1);
    let tw = tiles.iter().map(|(_, t)| t.width()).max().unwrap_or(1);
    let th = tiles.iter().map(|(_, t)| t.height()).max().unwrap_or(1);
    let label = lines * LINE + 4;
    let (cw, ch) = (tw + GAP, th + label + GAP);
    let mut img = RgbImage::from_pixel(cols * cw + GAP, rows * ch + GAP, WHITE);
    for (i, (text, tile)) in tiles.iter().enumerate() {
        let (x0, y0) = (GAP + (i as u32 % cols) * cw, GAP + (i as u32 / cols) * ch);
        for (l, line) in text.lines().enumerate() {
            draw_text(&mut img, x0, y0 + l as u32 * LINE, line);
        }
        image::imageops::replace(&mut img, tile, x0 as i64, (y0 + label) as i64);
    }
    img
}

/// Every fixed text and the widest numbers this module writes, for the glyph test in draw.rs.
#[cfg(test)]
pub(crate) fn every_label() -> Vec<String> {
    let mut v: Vec<String> = [-123.4f32, -12.34, -1.234, -0.1234, 0.0, 99.9]
        .iter()
        .map(|&x| format!("min {} max {}", short(x), short(-x)))
        .collect();
    v.extend(crate::Method::ALL.iter().map(|m| m.name().to_owned()));
    v.extend(
        [
            "1 raw map (signed)",
            "2 relu + min-max 7x7",
            "3 upsampled 224x224",
            "4 heat = relu + min-max",
            "class 6 x: logit 15.19",
        ]
        .map(String::from),
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers_fit_a_cell() {
        assert_eq!(short(-0.1234), "-0.123");
        assert_eq!(short(1.2345), "1.23");
        assert_eq!(short(-12.345), "-12.3");
        assert_eq!(short(-0.0001), "0.000");
        for v in [-99.99f32, -9.999, -0.999, 123.0] {
            assert!(text_width(&short(v), 2) <= CELL, "{v} → {}", short(v));
        }
    }

    #[test]
    fn signed_scale_is_white_at_zero_and_symmetric() {
        assert_eq!(colour(0.0, ColourScale::Signed, 2.0), WHITE);
        assert_eq!(colour(2.0, ColourScale::Signed, 2.0), Rgb([180, 4, 38]));
        assert_eq!(colour(-5.0, ColourScale::Signed, 2.0), Rgb([59, 76, 192]));
    }

    #[test]
    fn a_7x7_stage_is_cells_with_a_bar() {
        let map: Vec<f32> = (0..49).map(|i| i as f32 / 48.0).collect();
        let img = stage_picture(&map, (7, 7), "2 relu + min-max 7x7", ColourScale::Unit);
        let top = 2 * LINE + 4;
        assert_eq!(img.height(), top + 7 * CELL + GAP);
        // The first cell's corner is JET(0), the last cell's JET(1).
        assert_eq!(img.get_pixel(0, top).0, jet(0.0));
        assert_eq!(img.get_pixel(7 * CELL - 1, top + 7 * CELL - 1).0, jet(1.0));
    }
}
