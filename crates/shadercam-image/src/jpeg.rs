//! JPEG decoding through libjpeg-turbo's own decoder code, so that the pixels are the ones Pillow
//! gets (bit for bit, measured on every fixture in `tests/fixtures/jpeg` and `tests/data`).
//!
//! Pillow decodes JPEGs with libjpeg-turbo at its defaults: the slow-but-accurate integer IDCT
//! (`JDCT_ISLOW`, `jidctint.c`) and "fancy" (triangle-filter) chroma upsampling (`jdsample.c`),
//! converting YCbCr to RGB inside the library (`jdcolor.c`). Rust decoders use other IDCTs and
//! upsamplers: zune-jpeg (the `image` crate's) differs from Pillow on 1-2% of pixels at 4:4:4 and
//! on 24-35% at 4:2:0, by up to 4 levels on photos (9 on synthetic noise); jpeg-decoder on 6-17%.
//! The `mozjpeg` crate builds mozjpeg's C sources, whose decompressor is libjpeg-turbo's
//! unchanged; built here WITHOUT its SIMD (no nasm needed), and the SIMD code is itself bit-exact
//! with these C routines. It needs only a C compiler (the one Rust already links with).
//!
//! Colour spaces follow Pillow's `JpegImagePlugin`: one component is `L` (grey, replicated to
//! RGB), three are `RGB` (libjpeg converts YCbCr, or passes Adobe RGB through), four are CMYK
//! read with Adobe polarity (`CMYK;I`, always), which Pillow's `convert("RGB")` turns into
//! `R = MULDIV255(255 - C, 255 - K)` of the inverted values, i.e. `round(c · k / 255)` of the
//! stored ones (libjpeg converts YCCK to CMYK first).
//!
//! libjpeg reports a fatal error by calling `error_exit`, which the `mozjpeg` crate turns into an
//! unwinding panic with the message as payload (warnings are silenced, as Pillow ignores them);
//! [`decode`] catches it and returns it as a decode error.

use std::panic::{AssertUnwindSafe, catch_unwind};

use image::metadata::Orientation;
use image::{DynamicImage, RgbImage};
use mozjpeg::decompress::DecompressBuilder;
use mozjpeg::{ColorSpace, DctMethod, Marker};

use crate::ImageError;

/// Decode a complete JPEG file (the caller has checked its marker structure) to 8-bit RGB as
/// `PIL.Image.open(...).convert("RGB")` does, refusing more than `max_pixels` pixels from the
/// header, and optionally turning it upright by its EXIF orientation tag.
pub(crate) fn decode(
    bytes: &[u8],
    name: &str,
    max_pixels: u64,
    apply_exif: bool,
) -> Result<RgbImage, ImageError> {
    // The closure owns nothing that a caught panic could leave half-modified: the decompressor
    // is dropped (jpeg_destroy_decompress) while unwinding, and the result is discarded.
    match catch_unwind(AssertUnwindSafe(|| {
        decode_inner(bytes, name, max_pixels, apply_exif)
    })) {
        Ok(result) => result,
        Err(payload) => {
            let text = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("libjpeg error");
            let text = text.strip_prefix("libjpeg fatal error: ").unwrap_or(text);
            Err(corrupt(name, text))
        }
    }
}

fn corrupt(name: &str, text: &str) -> ImageError {
    ImageError::Decode {
        path: name.to_owned(),
        detail: format!("corrupt JPEG data: {text}"),
    }
}

fn io_error(name: &str, e: std::io::Error) -> ImageError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        ImageError::Decode {
            path: name.to_owned(),
            detail: "truncated JPEG data".into(),
        }
    } else {
        corrupt(name, &e.to_string())
    }
}

fn decode_inner(
    bytes: &[u8],
    name: &str,
    max_pixels: u64,
    apply_exif: bool,
) -> Result<RgbImage, ImageError> {
    let markers: &[Marker] = if apply_exif { &[Marker::APP(1)] } else { &[] };
    // Reads the header only: no pixel is decoded before the pixel-count guard.
    let mut d = DecompressBuilder::new()
        .with_markers(markers)
        .from_mem(bytes)
        .map_err(|e| io_error(name, e))?;
    let (w, h) = (d.width() as u32, d.height() as u32);
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(ImageError::TooManyPixels {
            path: name.to_owned(),
            width: w,
            height: h,
            pixels,
            max_pixels,
        });
    }
    if pixels == 0 {
        return Err(ImageError::Decode {
            path: name.to_owned(),
            detail: format!("JPEG header says {w}x{h}: no pixels"),
        });
    }
    // A missing or unreadable orientation tag means "as stored" (the `image` crate's rule).
    let orientation = d
        .markers()
        .filter_map(|m| m.data.strip_prefix(b"Exif\0\0"))
        .find_map(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);

    // Pillow's settings, which are also libjpeg's defaults: stated, not assumed.
    d.dct_method(DctMethod::IntegerSlow);
    d.do_fancy_upsampling(true);
    let components = d.components().len();
    let io = |e| io_error(name, e);
    let rgb: Vec<u8> = match components {
        1 => {
            let mut s = d.grayscale().map_err(io)?;
            let grey: Vec<u8> = s.read_scanlines().map_err(io)?;
            s.finish().map_err(io)?;
            grey.iter().flat_map(|&g| [g; 3]).collect()
        }
        3 => {
            let mut s = d.rgb().map_err(io)?;
            let rgb: Vec<u8> = s.read_scanlines().map_err(io)?;
            s.finish().map_err(io)?;
            rgb
        }
        4 => {
            let mut s = d.to_colorspace(ColorSpace::JCS_CMYK).map_err(io)?;
            let cmyk: Vec<u8> = s.read_scanlines().map_err(io)?;
            s.finish().map_err(io)?;
            cmyk.chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]].map(|c| muldiv255(c, p[3])))
                .collect()
        }
        n => return Err(corrupt(name, &format!("{n} colour components"))),
    };
    let img = RgbImage::from_raw(w, h, rgb)
        .ok_or_else(|| corrupt(name, "decoded size does not match the header"))?;
    if orientation == Orientation::NoTransforms {
        return Ok(img);
    }
    let mut img = DynamicImage::ImageRgb8(img);
    img.apply_orientation(orientation);
    Ok(img.into_rgb8())
}

/// Pillow's `MULDIV255(a, b)`: `a · b / 255` rounded to nearest, exactly, in integers.
fn muldiv255(a: u8, b: u8) -> u8 {
    let t = u32::from(a) * u32::from(b) + 128;
    (((t >> 8) + t) >> 8) as u8
}

#[cfg(test)]
mod tests {
    #[test]
    fn muldiv255_is_rounded_division() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let want = (f64::from(a) * f64::from(b) / 255.0).round() as u8;
                assert_eq!(super::muldiv255(a, b), want, "{a} * {b} / 255");
            }
        }
    }
}
