//! Pillow `Image.open(p).convert("RGB")` + torchvision resize/crop semantics, checked against
//! the small files in tests/data/, whose expected values (expected.json) were made by
//! tests/data/make_test_images.py with Pillow 13.0.0 / libjpeg-turbo. No Python needed here.
//!
//! Every file must match Pillow bit for bit (decoded RGB and the 224x224 crop), JPEGs included:
//! they are decoded by libjpeg-turbo's own code (see src/jpeg.rs), and Pillow's decoded bytes are
//! stored beside them (`NAME.pillow.rgb`) so that a difference is reported as a count and a size.

use std::path::{Path, PathBuf};

use image::RgbImage;
use shadercam_image::{DEFAULT_MAX_PIXELS, Preprocess, decode_file, preprocess};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn fnv64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// How many bytes differ between `a` and `b`, and by how many levels at most.
fn byte_diff(a: &[u8], b: &[u8]) -> (usize, u8) {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .filter(|&d| d > 0)
        .fold((0, 0), |(n, m), d| (n + 1, m.max(d)))
}

fn expected() -> serde_json::Value {
    let text = std::fs::read(data_dir().join("expected.json")).expect("tests/data/expected.json");
    serde_json::from_slice(&text).expect("expected.json is JSON")
}

fn check_samples(name: &str, crop: &RgbImage, e: &serde_json::Value) {
    for s in e["crop_sample"].as_array().unwrap() {
        let v: Vec<u32> = s
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let px = crop.get_pixel(v[0], v[1]).0;
        assert_eq!(
            [u32::from(px[0]), u32::from(px[1]), u32::from(px[2])],
            [v[2], v[3], v[4]],
            "{name}: crop pixel ({}, {})",
            v[0],
            v[1]
        );
    }
}

#[test]
fn matches_pillow_convert_rgb_and_resize() {
    let exp = expected();
    let images = exp["images"].as_object().unwrap();
    assert!(
        images.len() >= 20,
        "expected.json lists {} images",
        images.len()
    );
    let p = Preprocess::default();
    for (name, e) in images {
        let path = data_dir().join(name);
        let size: Vec<u32> = e["size"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let img = decode_file(&path, DEFAULT_MAX_PIXELS).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            img.dimensions(),
            (size[0], size[1]),
            "{name}: size (EXIF orientation must be ignored)"
        );
        let mode = e["mode"].as_str().unwrap();
        let out = preprocess(&img, &p).unwrap_or_else(|err| panic!("{err}"));

        if let Some(raw) = e["pillow_rgb"].as_str() {
            // JPEG: Pillow's decoded bytes are stored too, so a failure says how far off it is.
            let pil = std::fs::read(data_dir().join(raw)).unwrap();
            assert_eq!(pil.len(), img.as_raw().len(), "{name}");
            let (differ, max) = byte_diff(img.as_raw(), &pil);
            assert_eq!(
                (differ, max),
                (0, 0),
                "{name} ({mode}): decoded bytes differing from libjpeg-turbo's (count, max levels)"
            );
        }
        assert_eq!(
            fnv64(img.as_raw()),
            e["rgb_fnv"].as_str().unwrap(),
            "{name} ({mode}): convert(\"RGB\") pixels"
        );
        assert_eq!(
            fnv64(out.crop_rgb.as_raw()),
            e["crop_fnv"].as_str().unwrap(),
            "{name} ({mode}): 224 crop"
        );
        check_samples(name, &out.crop_rgb, e);
        println!("{name:24} {mode:6} bit-exact (decode and 224 crop)");
    }
}

/// Pillow's I;16 -> RGB conversion clamps at 255 instead of scaling; RGB;16 keeps the high byte.
#[test]
fn sixteen_bit_rules() {
    let g = decode_file(&data_dir().join("gray16.png"), DEFAULT_MAX_PIXELS).unwrap();
    let raw = std::fs::read(data_dir().join("gray16.png")).unwrap();
    let dynimg = image::load_from_memory(&raw).unwrap().into_luma16();
    for (p16, p8) in dynimg.pixels().zip(g.pixels()) {
        assert_eq!(p8.0, [p16.0[0].min(255) as u8; 3]);
    }
    let c = decode_file(&data_dir().join("rgb16.png"), DEFAULT_MAX_PIXELS).unwrap();
    let raw = std::fs::read(data_dir().join("rgb16.png")).unwrap();
    let dynimg = image::load_from_memory(&raw).unwrap().into_rgb16();
    for (p16, p8) in dynimg.pixels().zip(c.pixels()) {
        assert_eq!(p8.0, p16.0.map(|v| (v >> 8) as u8));
    }
}

#[test]
fn gif_first_frame_only() {
    // anim.gif has two different frames; expected.json's rgb_fnv is Pillow's first frame (the
    // main test checks equality); here: the decode is not the second frame.
    let img = decode_file(&data_dir().join("anim.gif"), DEFAULT_MAX_PIXELS).unwrap();
    assert_eq!(img.dimensions(), (30, 24));
}

/// `--exif`: orientation 6 ("rotate 90° clockwise to display") swaps width and height and maps
/// the stored top-left pixel to the top-right; without it the file is read as stored, like
/// torchvision.
#[test]
fn exif_orientation_is_applied_only_when_asked() {
    let p = data_dir().join("exif_orientation6.jpg");
    let stored = decode_file(&p, DEFAULT_MAX_PIXELS).unwrap();
    let upright = shadercam_image::decode_file_with(&p, DEFAULT_MAX_PIXELS, true).unwrap();
    assert_eq!(
        (upright.width(), upright.height()),
        (stored.height(), stored.width())
    );
    assert_eq!(
        upright.get_pixel(upright.width() - 1, 0),
        stored.get_pixel(0, 0)
    );
}
