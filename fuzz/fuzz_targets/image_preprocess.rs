//! Arbitrary bytes as an image file: decoding (`decode_bytes`, every format the `image` crate
//! reads, Pillow `convert("RGB")` semantics) and, when that succeeds, torchvision preprocessing
//! with the default 256/224 settings must return errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shadercam_image::{Preprocess, decode_bytes, preprocess};

/// Small enough that one input cannot make the fuzzer run out of memory.
const MAX_PIXELS: u64 = 4_000_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = decode_bytes(data, "fuzz.png", MAX_PIXELS) {
        let out = preprocess(&img, &Preprocess::default()).expect("default settings are valid");
        assert_eq!(out.tensor_hwc.len(), 224 * 224 * 3);
        assert!(out.tensor_hwc.iter().all(|v| v.is_finite()));
    }
});
