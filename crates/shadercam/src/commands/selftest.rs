//! `shadercam selftest`: does shadercam compute correctly on this GPU and driver?
//!
//! It prints the adapter, its backend and driver and the optional features shadercam uses,
//! then runs two kinds of checks, one line each (name, worst error, its bound, time, PASS or
//! FAIL), and exits 1 if any fails:
//!
//! 1. Kernels: every kernel variant this adapter can run — each convolution kernel
//!    ([`ConvVariant::ALL`], plus the cooperative-matrix one where it runs) in each precision
//!    `--precision` offers that the adapter runs (f16 activations need `SHADER_F16`), max-pool,
//!    global average pool, fully connected — on random inputs and the edge shapes of
//!    [`shadercam_kernels::reference`] (1x1 spatial, stride 2, odd sizes, channel counts that
//!    are not a multiple of 4 or 64, residual + ReLU), against the CPU versions there, with
//!    the tolerances named there (the same cases and bounds as `tests/kernels.rs`).
//! 2. The whole network: the checkpoint (`--weights`, else found as the other commands find
//!    it) on one fixture image compiled into this binary (`selftest/shape_002.png`), from the
//!    PNG through preprocessing, forward and Grad-CAM, for each precision and conv kernel,
//!    against PyTorch's float64 logits and pytorch-grad-cam's map for that image
//!    (`selftest/shape_002.reference.safetensors`, made by `selftest/make_fixture.py` from
//!    `tests/fixtures/reference.safetensors`), with the bounds that `tests/forward.rs` and
//!    `tests/cam.rs` assert.
//!
//! A check's line shows its worst element: the one whose error is the largest share of its
//! bound `max(rel * |expected|, abs)`, so "error <= bound" on that line means every element
//! passed.
//!
//! Proving that a failure is caught: the hidden flag `--inject-fault NAME` adds 1.0 to the
//! first value the GPU returned in every check whose name contains NAME, before it is
//! compared — as if the GPU had computed one wrong number. The header then says so, and those
//! checks must FAIL (crates/shadercam/tests/selftest.rs runs it).

use crate::cli::{PrecisionArg, SelftestArgs};
use crate::model::weights_path;
use crate::output::outln;
use anyhow::{Context, Result, anyhow, bail};
use clap::ValueEnum;
use serde_json::json;
use shadercam_cam::{ExplainOptions, Explainer};
use shadercam_image::{Preprocess, decode_bytes, preprocess};
use shadercam_kernels::reference::{
    self, CONV_CASES, ConvCase, F16_WEIGHTS_GRADCAM_ABS, F16_WEIGHTS_LOGIT_ABS, GAP_CASES,
    GRADCAM_ABS, LINEAR_CASES, LOGIT_ABS, MAXPOOL_CASES, Rng, Tolerance, Worst,
};
use shadercam_kernels::{
    CONV_RELU, CONV_RESIDUAL, Conv2d, ConvShape, ConvVariant, GlobalAvgPool, GpuContext, Linear,
    MaxPool, Precision, encode, pad_channels, unpad_channels,
};
use shadercam_loader::ResNet;
use std::time::Instant;

/// The fixture image, a copy of tests/fixtures/images/shape_002.png (384x384).
const FIXTURE_PNG: &[u8] = include_bytes!("../../selftest/shape_002.png");
/// Its PyTorch logits, pytorch-grad-cam map and the checkpoint's fc bias (see make_fixture.py).
const FIXTURE_REFERENCE: &[u8] = include_bytes!("../../selftest/shape_002.reference.safetensors");

/// What happened to one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
}

/// One line of the report.
struct Check {
    name: String,
    outcome: Outcome,
    /// The worst element's error and its bound (NaN when there was nothing to compare,
    /// e.g. the GPU work failed).
    error: f32,
    tolerance: f32,
    seconds: f64,
    /// Why it failed (empty when it passed), or a note.
    detail: String,
}

impl Check {
    fn failed(name: String, seconds: f64, detail: String) -> Self {
        Check {
            name,
            outcome: Outcome::Fail,
            error: f32::NAN,
            tolerance: f32::NAN,
            seconds,
            detail,
        }
    }

    fn line(&self) -> String {
        let num = |v: f32| {
            if v.is_nan() {
                "-".to_owned()
            } else {
                format!("{v:.2e}")
            }
        };
        let result = match self.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
        };
        let mut line = format!(
            "{:<44} {:>9} {:>9} {:>8.0} ms  {result}",
            self.name,
            num(self.error),
            num(self.tolerance),
            self.seconds * 1e3
        );
        if !self.detail.is_empty() {
            line.push_str("  ");
            line.push_str(&self.detail);
        }
        line
    }

    fn json(&self) -> serde_json::Value {
        let num = |v: f32| (!v.is_nan()).then_some(v);
        json!({
            "name": self.name,
            "passed": self.outcome == Outcome::Pass,
            "error": num(self.error),
            "tolerance": num(self.tolerance),
            "ms": self.seconds * 1e3,
            "detail": self.detail,
        })
    }
}

/// Keeps the worst result of several comparisons that make up one check (e.g. one conv
/// kernel over every edge shape), judged by error / bound.
#[derive(Default)]
struct Worse {
    worst: Option<Worst>,
    ratio: f64,
    failures: Vec<String>,
}

impl Worse {
    /// Adds the comparison of `got` with `want` under `tol`, labelled `what` in messages.
    fn compare(&mut self, what: &str, got: &[f32], want: &[f32], tol: Tolerance) {
        let c = tol.compare(got, want);
        if !c.passed() {
            self.failures.push(format!("{what}: {}", c.message()));
        }
        if let Some(w) = c.worst {
            let ratio = if w.error.is_nan() {
                f64::INFINITY
            } else if w.tolerance > 0.0 {
                w.error as f64 / w.tolerance as f64
            } else if w.error > 0.0 {
                f64::INFINITY
            } else {
                0.0
            };
            if self.worst.is_none() || ratio > self.ratio {
                (self.worst, self.ratio) = (Some(w), ratio);
            }
        }
    }

    fn fail(&mut self, why: String) {
        self.failures.push(why);
    }

    fn into_check(self, name: String, start: Instant) -> Check {
        let (error, tolerance) = self
            .worst
            .map_or((f32::NAN, f32::NAN), |w| (w.error, w.tolerance));
        Check {
            name,
            outcome: if self.failures.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Fail
            },
            error,
            tolerance,
            seconds: start.elapsed().as_secs_f64(),
            detail: self.failures.join("; "),
        }
    }
}

/// The run: where lines go, which checks run, which get a fault injected.
struct Runner {
    json: bool,
    filter: Option<String>,
    fault: Option<String>,
    checks: Vec<Check>,
}

impl Runner {
    /// Whether the check `name` runs (`--filter`).
    fn wants(&self, name: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| name.contains(f.as_str()))
    }

    /// The GPU's result as the check sees it: with `--inject-fault` matching `name`, the
    /// first value is off by 1.0.
    fn tamper(&self, name: &str, mut got: Vec<f32>) -> Vec<f32> {
        if self
            .fault
            .as_ref()
            .is_some_and(|f| name.contains(f.as_str()))
            && let Some(v) = got.first_mut()
        {
            *v += 1.0;
        }
        got
    }

    fn report(&mut self, check: Check) -> Result<()> {
        if !self.json {
            outln!("{}", check.line())?;
        }
        self.checks.push(check);
        Ok(())
    }
}

/// The name a precision has on the command line (`--precision f16`).
fn precision_name(p: Precision) -> String {
    PrecisionArg(p).to_possible_value().map_or_else(
        || format!("{p:?}").to_lowercase(),
        |v| v.get_name().to_owned(),
    )
}

/// Every precision `--precision` offers, in its order, that this adapter runs (`f16` needs
/// `SHADER_F16`), except `auto`, which is one of the others.
fn precisions(ctx: &GpuContext) -> Vec<Precision> {
    PrecisionArg::value_variants()
        .iter()
        .map(|p| p.0)
        .filter(|&p| p != Precision::Auto && p.resolve(ctx.info.device_type, ctx.features).is_ok())
        .collect()
}

/// The convolution kernels this adapter runs in `precision`: Tiled and Direct everywhere, the
/// cooperative-matrix one in f16 where the adapter's tensor cores can run it.
fn conv_variants(ctx: &GpuContext, precision: Precision) -> Vec<ConvVariant> {
    let mut v = ConvVariant::ALL.to_vec();
    if precision == Precision::F16 && ctx.cooperative_matrix {
        v.push(ConvVariant::Cooperative);
    }
    v
}

fn variant_name(v: ConvVariant) -> String {
    format!("{v:?}").to_lowercase()
}

/// How numbers are stored in a GPU buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Storage {
    /// One f32 per value.
    F32,
    /// Two f16 per u32, low half first (what WGSL's `unpack2x16float` reads), as the network
    /// uploads f16 weights; the same bytes as an `array<vec4<f16>>` of f16 activations.
    F16Pairs,
}

impl Storage {
    /// A storage buffer holding `values` stored this way.
    fn buffer(self, ctx: &GpuContext, label: &str, values: &[f32]) -> Result<wgpu::Buffer> {
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
    fn decode(self, bytes: &[u8]) -> Vec<f32> {
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
    fn size(self) -> usize {
        match self {
            Storage::F32 => 4,
            Storage::F16Pairs => 2,
        }
    }

    /// The values a kernel reading this storage really sees (f16 storage rounds them): what
    /// the CPU reference must compute with.
    fn seen(self, values: &[f32]) -> Vec<f32> {
        match self {
            Storage::F32 => values.to_vec(),
            Storage::F16Pairs => reference::round_to_f16(values),
        }
    }
}

/// Everything selftest must know about one `--precision`: how the convolution kernels built
/// for it store their weights, and the stated bounds of the whole network in it (from the
/// tests that assert them). A new precision is one more arm here.
struct PrecisionFacts {
    weights: Storage,
    /// How the convolution's input, residual and output are stored (bias is f32 always).
    activations: Storage,
    /// Absolute bound on each logit vs PyTorch's float64 forward (the top-1 must agree too).
    logit_abs: f32,
    /// Absolute bound on the Grad-CAM map vs pytorch-grad-cam's; `None`: no measured bound
    /// yet, so only the logits and the top-1 are checked.
    gradcam_abs: Option<f32>,
}

fn facts(precision: Precision) -> PrecisionFacts {
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
fn conv_tolerance(reduction: usize, activations: Storage) -> Tolerance {
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
fn run_conv_case(
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
    let mut rng = Rng::new(seed);
    let x = rng.vec(n * h * w * cin);
    let wt = rng.vec(k * k * cin * cout);
    let b = rng.vec(cout);
    let (oh, ow) = case.out_hw();
    let res = residual.then(|| rng.vec(n * oh * ow * cout));
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
        &xb,
        &wb,
        &bb,
        &rb,
        &ob,
    )?;
    let got = act.decode(ctx.submit_and_read(encode(ctx, &[&d]), &[(&ob, out_bytes)])?[0].bytes());
    Ok((unpad_channels(&got, cout), want))
}

/// Every conv kernel variant with every weight precision, over [`CONV_CASES`].
fn conv_checks(ctx: &GpuContext, r: &mut Runner) -> Result<()> {
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
fn maxpool_check(ctx: &GpuContext, r: &mut Runner) -> Result<()> {
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
fn gap_check(ctx: &GpuContext, r: &mut Runner) -> Result<()> {
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
fn linear_check(ctx: &GpuContext, r: &mut Runner) -> Result<()> {
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

/// The embedded fixture: the preprocessed image and what PyTorch made of it.
struct Fixture {
    /// `[224, 224, 3]` HWC, preprocessed as the checkpoint says.
    input: Vec<f32>,
    crop: usize,
    logits: Vec<f32>,
    gradcam: Vec<f32>,
    /// The fc bias of the checkpoint the logits came from.
    fc_bias: Vec<f32>,
}

fn f32_tensor(st: &safetensors::SafeTensors, name: &str) -> Result<Vec<f32>> {
    let t = st
        .tensor(name)
        .map_err(|e| anyhow!("embedded fixture: tensor {name}: {e}"))?;
    if t.dtype() != safetensors::Dtype::F32 {
        bail!(
            "embedded fixture: tensor {name} is {:?}, not F32",
            t.dtype()
        );
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

impl Fixture {
    fn load(model: &ResNet) -> Result<Self> {
        let st = safetensors::SafeTensors::deserialize(FIXTURE_REFERENCE)
            .map_err(|e| anyhow!("embedded fixture: {e}"))?;
        let p = &model.preprocess;
        let pre = Preprocess {
            resize_size: p.resize_size,
            crop_size: p.crop_size,
            mean: p.mean,
            std: p.std,
        };
        let img = decode_bytes(FIXTURE_PNG, "shape_002.png", u64::MAX)?;
        let prepared = preprocess(&img, &pre)?;
        Ok(Fixture {
            input: prepared.tensor_hwc,
            crop: pre.crop_size as usize,
            logits: f32_tensor(&st, "logits")?,
            gradcam: f32_tensor(&st, "gradcam")?,
            fc_bias: f32_tensor(&st, "checkpoint.fc.bias")?,
        })
    }
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// The whole network on the fixture, for every precision and conv variant.
fn network_checks(
    ctx: &GpuContext,
    r: &mut Runner,
    weights: &Option<std::path::PathBuf>,
) -> Result<()> {
    let mut jobs = Vec::new();
    for precision in precisions(ctx) {
        for variant in conv_variants(ctx, precision) {
            let base = format!(
                "network {} {}",
                variant_name(variant),
                precision_name(precision)
            );
            let logits = format!("{base}: logits");
            let map = facts(precision)
                .gradcam_abs
                .map(|_| format!("{base}: gradcam"));
            if r.wants(&logits) || map.as_ref().is_some_and(|m| r.wants(m)) {
                jobs.push((precision, variant, logits, map));
            }
        }
    }
    if jobs.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    let path = weights_path(weights);
    let setup = ResNet::load(&path)
        .with_context(|| {
            format!(
                "loading the checkpoint {} (choose one with --weights or SHADERCAM_WEIGHTS)",
                path.display()
            )
        })
        .and_then(|model| {
            let fx = Fixture::load(&model)?;
            if model.fc_bias != fx.fc_bias {
                bail!(
                    "{} is not the checkpoint the fixture's logits were made with \
                     (weights/resnet50-shapes.safetensors): pass that one with --weights",
                    path.display()
                );
            }
            Ok((model, fx))
        });
    let (model, fx) = match setup {
        Ok(v) => v,
        Err(e) => {
            let secs = start.elapsed().as_secs_f64();
            for (_, _, logits, map) in jobs {
                for name in std::iter::once(logits).chain(map) {
                    r.report(Check::failed(name, secs, format!("{e:#}")))?;
                }
            }
            return Ok(());
        }
    };
    for (precision, variant, logits_name, map_name) in jobs {
        let start = Instant::now();
        let run = || -> Result<_> {
            let mut ex = Explainer::with_precision(ctx.clone(), model.clone(), precision)?;
            ex.net.kernels.conv2d.preferred = variant;
            let mut out = ex.explain(&fx.input, fx.crop, &[], &ExplainOptions::default())?;
            let e = out.pop().context("no explanation returned")?;
            let map = e.heatmaps.into_iter().next().context("no map returned")?;
            Ok((e.logits, map))
        };
        match run() {
            Ok((logits, map)) => {
                let secs = start.elapsed().as_secs_f64();
                let logits = r.tamper(&logits_name, logits);
                let mut worse = Worse::default();
                let bound = Tolerance::abs(facts(precision).logit_abs);
                worse.compare("logits vs PyTorch", &logits, &fx.logits, bound);
                let (ours, theirs) = (argmax(&logits), argmax(&fx.logits));
                if ours != theirs {
                    worse.fail(format!("top-1 is class {ours}, PyTorch's is {theirs}"));
                }
                let mut check = worse.into_check(logits_name, start);
                check.seconds = secs;
                r.report(check)?;
                if let (Some(name), Some(bound)) = (map_name, facts(precision).gradcam_abs) {
                    let map = r.tamper(&name, map);
                    let mut worse = Worse::default();
                    worse.compare(
                        "Grad-CAM map vs pytorch-grad-cam",
                        &map,
                        &fx.gradcam,
                        Tolerance::abs(bound),
                    );
                    let mut check = worse.into_check(name, start);
                    check.seconds = secs;
                    r.report(check)?;
                }
            }
            Err(e) => {
                let secs = start.elapsed().as_secs_f64();
                for name in std::iter::once(logits_name).chain(map_name) {
                    r.report(Check::failed(name, secs, format!("{e:#}")))?;
                }
            }
        }
    }
    Ok(())
}

/// The optional features shadercam asks for, and whether this device has them.
fn feature_list(ctx: &GpuContext) -> Vec<(&'static str, bool)> {
    let f = ctx.features;
    vec![
        ("SHADER_F16", f.contains(wgpu::Features::SHADER_F16)),
        ("SUBGROUP", f.contains(wgpu::Features::SUBGROUP)),
        (
            "TIMESTAMP_QUERY",
            f.contains(wgpu::Features::TIMESTAMP_QUERY),
        ),
        (
            "EXPERIMENTAL_COOPERATIVE_MATRIX",
            f.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX),
        ),
    ]
}

/// `shadercam selftest`: `Ok(true)` when every check passed.
pub fn selftest(a: SelftestArgs) -> Result<bool> {
    let ctx = GpuContext::new()?;
    let info = &ctx.info;
    let features = feature_list(&ctx);
    if !a.json {
        outln!("shadercam selftest: does shadercam compute correctly on this GPU and driver?")?;
        outln!("adapter   {}", ctx.describe())?;
        outln!("backend   {:?}", info.backend)?;
        outln!("driver    {} {}", info.driver, info.driver_info)?;
        let list: Vec<String> = features
            .iter()
            .map(|(n, on)| format!("{n} {}", if *on { "yes" } else { "no" }))
            .collect();
        outln!("features  {}", list.join(", "))?;
        if let Some(f) = &a.inject_fault {
            outln!("FAULT INJECTED into every check whose name contains {f:?}: those must FAIL")?;
        }
        outln!(
            "{:<44} {:>9} {:>9} {:>11}  result",
            "check",
            "error",
            "bound",
            "time"
        )?;
    }
    let mut r = Runner {
        json: a.json,
        filter: a.filter.clone(),
        fault: a.inject_fault.clone(),
        checks: Vec::new(),
    };
    let start = Instant::now();
    conv_checks(&ctx, &mut r)?;
    maxpool_check(&ctx, &mut r)?;
    gap_check(&ctx, &mut r)?;
    linear_check(&ctx, &mut r)?;
    network_checks(&ctx, &mut r, &a.weights)?;
    if r.checks.is_empty() {
        bail!(crate::cli::Usage(format!(
            "--filter {:?} matches no check",
            a.filter.unwrap_or_default()
        )));
    }
    let failed = r
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .count();
    let total = start.elapsed().as_secs_f64();
    if a.json {
        let v = json!({
            "adapter": info.name,
            "backend": format!("{:?}", info.backend),
            "device_type": format!("{:?}", info.device_type),
            "driver": info.driver,
            "driver_info": info.driver_info,
            "features": features.iter().map(|(n, on)| (n.to_string(), json!(on))).collect::<serde_json::Map<_, _>>(),
            "fault_injected": a.inject_fault,
            "checks": r.checks.iter().map(Check::json).collect::<Vec<_>>(),
            "passed": failed == 0,
            "seconds": total,
        });
        outln!("{v}")?;
    } else if failed == 0 {
        outln!("all {} checks passed in {total:.1} s", r.checks.len())?;
    } else {
        outln!(
            "{failed} of {} checks FAILED ({total:.1} s): shadercam's results on this adapter \
             are not trustworthy; please report the lines above with the adapter and driver",
            r.checks.len()
        )?;
    }
    Ok(failed == 0)
}
