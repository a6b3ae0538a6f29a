//! Timing and listing what [`Explainer::explain`] records, for `shadercam bench`,
//! `shadercam profile` and the criterion benches: the same plans, submitted in parts and
//! waited for, so the clock measures GPU work and not just command recording.

use crate::{CamError, ExplainOptions, Explainer};
use shadercam_kernels::{Dispatch, submit_and_wait};

/// One row of [`dispatch_table`]: a dispatch with its output shape, multiply-adds and
/// minimum bytes moved (0 where not meaningful).
pub struct DispatchRow {
    pub label: String,
    /// The kernel that runs it: for the network's steps [`shadercam_kernels::Step::kernel`]
    /// (which convolution form runs each layer), for the CAM stage's the pipeline label.
    pub kernel: String,
    pub shape: String,
    pub macs: u64,
    pub bytes: u64,
    pub dispatch: Dispatch,
}

/// One timed run of a batch for `shadercam bench`: milliseconds of the forward pass alone,
/// of the CAM stage alone (on the maps the forward left), each submitted and waited for.
pub fn time_parts(
    explainer: &mut Explainer,
    inputs: &[f32],
    crop: usize,
    opts: &ExplainOptions,
) -> Result<(f64, f64), CamError> {
    let (ctx, cp) = explainer.prepare(inputs, crop, opts)?;
    let fwd = cp.forward();
    let t = std::time::Instant::now();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        fwd.record(&mut pass);
    }
    submit_and_wait(ctx, enc)?;
    let forward_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    cp.clear(&mut enc);
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        cp.record(&mut pass);
    }
    submit_and_wait(ctx, enc)?;
    Ok((forward_ms, t.elapsed().as_secs_f64() * 1e3))
}

/// Runs the forward pass once, then the CAM stage alone `iters` times in one compute pass
/// and one submit; returns the wall time of that submit (for benches).
pub fn time_cam(
    explainer: &mut Explainer,
    inputs: &[f32],
    crop: usize,
    opts: &ExplainOptions,
    iters: u32,
) -> Result<std::time::Duration, CamError> {
    let (ctx, cp) = explainer.prepare(inputs, crop, opts)?;
    let fwd = cp.forward();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        fwd.record(&mut pass);
    }
    submit_and_wait(ctx, enc)?;
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        for _ in 0..iters {
            cp.record(&mut pass);
        }
    }
    let t = std::time::Instant::now();
    submit_and_wait(ctx, enc)?;
    Ok(t.elapsed())
}

/// Every dispatch of forward + CAM for one batch, labelled, with its multiply-adds and
/// minimum bytes moved (for `shadercam profile`).
pub fn dispatch_table(
    explainer: &mut Explainer,
    inputs: &[f32],
    crop: usize,
    opts: &ExplainOptions,
) -> Result<Vec<DispatchRow>, CamError> {
    let (_, cp) = explainer.prepare(inputs, crop, opts)?;
    let mut rows: Vec<DispatchRow> = cp
        .forward()
        .steps
        .iter()
        .map(|s| {
            let [b, h, w, c] = s.out_shape;
            DispatchRow {
                label: s.dispatch.label.clone(),
                kernel: s.kernel.clone(),
                shape: format!("{b}x{h}x{w}x{c}"),
                macs: s.macs,
                bytes: s.bytes,
                dispatch: s.dispatch.clone(),
            }
        })
        .collect();
    rows.extend(cp.dispatches().map(|d| DispatchRow {
        label: d.label.clone(),
        kernel: d.label.clone(),
        shape: String::new(),
        macs: 0,
        bytes: 0,
        dispatch: d.clone(),
    }));
    Ok(rows)
}
