//! JPEG inputs end to end against pytorch-grad-cam: every file in tests/fixtures/jpeg (made by
//! weights/make_jpeg_fixtures.py: ci images encoded by Pillow at 4:4:4 and 4:2:0, baseline and
//! progressive, quality 75 and 95, and a camera JPEG) is loaded as the CLI loads it (decode,
//! torchvision preprocessing with the checkpoint's settings), explained with Grad-CAM of the top
//! class, and its overlay compared with `show_cam_on_image` on Pillow's decode of the same file.
//! That the decoded pixels are Pillow's, bit for bit, is crates/shadercam-image/tests/jpeg.rs.

use shadercam_cam::{ExplainOptions, Explainer, load_image};
use shadercam_image::{DEFAULT_MAX_PIXELS, Preprocess, decode_file};
use shadercam_loader::ResNet;
use shadercam_suite::{default_weights, fixture, gpu};

/// Overlay pixels may differ by this many 8-bit levels (Grad-CAM map within 2e-3 of the float64
/// reference, see tests/cam.rs, then rounding of the JET colour and the blend) ...
const OVERLAY_LEVELS: u8 = 2;
/// ... on at least this share of the pixels: the bound. Measured on lavapipe: 99.992% or
/// more on every file (at most 4 pixels of 50176 off by 3 levels): with Pillow's decoded pixels,
/// what is left is the f32 GPU map against the float64 reference, as for the PNGs.
const OVERLAY_SHARE: f64 = 0.999;

#[test]
fn jpeg_overlays_match_show_cam_on_image() {
    let text = std::fs::read_to_string(fixture("jpeg/jpeg.json")).expect("jpeg/jpeg.json");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("jpeg.json is JSON");
    let files: Vec<(&String, &serde_json::Value)> = manifest["files"]
        .as_object()
        .expect("files")
        .iter()
        .collect();
    assert!(files.len() >= 13, "jpeg.json lists {} files", files.len());

    let model = ResNet::load(&default_weights()).expect("default weights");
    let m = &model.preprocess;
    let pre = Preprocess {
        resize_size: m.resize_size,
        crop_size: m.crop_size,
        mean: m.mean,
        std: m.std,
    };
    let crop = pre.crop_size as usize;
    let mut ex = Explainer::new(gpu(), model).expect("explainer");
    // A progressive file and the baseline one with the same quality and subsampling decode to
    // the same pixels, hence the same input: each distinct input is explained once (fewer
    // forward passes in CI) and every file is checked against its own reference overlay.
    let per = crop * crop * 3;
    let mut inputs: Vec<f32> = Vec::new();
    let slots: Vec<usize> = files
        .iter()
        .map(|(name, _)| {
            let path = fixture(&format!("jpeg/{name}.jpg"));
            let x = load_image(&path, &pre, DEFAULT_MAX_PIXELS, false)
                .unwrap_or_else(|e| panic!("{e}"))
                .tensor;
            inputs
                .chunks(per)
                .position(|c| c == x.as_slice())
                .unwrap_or_else(|| {
                    inputs.extend_from_slice(&x);
                    inputs.len() / per - 1
                })
        })
        .collect();
    let out = ex
        .explain(&inputs, crop, &[], &ExplainOptions::default())
        .unwrap();

    let mut report = Vec::new();
    let mut failures = Vec::new();
    for ((name, f), &slot) in files.iter().zip(&slots) {
        let e = &out[slot];
        let top1 = f["top1"].as_u64().unwrap() as usize;
        assert_eq!(e.targets, [top1], "{name}: top-1 class");
        let decode = f["decode"].as_str().unwrap();
        // PNG decoding is bit-exact, so these are pytorch-grad-cam's overlay bytes.
        let want = decode_file(
            &fixture(&format!("jpeg/{decode}.overlay.png")),
            DEFAULT_MAX_PIXELS,
        )
        .unwrap();
        assert_eq!(want.dimensions(), (crop as u32, crop as u32), "{name}");
        let (mut bad, mut max) = (0usize, 0u8);
        for (&v, w) in e.overlays[0].iter().zip(want.pixels()) {
            let d = (0..3)
                .map(|c| (((v >> (8 * c)) & 0xff) as u8).abs_diff(w.0[c]))
                .max()
                .unwrap();
            bad += usize::from(d > OVERLAY_LEVELS);
            max = max.max(d);
        }
        let share = 1.0 - bad as f64 / (crop * crop) as f64;
        report.push(format!(
            "{name:30} overlay: {:.3}% within {OVERLAY_LEVELS} levels, max {max}",
            share * 100.0
        ));
        if share < OVERLAY_SHARE {
            failures.push(format!("{name}: {:.3}%", share * 100.0));
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "overlays under {}% within {OVERLAY_LEVELS} levels: {failures:?}",
        OVERLAY_SHARE * 100.0
    );
}
