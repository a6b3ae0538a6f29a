//! Each network kernel against a small, obviously correct CPU version, on random inputs and edge
//! shapes: 1x1 spatial, odd sizes, stride 2 on odd sizes, channel counts that are not a multiple
//! of 4 or of the 64-wide tile, batch 1 and 3. Runs on whatever adapter `gpu()` finds
//! (lavapipe in CI).

use shadercam_kernels::{
    CONV_RELU, CONV_RESIDUAL, ConvShape, ConvVariant, GpuContext, Kernels, encode, pad_channels,
    unpad_channels,
};
use shadercam_suite::{Rng, assert_close, gpu};

/// f32 accumulations of up to a few thousand terms, compared with an f64 reference.
const REL: f32 = 1e-4;
const ABS: f32 = 1e-4;

/// CPU reference convolution, NHWC in/out, HWIO weights, f64 accumulation.
#[allow(clippy::too_many_arguments)]
fn conv_cpu(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    res: Option<&[f32]>,
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
                    if let Some(r) = res {
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

/// Pads HWIO weights [k*k*cin, cout] to [k*k*cin4, cout4].
fn pad_hwio(w: &[f32], taps: usize, cin: usize, cout: usize) -> Vec<f32> {
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

#[allow(clippy::too_many_arguments)]
fn check_conv(
    ctx: &GpuContext,
    k: &Kernels,
    variant: ConvVariant,
    n: usize,
    h: usize,
    w: usize,
    cin: usize,
    cout: usize,
    ks: usize,
    stride: usize,
    pad: usize,
    relu: bool,
    residual: bool,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let x = rng.vec(n * h * w * cin);
    let wt = rng.vec(ks * ks * cin * cout);
    let b = rng.vec(cout);
    let shape = ConvShape {
        batch: n,
        in_h: h,
        in_w: w,
        cin: cin.next_multiple_of(4),
        cout: cout.next_multiple_of(4),
        kh: ks,
        kw: ks,
        stride,
        pad,
    };
    let (oh, ow) = shape.out_hw();
    let res = residual.then(|| rng.vec(n * oh * ow * cout));
    let want = conv_cpu(
        &x,
        &wt,
        &b,
        res.as_deref(),
        relu,
        n,
        (h, w, cin),
        (cout, ks, stride, pad),
    );

    let xb = ctx.storage_from("x", &pad_channels(&x, cin)).unwrap();
    let wb = ctx
        .storage_from("w", &pad_hwio(&wt, ks * ks, cin, cout))
        .unwrap();
    let bb = ctx.storage_from("b", &pad_channels(&b, cout)).unwrap();
    let rb = ctx
        .storage_from(
            "r",
            &res.as_ref()
                .map(|r| pad_channels(r, cout))
                .unwrap_or(vec![0.0; 4]),
        )
        .unwrap();
    let ob = ctx
        .storage("o", (n * oh * ow * cout.next_multiple_of(4) * 4) as u64)
        .unwrap();
    let flags = if relu { CONV_RELU } else { 0 } | if residual { CONV_RESIDUAL } else { 0 };
    let d = k
        .conv2d
        .dispatch_variant(
            ctx,
            variant,
            "conv test",
            &shape,
            flags,
            &xb,
            &wb,
            &bb,
            &rb,
            &ob,
        )
        .unwrap();
    let got = ctx
        .submit_and_read(encode(ctx, &[&d]), &[(&ob, ob.size())])
        .unwrap()[0]
        .to_vec::<f32>();
    let got = unpad_channels(&got[..n * oh * ow * cout.next_multiple_of(4)], cout);
    assert_close(
        &format!(
            "conv {variant:?} n{n} {h}x{w} cin{cin} cout{cout} k{ks} s{stride} p{pad} relu{relu} res{residual}"
        ),
        &got,
        &want,
        REL,
        ABS * (ks * ks * cin) as f32 / 16.0,
    );
}

/// Every conv variant runs on every adapter here (the network picks one per adapter type), so
/// lavapipe in CI checks the GPU kernel too.
#[test]
fn conv2d_matches_cpu_on_every_resnet_geometry_and_edge_shapes() {
    let ctx = gpu();
    let k = Kernels::new(&ctx).unwrap();
    // (n, h, w, cin, cout, k, stride, pad, relu, residual)
    let cases = [
        (1, 17, 13, 3, 64, 7, 2, 3, true, false), // stem: 7x7/2 on 3 channels, odd size
        (3, 9, 9, 16, 8, 3, 1, 1, true, false),   // 3x3/1, batch 3
        (1, 9, 7, 12, 20, 3, 2, 1, true, false),  // 3x3/2 on odd sizes
        (2, 7, 7, 64, 72, 1, 1, 0, true, true),   // 1x1 + residual + ReLU (block end), cout not /64
        (1, 9, 9, 8, 16, 1, 2, 0, false, false),  // 1x1/2 projection, no ReLU
        (1, 1, 1, 5, 7, 1, 1, 0, true, true),     // 1x1 spatial, channels not /4
        (3, 1, 1, 6, 3, 3, 1, 1, false, false),   // 3x3 on a 1x1 image: only the centre tap
        (1, 5, 3, 130, 66, 3, 2, 1, false, true), // K not a multiple of 16, cout past one tile
        (2, 11, 10, 1, 1, 3, 1, 1, true, false),  // one channel in and out
        (1, 2, 70, 4, 4, 1, 1, 0, false, false),  // M (140) not a multiple of the 64-pixel tile
        // Direct kernel (8 pixels x 8 channels per invocation, 64 per workgroup):
        (1, 15, 15, 32, 84, 3, 1, 1, true, true), // M = 225 (not /8), cout4 = 21 (not /2), 5 workgroups
        (3, 7, 7, 40, 36, 1, 1, 0, true, false),  // batch 3, M = 147: pixel groups span images
        (1, 7, 7, 2048, 20, 1, 1, 0, false, false), // layer4-like: long K, M = 49
        (3, 14, 14, 24, 16, 3, 2, 1, true, true), // stride 2, batch 3, even input
    ];
    for variant in ConvVariant::ALL {
        for (i, &(n, h, w, cin, cout, ks, s, p, relu, res)) in cases.iter().enumerate() {
            check_conv(
                &ctx,
                &k,
                variant,
                n,
                h,
                w,
                cin,
                cout,
                ks,
                s,
                p,
                relu,
                res,
                100 + i as u64,
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn maxpool_cpu(
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    k: usize,
    s: usize,
    p: usize,
) -> Vec<f32> {
    let oh = (h + 2 * p - k) / s + 1;
    let ow = (w + 2 * p - k) / s + 1;
    let mut out = vec![f32::NEG_INFINITY; n * oh * ow * c];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let o = &mut out[((b * oh + oy) * ow + ox) * c + ch];
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * s + ky) as isize - p as isize;
                            let ix = (ox * s + kx) as isize - p as isize;
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

#[test]
fn maxpool_matches_cpu() {
    let ctx = gpu();
    let k = Kernels::new(&ctx).unwrap();
    for (i, &(n, h, w, c)) in [
        (1, 112, 112, 64),
        (3, 7, 9, 5),
        (1, 1, 1, 4),
        (2, 2, 3, 9),
        (1, 5, 5, 1),
    ]
    .iter()
    .enumerate()
    {
        let x = Rng::new(7 + i as u64).vec(n * h * w * c);
        let want = maxpool_cpu(&x, n, h, w, c, 3, 2, 1);
        let c4 = c.next_multiple_of(4);
        let xb = ctx.storage_from("x", &pad_channels(&x, c)).unwrap();
        let ob = ctx.storage("o", (want.len() / c * c4 * 4) as u64).unwrap();
        let d = k
            .maxpool
            .dispatch(&ctx, "maxpool test", (n, h, w, c4), (3, 2, 1), &xb, &ob)
            .unwrap();
        let got = ctx
            .submit_and_read(encode(&ctx, &[&d]), &[(&ob, ob.size())])
            .unwrap()[0]
            .to_vec::<f32>();
        let got = unpad_channels(&got[..want.len() / c * c4], c);
        // A max is exact: the GPU must return one of the inputs bit for bit.
        assert_close(&format!("maxpool n{n} {h}x{w}x{c}"), &got, &want, 0.0, 0.0);
    }
}

#[test]
fn global_avg_pool_matches_cpu() {
    let ctx = gpu();
    let k = Kernels::new(&ctx).unwrap();
    for (i, &(n, hw, c)) in [(1, 49, 2048), (3, 1, 6), (2, 9, 13), (1, 196, 4)]
        .iter()
        .enumerate()
    {
        let x = Rng::new(11 + i as u64).vec(n * hw * c);
        let want: Vec<f32> = (0..n * c)
            .map(|j| {
                let (b, ch) = (j / c, j % c);
                ((0..hw)
                    .map(|p| x[(b * hw + p) * c + ch] as f64)
                    .sum::<f64>()
                    / hw as f64) as f32
            })
            .collect();
        let c4 = c.next_multiple_of(4);
        let xb = ctx.storage_from("x", &pad_channels(&x, c)).unwrap();
        let ob = ctx.storage("o", (n * c4 * 4) as u64).unwrap();
        let d = k
            .gap
            .dispatch(&ctx, "gap test", (n, hw, c4), &xb, &ob)
            .unwrap();
        let got = ctx
            .submit_and_read(encode(&ctx, &[&d]), &[(&ob, ob.size())])
            .unwrap()[0]
            .to_vec::<f32>();
        assert_close(
            &format!("gap n{n} hw{hw} c{c}"),
            &unpad_channels(&got[..n * c4], c),
            &want,
            REL,
            ABS,
        );
    }
}

#[test]
fn linear_matches_cpu() {
    let ctx = gpu();
    let k = Kernels::new(&ctx).unwrap();
    for (i, &(n, f, classes)) in [(1, 2048, 8), (3, 512, 1000), (2, 4, 1), (8, 2048, 3)]
        .iter()
        .enumerate()
    {
        let mut rng = Rng::new(21 + i as u64);
        let x = rng.vec(n * f);
        let w = rng.vec(classes * f);
        let b = rng.vec(classes);
        let want: Vec<f32> = (0..n * classes)
            .map(|j| {
                let (bi, cl) = (j / classes, j % classes);
                (b[cl] as f64
                    + (0..f)
                        .map(|q| x[bi * f + q] as f64 * w[cl * f + q] as f64)
                        .sum::<f64>()) as f32
            })
            .collect();
        let xb = ctx.storage_from("x", &x).unwrap();
        let wb = ctx.storage_from("w", &w).unwrap();
        let bb = ctx.storage_from("b", &b).unwrap();
        let ob = ctx.storage("o", (n * classes * 4) as u64).unwrap();
        let d = k
            .linear
            .dispatch(&ctx, "fc test", (n, f, classes), &xb, &wb, &bb, &ob)
            .unwrap();
        let got = ctx
            .submit_and_read(encode(&ctx, &[&d]), &[(&ob, ob.size())])
            .unwrap()[0]
            .to_vec::<f32>();
        assert_close(
            &format!("linear n{n} f{f} classes{classes}"),
            &got[..n * classes],
            &want,
            REL,
            ABS * (f as f32).sqrt(),
        );
    }
}
