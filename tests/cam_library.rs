//! The methods of issue 13 against pytorch-grad-cam 1.5.7 itself: tests/fixtures/methods.safetensors
//! (weights/make_method_refs.py: the library on a float64 copy of the same ResNet-50, the 8 ci
//! fixtures, top-1 target). For each method, every fixture's raw map (`get_cam_image`, before
//! ReLU, 7x7) and shape_002's returned 224x224 heatmap; SobelCAM's uint8 map on every fixture;
//! and the raw maps of the earlier closed-form methods (HiResCAM, XGrad-CAM, Grad-CAM++,
//! LayerCAM) on four fixtures. The default test checks every method on three of the fixtures
//! ([`SUBSET`]); the ignored one on all of them.
//! The CPU-formula tests of the same methods are tests/cam_methods.rs.

use shadercam_cam::{ExplainOptions, Explainer, Method, Targets};
use shadercam_suite::{
    default_explainer, fixture, fixture_inputs, fixture_names, gpu, max_abs_diff, read_tensor,
};

/// Bound on `max |ours − library| / max |library|` over a raw 7x7 map (f32 GPU network and CAM
/// stage vs the library on a float64 model). Measured on lavapipe, worst fixture per method:
/// ablationcam 1.4e-6, gradcamelementwise 1.5e-6, finercam 3.5e-6, shapleycam 1.6e-6,
/// shapleycam_logit (vs our gradcam) 1.6e-6, fem 2.8e-6, randomcam 2.1e-6; hirescam and
/// xgradcam 1.6e-6, gradcam++ 1.5e-6, layercam 1.5e-6 (four fixtures) — the network's own
/// f32 error (logits within 1.7e-5 of PyTorch). 1e-4 leaves 30x for other adapters' summation
/// orders and still fails the likely mistakes, measured on shape_002 and photo_chelsea with the
/// library's float64 maps: FinerCAM's paper target `y_c − mean y_C` instead of the library's
/// softmax-weighted one is off by 0.67 to 1.2, the next image's RandomCAM row by 0.16 to 1.6,
/// ShapleyCAM's logit target instead of ReST by 5e-2 on photo_chelsea (but 4e-8 on shape_002:
/// with p_c ≈ 1 the ReST weights are the logit's).
const RAW_REL: f32 = 1e-4;
/// Bound on |ours − library| for shape_002's 224x224 heatmap (values in [0, 1]): the bound
/// tests/cam.rs holds Grad-CAM to. Measured: 3e-7 to 1.4e-6 (finercam), 5.0e-6 (randomcam).
const HEAT_ABS: f32 = 2e-3;

/// `(method, its name in methods.safetensors)`. `shapleycam` is the ReST target;
/// `shapleycam_logit`, the library's default target, must be our Grad-CAM (its HVP is zero).
const METHODS: &[(Method, &str)] = &[
    (Method::AblationCam, "ablationcam"),
    (Method::GradCamElementWise, "gradcamelementwise"),
    (Method::FinerCam, "finercam"),
    (Method::ShapleyCam, "shapleycam"),
    (Method::GradCam, "shapleycam_logit"),
    (Method::Fem, "fem"),
    (Method::RandomCam, "randomcam"),
];

fn reference(name: &str) -> (Vec<usize>, Vec<f32>) {
    read_tensor(&fixture("methods.safetensors"), name)
}

/// The fixtures of the default test: a photo, shape_001 and shape_002 (whose heatmaps the
/// references hold). The ignored `every_fixture_matches_pytorch_grad_cam` runs all 8.
const SUBSET: [&str; 3] = ["photo_chelsea", "shape_001", "shape_002"];

fn subset() -> Vec<String> {
    SUBSET.map(String::from).to_vec()
}

/// Every method of [`METHODS`] on `names` (one explain call per method), FinerCAM's classes
/// too; shape_002's heatmap where `names` holds it. RandomCAM's reference drew its weights for
/// the 8 images as one batch, sorted by name, and row j goes to image j of a call: it runs on
/// `prefix`, the first fixtures of the 8 (numpy's rows are one stream, so a prefix's rows are
/// the 8-image draw's). Pushes failures; prints the measured errors.
fn check_methods(
    ex: &mut Explainer,
    names: &[String],
    prefix: &[String],
    failures: &mut Vec<String>,
) {
    let all = fixture_names();
    assert_eq!(all.len(), 8, "the references cover the 8 ci fixtures");
    assert_eq!(prefix, &all[..prefix.len()], "RandomCAM needs a prefix");
    let x = fixture_inputs(names);
    let x_prefix = fixture_inputs(prefix);
    for &(method, key) in METHODS {
        let opts = ExplainOptions {
            method,
            targets: Targets::TopK(1),
            ..Default::default()
        };
        let (names, x) = if method == Method::RandomCam {
            (prefix, &x_prefix)
        } else {
            (names, &x)
        };
        let out = ex.explain(x, 224, &[], &opts).unwrap();
        let mut worst = (0f32, "");
        for (name, e) in names.iter().zip(&out) {
            let (shape, want) = reference(&format!("{name}.{key}.raw"));
            assert_eq!(shape, [7, 7], "{name}.{key}.raw");
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                e.raw[0].iter().all(|v| v.is_finite()),
                "{key} {name}: NaN/inf"
            );
            let (_, d) = max_abs_diff(&e.raw[0], &want);
            let rel = d / scale;
            if rel > worst.0 {
                worst = (rel, name);
            }
            if rel.is_nan() || rel > RAW_REL {
                failures.push(format!("{key} {name}: raw map off by {rel:.2e} of its max"));
            }
            if method == Method::FinerCam {
                let (_, want) = reference(&format!("{name}.finercam.classes"));
                assert_eq!(
                    finer_classes(&e.logits),
                    want,
                    "{name}: FinerCAM's main and comparison classes"
                );
            }
            if name == "shape_002" {
                let (_, want) = reference(&format!("shape_002.{key}.heat"));
                let (i, d) = max_abs_diff(&e.heatmaps[0], &want);
                eprintln!("{key}: shape_002 heat max abs diff {d:.2e}");
                if d.is_nan() || d > HEAT_ABS {
                    failures.push(format!(
                        "{key} shape_002: heat off by {d:.2e} at ({}, {})",
                        i % 224,
                        i / 224
                    ));
                }
            }
        }
        eprintln!(
            "{key}: worst raw error {:.2e} of max |map| ({})",
            worst.0, worst.1
        );
    }
}

/// The six methods shadercam had before, whose closed forms tests/cam_methods.rs checks against
/// CPU formulas, here against the library's own raw maps too (the references hold the first
/// four fixtures: the two photos and shape_000, shape_001; one explain per method): HiResCAM,
/// XGrad-CAM, Grad-CAM++ and LayerCAM (Grad-CAM's reference is `cam7 / 49`, tests/cam.rs).
fn check_earlier_methods(ex: &mut Explainer, names: &[String], failures: &mut Vec<String>) {
    let x = fixture_inputs(names);
    for (method, key) in [
        (Method::HiResCam, "hirescam"),
        (Method::XGradCam, "xgradcam"),
        (Method::GradCamPlusPlus, "gradcamplusplus"),
        (Method::LayerCam, "layercam"),
    ] {
        let opts = ExplainOptions {
            method,
            ..Default::default()
        };
        let out = ex.explain(&x, 224, &[], &opts).unwrap();
        let mut worst = 0f32;
        for (name, e) in names.iter().zip(&out) {
            let (_, want) = reference(&format!("{name}.{key}.raw"));
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                e.raw[0].iter().all(|v| v.is_finite()),
                "{key} {name}: NaN/inf"
            );
            let rel = max_abs_diff(&e.raw[0], &want).1 / scale;
            worst = worst.max(rel);
            if rel.is_nan() || rel > RAW_REL {
                failures.push(format!("{key} {name}: raw map off by {rel:.2e} of its max"));
            }
        }
        eprintln!("{key}: worst raw error {worst:.2e} of max |map|");
    }
}

/// FinerCAM's classes for the top-1 target by the library's rule (main class = argmax, then
/// np.argsort(|y − y_c|)[1..=3]), applied on the CPU to our logits, as f32 like the reference
/// `NAME.finercam.classes`. The GPU's own choice (cam_targets.wgsl#finer-comparisons) is what
/// the finercam raw maps depend on; this checks that the rule is the library's.
fn finer_classes(y: &[f32]) -> Vec<f32> {
    let c = (0..y.len()).fold(0, |b, j| if y[j] > y[b] { j } else { b });
    let mut order: Vec<usize> = (0..y.len()).filter(|&j| j != c).collect();
    order.sort_by(|&a, &b| {
        (y[a] - y[c])
            .abs()
            .total_cmp(&(y[b] - y[c]).abs())
            .then(a.cmp(&b))
    });
    std::iter::once(c)
        .chain(order.into_iter().take(3))
        .map(|v| v as f32)
        .collect()
}

/// SobelCAM: the heatmap × 255 is the library's uint8 `sobel_cam` of the crop, exactly, on
/// every image of `names` (OpenCV's integer arithmetic, no tolerance).
fn check_sobel(ex: &mut Explainer, names: &[String]) {
    let opts = ExplainOptions {
        method: Method::SobelCam,
        ..Default::default()
    };
    let out = ex.explain(&fixture_inputs(names), 224, &[], &opts).unwrap();
    for (name, e) in names.iter().zip(&out) {
        let (shape, want) = reference(&format!("{name}.sobelcam.u8"));
        assert_eq!(shape, [224, 224]);
        let bad = e.heatmaps[0]
            .iter()
            .zip(&want)
            .filter(|&(g, w)| (g * 255.0).round() != *w)
            .count();
        assert_eq!(
            bad, 0,
            "{name}: {bad} pixels differ from pytorch_grad_cam.sobel_cam"
        );
    }
}

/// Every method with a reference in methods.safetensors, on [`SUBSET`] (RandomCAM on the two
/// photos, the first two fixtures), with one explainer: the raw maps of [`METHODS`] and
/// FinerCAM's classes, shape_002's heatmaps, the earlier methods on photo_chelsea and
/// shape_001, SobelCAM exactly.
#[test]
fn every_method_matches_pytorch_grad_cam_on_three_fixtures() {
    let mut ex = default_explainer(gpu());
    let names = subset();
    let mut failures = Vec::new();
    check_methods(&mut ex, &names, &fixture_names()[..2], &mut failures);
    check_earlier_methods(&mut ex, &names[..2], &mut failures);
    check_sobel(&mut ex, &names);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same on all 8 fixtures (the earlier methods on the four their references hold).
#[test]
#[ignore = "exhaustive: all 8 fixtures, ~115 s on lavapipe (2 cores); run with \
            `cargo test --test cam_library -- --ignored`"]
fn every_fixture_matches_pytorch_grad_cam() {
    let mut ex = default_explainer(gpu());
    let names = fixture_names();
    let mut failures = Vec::new();
    check_methods(&mut ex, &names, &names, &mut failures);
    check_earlier_methods(&mut ex, &names[..4], &mut failures);
    check_sobel(&mut ex, &names);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
