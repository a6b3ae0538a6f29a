//! Helpers shared by this crate's test files (`mod common;`): the tiny test network, checkpoint
//! files written under the target's scratch directory, and assertions on error messages.
//! Helpers the workspace's GPU tests need too live in `shadercam_loader::testing`; these stay
//! here because they name this package's scratch directory (`CARGO_TARGET_TMPDIR`, known only
//! to test code).

// Every test file compiles its own copy of this module, so a helper that one file does not call
// is dead code in that file.
#![allow(dead_code)]

use safetensors::Dtype;
use shadercam_loader::ResNet;
use shadercam_loader::testing::{Rng, Tensors, resnet_shapes, serialize_with};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The tiny test network: torchvision names, one basic block per stage (the loader calls it
/// `resnet10`; channel widths are torchvision's fixed 64..512) and 5 classes. Values are
/// uniform in [-1, 1), drawn in [`resnet_shapes`]' order from seed 7, except the running
/// variances, which are positive as real ones are: |u| + 0.25.
pub fn tiny() -> Tensors {
    let mut rng = Rng::new(7);
    resnet_shapes([1, 1, 1, 1], false, 64, 5)
        .into_iter()
        .map(|(name, shape)| {
            let v = rng.vec(shape.iter().product());
            let v = if name.ends_with(".running_var") {
                v.iter().map(|x| x.abs() + 0.25).collect()
            } else {
                v
            };
            (name, (shape, v))
        })
        .collect()
}

/// Serializes `tensors` (all as `dtype`, except those named in `overrides`) with `metadata`.
pub fn serialize(
    tensors: &Tensors,
    dtype: Dtype,
    overrides: &[(&str, Dtype)],
    metadata: &[(&str, &str)],
) -> Vec<u8> {
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let dtype_of = |name: &str| {
        overrides
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(dtype, |o| o.1)
    };
    serialize_with(tensors, dtype_of, &meta)
}

/// A fresh file under the target's scratch directory, unique per test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loader-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

pub fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Writes `tensors` as F32 and loads it, returning the error message.
pub fn load_err(
    name: &str,
    tensors: &Tensors,
    overrides: &[(&str, Dtype)],
    metadata: &[(&str, &str)],
) -> (PathBuf, String) {
    let path = write(name, &serialize(tensors, Dtype::F32, overrides, metadata));
    match ResNet::load(&path) {
        Ok(net) => panic!("{name}: loaded as {} instead of failing", net.arch),
        Err(e) => (path.clone(), e.to_string()),
    }
}

pub fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(
            msg.contains(p),
            "error message does not mention {p:?}:\n{msg}"
        );
    }
}
