//! Each CAM method on the GPU against a CPU version of pytorch-grad-cam's formula for it:
//! the closed-form gradient methods (CAM, Grad-CAM, HiResCAM, XGrad-CAM, Grad-CAM++, LayerCAM)
//! written with the library's per-pixel sums, EigenCAM by a float64 power iteration, and
//! Score-CAM from masked forwards built on the CPU. The end-to-end comparison with
//! pytorch-grad-cam's own output is tests/cam.rs (and tests/cam_library.rs, on more fixtures).
//! The methods run on one fixture here, photo_chelsea (RandomCAM on two: its weights depend on
//! the image's place in the call), one explain per method, to keep the file quick on lavapipe.

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
    let x = fixture_inputs(&names[1..2]);
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
        .explain(&fixture_inputs(&names[1..2]), 224, &[], &opts)
        .unwrap();
    for (name, e) in names[1..].iter().zip(&out) {
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

/// What the newer methods need besides one image's layer4 maps: that image's logits, the whole
/// fc layer, the map size and the channel count.
struct Net<'a> {
    logits: &'a [f32],
    fc: &'a [f32],
    bias: &'a [f32],
    hw: usize,
    k: usize,
}

impl Net<'_> {
    fn classes(&self) -> usize {
        self.bias.len()
    }

    /// `(1/hw)·Σ_m v_m·w^m_k`: the pixel-constant gradient of a score whose gradient with
    /// respect to the logits is `v`.
    fn back(&self, v: &[f64]) -> Vec<f64> {
        (0..self.k)
            .map(|c| {
                (0..self.classes())
                    .map(|m| v[m] * self.fc[m * self.k + c] as f64)
                    .sum::<f64>()
                    / self.hw as f64
            })
            .collect()
    }
}

/// softmax in f64.
fn softmax64(y: &[f64]) -> Vec<f64> {
    let top = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = y.iter().map(|v| (v - top).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

/// ∇f at `y` by central differences (step 1e-5·max(1, |y_m|)): the reference gradients of the
/// FinerCAM and ShapleyCAM scores are taken numerically, independently of the closed forms
/// the shaders use.
fn numeric_grad(f: impl Fn(&[f64]) -> f64, y: &[f64]) -> Vec<f64> {
    (0..y.len())
        .map(|m| {
            let h = 1e-5 * y[m].abs().max(1.0);
            let (mut a, mut b) = (y.to_vec(), y.to_vec());
            a[m] += h;
            b[m] -= h;
            (f(&a) - f(&b)) / (2.0 * h)
        })
        .collect()
}

/// FinerCAM's comparison classes: np.argsort(|y − y_c|) entries 1..=3 (a stable sort here:
/// ties by class index), after the target itself.
fn finer_comparisons(y: &[f64], c: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..y.len()).filter(|&j| j != c).collect();
    order.sort_by(|&a, &b| {
        (y[a] - y[c])
            .abs()
            .total_cmp(&(y[b] - y[c]).abs())
            .then(a.cmp(&b))
    });
    order.truncate(3.min(y.len() - 1));
    order
}

/// The newer methods' raw maps on the CPU, in f64, written as pytorch-grad-cam computes them
/// where that is a formula (FEM's k-sigma mask, AblationCAM's re-evaluated logits with one
/// channel replaced, GradCAMElementWise's clamp) and through numerical derivatives of the
/// target scores where the library uses autograd (FinerCAM, ShapleyCAM with ReST).
fn cpu_new_map(method: Method, a: &[f32], net: &Net, c: usize) -> Vec<f64> {
    let (hw, k) = (net.hw, net.k);
    let act = |p: usize, ch: usize| a[p * k + ch] as f64;
    let mean: Vec<f64> = (0..k)
        .map(|ch| (0..hw).map(|p| act(p, ch)).sum::<f64>() / hw as f64)
        .collect();
    let w = |m: usize, ch: usize| net.fc[m * k + ch] as f64;
    let y: Vec<f64> = net.logits.iter().map(|&v| v as f64).collect();
    let weighted = |alpha: &[f64]| -> Vec<f64> {
        (0..hw)
            .map(|p| (0..k).map(|ch| alpha[ch] * act(p, ch)).sum())
            .collect()
    };
    match method {
        Method::GradCamElementWise => (0..hw)
            .map(|p| {
                (0..k)
                    .map(|ch| (w(c, ch) / hw as f64 * act(p, ch)).max(0.0))
                    .sum()
            })
            .collect(),
        Method::Fem => {
            let alpha: Vec<f64> = (0..k)
                .map(|ch| {
                    let var = (0..hw)
                        .map(|p| (act(p, ch) - mean[ch]).powi(2))
                        .sum::<f64>()
                        / hw as f64;
                    let th = mean[ch] + 2.0 * var.sqrt();
                    (0..hw).filter(|&p| act(p, ch) > th).count() as f64 / hw as f64
                })
                .collect();
            weighted(&alpha)
        }
        Method::AblationCam => {
            // The logit re-evaluated from the pooled maps with channel k set to the ablation
            // value everywhere (the maps here are post-ReLU: min(A) = 0, so the value is 0).
            let min = a.iter().copied().fold(f32::INFINITY, f32::min);
            assert_eq!(min, 0.0, "the fixtures' layer4 maps contain zeros");
            let yc: f64 = (0..k).map(|ch| w(c, ch) * mean[ch]).sum::<f64>() + net.bias[c] as f64;
            let alpha: Vec<f64> = (0..k)
                .map(|ablated| {
                    let yk: f64 = (0..k)
                        .map(|ch| {
                            if ch == ablated {
                                0.0
                            } else {
                                w(c, ch) * mean[ch]
                            }
                        })
                        .sum::<f64>()
                        + net.bias[c] as f64;
                    (yc - yk) / yc
                })
                .collect();
            weighted(&alpha)
        }
        Method::FinerCam => {
            let cmp = finer_comparisons(&y, c);
            let score = |y: &[f64]| {
                let p = softmax64(y);
                let num: f64 = cmp.iter().map(|&j| p[j] * (y[c] - y[j])).sum();
                let den: f64 = cmp.iter().map(|&j| p[j]).sum();
                num / (den + 1e-9)
            };
            weighted(&net.back(&numeric_grad(score, &y)))
        }
        Method::ShapleyCam => {
            // ReST: s = y_c − CE(y, c); weights = mean over pixels of ∇s − ½·H·A. The logits
            // move along u = y − b when A is scaled, so H·A = (1/hw)·Wᵀ·(d/dt ∇_y s(y + t·u)).
            let grad_y = |y: &[f64]| {
                let mut g: Vec<f64> = softmax64(y).iter().map(|p| -p).collect();
                g[c] += 2.0;
                g
            };
            let u: Vec<f64> = y.iter().zip(net.bias).map(|(v, &b)| v - b as f64).collect();
            let h = 1e-5;
            let at = |t: f64| -> Vec<f64> {
                grad_y(
                    &y.iter()
                        .zip(&u)
                        .map(|(v, du)| v + t * du)
                        .collect::<Vec<_>>(),
                )
            };
            let (gp, gm) = (at(h), at(-h));
            let dgrad: Vec<f64> = gp
                .iter()
                .zip(&gm)
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect();
            let g = grad_y(&y);
            let v: Vec<f64> = g.iter().zip(&dgrad).map(|(g, d)| g - 0.5 * d).collect();
            weighted(&net.back(&v))
        }
        other => unreachable!("{other} is not one of the newer closed-form methods"),
    }
}

/// GradCAMElementWise, FEM, AblationCAM, FinerCAM and ShapleyCAM (ReST) on photo_chelsea,
/// top-2 targets, against the CPU versions above. Measured relative L2 on lavapipe: ≤ 3e-7
/// (f32 sums of 2048 terms); the bound 1e-4 leaves room for other adapters' summation order
/// and for the numerical derivatives (their truncation error is ~1e-10 relative).
#[test]
fn the_newer_closed_forms_match_their_cpu_versions() {
    let mut ex = default_explainer(gpu());
    let names = fixture_names();
    let x = fixture_inputs(&names[1..2]);
    let (fc, bias) = (ex.model.fc_weight.clone(), ex.model.fc_bias.clone());
    let k = ex.model.num_features;
    for method in [
        Method::GradCamElementWise,
        Method::Fem,
        Method::AblationCam,
        Method::FinerCam,
        Method::ShapleyCam,
    ] {
        let opts = ExplainOptions {
            method,
            targets: Targets::TopK(2),
            keep_features: true,
            ..Default::default()
        };
        let out = ex.explain(&x, 224, &[], &opts).unwrap();
        for (name, e) in names[1..].iter().zip(&out) {
            let net = Net {
                logits: &e.logits,
                fc: &fc,
                bias: &bias,
                hw: 49,
                k,
            };
            let feats = e.features.as_ref().unwrap();
            for (t, &c) in e.targets.iter().enumerate() {
                let want: Vec<f32> = cpu_new_map(method, feats, &net, c)
                    .iter()
                    .map(|&v| v as f32)
                    .collect();
                let err = rel_l2(&e.raw[t], &want);
                eprintln!("{method} {name} target {c}: relative L2 {err:.2e}");
                assert!(
                    err < 1e-4,
                    "{method} {name} target {c}: GPU map vs CPU relative L2 {err:.2e}"
                );
            }
        }
    }
}

/// RandomCAM: the weights are numpy's `np.random.seed(S); np.random.uniform(-1, 1, (N, C))`
/// row j for image j of one call (the stream itself is checked against numpy's printed values
/// in the crate's unit tests), the same row for every target; a different seed changes them.
#[test]
fn randomcam_sums_numpys_draws_image_by_image() {
    let mut ex = default_explainer(gpu());
    let names = fixture_names();
    let x = fixture_inputs(&names[..2]);
    let k = ex.model.num_features;
    for seed in [0u64, 7] {
        let opts = ExplainOptions {
            method: Method::RandomCam,
            targets: Targets::TopK(2),
            keep_features: true,
            seed,
            ..Default::default()
        };
        let out = ex.explain(&x, 224, &[], &opts).unwrap();
        let draws = shadercam_cam::numpy_uniform(seed as u32, 0, 2 * k);
        for (j, e) in out.iter().enumerate() {
            let feats = e.features.as_ref().unwrap();
            let alpha = &draws[j * k..(j + 1) * k];
            let want: Vec<f32> = (0..49)
                .map(|p| {
                    (0..k)
                        .map(|c| alpha[c] * feats[p * k + c] as f64)
                        .sum::<f64>() as f32
                })
                .collect();
            for t in 0..2 {
                let err = rel_l2(&e.raw[t], &want);
                assert!(
                    err < 1e-4,
                    "seed {seed} image {j} target {t}: relative L2 {err:.2e}"
                );
            }
        }
    }
}

/// numpy refuses seeds above 2^32 − 1, and so does the CAM stage (the CLI's `--seed` too).
#[test]
fn randomcam_refuses_a_seed_numpy_would() {
    let mut ex = default_explainer(gpu());
    let names = fixture_names();
    let opts = ExplainOptions {
        method: Method::RandomCam,
        seed: u32::MAX as u64 + 1,
        ..Default::default()
    };
    let err = ex
        .explain(&fixture_inputs(&names[..1]), 224, &[], &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("seed must be at most 4294967295"), "{err}");
}

/// SobelCAM on the CPU, as pytorch_grad_cam.sobel_cam runs OpenCV on the uint8 crop:
/// RGB2GRAY with OpenCV's 15-bit fixed-point coefficients, 3x3 Sobel with BORDER_REFLECT_101,
/// |·| saturated to 255, then 0.5·|dx| + 0.5·|dy| rounded half to even.
fn cpu_sobel(x_hwc: &[f32], crop: usize, mean: [f32; 3], std: [f32; 3]) -> Vec<u8> {
    let u8_at = |p: usize, ch: usize| {
        ((x_hwc[p * 3 + ch] * std[ch] + mean[ch]) * 255.0)
            .round_ties_even()
            .clamp(0.0, 255.0) as i64
    };
    let gray: Vec<i64> = (0..crop * crop)
        .map(|p| (u8_at(p, 0) * 9798 + u8_at(p, 1) * 19235 + u8_at(p, 2) * 3735 + 16384) >> 15)
        .collect();
    let n = crop as i64;
    let refl = |i: i64| {
        if i < 0 {
            -i
        } else if i >= n {
            2 * n - 2 - i
        } else {
            i
        }
    };
    let g = |y: i64, x: i64| gray[(refl(y) * n + refl(x)) as usize];
    let mut out = Vec::with_capacity(crop * crop);
    for y in 0..n {
        for x in 0..n {
            let dx = g(y - 1, x + 1) - g(y - 1, x - 1)
                + 2 * (g(y, x + 1) - g(y, x - 1))
                + g(y + 1, x + 1)
                - g(y + 1, x - 1);
            let dy = g(y + 1, x - 1) - g(y - 1, x - 1)
                + 2 * (g(y + 1, x) - g(y - 1, x))
                + g(y + 1, x + 1)
                - g(y - 1, x + 1);
            let v = 0.5 * dx.abs().min(255) as f64 + 0.5 * dy.abs().min(255) as f64;
            out.push(v.round_ties_even() as u8);
        }
    }
    out
}

/// SobelCAM's heatmap is the CPU Sobel map / 255 exactly (every pixel of photo_chelsea, every
/// target), and its overlay is drawn from it.
#[test]
fn sobelcam_is_opencvs_sobel_of_the_crop() {
    let mut ex = default_explainer(gpu());
    let names = fixture_names();
    let x = fixture_inputs(&names[1..2]);
    let (mean, std) = (ex.model.preprocess.mean, ex.model.preprocess.std);
    let opts = ExplainOptions {
        method: Method::SobelCam,
        targets: Targets::TopK(2),
        ..Default::default()
    };
    let out = ex.explain(&x, 224, &[], &opts).unwrap();
    let per = 224 * 224 * 3;
    for (j, e) in out.iter().enumerate() {
        let want = cpu_sobel(&x[j * per..(j + 1) * per], 224, mean, std);
        for t in 0..2 {
            let got: Vec<u8> = e.heatmaps[t]
                .iter()
                .map(|&v| (v * 255.0).round() as u8)
                .collect();
            let bad = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(
                bad, 0,
                "image {j} target {t}: {bad} pixels differ from the CPU Sobel"
            );
            assert!(e.overlays[t].iter().any(|&px| px != e.overlays[t][0]));
        }
    }
}
