//! Small, obviously correct CPU versions of every network kernel, the edge shapes they are
//! checked on, and the comparison with a named tolerance: shared by the test suite
//! (`tests/kernels.rs`) and `shadercam selftest`, so that both check the GPU the same way.
//!
//! Layouts are the unpadded ones a reader thinks in: activations NHWC with `c` channels,
//! convolution weights HWIO `[kh*kw*cin, cout]`, fc weights `[classes, features]` as PyTorch
//! stores them. Every sum is accumulated in f64, so the reference is more accurate than any
//! f32 kernel; the tolerances below bound the f32 rounding of the GPU side.
//! Tolerance form as in burn's tests: `|got - want| <= max(rel * |want|, abs)` per element.
//! The whole-network bounds against PyTorch ([`LOGIT_ABS`], [`GRADCAM_ABS`], ...) are here too,
//! with the test that asserts each, so that `selftest` applies the same ones.

/// Convolution (cross-correlation, as PyTorch's `conv2d`) + bias, then optionally `+ residual`
/// and ReLU, in that order: what one fused conv dispatch computes. `x` is NHWC `[n, h, w, cin]`,
/// `w` HWIO `[k*k*cin, cout]`, `residual` NHWC `[n, oh, ow, cout]`; zero padding of `pad`
/// pixels; output NHWC `[n, oh, ow, cout]` with `oh = (h + 2 pad - k) / stride + 1`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    residual: Option<&[f32]>,
    relu: bool,
    n: usize,
    (h, wd, cin): (usize, usize, usize),
    (cout, k, stride, pad): (usize, usize, usize, usize),
) -> Vec<f32> {
    let oh = (h + 2 * pad - k) / stride + 1;
    let ow = (wd + 2 * pad - k) / stride + 1;
    let mut out = vec![0f32; n * oh * ow * cout];
    for bi in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..cout {
                    let mut acc = b[co] as f64;
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * stride + ky) as isize - pad as isize;
                            let ix = (ox * stride + kx) as isize - pad as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue;
                            }
                            for ci in 0..cin {
                                let xv = x[((bi * h + iy as usize) * wd + ix as usize) * cin + ci];
                                let wv = w[((ky * k + kx) * cin + ci) * cout + co];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    let o = ((bi * oh + oy) * ow + ox) * cout + co;
                    if let Some(r) = residual {
                        acc += r[o] as f64;
                    }
                    out[o] = if relu {
                        acc.max(0.0) as f32
                    } else {
                        acc as f32
                    };
                }
            }
        }
    }
    out
}

/// Max-pool with a `k`x`k` window, `stride` and `pad` (padding never wins: PyTorch pads with
/// -inf), NHWC `[n, h, w, c]` in and out; floor mode, as `nn.MaxPool2d`.
#[allow(clippy::too_many_arguments)]
pub fn maxpool(
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Vec<f32> {
    let oh = (h + 2 * pad - k) / stride + 1;
    let ow = (w + 2 * pad - k) / stride + 1;
    let mut out = vec![f32::NEG_INFINITY; n * oh * ow * c];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let o = &mut out[((b * oh + oy) * ow + ox) * c + ch];
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * stride + ky) as isize - pad as isize;
                            let ix = (ox * stride + kx) as isize - pad as isize;
                            if iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize {
                                *o = o.max(x[((b * h + iy as usize) * w + ix as usize) * c + ch]);
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Global average pool: the mean of each channel over the `hw` pixels of each image,
/// `[n, hw, c]` in, `[n, c]` out.
pub fn global_avg_pool(x: &[f32], n: usize, hw: usize, c: usize) -> Vec<f32> {
    (0..n * c)
        .map(|j| {
            let (b, ch) = (j / c, j % c);
            ((0..hw)
                .map(|p| x[(b * hw + p) * c + ch] as f64)
                .sum::<f64>()
                / hw as f64) as f32
        })
        .collect()
}

/// Fully connected layer `y = x W^T + b`: `x` `[n, features]`, `w` `[classes, features]`
/// (PyTorch's `nn.Linear` layout), `b` `[classes]`, `y` `[n, classes]`.
pub fn linear(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    n: usize,
    features: usize,
    classes: usize,
) -> Vec<f32> {
    (0..n * classes)
        .map(|j| {
            let (bi, cl) = (j / classes, j % classes);
            (b[cl] as f64
                + (0..features)
                    .map(|q| x[bi * features + q] as f64 * w[cl * features + q] as f64)
                    .sum::<f64>()) as f32
        })
        .collect()
}

/// Pads HWIO weights `[taps*cin, cout]` to `[taps*cin4, cout4]` with zeros (channels to
/// multiples of 4): the layout the convolution kernels read.
pub fn pad_hwio(w: &[f32], taps: usize, cin: usize, cout: usize) -> Vec<f32> {
    let (cin4, cout4) = (cin.next_multiple_of(4), cout.next_multiple_of(4));
    let mut out = vec![0f32; taps * cin4 * cout4];
    for t in 0..taps {
        for ci in 0..cin {
            let s = (t * cin + ci) * cout;
            let d = (t * cin4 + ci) * cout4;
            out[d..d + cout].copy_from_slice(&w[s..s + cout]);
        }
    }
    out
}

/// Each value rounded to the nearest f16 and back: the weights an f16-storage kernel really
/// multiplies by, so its CPU reference is [`conv2d`] on these.
pub fn round_to_f16(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect()
}

/// One convolution geometry to check, with what it exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvCase {
    /// Batch size.
    pub n: usize,
    pub h: usize,
    pub w: usize,
    /// Channels as the layer has them (not padded).
    pub cin: usize,
    pub cout: usize,
    /// Square kernel side.
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub relu: bool,
    pub residual: bool,
    /// What the case exercises, for messages.
    pub what: &'static str,
}

/// The random operands of one [`ConvCase`]: NHWC input, HWIO weights, bias, and the NHWC
/// residual when the case adds one (unpadded channels).
pub struct ConvData {
    pub input: Vec<f32>,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub residual: Option<Vec<f32>>,
}

impl ConvCase {
    /// Uniform random operands from `seed`, drawn in one fixed order (input, weights, bias,
    /// residual), so tests, benches and `selftest` see the same numbers for the same seed.
    pub fn random_data(&self, seed: u64) -> ConvData {
        let mut rng = Rng::new(seed);
        let input = rng.vec(self.n * self.h * self.w * self.cin);
        let weight = rng.vec(self.k * self.k * self.cin * self.cout);
        let bias = rng.vec(self.cout);
        let (oh, ow) = self.out_hw();
        let residual = self.residual.then(|| rng.vec(self.n * oh * ow * self.cout));
        ConvData {
            input,
            weight,
            bias,
            residual,
        }
    }

    /// `n{n} {h}x{w} cin{cin} cout{cout} k{k} s{stride} p{pad} relu{relu} res{residual}`.
    pub fn describe(&self) -> String {
        format!(
            "n{} {}x{} cin{} cout{} k{} s{} p{} relu{} res{}",
            self.n,
            self.h,
            self.w,
            self.cin,
            self.cout,
            self.k,
            self.stride,
            self.pad,
            self.relu,
            self.residual
        )
    }

    /// Output height and width.
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.k) / self.stride + 1,
            (self.w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    /// The length of one dot product (`k*k*cin`), which the tolerance grows with.
    pub fn reduction(&self) -> usize {
        self.k * self.k * self.cin
    }
}

const fn case(
    (n, h, w, cin, cout): (usize, usize, usize, usize, usize),
    (k, stride, pad): (usize, usize, usize),
    (relu, residual): (bool, bool),
    what: &'static str,
) -> ConvCase {
    ConvCase {
        n,
        h,
        w,
        cin,
        cout,
        k,
        stride,
        pad,
        relu,
        residual,
        what,
    }
}

/// Every ResNet convolution geometry in miniature and the edge shapes of both conv kernels:
/// 1x1 spatial, odd sizes, stride 2 on odd sizes, channel counts that are not a multiple of 4
/// or of the 64-wide tile, batch 1 and 3, residual + ReLU.
#[rustfmt::skip]
pub const CONV_CASES: &[ConvCase] = &[
    //   (n, h, w, cin, cout), (k, stride, pad), (relu, residual)
    case((1, 17, 13, 3, 64), (7, 2, 3), (true, false), "stem: 7x7/2 on 3 channels, odd size"),
    case((3, 9, 9, 16, 8), (3, 1, 1), (true, false), "3x3/1, batch 3"),
    case((1, 9, 7, 12, 20), (3, 2, 1), (true, false), "3x3/2 on odd sizes"),
    case((2, 7, 7, 64, 72), (1, 1, 0), (true, true), "1x1 + residual + ReLU (block end), cout not /64"),
    case((1, 9, 9, 8, 16), (1, 2, 0), (false, false), "1x1/2 projection, no ReLU"),
    case((1, 1, 1, 5, 7), (1, 1, 0), (true, true), "1x1 spatial, channels not /4"),
    case((3, 1, 1, 6, 3), (3, 1, 1), (false, false), "3x3 on a 1x1 image: only the centre tap"),
    case((1, 5, 3, 130, 66), (3, 2, 1), (false, true), "K not a multiple of 16, cout past one tile"),
    case((2, 11, 10, 1, 1), (3, 1, 1), (true, false), "one channel in and out"),
    case((1, 2, 70, 4, 4), (1, 1, 0), (false, false), "M (140) not a multiple of the 64-pixel tile"),
    // Direct kernel (8 pixels x 8 channels per invocation, 64 per workgroup):
    case((1, 15, 15, 32, 84), (3, 1, 1), (true, true), "M = 225 (not /8), cout4 = 21 (not /2), 5 workgroups"),
    case((3, 7, 7, 40, 36), (1, 1, 0), (true, false), "batch 3, M = 147: pixel groups span images"),
    case((1, 7, 7, 2048, 20), (1, 1, 0), (false, false), "layer4-like: long K, M = 49"),
    case((3, 14, 14, 24, 16), (3, 2, 1), (true, true), "stride 2, batch 3, even input"),
];

/// `(n, h, w, c)` of the max-pool checks (3x3 window, stride 2, pad 1, as ResNet's): the stem
/// output, odd sizes, 1x1 spatial, channels not a multiple of 4.
pub const MAXPOOL_CASES: &[(usize, usize, usize, usize)] = &[
    (1, 112, 112, 64),
    (3, 7, 9, 5),
    (1, 1, 1, 4),
    (2, 2, 3, 9),
    (1, 5, 5, 1),
];

/// `(n, hw, c)` of the global-average-pool checks: layer4's 7x7x2048, 1 pixel, odd counts.
pub const GAP_CASES: &[(usize, usize, usize)] =
    &[(1, 49, 2048), (3, 1, 6), (2, 9, 13), (1, 196, 4)];

/// `(n, features, classes)` of the fc checks: ResNet-50's 2048 features, ImageNet's 1000
/// classes, one class, batch 8.
pub const LINEAR_CASES: &[(usize, usize, usize)] =
    &[(1, 2048, 8), (3, 512, 1000), (2, 4, 1), (8, 2048, 3)];

/// Whole network vs PyTorch's float64 forward: absolute logit error with f32 weights
/// (`tests/forward.rs`, `LOGIT_ABS`).
pub const LOGIT_ABS: f32 = 1e-3;
/// Whole network with f16 convolution weights (`--precision f16w`, f32 arithmetic): absolute
/// logit error, same top-1 (`tests/forward.rs`, `F16_LOGIT_ABS`: measured 4.1e-3 on lavapipe,
/// the bound about 5x that).
pub const F16_WEIGHTS_LOGIT_ABS: f32 = 2e-2;
/// The 224x224 Grad-CAM map vs pytorch-grad-cam's, absolute (`tests/cam.rs`, `GRADCAM_ABS`).
pub const GRADCAM_ABS: f32 = 2e-3;
/// The same map with f16 convolution weights (`tests/cam.rs`, `F16_GRADCAM_ABS`: measured
/// 5.5e-4 on lavapipe, the bound about 5x that).
pub const F16_WEIGHTS_GRADCAM_ABS: f32 = 3e-3;
/// Whole network with f16 weights and activations (`--precision f16`, f32 accumulation):
/// absolute logit error, same top-1 (`tests/precision.rs`: measured 2.5e-2 on lavapipe with
/// either conv kernel, the bound 4x that).
pub const F16_LOGIT_ABS: f32 = 0.1;
/// The Grad-CAM map with `--precision f16` (`tests/precision.rs`: measured 2.8e-3 on
/// lavapipe, the bound about 3.5x that).
pub const F16_GRADCAM_ABS: f32 = 1e-2;

/// A per-element bound `|got - want| <= max(rel * |want|, abs)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub rel: f32,
    pub abs: f32,
}

/// f32 accumulations of up to a few thousand terms, compared with an f64 reference.
pub const KERNEL_REL: f32 = 1e-4;
/// See [`KERNEL_REL`]; the conv and fc bounds scale it with the length of the dot product.
pub const KERNEL_ABS: f32 = 1e-4;

impl Tolerance {
    /// Bit-for-bit: a max returns one of its inputs.
    pub const EXACT: Tolerance = Tolerance { rel: 0.0, abs: 0.0 };

    /// Global average pool: [`KERNEL_REL`], [`KERNEL_ABS`].
    pub const KERNEL: Tolerance = Tolerance {
        rel: KERNEL_REL,
        abs: KERNEL_ABS,
    };

    /// Convolution whose dot products have `reduction = k*k*cin` terms: the absolute bound
    /// grows linearly with it (`KERNEL_ABS * reduction / 16`), the relative one stays.
    pub fn conv(reduction: usize) -> Tolerance {
        Tolerance {
            rel: KERNEL_REL,
            abs: KERNEL_ABS * reduction as f32 / 16.0,
        }
    }

    /// Fully connected layer of `features` inputs: random-sign rounding errors grow with the
    /// square root of the sum's length (`KERNEL_ABS * sqrt(features)`).
    pub fn linear(features: usize) -> Tolerance {
        Tolerance {
            rel: KERNEL_REL,
            abs: KERNEL_ABS * (features as f32).sqrt(),
        }
    }

    /// An absolute bound only.
    pub const fn abs(abs: f32) -> Tolerance {
        Tolerance { rel: 0.0, abs }
    }

    /// The bound at one expected value.
    pub fn at(&self, want: f32) -> f32 {
        (self.rel * want.abs()).max(self.abs)
    }

    /// Compares `got` with `want` element by element; see [`Comparison`].
    pub fn compare(&self, got: &[f32], want: &[f32]) -> Comparison {
        let mut c = Comparison {
            len: want.len(),
            got_len: got.len(),
            fails: 0,
            worst: None,
        };
        if got.len() != want.len() {
            return c;
        }
        // The worst element is the one whose error is the largest share of its bound (NaN
        // counts as infinitely far), so "error <= tolerance" of the worst means all pass.
        let mut worst_ratio = -1f64;
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let err = (g - w).abs();
            let tol = self.at(w);
            let within = err <= tol; // false for NaN
            if !within {
                c.fails += 1;
            }
            let ratio = if err.is_nan() {
                f64::INFINITY
            } else if tol > 0.0 {
                err as f64 / tol as f64
            } else if err > 0.0 {
                f64::INFINITY
            } else {
                0.0
            };
            if ratio > worst_ratio {
                worst_ratio = ratio;
                c.worst = Some(Worst {
                    index: i,
                    got: g,
                    want: w,
                    error: err,
                    tolerance: tol,
                });
            }
        }
        c
    }
}

/// The result of [`Tolerance::compare`].
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Elements expected.
    pub len: usize,
    /// Elements received (a different count is a failure).
    pub got_len: usize,
    /// Elements outside their bound (NaN included).
    pub fails: usize,
    /// The element whose error is the largest share of its bound; `None` when empty or when
    /// the lengths differ.
    pub worst: Option<Worst>,
}

/// One element of a [`Comparison`]: where, both values, the error and its bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Worst {
    pub index: usize,
    pub got: f32,
    pub want: f32,
    pub error: f32,
    pub tolerance: f32,
}

impl Comparison {
    /// Every element within its bound and the lengths equal.
    pub fn passed(&self) -> bool {
        self.len == self.got_len && self.fails == 0
    }

    /// `"3 of 100 elements outside tolerance; worst at index 7: got 1.5, expected 1.2 (error
    /// 3e-1 > 1e-4)"`, or the length mismatch: for assertion messages.
    pub fn message(&self) -> String {
        if self.len != self.got_len {
            return format!("length {} != expected {}", self.got_len, self.len);
        }
        match &self.worst {
            None => "no elements".into(),
            Some(w) => format!(
                "{} of {} elements outside tolerance; worst at index {}: got {}, expected {} (error {:.3e}, bound {:.3e})",
                self.fails, self.len, w.index, w.got, w.want, w.error, w.tolerance
            ),
        }
    }
}

/// The deterministic generator of the kernel checks (the same as every test's).
pub use shadercam_loader::Rng;

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: a 2x2 input, 2x2 kernel, stride 1, no padding → one output per channel.
    #[test]
    fn conv2d_by_hand() {
        // x: 1 image, 2x2, 1 channel; w: 2x2 taps, 1 in, 2 out (HWIO).
        let x = [1.0, 2.0, 3.0, 4.0];
        let w = [1.0, 10.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0];
        let y = conv2d(&x, &w, &[0.5, 0.0], None, false, 1, (2, 2, 1), (2, 2, 1, 0));
        assert_eq!(y, vec![1.0 + 4.0 + 0.5, 10.0 - 4.0]);
        let r = conv2d(
            &x,
            &w,
            &[0.5, 0.0],
            Some(&[1.0, -7.0]),
            true,
            1,
            (2, 2, 1),
            (2, 2, 1, 0),
        );
        assert_eq!(r, vec![6.5, 0.0], "residual added before the ReLU");
    }

    #[test]
    fn pools_and_linear_by_hand() {
        let x = [1.0, -1.0, 5.0, 2.0, 3.0, 0.0, 4.0, 9.0]; // 1 image, 2x2, 2 channels
        assert_eq!(maxpool(&x, 1, 2, 2, 2, 3, 2, 1), vec![5.0, 9.0]);
        assert_eq!(global_avg_pool(&x, 1, 4, 2), vec![3.25, 2.5]);
        let y = linear(&[1.0, 2.0], &[3.0, 4.0, -1.0, 0.5], &[0.25, 0.0], 1, 2, 2);
        assert_eq!(y, vec![11.25, 0.0]);
    }

    #[test]
    fn comparison_reports_the_worst_element_and_nan() {
        let t = Tolerance {
            rel: 0.1,
            abs: 0.01,
        };
        let c = t.compare(&[1.05, 0.015, 10.5], &[1.0, 0.02, 10.0]);
        assert!(c.passed(), "{}", c.message());
        let c = t.compare(&[1.0, 0.05, 10.0], &[1.0, 0.0, 10.0]);
        assert_eq!((c.fails, c.worst.unwrap().index), (1, 1));
        let c = t.compare(&[f32::NAN], &[1.0]);
        assert!(!c.passed());
        assert!(!Tolerance::EXACT.compare(&[1.0], &[1.0, 2.0]).passed());
        assert!(Tolerance::EXACT.compare(&[3.0], &[3.0]).passed());
    }

    #[test]
    fn rounding_to_f16_keeps_representable_values() {
        assert_eq!(round_to_f16(&[0.5, 1.0, -2.0]), vec![0.5, 1.0, -2.0]);
        let r = round_to_f16(&[0.1])[0];
        assert!((r - 0.1).abs() < 1e-4 && r != 0.1);
    }
}
