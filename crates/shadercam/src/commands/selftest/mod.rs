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
//!
//! Layout: this module (the command, its report lines and the precision helpers),
//! [`kernels`] (each kernel against its CPU reference) and [`network`] (the whole network on
//! the embedded fixture).

mod kernels;
mod network;

use kernels::*;
use network::*;

use crate::cli::{PrecisionArg, SelftestArgs};
use crate::output::outln;
use anyhow::{Result, bail};
use clap::ValueEnum;
use serde_json::json;
use shadercam_kernels::reference::{Tolerance, Worst};
use shadercam_kernels::{ConvVariant, GpuContext, Precision};
use std::time::Instant;

/// The fixture image, a copy of tests/fixtures/images/shape_002.png (384x384).
pub(super) const FIXTURE_PNG: &[u8] = include_bytes!("../../../selftest/shape_002.png");
/// Its PyTorch logits, pytorch-grad-cam map and the checkpoint's fc bias (see make_fixture.py).
pub(super) const FIXTURE_REFERENCE: &[u8] =
    include_bytes!("../../../selftest/shape_002.reference.safetensors");

/// What happened to one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Pass,
    Fail,
}

/// One line of the report.
pub(super) struct Check {
    pub(super) name: String,
    pub(super) outcome: Outcome,
    /// The worst element's error and its bound (NaN when there was nothing to compare,
    /// e.g. the GPU work failed).
    pub(super) error: f32,
    pub(super) tolerance: f32,
    pub(super) seconds: f64,
    /// Why it failed (empty when it passed), or a note.
    pub(super) detail: String,
}

impl Check {
    pub(super) fn failed(name: String, seconds: f64, detail: String) -> Self {
        Check {
            name,
            outcome: Outcome::Fail,
            error: f32::NAN,
            tolerance: f32::NAN,
            seconds,
            detail,
        }
    }

    pub(super) fn line(&self) -> String {
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

    pub(super) fn json(&self) -> serde_json::Value {
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
pub(super) struct Worse {
    pub(super) worst: Option<Worst>,
    pub(super) ratio: f64,
    pub(super) failures: Vec<String>,
}

impl Worse {
    /// Adds the comparison of `got` with `want` under `tol`, labelled `what` in messages.
    pub(super) fn compare(&mut self, what: &str, got: &[f32], want: &[f32], tol: Tolerance) {
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

    pub(super) fn fail(&mut self, why: String) {
        self.failures.push(why);
    }

    pub(super) fn into_check(self, name: String, start: Instant) -> Check {
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
pub(super) struct Runner {
    pub(super) json: bool,
    pub(super) filter: Option<String>,
    pub(super) fault: Option<String>,
    pub(super) checks: Vec<Check>,
}

impl Runner {
    /// Whether the check `name` runs (`--filter`).
    pub(super) fn wants(&self, name: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| name.contains(f.as_str()))
    }

    /// The GPU's result as the check sees it: with `--inject-fault` matching `name`, the
    /// first value is off by 1.0.
    pub(super) fn tamper(&self, name: &str, mut got: Vec<f32>) -> Vec<f32> {
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

    pub(super) fn report(&mut self, check: Check) -> Result<()> {
        if !self.json {
            outln!("{}", check.line())?;
        }
        self.checks.push(check);
        Ok(())
    }
}

/// The name a precision has on the command line (`--precision f16`).
pub(super) fn precision_name(p: Precision) -> String {
    PrecisionArg(p).to_possible_value().map_or_else(
        || format!("{p:?}").to_lowercase(),
        |v| v.get_name().to_owned(),
    )
}

/// Every precision `--precision` offers, in its order, that this adapter runs (`f16` needs
/// `SHADER_F16`), except `auto`, which is one of the others.
pub(super) fn precisions(ctx: &GpuContext) -> Vec<Precision> {
    PrecisionArg::value_variants()
        .iter()
        .map(|p| p.0)
        .filter(|&p| p != Precision::Auto && p.resolve(ctx.info.device_type, ctx.features).is_ok())
        .collect()
}

/// The convolution kernels this adapter runs in `precision`: Tiled and Direct everywhere, the
/// cooperative-matrix one (in the adapter's fragment shape) in f16 wherever the adapter has
/// usable cooperative matrices.
pub(super) fn conv_variants(ctx: &GpuContext, precision: Precision) -> Vec<ConvVariant> {
    let mut v = ConvVariant::ALL.to_vec();
    if let (Precision::F16, Some(shape)) = (precision, ctx.cooperative) {
        v.push(ConvVariant::Cooperative(shape));
    }
    v
}

/// `tiled`, `direct`, `coop8x8`, `coop16x16`: the kernel's name in check names.
pub(super) fn variant_name(v: ConvVariant) -> String {
    v.kernel_name()
        .strip_prefix("conv2d_")
        .map_or_else(|| "tiled".to_owned(), str::to_owned)
}

/// The header line on cooperative matrices: the shape the f16 convolution uses, or why none.
fn cooperative_line(ctx: &GpuContext) -> String {
    match (ctx.cooperative, &ctx.cooperative_refusal) {
        (Some(shape), _) => format!(
            "{} (conv2d_coop{}x{} checked in f16 below)",
            shape, shape.frag, shape.frag
        ),
        (None, why) => format!("none usable: {}", why.as_deref().unwrap_or("not asked for")),
    }
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
        outln!("coop      {}", cooperative_line(&ctx))?;
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
            "cooperative_matrix": ctx.cooperative.map(|s| json!({
                "fragment": s.mnk(),
                "subgroup_size": s.subgroup_size,
                "kernel": ConvVariant::Cooperative(s).kernel_name(),
            })),
            "cooperative_matrix_refusal": ctx.cooperative_refusal,
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
