//! Each CAM method on the GPU against a CPU version of pytorch-grad-cam's formula for it:
//! the closed-form gradient methods (CAM, Grad-CAM, HiResCAM, XGrad-CAM, Grad-CAM++, LayerCAM)
//! written with the library's per-pixel sums, EigenCAM by a float64 power iteration, and
//! Score-CAM from masked forwards built on the CPU. The end-to-end comparison with
//! pytorch-grad-cam's own output is tests/cam.rs.

use shadercam_cam::{ExplainOptions, Explainer, Method, Targets};
use shadercam_suite::{
    Rng, default_explainer, fixture_inputs, fixture_names, gpu, random_resnet_model, rel_l2,
};

/// pytorch-grad-cam's per-method weights written out on the CPU from the layer4 maps `a`
/// (`[hw][k]`) and the fc row `w`, with the gradient `g_k = w_k / hw` broadcast over pixels
/// — literally the library's formulas (grads·acts sums included), in f64.
fn cpu_map(method: Method, a: &[f32], w: &[f32], hw: usize) -> Vec<f64> {
    let k = w.len();
    let g: Vec<f64> = w.iter().map(|&v| v as f64 / hw as f64).collect();
    let act = |p: usize, c: usize| a[p * k + c] as f64;
    let sum_act: Vec<f64> = (0..k).map(|c| (0..hw).map(|p| act(p, c)).sum()).collect();
    let alpha: Vec<f64> = match method {
        Method::Cam => w.iter().map(|&v| v as f64).collect(),
        Method::GradCam => g.clone(),
        Method::XGradCam => (0..k)
            .map(|c| {
                (0..hw)
                    .map(|p| g[c] * act(p, c) / (sum_act[c] + 1e-7))
                    .sum()
            })
            .collect(),
        Method::GradCamPlusPlus => (0..k)
            .map(|c| {
                let (g2, g3) = (g[c] * g[c], g[c] * g[c] * g[c]);
                let aij = if g[c] != 0.0 {
                    g2 / (2.0 * g2 + sum_act[c] * g3 + 1e-6)
                } else {
                    0.0
                };
                (0..hw).map(|_| g[c].max(0.0) * aij).sum()
            })
            .collect(),
        Method::LayerCam => g.iter().map(|v| v.max(0.0)).collect(),
        Method::HiResCam => {
            // Element-wise grads * activations summed over channels.
            return (0..hw)
                .map(|p| (0..k).map(|c| g[c] * act(p, c)).sum())
                .collect();
        }
        other => unreachable!("{other} has no closed form here"),
    };
    (0..hw)
        .map(|p| (0..k).map(|c| alpha[c] * act(p, c)).sum())
        .collect()
}

#[test]
fn every_closed_form_method_matches_its_cpu_formula() {
    let mut ex = default_explainer(gpu());
    let names = fixture_names();
    let x = fixture_inputs(&names[..2]);
    let fc = ex.model.fc_weight.clone();
    let k = ex.model.num_features;
    // The six closed-form gradient methods (the newer ones have their own tests below).
    let closed_form = Method::ALL.into_iter().filter(|m| {
        matches!(
            m,
            Method::Cam
                | Method::GradCam
                | Method::HiResCam
                | Method::XGradCam
                | Method::GradCamPlusPlus
                | Method::LayerCam
        )
    });
    for method in closed_form {
        let opts = ExplainOptions {
            method,
            targets: Targets::TopK(2),
            keep_features: true,
            ..Default::default()
        };
        let out = ex.explain(&x, 224, &[], &opts).unwrap();
        for e in &out {
            let feats = e.features.as_ref().unwrap();
            for (t, &c) in e.targets.iter().enumerate() {
                let want = cpu_map(method, feats, &fc[c * k..(c + 1) * k], 49);
                let want: Vec<f32> = want.iter().map(|&v| v as f32).collect();
                let err = rel_l2(&e.raw[t], &want);
                assert!(
                    err < 1e-4,
                    "{method} target {c}: GPU map vs CPU formula relative L2 {err:.2e}"
                );
            }
            assert_eq!(e.targets.len(), 2);
            assert!(
                e.logits[e.targets[0]] >= e.logits[e.targets[1]],
                "top-k is ordered best first"
            );
        }
    }
}

/// EigenCAM reference: the centred maps' projection on their first principal direction, by
/// f64 power iteration on the pixel Gram matrix (an independent route from the shader's).
fn cpu_eigencam(a: &[f32], hw: usize, k: usize) -> Vec<f64> {
    let mean: Vec<f64> = (0..k)
        .map(|c| (0..hw).map(|p| a[p * k + c] as f64).sum::<f64>() / hw as f64)
        .collect();
    let m = |p: usize, c: usize| a[p * k + c] as f64 - mean[c];
    let gram: Vec<f64> = (0..hw * hw)
        .map(|i| (0..k).map(|c| m(i / hw, c) * m(i % hw, c)).sum())
        .collect();
    // Start where shaders/eigencam.wgsl#power-iteration starts, x_p = 1 + p/HW. The all-ones
    // vector used before lies in the null space of the centred Gram matrix (J·1 = 0), so the
    // iteration only left it through rounding noise (issue 12).
    let mut v: Vec<f64> = (0..hw).map(|p| 1.0 + p as f64 / hw as f64).collect();
    let mut lambda = 0.0;
    for _ in 0..5000 {
        let y: Vec<f64> = (0..hw)
            .map(|p| (0..hw).map(|q| gram[p * hw + q] * v[q]).sum())
            .collect();
        lambda = y.iter().map(|x| x * x).sum::<f64>().sqrt();
        v = y.iter().map(|x| x / lambda).collect();
    }
    let big = v
        .iter()
        .copied()
        .fold(0.0f64, |b, x| if x.abs() > b.abs() { x } else { b });
    let s = lambda.sqrt() * big.signum();
    v.iter().map(|x| x * s).collect()
}

#[test]
fn eigencam_matches_a_cpu_principal_component() {
    let mut ex = default_explainer(gpu());
    let names = fixture_names();
    let opts = ExplainOptions {
        method: Method::EigenCam,
        targets: Targets::TopK(1),
        keep_features: true,
        ..Default::default()
    };
    let out = ex
        .explain(&fixture_inputs(&names[..2]), 224, &[], &opts)
        .unwrap();
    for (name, e) in names.iter().zip(&out) {
        let want: Vec<f32> = cpu_eigencam(e.features.as_ref().unwrap(), 49, ex.model.num_features)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let err = rel_l2(&e.raw[0], &want);
        assert!(
            err < 1e-3,
            "{name}: eigencam projection vs CPU relative L2 {err:.2e}"
        );
    }
}

/// Score-CAM on a random-weight ResNet-18 (512 maps) at 40x40 (2x2 layer4 maps), so that the
/// 512 masked forward passes stay cheap on lavapipe. The reference builds the masks on the CPU
/// exactly as pytorch-grad-cam's ScoreCAM does (UpsamplingBilinear2d = align_corners=True,
/// min-max with 1e-8, input ⊙ mask), scores them with the (separately validated) network, and
/// takes the softmax-weighted sum of the maps.
#[test]
fn scorecam_matches_masked_forwards_built_on_the_cpu() {
    let model = random_resnet_model([2, 2, 2, 2], false, 5, 77);
    let mut ex = Explainer::new(gpu(), model).unwrap();
    let (crop, k) = (40usize, 512usize);
    let x = Rng::new(5).vec(crop * crop * 3);
    let opts = ExplainOptions {
        method: Method::ScoreCam,
        targets: Targets::TopK(1),
        keep_features: true,
        ..Default::default()
    };
    let e = ex.explain(&x, crop, &[], &opts).unwrap().remove(0);
    let (fh, fw) = e.map_size;
    assert_eq!((fh, fw), (2, 2));
    let feats = e.features.as_ref().unwrap();
    let target = e.targets[0];
    // Masked inputs, as torch.nn.UpsamplingBilinear2d + ScoreCAM's normalisation compute them.
    let up = |c: usize, x: usize, y: usize| -> f64 {
        let s = |d: usize, src: usize| (src - 1) as f64 / (crop - 1) as f64 * d as f64;
        let (sx, sy) = (s(x, fw), s(y, fh));
        let (x0, y0) = (
            (sx.floor() as usize).min(fw - 1),
            (sy.floor() as usize).min(fh - 1),
        );
        let (x1, y1) = ((x0 + 1).min(fw - 1), (y0 + 1).min(fh - 1));
        let (ax, ay) = (sx - x0 as f64, sy - y0 as f64);
        let a = |yy: usize, xx: usize| feats[(yy * fw + xx) * k + c] as f64;
        (1.0 - ay) * ((1.0 - ax) * a(y0, x0) + ax * a(y0, x1))
            + ay * ((1.0 - ax) * a(y1, x0) + ax * a(y1, x1))
    };
    let mut masked = Vec::with_capacity(k * crop * crop * 3);
    for c in 0..k {
        let u: Vec<f64> = (0..crop * crop)
            .map(|p| up(c, p % crop, p / crop))
            .collect();
        let (lo, hi) = u
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        for (p, &v) in u.iter().enumerate() {
            let m = (v - lo) / (hi - lo + 1e-8);
            masked.extend((0..3).map(|ch| (x[p * 3 + ch] as f64 * m) as f32));
        }
    }
    let scores: Vec<f64> = ex
        .classify(&masked, crop)
        .unwrap()
        .iter()
        .map(|l| l[target] as f64)
        .collect();
    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = scores.iter().map(|s| (s - top).exp()).sum();
    let want: Vec<f32> = (0..fh * fw)
        .map(|p| {
            (0..k)
                .map(|c| (scores[c] - top).exp() / z * feats[p * k + c] as f64)
                .sum::<f64>() as f32
        })
        .collect();
    let err = rel_l2(&e.raw[0], &want);
    assert!(
        err < 1e-3,
        "Score-CAM map {:?} vs CPU-built reference {want:?}: relative L2 {err:.2e}",
        e.raw[0]
    );
}
