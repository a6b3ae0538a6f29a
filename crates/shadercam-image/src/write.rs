//! Atomic output writers: write `.NAME.tmp-PID-N` in the destination directory, flush and sync,
//! then rename over `NAME`. A crash leaves either the old file or the new one, never half of one;
//! on any error the temporary file is removed.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use image::{ExtendedColorType, ImageEncoder, RgbImage, codecs::png::PngEncoder};

use crate::ImageError;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{name}.tmp-{}-{n}", std::process::id());
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp),
        _ => PathBuf::from(tmp),
    }
}

/// Write via a temporary file in the same directory, then rename. `write` gets a buffered writer.
fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), ImageError>,
) -> Result<(), ImageError> {
    let name = path.display().to_string();
    let tmp = temp_path(path);
    let file = File::create(&tmp).map_err(|e| ImageError::io(&name, "create output file", e))?;
    let result = (|| {
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        let file = w
            .into_inner()
            .map_err(|e| ImageError::io(&name, "write output file", e.into_error()))?;
        file.sync_all()
            .map_err(|e| ImageError::io(&name, "write output file", e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| ImageError::io(&name, "rename into place", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Write an 8-bit RGB PNG atomically (temporary file in the same directory + rename).
pub fn write_png_atomic(path: &Path, img: &RgbImage) -> Result<(), ImageError> {
    let name = path.display().to_string();
    write_atomic(path, |w| {
        PngEncoder::new(w)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                ExtendedColorType::Rgb8,
            )
            .map_err(|e| ImageError::Encode {
                path: name.clone(),
                format: "PNG",
                detail: e.to_string(),
            })
    })
}

/// The NumPy `.npy` v1.0 header for a little-endian f32, C-order array of `shape`: magic,
/// version, u16 header length, then the dict literal padded with spaces and a final newline so
/// that the data starts at a multiple of 64 bytes (what NumPy itself writes).
pub(crate) fn npy_header(shape: &[usize]) -> Vec<u8> {
    let shape_str = match shape {
        [] => "()".to_owned(),
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_str}, }}");
    let unpadded = 10 + dict.len() + 1;
    let padded = unpadded.div_ceil(64) * 64;
    dict.push_str(&" ".repeat(padded - unpadded));
    dict.push('\n');
    let mut out = Vec::with_capacity(padded);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Write a NumPy `.npy` (format 1.0, dtype `<f4`, C order) atomically. `data.len()` must equal
/// the product of `shape` (1 for an empty shape, i.e. a scalar).
pub fn write_npy_f32_atomic(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), ImageError> {
    let name = path.display().to_string();
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| ImageError::InvalidArgument {
            path: name.clone(),
            detail: format!("npy shape {shape:?} overflows"),
        })?;
    if count != data.len() {
        return Err(ImageError::InvalidArgument {
            path: name,
            detail: format!(
                "npy shape {shape:?} holds {count} values but {} were given",
                data.len()
            ),
        });
    }
    let header = npy_header(shape);
    if header.len() - 10 > usize::from(u16::MAX) {
        return Err(ImageError::InvalidArgument {
            path: name,
            detail: format!("npy shape {shape:?} is too long for a v1.0 header"),
        });
    }
    write_atomic(path, |w| {
        let io = |e| ImageError::io(&name, "write output file", e);
        w.write_all(&header).map_err(io)?;
        for v in data {
            w.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_layout() {
        for shape in [&[][..], &[8][..], &[224, 224][..], &[3, 224, 224][..]] {
            let h = npy_header(shape);
            assert_eq!(h.len() % 64, 0, "{shape:?}");
            assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
            let hl = u16::from_le_bytes([h[8], h[9]]) as usize;
            assert_eq!(10 + hl, h.len());
            assert_eq!(*h.last().unwrap(), b'\n');
        }
        let h = npy_header(&[224, 224]);
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(
            text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (224, 224), }")
        );
        let h = npy_header(&[8]);
        assert!(
            std::str::from_utf8(&h[10..])
                .unwrap()
                .contains("'shape': (8,)")
        );
        let h = npy_header(&[]);
        assert!(
            std::str::from_utf8(&h[10..])
                .unwrap()
                .contains("'shape': ()")
        );
    }
}
