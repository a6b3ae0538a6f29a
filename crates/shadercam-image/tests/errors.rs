//! Every bad input is a clear error naming the file and the problem, never a panic; outputs are
//! written atomically.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageEncoder, RgbImage};
use shadercam_image::{
    DEFAULT_MAX_PIXELS, ImageError, decode_bytes, decode_file, is_image_path, write_npy_f32_atomic,
    write_png_atomic,
};

/// A fresh empty directory under the target dir (no tempfile crate in the workspace).
fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("shadercam-image-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn noisy(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = x
            .wrapping_mul(2_654_435_761)
            .wrapping_add(y.wrapping_mul(40_503))
            >> 7;
        image::Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
    })
}

fn png_bytes(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn jpeg_bytes(img: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn err_text(r: Result<RgbImage, ImageError>) -> String {
    match r {
        Ok(img) => panic!(
            "expected an error, decoded {}x{}",
            img.width(),
            img.height()
        ),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} should mention {p:?}");
    }
}

#[test]
fn nonexistent_file() {
    let msg = err_text(decode_file(
        Path::new("no/such/photo.png"),
        DEFAULT_MAX_PIXELS,
    ));
    assert_mentions(&msg, &["no/such/photo.png", "file not found"]);
}

#[test]
fn zero_byte_file() {
    let dir = scratch_dir("zero");
    let p = dir.join("empty.png");
    std::fs::write(&p, b"").unwrap();
    let msg = err_text(decode_file(&p, DEFAULT_MAX_PIXELS));
    assert_mentions(&msg, &["empty.png", "not a decodable image", "empty file"]);
    let msg = err_text(decode_bytes(b"", "mem.png", DEFAULT_MAX_PIXELS));
    assert_mentions(&msg, &["mem.png", "empty file"]);
}

#[test]
fn text_file_named_png() {
    let dir = scratch_dir("text");
    let p = dir.join("notes.png");
    std::fs::write(&p, "this is not an image\n").unwrap();
    let msg = err_text(decode_file(&p, DEFAULT_MAX_PIXELS));
    assert_mentions(
        &msg,
        &[
            "notes.png",
            "not a decodable image",
            "unrecognised file format",
        ],
    );
}

#[test]
fn directory_is_not_an_image() {
    let dir = scratch_dir("dir.png");
    let msg = err_text(decode_file(&dir, DEFAULT_MAX_PIXELS));
    assert_mentions(&msg, &["dir.png", "directory"]);
}

#[test]
fn permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("perm");
    let p = dir.join("secret.png");
    std::fs::write(&p, png_bytes(&noisy(4, 4))).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    let result = decode_file(&p, DEFAULT_MAX_PIXELS);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    if std::fs::File::open("/proc/self/root").is_ok() && result.is_ok() {
        // Running as root: mode 000 does not stop the read. The error mapping itself is
        // covered by the unit test `error::tests::io_error_kinds`.
        eprintln!("permission_denied: running with root privileges, chmod 000 is not enforced");
        return;
    }
    let msg = err_text(result);
    assert_mentions(&msg, &["secret.png", "permission denied"]);
}

#[test]
fn truncated_png() {
    let bytes = png_bytes(&noisy(64, 64));
    for cut in [bytes.len() / 2, 40, 8] {
        let msg = err_text(decode_bytes(&bytes[..cut], "photo.png", DEFAULT_MAX_PIXELS));
        assert_mentions(&msg, &["photo.png", "not a decodable image", "PNG"]);
        println!("truncated at {cut}: {msg}");
    }
    let msg = err_text(decode_bytes(
        &bytes[..bytes.len() / 2],
        "photo.png",
        DEFAULT_MAX_PIXELS,
    ));
    assert_mentions(&msg, &["truncated PNG data"]);
}

#[test]
fn truncated_jpeg() {
    let bytes = jpeg_bytes(&noisy(64, 64));
    for cut in [bytes.len() / 2, 200, 3] {
        let msg = err_text(decode_bytes(&bytes[..cut], "photo.jpg", DEFAULT_MAX_PIXELS));
        assert_mentions(&msg, &["photo.jpg", "not a decodable image"]);
        println!("truncated at {cut}: {msg}");
    }
    let msg = err_text(decode_bytes(
        &bytes[..bytes.len() - 2],
        "photo.jpg",
        DEFAULT_MAX_PIXELS,
    ));
    assert_mentions(
        &msg,
        &["photo.jpg: not a decodable image (truncated JPEG data"],
    );
    // Bytes after the end-of-image marker are fine (some cameras append data).
    let mut padded = bytes.clone();
    padded.extend_from_slice(b"trailing junk");
    assert_eq!(
        decode_bytes(&padded, "ok.jpg", DEFAULT_MAX_PIXELS)
            .unwrap()
            .dimensions(),
        (64, 64)
    );
    // A progressive JPEG cut between scans is truncated too (Pillow refuses it as well).
    let prog =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/progressive.jpg"))
            .unwrap();
    let sos: Vec<usize> = prog
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w == &[0xFF, 0xDA])
        .map(|(i, _)| i)
        .collect();
    assert!(sos.len() > 2, "progressive.jpg has {} scans", sos.len());
    let msg = err_text(decode_bytes(
        &prog[..sos[2]],
        "prog.jpg",
        DEFAULT_MAX_PIXELS,
    ));
    assert_mentions(&msg, &["prog.jpg", "truncated JPEG data"]);
}

#[test]
fn pixel_guard_from_header() {
    // A real 20x20 PNG with a limit of 100 pixels.
    let msg = err_text(decode_bytes(&png_bytes(&noisy(20, 20)), "small.png", 100));
    assert_mentions(
        &msg,
        &["small.png: 20x20 = 400 pixels exceeds --max-pixels 100 (decompression-bomb guard)"],
    );

    // A PNG header announcing 60000x60000 with no pixel data: must be refused from the header
    // without allocating 10 GB.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&60000u32.to_be_bytes());
    ihdr.extend_from_slice(&60000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    push_chunk(&mut png, b"IHDR", &ihdr);
    push_chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    push_chunk(&mut png, b"IEND", &[]);
    let msg = err_text(decode_bytes(&png, "big.png", DEFAULT_MAX_PIXELS));
    assert_eq!(
        msg,
        "big.png: 60000x60000 = 3600000000 pixels exceeds --max-pixels 89478485 (decompression-bomb guard)"
    );
}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn image_extensions() {
    for ok in [
        "a.png",
        "b.JPG",
        "c.jpeg",
        "d.bmp",
        "e.webp",
        "f.gif",
        "g.tif",
        "h.TIFF",
        "dir/x.y.Png",
    ] {
        assert!(is_image_path(Path::new(ok)), "{ok}");
    }
    for no in ["a.txt", "png", "b.png.bak", "c", ".png", "d.svg"] {
        assert!(!is_image_path(Path::new(no)), "{no}");
    }
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn png_write_is_atomic_and_round_trips() {
    let dir = scratch_dir("png");
    let p = dir.join("overlay.png");
    let img = noisy(13, 7);
    std::fs::write(&p, b"old contents").unwrap();
    write_png_atomic(&p, &img).unwrap();
    assert_eq!(
        dir_entries(&dir),
        ["overlay.png"],
        "no temporary file may remain"
    );
    let back = decode_file(&p, DEFAULT_MAX_PIXELS).unwrap();
    assert_eq!(back, img);

    // Failure (directory does not exist): clear message, nothing left behind.
    let bad = dir.join("missing").join("x.png");
    let msg = write_png_atomic(&bad, &img).unwrap_err().to_string();
    assert_mentions(&msg, &["x.png"]);
    assert_eq!(dir_entries(&dir), ["overlay.png"]);
}

#[test]
fn npy_write_parses_back() {
    let dir = scratch_dir("npy");
    let p = dir.join("cam.npy");
    let data: Vec<f32> = (0..2 * 3 * 4).map(|i| i as f32 * 0.5 - 3.0).collect();
    write_npy_f32_atomic(&p, &[2, 3, 4], &data).unwrap();
    assert_eq!(
        dir_entries(&dir),
        ["cam.npy"],
        "no temporary file may remain"
    );

    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let hlen = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    assert_eq!((10 + hlen) % 64, 0, "data must start 64-byte aligned");
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(header.ends_with('\n'));
    // Parse the dict literal the way numpy's reader checks it.
    let dict = header.trim_end();
    assert!(dict.starts_with('{') && dict.ends_with('}'), "{dict}");
    assert!(dict.contains("'descr': '<f4'"), "{dict}");
    assert!(dict.contains("'fortran_order': False"), "{dict}");
    let shape_start = dict.find("'shape': (").unwrap() + "'shape': (".len();
    let shape_end = shape_start + dict[shape_start..].find(')').unwrap();
    let shape: Vec<usize> = dict[shape_start..shape_end]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(shape, [2, 3, 4]);
    let values: Vec<f32> = bytes[10 + hlen..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(values, data);

    // 1-D shape uses the trailing comma.
    write_npy_f32_atomic(&p, &[3], &[1.0, 2.0, 3.0]).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    assert!(
        std::str::from_utf8(&bytes[10..])
            .unwrap_or("")
            .contains("'shape': (3,)")
            || {
                let hlen = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
                std::str::from_utf8(&bytes[10..10 + hlen])
                    .unwrap()
                    .contains("'shape': (3,)")
            }
    );

    // Shape/data mismatch: error naming the file, nothing written.
    let msg = write_npy_f32_atomic(&dir.join("bad.npy"), &[2, 2], &[1.0])
        .unwrap_err()
        .to_string();
    assert_mentions(&msg, &["bad.npy", "holds 4 values but 1 were given"]);
    assert_eq!(dir_entries(&dir), ["cam.npy"]);
}
