//! Kernel checks of `shadercam selftest`: every convolution variant in every precision the
//! adapter runs, max-pool, global average pool and fully connected, on the edge shapes of
//! `shadercam_kernels::reference`, against the CPU versions there.

use super::*;
use anyhow::Result;
use shadercam_kernels::reference::{
    self, CONV_CASES, ConvCase, F16_WEIGHTS_GRADCAM_ABS, F16_WEIGHTS_LOGIT_ABS, GAP_CASES,
    GRADCAM_ABS, LINEAR_CASES, LOGIT_ABS, MAXPOOL_CASES, Rng, Tolerance,
};
use shadercam_kernels::{
    CONV_RELU, CONV_RESIDUAL, Conv2d, ConvBuffers, ConvShape, ConvVariant, GlobalAvgPool,
    GpuContext, Linear, MaxPool, Precision, encode, pad_channels, unpad_channels,
};
use std::time::Instant;

/// How numbers are stored in a GPU buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Storage {
    /// One f32 per value.
    F32,
    /// Two f16 per u32, low half first (what WGSL's `unpack2x16float` reads), as the network
    /// uploads f16 weights; the same bytes as an `array<vec4<f16>>` of f16 activations.
    F16Pairs,
}

impl Storage {
    /// A storage buffer holding `values` stored this way.
    pub(super) fn buffer(
        self,
        ctx: &GpuContext,
        label: &str,
        values: &[f32],
    ) -> Result<wgpu::Buffer> {
        Ok(match self {
            Storage::F32 => ctx.storage_from(label, values)?,
            Storage::F16Pairs => {
                let packed: Vec<u32> = values
                    .chunks_exact(2)
                    .map(|p| {
                        half::f16::from_f32(p[0]).to_bits() as u32
                            | (half::f16::from_f32(p[1]).to_bits() as u32) << 16
                    })
                    .collect();
                ctx.storage_from(label, &packed)?
            }
        })
    }

    /// Values read back from a buffer stored this way.
    pub(super) fn decode(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            Storage::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Storage::F16Pairs => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        }
    }

    /// Bytes per value.
    pub(super) fn size(self) -> usize {
        match self {
            Storage::F32 => 4,
            Storage::F16Pairs => 2,
        }
    }

    /// The values a kernel reading this storage really sees (f16 storage rounds them): what
    /// the CPU reference must compute with.
    pub(super) fn seen(self, values: &[f32]) -> Vec<f32> {
        match self {
            Storage::F32 => values.to_vec(),
            Storage::F16Pairs => reference::round_to_f16(values),
        }
    }
}

/// Everything selftest must know about one `--precision`: how the convolution kernels built
/// for it store their weights, and the stated bounds of the whole network in it (from the
/// tests that assert them). A new precision is one more arm here.
pub(super) struct PrecisionFacts {
    pub(super) weights: Storage,
    /// How the convolution's input, residual and output are stored (bias is f32 always).
    pub(super) activations: Storage,
    /// Absolute bound on each logit vs PyTorch's float64 forward (the top-1 must agree too).
    pub(super) logit_abs: f32,
    /// Absolute bound on the Grad-CAM map vs pytorch-grad-cam's; `None`: no measured bound
    /// yet, so only the logits and the top-1 are checked.
    pub(super) gradcam_abs: Option<f32>,
}

pub(super) fn facts(precision: Precision) -> PrecisionFacts {
    match precision {
        // tests/forward.rs LOGIT_ABS, tests/cam.rs GRADCAM_ABS.
        Precision::F32 => PrecisionFacts {
            weights: Storage::F32,
            activations: Storage::F32,
            logit_abs: LOGIT_ABS,
            gradcam_abs: Some(GRADCAM_ABS),
        },
        // tests/forward.rs F16_LOGIT_ABS, tests/cam.rs F16_GRADCAM_ABS; arithmetic stays f32, so the kernel-level bounds are
        // the f32 ones on the rounded weights.
        Precision::F16Weights => PrecisionFacts {
            weights: Storage::F16Pairs,
            activations: Storage::F32,
            logit_abs: F16_WEIGHTS_LOGIT_ABS,
            gradcam_abs: Some(F16_WEIGHTS_GRADCAM_ABS),
        },
        // tests/precision.rs F16_LOGIT_ABS, F16_GRADCAM_ABS. Kernel level: the inputs are
        // rounded to f16 in the reference too, products of two f16 are exact in f32 and the
        // sum is f32, so the f32 bounds hold before the output is rounded to f16 (half an ulp:
        // 2^-11 relative, added to the relative bound).
        Precision::F16 => PrecisionFacts {
            weights: Storage::F16Pairs,
            activations: Storage::F16Pairs,
            logit_abs: reference::F16_LOGIT_ABS,
            gradcam_abs: Some(reference::F16_GRADCAM_ABS),
        },
        Precision::Auto => unreachable!("precisions() offers no `auto`: it runs as another"),
    }
}

/// The kernel-level bound of a convolution whose dot products have `reduction` terms, in a
/// precision whose activations are stored as `activations`.
pub(super) fn conv_tolerance(reduction: usize, activations: Storage) -> Tolerance {
    let t = Tolerance::conv(reduction);
    match activations {
        Storage::F32 => t,
        Storage::F16Pairs => Tolerance {
            rel: t.rel + 2f32.powi(-11),
            abs: t.abs,
        },
    }
}

/// One convolution case on the GPU; returns (got, want), both NHWC with `cout` channels.
pub(super) fn run_conv_case(
    ctx: &GpuContext,
    conv: &Conv2d,
    variant: ConvVariant,
    case: &ConvCase,
    seed: u64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let &ConvCase {
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
        ..
    } = case;
    // The same data as tests/kernels.rs for the same case (seed 100 + index).
    let reference::ConvData {
        input: x,
        weight: wt,
        bias: b,
        residual: res,
    } = case.random_data(seed);
    let (oh, ow) = case.out_hw();
    let PrecisionFacts {
        weights,
        activations: act,
        ..
    } = facts(conv.precision);
    let x = act.seen(&x);
    let res = res.map(|r| act.seen(&r));
    let want = reference::conv2d(
        &x,
        &weights.seen(&wt),
        &b,
        res.as_deref(),
        relu,
        n,
        (h, w, cin),
        (cout, k, stride, pad),
    );
    let (cin4, cout4) = (cin.next_multiple_of(4), cout.next_multiple_of(4));
    let shape = ConvShape {
        batch: n,
        in_h: h,
        in_w: w,
        cin: cin4,
        cout: cout4,
        kh: k,
        kw: k,
        stride,
        pad,
    };
    let xb = act.buffer(ctx, "selftest conv x", &pad_channels(&x, cin))?;
    let wb = weights.buffer(
        ctx,
        "selftest conv weight",
        &reference::pad_hwio(&wt, k * k, cin, cout),
    )?;
    let bb = ctx.storage_from("selftest conv bias", &pad_channels(&b, cout))?;
    let rb = act.buffer(
        ctx,
        "selftest conv residual",
        &res.as_ref()
            .map(|r| pad_channels(r, cout))
            .unwrap_or(vec![0.0; 4]),
    )?;
    let out_len = n * oh * ow * cout4;
    let out_bytes = (out_len * act.size()) as u64;
    let ob = ctx.storage("selftest conv out", out_bytes)?;
    let flags = if relu { CONV_RELU } else { 0 } | if residual { CONV_RESIDUAL } else { 0 };
    let d = conv.dispatch_variant(
        ctx,
        variant,
        "selftest conv",
        &shape,
        flags,
        ConvBuffers {
            input: &xb,
            weight: &wb,
            bias: &bb,
            residual: &rb,
            output: &ob,
        },
    )?;
    let got = act.decode(ctx.submit_and_read(encode(ctx, &[&d]), &[(&ob, out_bytes)])?[0].bytes());
    Ok((unpad_channels(&got, cout), want))
}

/// Every conv kernel variant with every weight precision, over [`CONV_CASES`].
pub(super) fn conv_checks(ctx: &GpuContext, r: &mut Runner) -> Result<()> {
    for precision in precisions(ctx) {
        let variants = conv_variants(ctx, precision);
        let names: Vec<String> = variants
            .iter()
            .map(|&v| format!("conv2d {} {}", variant_name(v), precision_name(precision)))
            .collect();
        if !names.iter().any(|n| r.wants(n)) {
            continue;
        }
        let start = Instant::now();
        let conv = match Conv2d::with_precision(ctx, precision) {
            Ok(c) => c,
            Err(e) => {
                let wanted: Vec<String> = names.into_iter().filter(|n| r.wants(n)).collect();
                for name in wanted {
                    let secs = start.elapsed().as_secs_f64();
                    r.report(Check::failed(name, secs, format!("pipelines: {e}")))?;
                }
                continue;
            }
        };
        let act = facts(precision).activations;
        for (&variant, name) in variants.iter().zip(names) {
            if !r.wants(&name) {
                continue;
            }
            let start = Instant::now();
            let mut worse = Worse::default();
            for (i, case) in CONV_CASES.iter().enumerate() {
                let what = format!("{} ({})", case.describe(), case.what);
                match run_conv_case(ctx, &conv, variant, case, 100 + i as u64) {
                    Ok((got, want)) => {
                        let got = r.tamper(&name, got);
                        let tol = conv_tolerance(case.reduction(), act);
                        worse.compare(&what, &got, &want, tol);
                    }
                    Err(e) => worse.fail(format!("{what}: {e:#}")),
                }
            }
            r.report(worse.into_check(name, start))?;
        }
    }
    Ok(())
}

/// Max-pool 3x3/2 pad 1 over [`MAXPOOL_CASES`]: bit-exact.
pub(super) fn maxpool_check(ctx: &GpuContext, r: &mut Runner) -> Result<()> {
    let name = "maxpool".to_owned();
    if !r.wants(&name) {
        return Ok(());
    }
    let start = Instant::now();
    let mut worse = Worse::default();
    let run = |i: usize, &(n, h, w, c): &(usize, usize, usize, usize)| -> Result<_> {
        let pool = MaxPool::new(ctx)?;
        let x = Rng::new(7 + i as u64).vec(n * h * w * c);
        let want = reference::maxpool(&x, n, h, w, c, 3, 2, 1);
        let c4 = c.next_multiple_of(4);
        let xb = ctx.storage_from("selftest maxpool x", &pad_channels(&x, c))?;
        let len = want.len() / c * c4;
        let ob = ctx.storage("selftest maxpool out", (len * 4) as u64)?;
        let d = pool.dispatch(ctx, "selftest maxpool", (n, h, w, c4), (3, 2, 1), &xb, &ob)?;
        let got =
            ctx.submit_and_read(encode(ctx, &[&d]), &[(&ob, (len * 4) as u64)])?[0].to_vec::<f32>();
        Ok((unpad_channels(&got, c), want))
    };
    for (i, case) in MAXPOOL_CASES.iter().enumerate() {
        let what = format!("n{} {}x{}x{}", case.0, case.1, case.2, case.3);
        match run(i, case) {
            Ok((got, want)) => {
                let got = r.tamper(&name, got);
                worse.compare(&what, &got, &want, Tolerance::EXACT)
            }
            Err(e) => worse.fail(format!("{what}: {e:#}")),
        }
    }
    r.report(worse.into_check(name, start))
}

/// Global average pool over [`GAP_CASES`].
pub(super) fn gap_check(ctx: &GpuContext, r: &mut Runner) -> Result<()> {
    let name = "global_avg_pool".to_owned();
    if !r.wants(&name) {
        return Ok(());
    }
    let start = Instant::now();
    let mut worse = Worse::default();
    let run = |i: usize, &(n, hw, c): &(usize, usize, usize)| -> Result<_> {
        let gap = GlobalAvgPool::new(ctx)?;
        let x = Rng::new(11 + i as u64).vec(n * hw * c);
        let want = reference::global_avg_pool(&x, n, hw, c);
        let c4 = c.next_multiple_of(4);
        let xb = ctx.storage_from("selftest gap x", &pad_channels(&x, c))?;
        let ob = ctx.storage("selftest gap out", (n * c4 * 4) as u64)?;
        let d = gap.dispatch(ctx, "selftest gap", (n, hw, c4), &xb, &ob)?;
        let got = ctx.submit_and_read(encode(ctx, &[&d]), &[(&ob, (n * c4 * 4) as u64)])?[0]
            .to_vec::<f32>();
        Ok((unpad_channels(&got, c), want))
    };
    for (i, case) in GAP_CASES.iter().enumerate() {
        let what = format!("n{} hw{} c{}", case.0, case.1, case.2);
        match run(i, case) {
            Ok((got, want)) => {
                let got = r.tamper(&name, got);
                worse.compare(&what, &got, &want, Tolerance::KERNEL)
            }
            Err(e) => worse.fail(format!("{what}: {e:#}")),
        }
    }
    r.report(worse.into_check(name, start))
}

/// The fully connected layer over [`LINEAR_CASES`].
pub(super) fn linear_check(ctx: &GpuContext, r: &mut Runner) -> Result<()> {
    let name = "linear".to_owned();
    if !r.wants(&name) {
        return Ok(());
    }
    let start = Instant::now();
    let mut worse = Worse::default();
    let run = |i: usize, &(n, f, classes): &(usize, usize, usize)| -> Result<_> {
        let fc = Linear::new(ctx)?;
        let mut rng = Rng::new(21 + i as u64);
        let x = rng.vec(n * f);
        let w = rng.vec(classes * f);
        let b = rng.vec(classes);
        let want = reference::linear(&x, &w, &b, n, f, classes);
        let xb = ctx.storage_from("selftest fc x", &x)?;
        let wb = ctx.storage_from("selftest fc w", &w)?;
        let bb = ctx.storage_from("selftest fc b", &b)?;
        let len = n * classes;
        let ob = ctx.storage("selftest fc out", (len * 4) as u64)?;
        let d = fc.dispatch(ctx, "selftest fc", (n, f, classes), &xb, &wb, &bb, &ob)?;
        let got =
            ctx.submit_and_read(encode(ctx, &[&d]), &[(&ob, (len * 4) as u64)])?[0].to_vec::<f32>();
        Ok((got, want))
    };
    for (i, case) in LINEAR_CASES.iter().enumerate() {
        let what = format!("n{} f{} classes{}", case.0, case.1, case.2);
        match run(i, case) {
            Ok((got, want)) => {
                let got = r.tamper(&name, got);
                worse.compare(&what, &got, &want, Tolerance::linear(case.1))
            }
            Err(e) => worse.fail(format!("{what}: {e:#}")),
        }
    }
    r.report(worse.into_check(name, start))
}
