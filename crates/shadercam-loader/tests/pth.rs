//! PyTorch checkpoints (`torch.save` zip files) read without Python: dtypes and views against
//! the same tensors in safetensors, a wrapped `module.`-prefixed float16 training checkpoint,
//! and every file that must be refused, each asserted by what its message names.
//!
//! Fixtures: tests/fixtures/pth/, made once by weights/make_pth_fixtures.py (which documents
//! each file). The logits of the ResNet fixture are checked in the workspace's tests/pth.rs.

use shadercam_loader::{Checkpoint, LoadError, Naming, ResNet};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/pth")
        .join(name)
}

/// Every view (transpose, offset slice, stride-0 expand, channels_last, strided slice, shared
/// storage, 0-d, empty) in f32, f16 and bf16 reads as PyTorch's `t.float().contiguous()`,
/// bit for bit; the int64 `num_batches_tracked` is skipped.
#[test]
fn views_and_dtypes_match_pytorch_exactly() {
    let pth = Checkpoint::open(&fixture("dtypes.pth")).unwrap();
    let want = Checkpoint::open(&fixture("dtypes.safetensors")).unwrap();
    assert_eq!(
        pth.tensors.keys().collect::<Vec<_>>(),
        want.tensors.keys().collect::<Vec<_>>()
    );
    for (name, w) in &want.tensors {
        let g = &pth.tensors[name];
        assert_eq!(g.shape, w.shape, "{name}");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&g.data), bits(&w.data), "{name}");
    }
    assert!(!pth.tensors.contains_key("bn.num_batches_tracked"));
    assert_eq!(pth.tensors["f32.expanded"].shape, [3, 4]);
    assert_eq!(pth.tensors["f32.scalar"].data, [3.5]);
    assert!(pth.tensors["f32.empty"].data.is_empty());
}

/// pytorch/examples' imagenet checkpoint layout (`{"epoch", "arch", "state_dict", "optimizer",
/// ...}`) with DataParallel's `module.` prefix, float16 weights that are overlapping views of one
/// buffer, some `channels_last`: loads as a ResNet. Its logits are compared with PyTorch's in
/// the workspace test `tests/pth.rs`.
#[test]
fn wrapped_prefixed_f16_training_checkpoint_loads() {
    let path = fixture("resnet10-wrapped-f16.pth");
    let net = ResNet::load(&path).unwrap();
    assert_eq!(net.arch, "resnet10");
    assert_eq!(
        net.naming,
        Naming::Torchvision {
            prefix: "module.".into()
        }
    );
    assert_eq!(net.num_classes(), 8);
    // A .pth carries no class names: `class 0..N-1` (ImageNet's names for 1000 classes).
    assert_eq!(net.classes[7], "class 7");
    assert_eq!(net.source, path);
    assert_eq!(net.stages[3].blocks[0].convs[1].cin, 512);
}

fn err(name: &str) -> LoadError {
    ResNet::load(&fixture(name)).expect_err(name)
}

/// A pickle that would run `os.system("echo pwned")`: refused at the global, before any call,
/// with the global and the file named.
#[test]
fn a_pickle_that_runs_code_is_refused_by_name() {
    let e = err("unsafe-global.pth");
    let msg = e.to_string();
    assert!(
        matches!(&e, LoadError::UnsafeGlobal { global, .. } if global == "os.system"),
        "{e:?}"
    );
    assert!(
        msg.contains("unsafe-global.pth") && msg.contains("`os.system`"),
        "{msg}"
    );
    assert!(
        !msg.contains("whole model"),
        "os.system is no model class: {msg}"
    );
}

/// `torch.save(model)` pickles the model's class; the message says to save the state dict.
#[test]
fn a_whole_pickled_module_is_refused_with_advice() {
    let e = err("whole-module.pth");
    let msg = e.to_string();
    assert!(
        msg.contains("`torch.nn.modules.linear.Linear`")
            && msg.contains("model.state_dict()")
            && msg.contains("whole-module.pth"),
        "{msg}"
    );
}

#[test]
fn torchscript_is_refused_with_advice() {
    let msg = err("torchscript.pt").to_string();
    assert!(
        msg.contains("`__torch__.torch.nn.modules.linear.Linear`") && msg.contains("TorchScript"),
        "{msg}"
    );
}

#[test]
fn the_legacy_format_is_refused_with_advice() {
    let msg = err("legacy.pth").to_string();
    assert!(
        msg.contains("legacy.pth") && msg.contains("PyTorch < 1.6") && msg.contains("torch.save("),
        "{msg}"
    );
}

#[test]
fn float64_tensors_are_refused_by_name() {
    let e = err("float64.pth");
    assert!(
        matches!(&e, LoadError::Dtype { name, dtype, .. } if name == "w" && dtype == "F64"),
        "{e:?}"
    );
}

/// A byte flipped inside a storage fails the zip CRC check: no silently wrong weights.
#[test]
fn a_damaged_archive_is_an_error() {
    let path = fixture("dtypes.pth");
    let mut bytes = std::fs::read(&path).unwrap();
    // The local file header of `dtypes/data/0` (30 fixed bytes, then the name, then the extra
    // field whose length is at offset 28): the storage's first byte follows them.
    let name = b"dtypes/data/0";
    let at = bytes
        .windows(name.len() + 30)
        .position(|w| w.starts_with(b"PK\x03\x04") && &w[30..] == name)
        .expect("the local header of dtypes/data/0");
    let extra = u16::from_le_bytes([bytes[at + 28], bytes[at + 29]]) as usize;
    bytes[at + 30 + name.len() + extra] ^= 0x40;
    let e = Checkpoint::from_bytes(&path, &bytes).expect_err("damaged");
    let msg = e.to_string();
    assert!(
        msg.contains("dtypes.pth") && msg.contains("dtypes/data/0") && msg.contains("damaged"),
        "{msg}"
    );
}

/// Every prefix of a real checkpoint is an error, never a panic.
#[test]
fn truncated_files_are_errors() {
    let path = fixture("dtypes.pth");
    let bytes = std::fs::read(&path).unwrap();
    for n in (0..bytes.len()).step_by(97) {
        let _ = Checkpoint::from_bytes(Path::new("cut.pth"), &bytes[..n]).expect_err("truncated");
    }
}

#[test]
fn a_pth_that_is_not_a_zip_says_so() {
    let msg = Checkpoint::from_bytes(Path::new("notes.pth"), b"hello world, not a checkpoint")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("notes.pth") && msg.contains("torch.save"),
        "{msg}"
    );
}
