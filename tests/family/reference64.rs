//! The torchvision ResNet forward pass in float64 on the CPU, for the family tests: NCHW, one
//! image at a time, reading the raw (unfolded) torchvision tensors, so that it shares neither
//! the loader's BatchNorm folding and weight layout nor the kernels' arithmetic.

use shadercam_suite::Tensors;

/// One image's activations, NCHW without the N, in float64.
struct Map {
    c: usize,
    h: usize,
    w: usize,
    v: Vec<f64>,
}

/// The torchvision forward pass, written as plainly as possible: Conv2d (no bias), BatchNorm2d
/// in eval mode with eps 1e-5, ReLU, MaxPool2d(3, 2, 1), the blocks, AdaptiveAvgPool2d(1), Linear.
pub struct Reference<'a> {
    t: &'a Tensors,
}

impl<'a> Reference<'a> {
    /// The network whose tensors (torchvision names) are `t`.
    pub fn new(t: &'a Tensors) -> Self {
        Self { t }
    }

    fn conv(&self, x: &Map, name: &str, stride: usize, pad: usize) -> Map {
        let (shape, w) = &self.t[&format!("{name}.weight")];
        let [co_n, ci_n, kh, kw] = [shape[0], shape[1], shape[2], shape[3]];
        assert_eq!(ci_n, x.c, "{name}");
        let oh = (x.h + 2 * pad - kh) / stride + 1;
        let ow = (x.w + 2 * pad - kw) / stride + 1;
        let mut out = vec![0f64; co_n * oh * ow];
        // Output columns whose input column ox*stride + kx - pad lies inside the image.
        let cols = |k: usize| -> (usize, usize) {
            let lo = pad.saturating_sub(k).div_ceil(stride);
            let hi = ((x.w + pad - k) as isize - 1).div_euclid(stride as isize) + 1;
            (lo.min(ow), (hi.max(0) as usize).min(ow))
        };
        for co in 0..co_n {
            let o = &mut out[co * oh * ow..(co + 1) * oh * ow];
            for ci in 0..ci_n {
                let xin = &x.v[ci * x.h * x.w..(ci + 1) * x.h * x.w];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let wv = w[((co * ci_n + ci) * kh + ky) * kw + kx] as f64;
                        let (lo, hi) = cols(kx);
                        for oy in 0..oh {
                            let iy = (oy * stride + ky) as isize - pad as isize;
                            if iy < 0 || iy >= x.h as isize {
                                continue;
                            }
                            let row = &xin[iy as usize * x.w..(iy as usize + 1) * x.w];
                            let orow = &mut o[oy * ow..(oy + 1) * ow];
                            for ox in lo..hi {
                                orow[ox] += wv * row[ox * stride + kx - pad];
                            }
                        }
                    }
                }
            }
        }
        Map {
            c: co_n,
            h: oh,
            w: ow,
            v: out,
        }
    }

    fn bn(&self, mut x: Map, name: &str, relu: bool) -> Map {
        let p = |s: &str| &self.t[&format!("{name}.{s}")].1;
        let (g, b, m, var) = (p("weight"), p("bias"), p("running_mean"), p("running_var"));
        let hw = x.h * x.w;
        for c in 0..x.c {
            let inv = 1.0 / (var[c] as f64 + 1e-5).sqrt();
            for v in &mut x.v[c * hw..(c + 1) * hw] {
                *v = (*v - m[c] as f64) * inv * g[c] as f64 + b[c] as f64;
                if relu {
                    *v = v.max(0.0);
                }
            }
        }
        x
    }

    fn maxpool(x: &Map) -> Map {
        let (oh, ow) = ((x.h + 2 - 3) / 2 + 1, (x.w + 2 - 3) / 2 + 1);
        let mut v = vec![f64::NEG_INFINITY; x.c * oh * ow];
        for c in 0..x.c {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (iy, ix) = ((oy * 2 + ky) as isize - 1, (ox * 2 + kx) as isize - 1);
                            if iy >= 0 && ix >= 0 && (iy as usize) < x.h && (ix as usize) < x.w {
                                let e = &mut v[(c * oh + oy) * ow + ox];
                                *e = e.max(x.v[(c * x.h + iy as usize) * x.w + ix as usize]);
                            }
                        }
                    }
                }
            }
        }
        Map {
            c: x.c,
            h: oh,
            w: ow,
            v,
        }
    }

    /// Logits of one CHW image.
    pub fn forward(&self, chw: &[f32], h: usize, w: usize) -> Vec<f32> {
        let x = Map {
            c: 3,
            h,
            w,
            v: chw.iter().map(|&v| v as f64).collect(),
        };
        let x = self.bn(self.conv(&x, "conv1", 2, 3), "bn1", true);
        let mut x = Self::maxpool(&x);
        let bottleneck = self.t.contains_key("layer1.0.conv3.weight");
        for s in 1..=4 {
            for b in 0.. {
                let p = format!("layer{s}.{b}");
                if !self.t.contains_key(&format!("{p}.conv1.weight")) {
                    break;
                }
                let stride = if s > 1 && b == 0 { 2 } else { 1 };
                // The block's i-th convolution and its BatchNorm (+ ReLU).
                let conv_bn = |x: &Map, i: usize, stride: usize, pad: usize, relu: bool| {
                    let conv = self.conv(x, &format!("{p}.conv{i}"), stride, pad);
                    self.bn(conv, &format!("{p}.bn{i}"), relu)
                };
                let y = if bottleneck {
                    let y = conv_bn(&x, 1, 1, 0, true);
                    let y = conv_bn(&y, 2, stride, 1, true);
                    conv_bn(&y, 3, 1, 0, false)
                } else {
                    let y = conv_bn(&x, 1, stride, 1, true);
                    conv_bn(&y, 2, 1, 1, false)
                };
                let shortcut = if self.t.contains_key(&format!("{p}.downsample.0.weight")) {
                    self.bn(
                        self.conv(&x, &format!("{p}.downsample.0"), stride, 0),
                        &format!("{p}.downsample.1"),
                        false,
                    )
                } else {
                    x
                };
                assert_eq!((y.c, y.h, y.w), (shortcut.c, shortcut.h, shortcut.w), "{p}");
                let v =
                    y.v.iter()
                        .zip(&shortcut.v)
                        .map(|(a, b)| (a + b).max(0.0))
                        .collect();
                x = Map { v, ..y };
            }
        }
        let hw = (x.h * x.w) as f64;
        let pooled: Vec<f64> = (0..x.c)
            .map(|c| x.v[c * x.h * x.w..(c + 1) * x.h * x.w].iter().sum::<f64>() / hw)
            .collect();
        let (shape, fw) = &self.t["fc.weight"];
        let fb = &self.t["fc.bias"].1;
        (0..shape[0])
            .map(|k| {
                (fb[k] as f64
                    + (0..x.c)
                        .map(|c| fw[k * x.c + c] as f64 * pooled[c])
                        .sum::<f64>()) as f32
            })
            .collect()
    }
}
