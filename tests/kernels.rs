//! Each network kernel against a small, obviously correct CPU version
//! (`shadercam_kernels::reference`, which `shadercam selftest` runs too), on random inputs and
//! the edge shapes listed there: 1x1 spatial, odd sizes, stride 2 on odd sizes, channel counts
//! that are not a multiple of 4 or of the 64-wide tile, batch 1 and 3. Runs on whatever adapter
//! `gpu()` finds (lavapipe in CI).

use shadercam_kernels::reference::{
    self, CONV_CASES, ConvCase, GAP_CASES, KERNEL_ABS as ABS, KERNEL_REL as REL, LINEAR_CASES,
    MAXPOOL_CASES,
};
use shadercam_kernels::{
    CONV_RELU, CONV_RESIDUAL, ConvBuffers, ConvShape, ConvVariant, GpuContext, Kernels, encode,
    pad_channels, unpad_channels,
};
use shadercam_suite::{Rng, assert_close, gpu};

fn check_conv(ctx: &GpuContext, k: &Kernels, variant: ConvVariant, c: &ConvCase, seed: u64) {
    let &ConvCase {
        n,
        h,
        w,
        cin,
        cout,
        k: ks,
        stride,
        pad,
        relu,
        residual,
        ..
    } = c;
    let reference::ConvData {
        input: x,
        weight: wt,
        bias: b,
        residual: res,
    } = c.random_data(seed);
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
    let want = reference::conv2d(
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
        .storage_from("w", &reference::pad_hwio(&wt, ks * ks, cin, cout))
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
            ConvBuffers {
                input: &xb,
                weight: &wb,
                bias: &bb,
                residual: &rb,
                output: &ob,
            },
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
    for variant in ConvVariant::ALL {
        // The cases and what each exercises: reference::CONV_CASES.
        for (i, c) in CONV_CASES.iter().enumerate() {
            check_conv(&ctx, &k, variant, c, 100 + i as u64);
        }
    }
}

#[test]
fn maxpool_matches_cpu() {
    let ctx = gpu();
    let k = Kernels::new(&ctx).unwrap();
    for (i, &(n, h, w, c)) in MAXPOOL_CASES.iter().enumerate() {
        let x = Rng::new(7 + i as u64).vec(n * h * w * c);
        let want = reference::maxpool(&x, n, h, w, c, 3, 2, 1);
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
    for (i, &(n, hw, c)) in GAP_CASES.iter().enumerate() {
        let x = Rng::new(11 + i as u64).vec(n * hw * c);
        let want = reference::global_avg_pool(&x, n, hw, c);
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
    for (i, &(n, f, classes)) in LINEAR_CASES.iter().enumerate() {
        let mut rng = Rng::new(21 + i as u64);
        let x = rng.vec(n * f);
        let w = rng.vec(classes * f);
        let b = rng.vec(classes);
        let want = reference::linear(&x, &w, &b, n, f, classes);
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
