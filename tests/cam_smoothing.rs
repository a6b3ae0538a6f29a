//! The principal-component methods and the two smoothing options of pytorch-grad-cam:
//! EigenGradCAM, KPCA-CAM, `eigen_smooth` and `aug_smooth` (docs/cam-math.md, sections 3.17 to
//! 3.20). Each GPU result is compared with a float64 CPU computation written independently of
//! the shader (explicitly centred features, a Jacobi eigendecomposition instead of power
//! iteration) and with pytorch-grad-cam 1.5.7's own output in tests/fixtures/methods.safetensors
//! (weights/make_method_refs.py, /work/coord/refs.md).
//!
//! Sign: numpy's SVD gives the principal component a sign that follows no rule (LAPACK's), and
//! shadercam makes the largest-magnitude value positive (sklearn's svd_flip, which KPCA-CAM's
//! KernelPCA applies itself). So the linear projections are compared with the library up to
//! sign (the test prints which sign matched), KPCA-CAM with its sign.

use shadercam_cam::{ExplainOptions, Explainer, Explanation, Method, Targets};
use shadercam_suite::{
    default_explainer, fixture, fixture_input, fixture_inputs, fixture_names, gpu, read_tensor,
    rel_l2,
};

/// GPU raw map vs the float64 CPU projection: relative L2. The f32 Gram matrix and its
/// double centring lose a little; measured worst 2.4e-7 (EigenGradCAM, eigen_smooth) and 7.8e-6
/// (KPCA-CAM, whose tanh and second centring add rounding), each printed by its test.
const CPU_REL_L2: f64 = 1e-4;
/// GPU raw map vs the library's (f32 network vs float64 network, then the projection):
/// `max |ours − library| / max |library|`. Measured on lavapipe: 2.1e-6 (EigenGradCAM and
/// most eigen_smooth maps) to 5.6e-6 (KPCA-CAM); the bound is tests/cam_library.rs's RAW_REL,
/// which leaves room for a real GPU's different f32 rounding in the network.
const LIB_REL: f32 = 2e-3;
/// Aug-smoothed 224x224 heatmaps (values in [0, 1]) vs the library's: the Grad-CAM heatmap
/// bound of tests/cam.rs. Measured on lavapipe: at most 7.2e-7 (photo_chelsea, Grad-CAM).
const HEAT_ABS: f32 = 2e-3;

fn library(name: &str) -> Vec<f32> {
    read_tensor(&fixture("methods.safetensors"), name).1
}

/// `max |a − b| / max |b|`.
fn rel_max(a: &[f32], b: &[f32]) -> f32 {
    let top = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    d / top.max(1e-30)
}

/// Top eigenpair (largest eigenvalue) of the symmetric `n x n` matrix `a` by cyclic Jacobi
/// rotations, in f64.
fn top_eigenpair(mut a: Vec<f64>, n: usize) -> (f64, Vec<f64>) {
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let diag: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        if off <= 1e-30 * diag {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
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
    let top = (0..n)
        .max_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]))
        .unwrap();
    (a[top * n + top], (0..n).map(|k| v[k * n + top]).collect())
}

/// pytorch-grad-cam's `get_2d_projection` (kernel None) or `get_2d_projection_kernel` (sigmoid
/// kernel, γ = 1/K, coef0 = 1) of the `[hw][k]` matrix `m`, written out in f64: centre the
/// columns, form the centred Gram matrix (and the centred kernel matrix), take its top
/// eigenpair by Jacobi, `sqrt(λ)·v` with the largest-magnitude value positive.
fn cpu_projection(m: &[f64], hw: usize, k: usize, sigmoid: bool) -> Vec<f64> {
    let mean: Vec<f64> = (0..k)
        .map(|c| (0..hw).map(|p| m[p * k + c]).sum::<f64>() / hw as f64)
        .collect();
    let x = |p: usize, c: usize| m[p * k + c] - mean[c];
    let mut g: Vec<f64> = (0..hw * hw)
        .map(|i| (0..k).map(|c| x(i / hw, c) * x(i % hw, c)).sum())
        .collect();
    if sigmoid {
        let kern: Vec<f64> = g.iter().map(|&v| (v / k as f64 + 1.0).tanh()).collect();
        // sklearn's KernelCenterer: K − 1K/n − K1/n + 1K1/n².
        let row: Vec<f64> = (0..hw)
            .map(|p| (0..hw).map(|q| kern[p * hw + q]).sum::<f64>() / hw as f64)
            .collect();
        let all = row.iter().sum::<f64>() / hw as f64;
        g = (0..hw * hw)
            .map(|i| kern[i] - row[i / hw] - row[i % hw] + all)
            .collect();
    }
    let (lambda, v) = top_eigenpair(g, hw);
    let big = v
        .iter()
        .copied()
        .fold(0f64, |b, x| if x.abs() > b.abs() { x } else { b });
    let s = lambda.max(0.0).sqrt() * big.signum();
    v.iter().map(|x| x * s).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// The `[hw][k]` matrix the projection of `method` is taken of, for target class `c`, from
/// the layer4 maps and the fc row (g = w/hw): `g ⊙ A` (EigenGradCAM, Grad-CAM's eigen_smooth),
/// `max(g, 0) ⊙ A` (LayerCAM's), `max(g ⊙ A, 0)` (gradcamelementwise's), `A` (EigenCAM,
/// KPCA-CAM).
fn cpu_rows(method: Method, feats: &[f32], w: &[f32], hw: usize) -> Vec<f64> {
    let k = w.len();
    (0..hw * k)
        .map(|i| {
            let (a, g) = (feats[i] as f64, w[i % k] as f64 / hw as f64);
            match method {
                Method::EigenGradCam | Method::GradCam => g * a,
                Method::LayerCam => g.max(0.0) * a,
                Method::GradCamElementWise => (g * a).max(0.0),
                _ => a,
            }
        })
        .collect()
}

/// The fixtures of the default tests: both images where numpy's sign is the opposite of ours
/// for some projection (photo_astronaut, shape_001) and shape_002 (whose heatmaps the
/// references hold). The ignored `every_fixture_matches_the_library` runs all 8.
const SUBSET: [&str; 3] = ["photo_astronaut", "shape_001", "shape_002"];

fn subset() -> Vec<String> {
    SUBSET.map(String::from).to_vec()
}

fn run(
    ex: &mut Explainer,
    names: &[String],
    method: Method,
    eigen_smooth: bool,
    top: usize,
) -> Vec<Explanation> {
    let opts = ExplainOptions {
        method,
        targets: Targets::TopK(top),
        keep_features: true,
        eigen_smooth,
        ..Default::default()
    };
    ex.explain(&fixture_inputs(names), 224, &[], &opts).unwrap()
}

/// Checks each target's raw map against [`cpu_projection`] of [`cpu_rows`]; returns the worst
/// relative L2.
fn check_cpu(method: Method, out: &[Explanation], fc: &[f32], sigmoid: bool) -> f64 {
    let mut worst = 0f64;
    for e in out {
        let feats = e.features.as_ref().unwrap();
        let hw = e.map_size.0 * e.map_size.1;
        let k = feats.len() / hw;
        for (t, &c) in e.targets.iter().enumerate() {
            let rows = cpu_rows(method, feats, &fc[c * k..(c + 1) * k], hw);
            let want = to_f32(&cpu_projection(&rows, hw, k, sigmoid));
            let err = rel_l2(&e.raw[t], &want);
            assert!(
                err < CPU_REL_L2,
                "{method} target {c}: GPU vs CPU projection relative L2 {err:.2e}"
            );
            worst = worst.max(err);
        }
    }
    worst
}

/// Compares each image's first raw map with the library's `NAME.key.raw`; `signed`: with its
/// sign, else up to sign. Returns the worst error and the images where the sign differed.
fn check_library(names: &[String], out: &[Explanation], key: &str, signed: bool) -> f32 {
    let mut worst = 0f32;
    let mut flipped = Vec::new();
    for (name, e) in names.iter().zip(out) {
        let want = library(&format!("{name}.{key}.raw"));
        let neg: Vec<f32> = e.raw[0].iter().map(|v| -v).collect();
        let (same, opposite) = (rel_max(&e.raw[0], &want), rel_max(&neg, &want));
        let err = if signed || same <= opposite {
            same
        } else {
            flipped.push(name.as_str());
            opposite
        };
        assert!(
            err < LIB_REL,
            "{name} {key}: raw map vs pytorch-grad-cam, max error {err:.2e} of max |map| (signed: {signed})"
        );
        worst = worst.max(err);
    }
    println!(
        "{key}: worst raw error vs library {worst:.2e} of max |map|; numpy's sign is the opposite on {flipped:?}"
    );
    worst
}

/// shape_002's returned 224x224 heatmap against the library's `shape_002.key.heat` (numpy's
/// sign agrees with ours on shape_002 for both methods that have one).
fn check_heat(names: &[String], out: &[Explanation], key: &str) {
    let i = names
        .iter()
        .position(|n| n == "shape_002")
        .expect("shape_002");
    let want = library(&format!("shape_002.{key}.heat"));
    let (at, d) = shadercam_suite::max_abs_diff(&out[i].heatmaps[0], &want);
    println!("shape_002 {key}: max |heat − library| {d:.2e} at {at}");
    assert!(d < HEAT_ABS, "shape_002 {key}: heatmap vs library {d:.2e}");
}

/// EigenGradCAM on `names`, top-2 (the top-1 map is the first target's): every target against
/// the CPU projection of `g ⊙ A`, the two targets' maps differ, the first against the
/// library's raw map up to sign, shape_002's heatmap.
fn check_eigengradcam(ex: &mut Explainer, names: &[String], fc: &[f32]) {
    let out = run(ex, names, Method::EigenGradCam, false, 2);
    let cpu = check_cpu(Method::EigenGradCam, &out, fc, false);
    println!("eigengradcam: worst GPU vs CPU relative L2 {cpu:.2e}");
    check_library(names, &out, "eigengradcam", false);
    check_heat(names, &out, "eigengradcam");
    for e in &out {
        assert!(rel_l2(&e.raw[0], &e.raw[1]) > 1e-2, "targets share one map");
    }
}

/// KPCA-CAM on `names`, top-2: against the CPU kernel PCA and the library's raw map with its
/// sign, shape_002's heatmap, both targets' maps equal; `eigen_smooth` changes nothing (first
/// image).
fn check_kpcacam(ex: &mut Explainer, names: &[String], fc: &[f32]) {
    let out = run(ex, names, Method::KpcaCam, false, 2);
    let cpu = check_cpu(Method::KpcaCam, &out, fc, true);
    println!("kpcacam: worst GPU vs CPU relative L2 {cpu:.2e}");
    check_library(names, &out, "kpcacam", true);
    check_heat(names, &out, "kpcacam");
    for e in &out {
        assert_eq!(e.raw[0], e.raw[1], "KPCA-CAM does not depend on the target");
    }
    // eigen_smooth changes nothing for the projection methods (nor FEM), as in the library.
    let smooth = run(ex, &names[..1], Method::KpcaCam, true, 1);
    assert_eq!(smooth[0].raw[0], out[0].raw[0]);
}

#[test]
fn eigengradcam_is_the_projection_of_g_times_a() {
    let mut ex = default_explainer(gpu());
    check_eigengradcam(&mut ex, &subset(), &default_explainer_fc());
}

#[test]
fn kpcacam_is_sklearn_kernel_pca_with_its_sign() {
    let mut ex = default_explainer(gpu());
    check_kpcacam(&mut ex, &subset(), &default_explainer_fc());
}

/// The fc weights `[classes, K]` of the default model.
fn default_explainer_fc() -> Vec<f32> {
    shadercam_loader::ResNet::load(&shadercam_suite::default_weights())
        .expect("default weights")
        .fc_weight
}

/// `--eigen-smooth` on `names` (of the first four fixtures, whose `eigen_smooth` maps the
/// references hold): the CPU projection for the methods with a short CPU formula (Grad-CAM,
/// LayerCAM, gradcamelementwise's clamp), the library's `eigen_smooth` raw map for every
/// method it stores. RandomCAM's weights depend on the image's place in the call: it runs on
/// `randomcam` (a prefix of the 8 fixtures, as the library drew them).
fn check_eigen_smooth(ex: &mut Explainer, names: &[String], randomcam: &[String], fc: &[f32]) {
    for (method, key) in [
        (Method::GradCam, "gradcam"),
        (Method::LayerCam, "layercam"),
        (Method::GradCamElementWise, "gradcamelementwise"),
        (Method::HiResCam, "hirescam"),
        (Method::XGradCam, "xgradcam"),
        (Method::GradCamPlusPlus, "gradcamplusplus"),
        (Method::AblationCam, "ablationcam"),
        (Method::FinerCam, "finercam"),
        (Method::ShapleyCam, "shapleycam"),
    ] {
        let out = run(ex, names, method, true, 1);
        if matches!(
            method,
            Method::GradCam | Method::LayerCam | Method::GradCamElementWise
        ) {
            let cpu = check_cpu(method, &out, fc, false);
            println!("{key} eigen_smooth: worst GPU vs CPU relative L2 {cpu:.2e}");
        }
        check_library(names, &out, &format!("{key}.eigen_smooth"), false);
    }
    let out = run(ex, randomcam, Method::RandomCam, true, 1);
    check_library(randomcam, &out, "randomcam.eigen_smooth", false);
}

#[test]
fn aug_smooth_is_the_mean_of_six_flipped_back_maps() {
    check_aug_smooth(false);
}

/// `--eigen-smooth` on photo_astronaut and shape_001 (the images where numpy's sign is the
/// opposite of ours), RandomCAM on the first fixture (photo_astronaut).
#[test]
fn eigen_smooth_projects_the_weighted_maps() {
    let mut ex = default_explainer(gpu());
    let names = subset();
    check_eigen_smooth(&mut ex, &names[..2], &names[..1], &default_explainer_fc());
}

/// Every fixture the references hold: EigenGradCAM and KPCA-CAM on all 8, `eigen_smooth` on
/// the first four (RandomCAM's on all 8), `aug_smooth` with every method on both images.
#[test]
#[ignore = "exhaustive: all 8 fixtures, ~150 s on lavapipe (2 cores); run with \
            `cargo test --test cam_smoothing -- --ignored`"]
fn every_fixture_matches_the_library() {
    let mut ex = default_explainer(gpu());
    let all = fixture_names();
    let fc = default_explainer_fc();
    check_eigengradcam(&mut ex, &all, &fc);
    check_kpcacam(&mut ex, &all, &fc);
    check_eigen_smooth(&mut ex, &all[..4], &all, &fc);
    check_aug_smooth(true);
}

/// The test's own ttach augmentation (itertools.product(HorizontalFlip [False, True],
/// Multiply [0.9, 1, 1.1])): flip the HWC crop along the width, then scale it.
fn ttach_copies(x: &[f32], crop: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for flip in [false, true] {
        for factor in [0.9f32, 1.0, 1.1] {
            for p in 0..crop * crop {
                let (y, c) = (p / crop, p % crop);
                let q = y * crop + if flip { crop - 1 - c } else { c };
                out.extend(x[q * 3..q * 3 + 3].iter().map(|v| v * factor));
            }
        }
    }
    out
}

/// pytorch-grad-cam's post-processing of one raw `h x w` map to the `crop x crop` heatmap,
/// on the CPU in f64: ReLU, min-max (`1e-7`), cv2.resize INTER_LINEAR
/// (`s = (d + 0.5)·src/dst − 0.5`, clamped), ReLU, min-max.
fn cpu_heat(raw: &[f32], (h, w): (usize, usize), crop: usize) -> Vec<f64> {
    let scale = |v: Vec<f64>| {
        let v: Vec<f64> = v.into_iter().map(|x| x.max(0.0)).collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().map(|x| x - lo).fold(0f64, f64::max);
        v.iter()
            .map(|x| (x - lo) / (hi + 1e-7))
            .collect::<Vec<f64>>()
    };
    let m = scale(raw.iter().map(|&x| x as f64).collect());
    let place = |d: usize, src: usize| {
        let s = ((d as f64 + 0.5) * src as f64 / crop as f64 - 0.5).max(0.0);
        let i0 = (s.floor() as usize).min(src - 1);
        (i0, (i0 + 1).min(src - 1), s - i0 as f64)
    };
    let up = (0..crop * crop)
        .map(|p| {
            let ((y0, y1, fy), (x0, x1, fx)) = (place(p / crop, h), place(p % crop, w));
            let at = |y: usize, x: usize| m[y * w + x];
            (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x1))
                + fy * ((1.0 - fx) * at(y1, x0) + fx * at(y1, x1))
        })
        .collect();
    scale(up)
}

/// `--aug-smooth` on two images, on a device whose limits allow one image's six copies per
/// batch (so the two run as two batches): each heatmap against the mean of the plain heatmaps
/// of the test's own six copies, each flipped back (the same kernels: equal to rounding); the
/// raw map, targets and logits against the un-augmented copy's; Grad-CAM and LayerCAM against
/// pytorch-grad-cam's aug_smooth output. EigenCAM against the library too, but its six copies'
/// signs are numpy's: the library's mean is matched by the CPU post-processing of our six raw
/// maps with the sign of each copy chosen to fit (printed), and where all six signs agree with
/// ours the GPU mean itself must match. A device that holds fewer than six images per batch is
/// refused with a message. Unless `full`: Grad-CAM on both images (two batches) and LayerCAM
/// on photo_chelsea against the library only, EigenCAM on photo_chelsea with its six copies
/// (the copies' check is the same for every method): 30 forwards instead of 72.
fn check_aug_smooth(full: bool) {
    use shadercam_kernels::GpuContext;
    let small = GpuContext::with_limits(|l| l.max_storage_buffer_binding_size = 10 << 20)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ex = shadercam_suite::default_explainer(small);
    let opts = |method| ExplainOptions {
        method,
        aug_smooth: true,
        ..Default::default()
    };
    let one = fixture_input("shape_002");
    let err = ex
        .explain(&one, 224, &[], &opts(Method::GradCam))
        .unwrap_err();
    assert!(err.to_string().contains("--aug-smooth"), "{err}");

    let ctx = GpuContext::with_limits(|l| l.max_storage_buffer_binding_size = 24 << 20)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ex = shadercam_suite::default_explainer(ctx);
    let max = ex.max_batch(224);
    assert!(
        (6..12).contains(&max),
        "max_batch {max}: the test wants one image per batch"
    );
    let both: Vec<String> = ["shape_002", "photo_chelsea"].map(String::from).to_vec();
    let per = 224 * 224 * 3;
    let flip_back = |a: usize, p: usize| {
        let (y, c) = (p / 224, p % 224);
        if a >= 3 { y * 224 + 223 - c } else { p }
    };
    for (method, key) in [
        (Method::GradCam, "gradcam"),
        (Method::LayerCam, "layercam"),
        (Method::EigenCam, "eigencam"),
    ] {
        let names = if full || method == Method::GradCam {
            &both[..]
        } else {
            &both[1..]
        };
        let x = fixture_inputs(names);
        let aug = ex.explain(&x, 224, &[], &opts(method)).unwrap();
        if !full && method != Method::EigenCam {
            for (name, e) in names.iter().zip(&aug) {
                let lib = library(&format!("{name}.{key}.aug_smooth.heat"));
                let (at, d) = shadercam_suite::max_abs_diff(&e.heatmaps[0], &lib);
                println!("{name} {key} aug_smooth: max |heat − library| {d:.2e} at {at}");
                assert!(
                    d < HEAT_ABS,
                    "{name} {key}: aug_smooth heatmap vs library {d:.2e}"
                );
            }
            continue;
        }
        let copies: Vec<f32> = x.chunks(per).flat_map(|c| ttach_copies(c, 224)).collect();
        let plain_opts = ExplainOptions {
            method,
            ..Default::default()
        };
        let plain = ex.explain(&copies, 224, &[], &plain_opts).unwrap();
        let mut worst = 0f32;
        for (i, (name, e)) in names.iter().zip(&aug).enumerate() {
            let six = &plain[i * 6..(i + 1) * 6];
            let want: Vec<f32> = (0..224 * 224)
                .map(|p| {
                    let mut sum = 0f32;
                    for (a, copy) in six.iter().enumerate() {
                        sum += copy.heatmaps[0][flip_back(a, p)];
                    }
                    sum / 6.0
                })
                .collect();
            worst = worst.max(rel_max(&e.heatmaps[0], &want));
            assert_eq!(e.raw, six[1].raw, "raw map: the un-augmented copy's");
            assert_eq!(e.targets, six[1].targets);
            assert_eq!(e.logits, six[1].logits);
            assert_eq!(e.overlays[0].len(), 224 * 224);
            assert_ne!(
                e.heatmaps[0], six[1].heatmaps[0],
                "the mean is not one copy"
            );

            let lib = library(&format!("{name}.{key}.aug_smooth.heat"));
            if method != Method::EigenCam {
                let (at, d) = shadercam_suite::max_abs_diff(&e.heatmaps[0], &lib);
                println!("{name} {key} aug_smooth: max |heat − library| {d:.2e} at {at}");
                assert!(
                    d < HEAT_ABS,
                    "{name} {key}: aug_smooth heatmap vs library {d:.2e}"
                );
                continue;
            }
            // EigenCAM: find the copies' signs that reproduce the library's mean.
            let heats: Vec<[Vec<f64>; 2]> = six
                .iter()
                .map(|c| {
                    let neg: Vec<f32> = c.raw[0].iter().map(|v| -v).collect();
                    [
                        cpu_heat(&c.raw[0], c.map_size, 224),
                        cpu_heat(&neg, c.map_size, 224),
                    ]
                })
                .collect();
            let (mut best, mut best_signs) = (f64::INFINITY, 0usize);
            for signs in 0..64usize {
                let err = (0..224 * 224)
                    .map(|p| {
                        let m: f64 = (0..6)
                            .map(|a| heats[a][(signs >> a) & 1][flip_back(a, p)])
                            .sum::<f64>()
                            / 6.0;
                        (m - lib[p] as f64).abs()
                    })
                    .fold(0f64, f64::max);
                if err < best {
                    (best, best_signs) = (err, signs);
                }
            }
            let flipped: Vec<usize> = (0..6).filter(|a| (best_signs >> a) & 1 == 1).collect();
            println!(
                "{name} eigencam aug_smooth: library = CPU mean with numpy's sign opposite to \
                 ours on copies {flipped:?}: max error {best:.2e}"
            );
            assert!(
                best < HEAT_ABS as f64,
                "{name}: no choice of signs fits: {best:.2e}"
            );
            if flipped.is_empty() {
                let (_, d) = shadercam_suite::max_abs_diff(&e.heatmaps[0], &lib);
                println!("{name} eigencam aug_smooth: GPU mean vs library {d:.2e}");
                assert!(
                    d < HEAT_ABS,
                    "{name} eigencam: aug_smooth heatmap vs library {d:.2e}"
                );
            }
        }
        println!("aug_smooth {key}: GPU mean vs CPU mean of the copies: {worst:.2e}");
        assert!(worst < 1e-6, "GPU mean vs CPU mean: {worst:.2e}");
    }
}
