//! A PyTorch `.pth` checkpoint gives PyTorch's logits: the wrapped, `module.`-prefixed float16
//! training checkpoint in tests/fixtures/pth/ (made by weights/make_pth_fixtures.py, whose
//! float64 forward pass stored the logits beside it) is loaded by shadercam's reader, BatchNorm
//! folded, and run through the CPU reference network of `shadercam_kernels::reference` (the
//! kernels' own correctness reference; no GPU needed). This checks what the loader must get
//! right for a `.pth` (names, views, float16) end to end; the GPU network is checked against
//! the same reference elsewhere.

use shadercam_kernels::reference::{conv2d, global_avg_pool, linear, maxpool};
use shadercam_loader::{Checkpoint, ConvLayer, ResNet};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pth")
        .join(name)
}

/// NHWC activations of `n` images.
struct Act {
    x: Vec<f32>,
    h: usize,
    w: usize,
    c: usize,
}

fn conv(a: &Act, n: usize, l: &ConvLayer, residual: Option<&[f32]>, relu: bool) -> Act {
    assert_eq!((a.c, l.kh), (l.cin, l.kw), "{}", l.name);
    let x = conv2d(
        &a.x,
        &l.weight,
        &l.bias,
        residual,
        relu,
        n,
        (a.h, a.w, a.c),
        (l.cout, l.kh, l.stride, l.pad),
    );
    let oh = (a.h + 2 * l.pad - l.kh) / l.stride + 1;
    let ow = (a.w + 2 * l.pad - l.kw) / l.stride + 1;
    Act {
        x,
        h: oh,
        w: ow,
        c: l.cout,
    }
}

/// torchvision's ResNet forward pass on NHWC input: stem, 3x3/2 max-pool, residual blocks,
/// global average pool, fc.
fn forward(net: &ResNet, input: Act, n: usize) -> Vec<f32> {
    let a = conv(&input, n, &net.stem, None, true);
    let mut a = Act {
        x: maxpool(&a.x, n, a.h, a.w, a.c, 3, 2, 1),
        h: (a.h + 2 - 3) / 2 + 1,
        w: (a.w + 2 - 3) / 2 + 1,
        c: a.c,
    };
    for stage in &net.stages {
        for block in &stage.blocks {
            let shortcut = match &block.downsample {
                Some(ds) => conv(&a, n, ds, None, false).x,
                None => a.x.clone(),
            };
            let (last, inner) = block.convs.split_last().unwrap();
            let mut t = Act {
                x: a.x.clone(),
                h: a.h,
                w: a.w,
                c: a.c,
            };
            for l in inner {
                t = conv(&t, n, l, None, true);
            }
            a = conv(&t, n, last, Some(&shortcut), true);
        }
    }
    let pooled = global_avg_pool(&a.x, n, a.h * a.w, a.c);
    linear(
        &pooled,
        &net.fc_weight,
        &net.fc_bias,
        n,
        net.num_features,
        net.num_classes(),
    )
}

#[test]
fn a_wrapped_f16_pth_gives_pytorchs_logits() {
    let net = ResNet::load(&fixture("resnet10-wrapped-f16.pth")).unwrap();
    let reference = Checkpoint::open(&fixture("resnet10-wrapped-f16.logits.safetensors")).unwrap();
    let input = &reference.tensors["input"];
    let want = &reference.tensors["logits"];
    let [n, c, h, w] = input.shape[..] else {
        panic!("input shape {:?}", input.shape)
    };
    assert_eq!(want.shape, [n, net.num_classes()]);
    // NCHW -> NHWC
    let mut x = vec![0f32; input.data.len()];
    for b in 0..n {
        for ch in 0..c {
            for p in 0..h * w {
                x[(b * h * w + p) * c + ch] = input.data[(b * c + ch) * h * w + p];
            }
        }
    }
    let got = forward(&net, Act { x, h, w, c }, n);
    // f32 with f64 accumulation against PyTorch's float64 forward of the same float16 values:
    // the difference is f32 rounding of activations through ten layers. Tolerance as in burn:
    // |got - want| <= max(REL * |want|, ABS), ABS relative to the largest logit.
    const REL: f32 = 1e-4;
    let scale = want.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    let abs = 1e-4 * scale;
    let mut worst = (0usize, 0f32);
    for (i, (&g, &v)) in got.iter().zip(&want.data).enumerate() {
        let err = (g - v).abs();
        assert!(
            err <= (REL * v.abs()).max(abs),
            "logit {i}: got {g}, PyTorch {v} (all: got {got:?}, want {:?})",
            want.data
        );
        if err > worst.1 {
            worst = (i, err);
        }
    }
    eprintln!(
        "worst logit error {:.2e} at {} (largest logit {scale})",
        worst.1, worst.0
    );
}

/// The embedded default model saved by `torch.save` (tests/fixtures/pth/resnet50-shapes-f16.pth,
/// made by `weights/make_pth_fixtures.py --only shapes`) loads to exactly the network the
/// safetensors file gives: every folded weight equal, hence the same logits — checked on a
/// small random input through the CPU reference network. The safetensors network itself is
/// checked against PyTorch's logits in tests/forward.rs.
#[test]
fn the_embedded_model_saved_by_torch_gives_the_same_network_and_logits() {
    let pth = ResNet::load(&fixture("resnet50-shapes-f16.pth")).unwrap();
    let st = ResNet::load(&shadercam_suite::default_weights()).unwrap();
    shadercam_suite::assert_same_net("resnet50-shapes-f16.pth", &pth, &st, 0.0);
    let (h, w, c) = (32, 32, 3);
    let x = shadercam_suite::Rng::new(50).vec(h * w * c);
    let act = |x: Vec<f32>| Act { x, h, w, c };
    let got = forward(&pth, act(x.clone()), 1);
    let want = forward(&st, act(x), 1);
    assert_eq!(got, want, "logits of the .pth and the .safetensors differ");
}
