//! Arbitrary bytes as a `.safetensors` checkpoint: parsing the header and tensors
//! (`Checkpoint::from_bytes`) and, when that succeeds, detecting and validating the ResNet
//! (`ResNet::from_checkpoint`) must return errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shadercam_loader::{Checkpoint, ResNet};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(ck) = Checkpoint::from_bytes(Path::new("fuzz.safetensors"), data) {
        let _ = ResNet::from_checkpoint(&ck);
    }
});
