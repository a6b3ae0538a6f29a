//! Decoding with Pillow `Image.open(p).convert("RGB")` semantics.
//!
//! Verified against Pillow 13 (see `tests/data/make_test_images.py` and `tests/pillow.rs`):
//! - `L`, `LA` (8-bit grey): grey replicated to R, G and B; alpha dropped.
//! - `RGBA`: alpha dropped, NOT blended onto a background.
//! - palette PNG/GIF (`P`, with or without transparency): palette colours, transparency ignored.
//!   GIF: first frame only.
//! - 16-bit RGB/RGBA/grey+alpha PNG: Pillow reads these through its `;16B` raw modes, which keep
//!   the high byte of each sample (`v >> 8`), not a rounded `v / 257`.
//! - 16-bit grey PNG: Pillow opens it as mode `I;16`, and `I;16 -> RGB` CLAMPS the 16-bit value
//!   to 255 (`min(v, 255)`), it does not scale it. This is surprising but it is what torchvision
//!   users get, so it is reproduced.
//! - JPEG: decoded by libjpeg-turbo's own code (the `mozjpeg` crate; see `jpeg.rs`), with Pillow's
//!   IDCT, chroma upsampling and colour conversion, so the pixels are Pillow's bit for bit (checked
//!   in `tests/pillow.rs` and `tests/jpeg.rs`). CMYK is read with Adobe polarity and
//!   converted as Pillow converts it: `round(c*k/255)` of the stored values.
//! - EXIF orientation is ignored (torchvision ignores it too).

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Seek};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};

use crate::ImageError;

/// Pillow's default `Image.MAX_IMAGE_PIXELS` (its decompression-bomb warning threshold).
pub const DEFAULT_MAX_PIXELS: u64 = 89_478_485;

/// Memory the decoder may use while reading headers (ICC profiles, text chunks, ...).
const HEADER_ALLOC_LIMIT: u64 = 64 * 1024 * 1024;
/// Extra allocation the decoder may make on top of the output buffer (row buffers, JPEG
/// coefficient planes, GIF canvas, ...).
const DECODE_ALLOC_SLACK: u64 = 256 * 1024 * 1024;

/// Extensions (lower case) that [`is_image_path`] accepts.
const IMAGE_EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "webp", "gif", "tif", "tiff"];

/// True when the path's extension (case-insensitive) is one of
/// png, jpg, jpeg, bmp, webp, gif, tif, tiff.
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Decode an image file to 8-bit RGB exactly as `PIL.Image.open(path).convert("RGB")` would
/// (see the module docs for the conversion rules). The format is detected from the contents,
/// not the extension. Images with more than `max_pixels` pixels are rejected from the header,
/// before any pixel is decoded.
pub fn decode_file(path: &Path, max_pixels: u64) -> Result<RgbImage, ImageError> {
    decode_file_with(path, max_pixels, false)
}

/// [`decode_file`], optionally turning the picture upright by its EXIF orientation tag (JPEG,
/// WebP, TIFF). torchvision does not (PIL's `Image.open` ignores the tag), so the default path
/// does not either; `shadercam explain --exif` opts in.
pub fn decode_file_with(
    path: &Path,
    max_pixels: u64,
    apply_exif: bool,
) -> Result<RgbImage, ImageError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| ImageError::io(&name, "open file", e))?;
    let meta = file
        .metadata()
        .map_err(|e| ImageError::io(&name, "read file", e))?;
    if meta.is_dir() {
        return Err(ImageError::Decode {
            path: name,
            detail: "is a directory".into(),
        });
    }
    if meta.len() == 0 {
        return Err(ImageError::Empty { path: name });
    }
    decode_reader(BufReader::new(file), &name, max_pixels, apply_exif)
}

/// Like [`decode_file`], for an in-memory encoded image; `name` is used in error messages.
pub fn decode_bytes(bytes: &[u8], name: &str, max_pixels: u64) -> Result<RgbImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty {
            path: name.to_owned(),
        });
    }
    decode_reader(Cursor::new(bytes), name, max_pixels, false)
}

fn decode_reader<R: BufRead + Seek>(
    reader: R,
    name: &str,
    max_pixels: u64,
    apply_exif: bool,
) -> Result<RgbImage, ImageError> {
    let reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|e| ImageError::io(name, "read file", e))?;
    let Some(format) = reader.format() else {
        return Err(ImageError::Decode {
            path: name.to_owned(),
            detail: "unrecognised file format".into(),
        });
    };
    let fmt = format_name(format);
    if format == image::ImageFormat::Jpeg {
        // zune-jpeg (non-strict) silently grey-fills a truncated JPEG; Pillow refuses it
        // ("image file is truncated"). Check the marker structure first; JPEG decoding reads
        // the whole file into memory anyway, so this costs no extra peak memory.
        let mut inner = reader.into_inner();
        let mut bytes = Vec::new();
        inner
            .rewind()
            .and_then(|()| inner.read_to_end(&mut bytes))
            .map_err(|e| ImageError::io(name, "read file", e))?;
        if let Err(detail) = check_jpeg_complete(&bytes) {
            return Err(ImageError::Decode {
                path: name.to_owned(),
                detail,
            });
        }
        // Pixels from libjpeg-turbo's decoder code, as Pillow's (see `jpeg.rs`).
        return crate::jpeg::decode(&bytes, name, max_pixels, apply_exif);
    }
    decode_known(reader, name, fmt, max_pixels, apply_exif)
}

fn decode_known<R: BufRead + Seek>(
    mut reader: ImageReader<R>,
    name: &str,
    fmt: &str,
    max_pixels: u64,
    apply_exif: bool,
) -> Result<RgbImage, ImageError> {
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(HEADER_ALLOC_LIMIT);
    reader.limits(header_limits);

    // Header only: no pixel data is decoded before the pixel-count guard.
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(name, fmt, e))?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(ImageError::TooManyPixels {
            path: name.to_owned(),
            width,
            height,
            pixels,
            max_pixels,
        });
    }
    if pixels == 0 {
        return Err(ImageError::Decode {
            path: name.to_owned(),
            detail: format!("{fmt} header says {width}x{height}: no pixels"),
        });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(decoder.total_bytes().saturating_add(DECODE_ALLOC_SLACK));
    decoder
        .set_limits(limits)
        .map_err(|e| decode_error(name, fmt, e))?;

    // A missing or unreadable orientation tag means "as stored".
    let orientation = if apply_exif {
        decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms)
    } else {
        image::metadata::Orientation::NoTransforms
    };
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(name, fmt, e))?;
    img.apply_orientation(orientation);
    Ok(pillow_rgb(img))
}

/// Convert a decoded image to 8-bit RGB the way Pillow's `convert("RGB")` treats the mode Pillow
/// would have opened the same file in (see the module docs).
pub fn pillow_rgb(img: DynamicImage) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageRgba8(rgba) => {
            map_pixels(w, h, rgba.as_raw(), 4, |p| [p[0], p[1], p[2]])
        }
        DynamicImage::ImageLuma8(l) => map_pixels(w, h, l.as_raw(), 1, |p| [p[0]; 3]),
        DynamicImage::ImageLumaA8(la) => map_pixels(w, h, la.as_raw(), 2, |p| [p[0]; 3]),
        // Pillow: mode I;16, then I;16 -> RGB clamps to 255.
        DynamicImage::ImageLuma16(l) => {
            map_pixels(w, h, l.as_raw(), 1, |p| [p[0].min(255) as u8; 3])
        }
        // Pillow: rawmode LA;16B keeps the high byte.
        DynamicImage::ImageLumaA16(la) => {
            map_pixels(w, h, la.as_raw(), 2, |p| [(p[0] >> 8) as u8; 3])
        }
        // Pillow: rawmodes RGB;16B / RGBA;16B keep the high byte.
        DynamicImage::ImageRgb16(rgb) => map_pixels(w, h, rgb.as_raw(), 3, |p| {
            [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8]
        }),
        DynamicImage::ImageRgba16(rgba) => map_pixels(w, h, rgba.as_raw(), 4, |p| {
            [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8]
        }),
        // Float images (HDR/EXR/float TIFF) have no Pillow counterpart: clamp to [0,1], round.
        other => other.to_rgb8(),
    }
}

fn map_pixels<T: Copy>(
    w: u32,
    h: u32,
    raw: &[T],
    channels: usize,
    f: impl Fn(&[T]) -> [u8; 3],
) -> RgbImage {
    let mut out = Vec::with_capacity(raw.len() / channels * 3);
    for p in raw.chunks_exact(channels) {
        out.extend_from_slice(&f(p));
    }
    RgbImage::from_raw(w, h, out).expect("buffer length is w*h*3 by construction")
}

fn format_name(format: image::ImageFormat) -> &'static str {
    use image::ImageFormat as F;
    match format {
        F::Png => "PNG",
        F::Jpeg => "JPEG",
        F::Gif => "GIF",
        F::WebP => "WebP",
        F::Bmp => "BMP",
        F::Tiff => "TIFF",
        F::Ico => "ICO",
        F::Pnm => "PNM",
        F::Tga => "TGA",
        F::Dds => "DDS",
        F::Hdr => "HDR",
        F::OpenExr => "OpenEXR",
        F::Farbfeld => "farbfeld",
        F::Avif => "AVIF",
        F::Qoi => "QOI",
        _ => "image",
    }
}

/// Turn an `image` crate error into a plain-words detail naming the format.
fn decode_error(name: &str, fmt: &str, e: image::ImageError) -> ImageError {
    use image::ImageError as E;
    let detail = match &e {
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            format!("truncated {fmt} data")
        }
        E::IoError(io) => {
            return ImageError::io(
                name,
                "read file",
                std::io::Error::new(io.kind(), io.to_string()),
            );
        }
        E::Limits(l) => format!("{fmt} decoder memory limit exceeded: {l}"),
        E::Unsupported(u) => format!("unsupported {fmt} variant: {u}"),
        E::Decoding(d) => {
            let text = d.to_string();
            if looks_truncated(&text) {
                format!("truncated {fmt} data: {text}")
            } else {
                format!("corrupt {fmt} data: {text}")
            }
        }
        other => format!("{fmt}: {other}"),
    };
    ImageError::Decode {
        path: name.to_owned(),
        detail,
    }
}

fn looks_truncated(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "eof",
        "end of file",
        "unexpected end",
        "truncated",
        "no more bytes",
        "fill whole buffer",
    ]
    .iter()
    .any(|k| t.contains(k))
}

/// Walk the JPEG marker structure and require an EOI marker after the last scan: a file cut
/// short anywhere (headers, entropy-coded data, between progressive scans) is reported as
/// truncated, as Pillow reports it. Trailing bytes after EOI are allowed.
fn check_jpeg_complete(b: &[u8]) -> Result<(), String> {
    const TRUNC: &str = "truncated JPEG data: the file ends before the end-of-image marker";
    if b.len() < 4 {
        return Err(TRUNC.into());
    }
    if b[0] != 0xFF || b[1] != 0xD8 {
        return Err("corrupt JPEG data: missing start-of-image marker".into());
    }
    let mut i = 2;
    loop {
        // Find the next marker (skipping fill bytes 0xFF).
        while i < b.len() && b[i] != 0xFF {
            i += 1; // tolerate garbage between segments, as libjpeg does (with a warning)
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&m) = b.get(i) else {
            return Err(TRUNC.into());
        };
        i += 1;
        match m {
            0xD9 => return Ok(()),                 // EOI
            0x01 | 0xD0..=0xD7 | 0x00 => continue, // TEM, RSTn, stuffed byte: no length
            _ => {}
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return Err(TRUNC.into());
        };
        if len < 2 || i + len > b.len() {
            return Err(TRUNC.into());
        }
        i += len;
        if m == 0xDA {
            // Start of scan: skip entropy-coded data up to the next real marker.
            loop {
                match b.get(i..i + 2) {
                    None => return Err(TRUNC.into()),
                    Some([0xFF, n]) if *n != 0x00 && !(0xD0..=0xD7).contains(n) && *n != 0xFF => {
                        break;
                    }
                    _ => i += 1,
                }
            }
        }
    }
}
