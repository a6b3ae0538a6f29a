//! Regression tests for panics found by `fuzz/` (target `checkpoint_header`): a malformed
//! checkpoint must be an error, never a panic.

use shadercam_loader::{Checkpoint, LoadError, ResNet};
use std::path::Path;

/// A safetensors file of zero-filled F16 tensors with the given names and shapes.
fn safetensors(tensors: &[(String, Vec<usize>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape) in tensors {
        let bytes = 2 * shape.iter().product::<usize>();
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut text = serde_json::Value::Object(header).to_string().into_bytes();
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.resize(out.len() + offset, 0);
    out
}

fn load(tensors: &[(String, Vec<usize>)]) -> Result<ResNet, LoadError> {
    let ck = Checkpoint::from_bytes(Path::new("fuzz.safetensors"), &safetensors(tensors))
        .expect("a well-formed safetensors file");
    ResNet::from_checkpoint(&ck)
}

fn t(name: &str, shape: &[usize]) -> (String, Vec<usize>) {
    (name.to_owned(), shape.to_vec())
}

/// conv + its BatchNorm, torchvision names.
fn conv_bn(conv: &str, bn: &str, oihw: [usize; 4]) -> Vec<(String, Vec<usize>)> {
    let mut v = vec![t(&format!("{conv}.weight"), &oihw)];
    for p in ["weight", "bias", "running_mean", "running_var"] {
        v.push(t(&format!("{bn}.{p}"), &[oihw[0]]));
    }
    v
}

/// Broke: `ResNet::from_checkpoint` read the bottleneck width as `shape[0]` of
/// `layer1.0.conv1.weight`, which panicked (index out of bounds) for a 0-d tensor.
#[test]
fn scalar_bottleneck_width_is_an_error() {
    let mut ts = vec![
        t("layer1.0.conv1.weight", &[]),
        t("layer1.0.conv3.weight", &[1]),
    ];
    for l in 2..=4 {
        ts.push(t(&format!("layer{l}.0.conv1.weight"), &[1]));
    }
    let e = load(&ts).unwrap_err().to_string();
    assert!(e.contains("conv1.weight"), "{e}");
}

/// Broke: a `layer1.0.conv1.weight` of shape `[2^62, 0]` (no data, so the file is valid)
/// passed the "multiple of 64" check and `planes * width1` overflowed (a panic in debug builds).
#[test]
fn huge_bottleneck_width_is_an_error() {
    let mut ts = conv_bn("conv1", "bn1", [64, 3, 7, 7]);
    ts.push(t("layer1.0.conv1.weight", &[1 << 62, 0]));
    ts.push(t("layer1.0.conv3.weight", &[1]));
    for l in 2..=4 {
        ts.push(t(&format!("layer{l}.0.conv1.weight"), &[1]));
    }
    let e = load(&ts).unwrap_err().to_string();
    assert!(e.contains("too many"), "{e}");
}

/// Broke: the class count was read as `shape[0]` of `fc.weight`, which panicked for a 0-d
/// tensor once the rest of the network (here the smallest one: basic blocks, one per stage)
/// had loaded.
#[test]
fn scalar_fc_weight_is_an_error() {
    let mut ts = conv_bn("conv1", "bn1", [64, 3, 7, 7]);
    let mut cin = 64;
    for l in 1..=4usize {
        let cout = 64 << (l - 1);
        let p = format!("layer{l}.0");
        ts.extend(conv_bn(
            &format!("{p}.conv1"),
            &format!("{p}.bn1"),
            [cout, cin, 3, 3],
        ));
        ts.extend(conv_bn(
            &format!("{p}.conv2"),
            &format!("{p}.bn2"),
            [cout, cout, 3, 3],
        ));
        if cin != cout {
            ts.extend(conv_bn(
                &format!("{p}.downsample.0"),
                &format!("{p}.downsample.1"),
                [cout, cin, 1, 1],
            ));
        }
        cin = cout;
    }
    // The same network with a proper classifier loads: the test reaches the fc code.
    let mut good = ts.clone();
    good.push(t("fc.weight", &[3, 512]));
    good.push(t("fc.bias", &[3]));
    assert_eq!(load(&good).expect("valid network").num_classes(), 3);

    ts.push(t("fc.weight", &[]));
    ts.push(t("fc.bias", &[1]));
    let e = load(&ts).unwrap_err().to_string();
    assert!(e.contains("fc.weight"), "{e}");
}
