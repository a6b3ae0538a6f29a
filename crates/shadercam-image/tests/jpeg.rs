//! JPEG pixels identical to Pillow's (libjpeg-turbo, ISLOW IDCT, fancy upsampling) on the
//! fixtures in the workspace's tests/fixtures/jpeg (made by weights/make_jpeg_fixtures.py: ci
//! images encoded by Pillow at 4:4:4 and 4:2:0, baseline and progressive, quality 75 and 95,
//! and a camera JPEG), each beside Pillow's decode stored as a lossless PNG. No Python here.
//! The GradCAM overlays of the same files are checked in the workspace's tests/jpeg.rs.

use std::path::{Path, PathBuf};

use shadercam_image::{DEFAULT_MAX_PIXELS, decode_bytes, decode_file};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/jpeg")
}

/// (JPEG name, the name of its Pillow decode) for every fixture in jpeg.json.
fn files() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(fixtures().join("jpeg.json")).expect("jpeg.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("jpeg.json is JSON");
    v["files"]
        .as_object()
        .expect("files")
        .iter()
        .map(|(name, f)| (name.clone(), f["decode"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn every_jpeg_fixture_decodes_to_pillows_pixels() {
    let files = files();
    assert!(files.len() >= 13, "jpeg.json lists {} files", files.len());
    let mut report = Vec::new();
    for (name, decode) in &files {
        let ours = decode_file(&fixtures().join(format!("{name}.jpg")), DEFAULT_MAX_PIXELS)
            .unwrap_or_else(|e| panic!("{e}"));
        // PNG decoding is bit-exact (tests/pillow.rs), so this is Pillow's RGB.
        let pillow = image::open(fixtures().join(format!("{decode}.pillow.png")))
            .unwrap()
            .into_rgb8();
        assert_eq!(ours.dimensions(), pillow.dimensions(), "{name}: size");
        let (mut differ, mut max) = (0usize, 0u8);
        for (a, b) in ours.pixels().zip(pillow.pixels()) {
            let d = (0..3).map(|c| a.0[c].abs_diff(b.0[c])).max().unwrap();
            differ += usize::from(d > 0);
            max = max.max(d);
        }
        assert_eq!(
            (differ, max),
            (0, 0),
            "{name}: pixels differing from Pillow's decode, and by how many levels at most"
        );
        report.push(format!(
            "{name:30} {}x{}: identical to Pillow",
            ours.width(),
            ours.height()
        ));
    }
    println!("{}", report.join("\n"));
}

/// A fatal libjpeg error (here: a Huffman table that overflows) is an `ImageError` naming the
/// file and libjpeg's reason, not a panic.
#[test]
fn corrupt_jpeg_is_an_error_with_libjpegs_reason() {
    let mut bytes = std::fs::read(fixtures().join("shape_002_420_base_q75.jpg")).unwrap();
    // The first DHT segment: FF C4, length, class/id, then 16 code-length counts. Claiming 255
    // codes of length 1 is impossible ("Bogus Huffman table definition").
    let dht = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC4])
        .expect("a DHT marker");
    bytes[dht + 5] = 255;
    let err = decode_bytes(&bytes, "bad.jpg", DEFAULT_MAX_PIXELS)
        .expect_err("a bogus Huffman table must be refused")
        .to_string();
    assert!(
        err.contains("bad.jpg") && err.contains("corrupt JPEG data") && err.contains("Huffman"),
        "{err}"
    );
}

/// The pixel guard reads the header only: a JPEG over the limit is refused before decoding.
#[test]
fn too_many_pixels_is_refused_from_the_header() {
    let bytes = std::fs::read(fixtures().join("photo_rocket.jpg")).unwrap();
    let err = decode_bytes(&bytes, "rocket.jpg", 1000)
        .expect_err("640x427 is over 1000 pixels")
        .to_string();
    assert!(err.contains("rocket.jpg") && err.contains("640"), "{err}");
}
