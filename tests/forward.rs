//! The ResNet-50 forward pass against PyTorch: stage by stage on the debug image (float64
//! reference outputs from tests/fixtures/debug-layers.safetensors, made by
//! ../shared/reference/make_fixtures.py --debug) and end to end on every ci fixture, one image at
//! a time and batched.

use shadercam_kernels::{ConvVariant, GpuResNet, Precision};
use shadercam_loader::ResNet;
use shadercam_suite::{
    argmax, debug_stage_errors, default_weights, fixture, fixture_input, fixture_names, gpu,
    read_tensor,
};

/// Relative L2 error allowed per stage (the bound; f32 vs PyTorch float64).
const STAGE_REL_L2: f64 = 1e-4;
/// Absolute logit error allowed end to end.
const LOGIT_ABS: f32 = 1e-3;

#[test]
fn every_stage_matches_pytorch_float64() {
    let ctx = gpu();
    let net = ResNet::load(&default_weights()).unwrap();
    let mut gnet = GpuResNet::new(&ctx, &net).unwrap();
    let stages = [
        ("stem", "stem"),
        ("maxpool", "maxpool"),
        ("layer1.0", "layer1.0"),
        ("layer1.2", "layer1"),
        ("layer2.3", "layer2"),
        ("layer3.5", "layer3"),
        ("layer4.2", "layer4"),
        ("avgpool", "avgpool"),
        ("fc", "fc"),
    ];
    let mut report = Vec::new();
    for (&(stage, _), e) in stages
        .iter()
        .zip(debug_stage_errors(&ctx, &mut gnet, &stages))
    {
        let (ref_name, err) = (e.reference, e.rel_l2);
        assert!(
            e.gpu_channels == e.channels.next_multiple_of(4),
            "{stage}: channel count {} vs reference {}",
            e.gpu_channels,
            e.channels
        );
        report.push(format!("{ref_name}: {err:.2e}"));
        assert!(
            err <= STAGE_REL_L2,
            "{ref_name} ({stage}): relative L2 error {err:.3e} > {STAGE_REL_L2:e}"
        );
    }
    eprintln!("per-stage relative L2 errors: {}", report.join(", "));
}

/// The GPU kernel (`Tiled`, what discrete GPUs run) through the whole network, so that the
/// path lavapipe does not prefer is still checked end to end against PyTorch here.
#[test]
fn the_gpu_conv_kernel_runs_the_whole_network_too() {
    let ctx = gpu();
    let net = ResNet::load(&default_weights()).unwrap();
    let mut gnet = GpuResNet::new(&ctx, &net).unwrap();
    gnet.kernels.conv2d.preferred = ConvVariant::Tiled;
    let names = fixture_names();
    let refs = fixture("reference.safetensors");
    let x: Vec<f32> = names[..2].iter().flat_map(|n| fixture_input(n)).collect();
    let got = gnet.forward(&ctx, &x, 2, 224, 224).unwrap();
    for (i, name) in names[..2].iter().enumerate() {
        let (_, want) = read_tensor(&refs, &format!("{name}.logits"));
        for (g, w) in got[i * 8..(i + 1) * 8].iter().zip(&want) {
            assert!(
                (g - w).abs() <= LOGIT_ABS,
                "{name} (Tiled kernel): {:?} vs PyTorch {want:?}",
                &got[i * 8..(i + 1) * 8]
            );
        }
    }
}

#[test]
fn logits_match_pytorch_one_at_a_time_and_batched() {
    let ctx = gpu();
    let net = ResNet::load(&default_weights()).unwrap();
    let mut gnet = GpuResNet::new(&ctx, &net).unwrap();
    let names = fixture_names();
    let classes = net.num_classes();
    let refs = fixture("reference.safetensors");
    let mut all_inputs = Vec::new();
    let mut all_want = Vec::new();
    let mut worst = 0f32;
    for name in &names {
        let x = fixture_input(name);
        let (_, want) = read_tensor(&refs, &format!("{name}.logits"));
        let t = std::time::Instant::now();
        let got = gnet.forward(&ctx, &x, 1, 224, 224).unwrap();
        eprintln!("{name}: forward {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        for (g, w) in got.iter().zip(&want) {
            worst = worst.max((g - w).abs());
            assert!(
                (g - w).abs() <= LOGIT_ABS,
                "{name}: logits {got:?} vs PyTorch {want:?}"
            );
        }
        assert_eq!(argmax(&got), argmax(&want), "{name}: top-1 differs");
        all_inputs.extend(x);
        all_want.push(got);
    }
    eprintln!("worst logit error vs PyTorch: {worst:.2e}");
    let n = names.len();
    let batched = gnet.forward(&ctx, &all_inputs, n, 224, 224).unwrap();
    for (i, name) in names.iter().enumerate() {
        let got = &batched[i * classes..(i + 1) * classes];
        for (g, w) in got.iter().zip(&all_want[i]) {
            assert!(
                (g - w).abs() <= 1e-5,
                "{name}: batched logits {got:?} differ from single {:?}",
                all_want[i]
            );
        }
    }
}

/// `--precision f16w`: convolution weights stored as f16, arithmetic in f32. Measured on the ci
/// fixtures (lavapipe): worst logit error and top-1 agreement with PyTorch's float64 forward.
/// Measured 4.1e-3 (lavapipe, 2026-11-26); the bound is about 5x that.
const F16_LOGIT_ABS: f32 = 2e-2;

#[test]
fn f16_weights_stay_close_to_pytorch() {
    let ctx = gpu();
    let net = ResNet::load(&default_weights()).unwrap();
    let mut gnet = GpuResNet::with_precision(&ctx, &net, Precision::F16Weights).unwrap();
    let names = fixture_names();
    let refs = fixture("reference.safetensors");
    let x: Vec<f32> = names.iter().flat_map(|n| fixture_input(n)).collect();
    let got = gnet.forward(&ctx, &x, names.len(), 224, 224).unwrap();
    let mut worst = 0f32;
    for (i, name) in names.iter().enumerate() {
        let (_, want) = read_tensor(&refs, &format!("{name}.logits"));
        let g = &got[i * 8..(i + 1) * 8];
        for (a, b) in g.iter().zip(&want) {
            worst = worst.max((a - b).abs());
        }
        assert_eq!(
            argmax(g),
            argmax(&want),
            "{name}: f16 weights change the top-1: {g:?} vs {want:?}"
        );
    }
    eprintln!(
        "f16 weights: worst logit error vs PyTorch {worst:.3e} over {} images",
        names.len()
    );
    assert!(
        worst <= F16_LOGIT_ABS,
        "f16 weights: logit error {worst} > {F16_LOGIT_ABS}"
    );
}
