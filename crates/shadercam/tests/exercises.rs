//! The answers to the exercises of docs/tutorial.md, computed here so that they stay true: each
//! test derives its answer from the embedded model (weights/resnet50-shapes.safetensors) on
//! `shape_004` and `photo_chelsea`, checks it, and checks that the tutorial quotes it as
//! printed (`--nocapture` shows the numbers). GPU runs use whatever adapter wgpu finds
//! (lavapipe in CI).

use shadercam_cam::{
    ExplainOptions, Explainer, Explanation, LoadedImage, Method, StageMaps, jet, load_image,
    softmax,
};
use shadercam_image::Preprocess;
use shadercam_kernels::GpuContext;
use shadercam_loader::ResNet;

/// The two pictures of the tutorial.
const IMAGES: [&str; 2] = ["shape_004", "photo_chelsea"];

mod common;

use common::{fixture, quoted, root};

/// The embedded model on the adapter wgpu finds, and the tutorial's two images, preprocessed.
fn setup() -> (Explainer, Vec<LoadedImage>) {
    let model = ResNet::load(&root().join("weights/resnet50-shapes.safetensors"))
        .expect("load the embedded model");
    let p = &model.preprocess;
    let pre = Preprocess {
        resize_size: p.resize_size,
        crop_size: p.crop_size,
        mean: p.mean,
        std: p.std,
    };
    let imgs = IMAGES
        .iter()
        .map(|n| {
            let path = fixture(&format!("images/{n}.png"));
            load_image(&path, &pre, 1 << 30, false).expect("load a fixture image")
        })
        .collect();
    let ctx = GpuContext::new()
        .expect("no GPU adapter: install one (`apt-get install mesa-vulkan-drivers` for lavapipe)");
    (
        Explainer::new(ctx, model).expect("create the pipelines"),
        imgs,
    )
}

/// Every image's explanation and stages under `method`, with the layer4 maps.
fn explain(
    ex: &mut Explainer,
    imgs: &[LoadedImage],
    method: Method,
) -> Vec<(Explanation, StageMaps)> {
    let tensors: Vec<f32> = imgs.iter().flat_map(|i| i.tensor.iter().copied()).collect();
    let opts = ExplainOptions {
        method,
        keep_features: true,
        ..Default::default()
    };
    ex.explain_with_stages(&tensors, 224, &[], &opts)
        .expect("explain")
}

/// Per-channel spatial means of `[hw, k]` maps, in f64.
fn means(f: &[f32], k: usize) -> Vec<f64> {
    let hw = f.len() / k;
    (0..k)
        .map(|c| (0..hw).map(|p| f[p * k + c] as f64).sum::<f64>() / hw as f64)
        .collect()
}

/// `Σ_k α_k A_k(p)` for every pixel `p` of `[hw, k]` maps.
fn weighted_sum(f: &[f32], alpha: &[f64]) -> Vec<f64> {
    let k = alpha.len();
    f.chunks(k)
        .map(|px| px.iter().zip(alpha).map(|(&a, &w)| a as f64 * w).sum())
        .collect()
}

/// pytorch-grad-cam's `scale_cam_image` after a ReLU: `(x - min) / (max - min + 1e-7)`.
fn relu_min_max(x: &[f64]) -> Vec<f64> {
    let r: Vec<f64> = x.iter().map(|v| v.max(0.0)).collect();
    let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    r.iter().map(|v| (v - lo) / (hi - lo + 1e-7)).collect()
}

fn max_abs(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// Exercise 1: explain the probability `p_c` instead of the logit. Its gradient is
/// `p_c (w_c - Σ_j p_j w_j) / HW`, still the same at every pixel, so the map is Grad-CAM's
/// formula with the contrast `w_c - Σ_j p_j w_j` in place of `w_c`.
#[test]
fn exercise_1_probability_cam() {
    let (mut ex, imgs) = setup();
    let out = explain(&mut ex, &imgs, Method::GradCam);
    let m = &ex.model;
    let (k, classes) = (m.num_features, m.num_classes());
    for (name, (e, _)) in IMAGES.iter().zip(&out) {
        let f = e.features.as_ref().expect("features were kept");
        let hw = f.len() / k;
        let mu = means(f, k);
        let logits = |mu: &[f64]| -> Vec<f64> {
            (0..classes)
                .map(|j| {
                    m.fc_bias[j] as f64
                        + (0..k)
                            .map(|c| m.fc_weight[j * k + c] as f64 * mu[c])
                            .sum::<f64>()
                })
                .collect()
        };
        let y = logits(&mu);
        let prob = |y: &[f64]| {
            let top = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = y.iter().map(|v| (v - top).exp()).sum();
            y.iter().map(|v| (v - top).exp() / z).collect::<Vec<f64>>()
        };
        let p = prob(&y);
        let c = e.targets[0];
        // The GPU's logits agree with the CPU's GAP + fc.
        for (j, (&cpu, &gpu)) in y.iter().zip(&e.logits).enumerate() {
            assert!((cpu - gpu as f64).abs() < 1e-3, "{name}: logit {j}");
        }
        // The closed form of ∂p_c/∂A_k(x, y) against a central difference, at two pixels.
        let grad: Vec<f64> = (0..k)
            .map(|ch| {
                let wbar: f64 = (0..classes)
                    .map(|j| p[j] * m.fc_weight[j * k + ch] as f64)
                    .sum();
                p[c] * (m.fc_weight[c * k + ch] as f64 - wbar) / hw as f64
            })
            .collect();
        let ch = (0..k)
            .max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs()))
            .unwrap();
        for pixel in [0, hw - 1] {
            let h = 1e-3;
            let mut up = mu.clone();
            let mut down = mu.clone();
            up[ch] += h / hw as f64; // A_k(pixel) + h moves the mean by h / HW
            down[ch] -= h / hw as f64;
            let fd = (prob(&logits(&up))[c] - prob(&logits(&down))[c]) / (2.0 * h);
            assert!(
                (fd - grad[ch]).abs() <= 1e-3 * grad[ch].abs(),
                "{name}: pixel {pixel} channel {ch}: finite difference {fd:e}, formula {:e}",
                grad[ch]
            );
        }
        // The answer: how far the probability map is from the logit map (Grad-CAM), after the
        // ReLU + min-max of pytorch-grad-cam, and how large it is next to the 1e-7 of min-max.
        let logit_map = weighted_sum(
            f,
            &(0..k)
                .map(|ch| m.fc_weight[c * k + ch] as f64 / hw as f64)
                .collect::<Vec<_>>(),
        );
        let prob_map = weighted_sum(f, &grad);
        let peak = prob_map.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let diff = max_abs(&relu_min_max(&prob_map), &relu_min_max(&logit_map));
        let gpu_probs = softmax(&e.logits);
        assert!((gpu_probs[c] as f64 - p[c]).abs() < 1e-5);
        let answer = format!(
            "{name}: p_c = {:.7}, largest value of the probability map {peak:.1e}, \
             largest difference from Grad-CAM after min-max {diff:.3}",
            p[c]
        );
        println!("{answer}");
        quoted(&answer);
    }
}

/// Exercise 2: `show_cam_on_image`'s `image_weight`. The CPU formula at 0.5 reproduces the
/// GPU's overlay; at 0 the overlay is the JET colours of the heatmap, unchanged by the final
/// division because `max(cam)` is 1; at 1 it is the crop, brightened until its brightest channel
/// reaches 255.
#[test]
fn exercise_2_image_weight() {
    let (mut ex, imgs) = setup();
    let out = explain(&mut ex, &imgs, Method::GradCam);
    let (mean, std) = (ex.model.preprocess.mean, ex.model.preprocess.std);
    for ((name, img), (e, _)) in IMAGES.iter().zip(&imgs).zip(&out) {
        let vis: Vec<[f32; 3]> = img
            .tensor
            .chunks(3)
            .map(|x| [0, 1, 2].map(|c| (x[c] * std[c] + mean[c]).clamp(0.0, 1.0)))
            .collect();
        let heat = &e.heatmaps[0];
        // pytorch-grad-cam's show_cam_on_image(vis, heat, use_rgb=True, image_weight=w).
        let overlay = |w: f32| -> (Vec<[u8; 3]>, f32) {
            let cam: Vec<[f32; 3]> = vis
                .iter()
                .zip(heat)
                .map(|(v, &h)| {
                    let j = jet(h);
                    [0, 1, 2].map(|c| (1.0 - w) * j[c] as f32 / 255.0 + w * v[c])
                })
                .collect();
            let max = cam.iter().flatten().copied().fold(0.0, f32::max);
            (
                cam.iter()
                    .map(|p| p.map(|x| (255.0 * x / max) as u8))
                    .collect(),
                max,
            )
        };
        let (half, max_half) = overlay(0.5);
        let gpu: Vec<[u8; 3]> = e.overlays[0]
            .iter()
            .map(|&v| [v as u8, (v >> 8) as u8, (v >> 16) as u8])
            .collect();
        let close = half
            .iter()
            .zip(&gpu)
            .filter(|(a, b)| (0..3).all(|c| (a[c] as i32 - b[c] as i32).abs() <= 1))
            .count();
        assert!(
            close as f64 >= 0.999 * gpu.len() as f64,
            "{name}: {close} pixels within 1 level"
        );
        let (zero, max_zero) = overlay(0.0);
        assert_eq!(
            max_zero, 1.0,
            "{name}: some heat colour has a channel at 255"
        );
        assert!(
            zero.iter().zip(heat).all(|(p, &h)| *p == jet(h)),
            "{name}: w=0 is JET"
        );
        let (one, max_one) = overlay(1.0);
        assert!(
            one.iter()
                .zip(&vis)
                .all(|(p, v)| *p == v.map(|x| (255.0 * x / max_one) as u8))
        );
        let answer = format!(
            "{name}: max(cam) at image_weight 0.5 = {max_half:.3}, so the division brightens by {:.3}",
            1.0 / max_half
        );
        println!("{answer}");
        quoted(&answer);
    }
}

/// One output coordinate's source coordinate and weights along one axis, clamped: cv2.resize
/// (`align_corners=False`, pixel centres) or `UpsamplingBilinear2d` (`align_corners=True`).
fn source(d: usize, src: usize, dst: usize, align_corners: bool) -> (usize, usize, f64) {
    let s = if align_corners {
        d as f64 * (src - 1) as f64 / (dst - 1) as f64
    } else {
        (d as f64 + 0.5) * src as f64 / dst as f64 - 0.5
    };
    let s = s.clamp(0.0, (src - 1) as f64);
    let i0 = s.floor() as usize;
    (i0, (i0 + 1).min(src - 1), s - i0 as f64)
}

/// Bilinear resize of a `src`x`src` map to `dst`x`dst`.
fn resize(map: &[f32], src: usize, dst: usize, align_corners: bool) -> Vec<f64> {
    let mut out = Vec::with_capacity(dst * dst);
    for y in 0..dst {
        let (y0, y1, fy) = source(y, src, dst, align_corners);
        for x in 0..dst {
            let (x0, x1, fx) = source(x, src, dst, align_corners);
            let at = |r: usize, c: usize| map[r * src + c] as f64;
            let top = (1.0 - fx) * at(y0, x0) + fx * at(y0, x1);
            let bot = (1.0 - fx) * at(y1, x0) + fx * at(y1, x1);
            out.push((1.0 - fy) * top + fy * bot);
        }
    }
    out
}

/// Exercise 3: `align_corners`. The GPU's upsampled stage is cv2.resize's half-pixel placement;
/// under it the 16 outermost pixels on each side copy the edge cell, while Score-CAM's
/// `align_corners=True` upsampling pins only the corner pixels to the corner cells.
#[test]
fn exercise_3_align_corners() {
    // Which output columns copy source column 0 exactly (the clamp), for 7 → 224.
    let edge = |ac: bool| {
        (0..224)
            .filter(|&d| source(d, 7, 224, ac).2 == 0.0 && source(d, 7, 224, ac).0 == 0)
            .count()
    };
    assert_eq!(edge(false), 16);
    assert_eq!(edge(true), 1);
    let (mut ex, imgs) = setup();
    let out = explain(&mut ex, &imgs, Method::GradCam);
    for (name, (_, st)) in IMAGES.iter().zip(&out) {
        let cv2 = resize(&st.normalised[0], 7, 224, false);
        let gpu: Vec<f64> = st.upsampled[0].iter().map(|&v| v as f64).collect();
        let err = max_abs(&cv2, &gpu);
        assert!(
            err < 1e-5,
            "{name}: GPU upsampling differs from cv2's formula by {err:e}"
        );
        let ac = resize(&st.normalised[0], 7, 224, true);
        let diff = max_abs(&cv2, &ac);
        let answer = format!("{name}: largest difference between the two upsamplings {diff:.3}");
        println!("{answer}");
        quoted(&answer);
    }
}

/// Eigenvalues of a symmetric `n`x`n` matrix, largest first, with the eigenvector of the
/// largest: the cyclic Jacobi method, in f64 (small matrices only: here 49x49).
fn jacobi(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v: Vec<f64> = (0..n * n).map(|i| (i / n == i % n) as u8 as f64).collect();
    for _sweep in 0..100 {
        let off: f64 = (0..n * n)
            .filter(|i| i / n != i % n)
            .map(|i| a[i] * a[i])
            .sum();
        if off < 1e-22 * (0..n).map(|i| a[i * n + i].powi(2)).sum::<f64>() {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p * n + q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * a[p * n + q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let top = (0..n).map(|k| v[k * n + order[0]]).collect();
    (values, top)
}

/// Exercise 4: how far EigenCAM's 300 power iterations get. The centred pixel Gram matrix
/// `J M Mᵀ J` is diagonalised exactly (Jacobi, f64); the power iteration is run as
/// shaders/eigencam.wgsl#power-iteration runs it (start `1 + p/HW`, 300 steps); the answer is
/// the ratio `λ2/λ1` that sets its speed and the residual `‖Gc x - λ x‖ / λ` it ends with.
/// The GPU's map is checked against the exact `σ1 u1` (largest-magnitude entry positive).
#[test]
fn exercise_4_eigencam_convergence() {
    let (mut ex, imgs) = setup();
    let out = explain(&mut ex, &imgs, Method::EigenCam);
    let k = ex.model.num_features;
    for (name, (e, _)) in IMAGES.iter().zip(&out) {
        let f = e.features.as_ref().expect("features were kept");
        let n = f.len() / k;
        let mu = means(f, k);
        // Explicitly centred maps, then their n x n Gram matrix.
        let mc: Vec<f64> = (0..n * k).map(|i| f[i] as f64 - mu[i % k]).collect();
        let gc: Vec<f64> = (0..n * n)
            .map(|i| {
                (0..k)
                    .map(|c| mc[(i / n) * k + c] * mc[(i % n) * k + c])
                    .sum()
            })
            .collect();
        let (lambda, u1) = jacobi(gc.clone(), n);
        let mul = |x: &[f64]| -> Vec<f64> {
            (0..n)
                .map(|p| (0..n).map(|q| gc[p * n + q] * x[q]).sum())
                .collect()
        };
        let residual_of = |x: &[f64]| {
            let gx = mul(x);
            let l: f64 = gx.iter().zip(x).map(|(a, b)| a * b).sum();
            gx.iter()
                .zip(x)
                .map(|(a, b)| (a - l * b).powi(2))
                .sum::<f64>()
                .sqrt()
                / l
        };
        let mut x: Vec<f64> = (0..n).map(|p| 1.0 + p as f64 / n as f64).collect();
        let mut needed = None;
        for it in 1..=300 {
            let y = mul(&x);
            let norm = y.iter().map(|v| v * v).sum::<f64>().sqrt();
            x = y.iter().map(|v| v / norm).collect();
            if needed.is_none() && residual_of(&x) < 1e-6 {
                needed = Some(it);
            }
        }
        let residual = residual_of(&x);
        let needed = needed.expect("converges within 300 iterations");
        // The exact answer with the shader's sign rule, against the GPU's raw map.
        let big = u1
            .iter()
            .copied()
            .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        let want: Vec<f64> = u1
            .iter()
            .map(|v| v * big.signum() * lambda[0].sqrt())
            .collect();
        let gpu: Vec<f64> = e.raw[0].iter().map(|&v| v as f64).collect();
        let norm = want.iter().map(|v| v * v).sum::<f64>().sqrt();
        let rel = gpu
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt()
            / norm;
        assert!(
            rel < 1e-3,
            "{name}: GPU EigenCAM map vs exact σ1 u1: relative L2 {rel:e}"
        );
        assert!(
            residual < 1e-4,
            "{name}: residual {residual:e} after 300 iterations"
        );
        assert!(
            residual < 1e-12,
            "{name}: residual {residual:e} after 300 iterations"
        );
        let answer = format!(
            "{name}: λ2/λ1 = {:.3}, residual below 1e-6 after {needed} iterations",
            lambda[1] / lambda[0],
        );
        println!("{answer}, GPU map vs exact {rel:.1e}");
        quoted(&answer);
    }
}
