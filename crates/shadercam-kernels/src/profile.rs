//! GPU timing for the profiler and benches: per-dispatch times from timestamp queries (or the
//! CPU clock where the adapter has none), and a submit that blocks until the GPU is done.
//! Timing GPU work means waiting for it: both functions return only when the work is finished.

use crate::GpuError;
use crate::context::GpuContext;
use crate::dispatch::{Dispatch, encode};

/// Per-dispatch GPU times in milliseconds: one compute pass per dispatch with timestamp
/// writes at its start and end when the adapter has TIMESTAMP_QUERY (true GPU time), else a
/// submit-and-wait per dispatch timed on the CPU (includes submission overhead; `false` in the
/// second field says so).
pub fn time_dispatches(
    ctx: &GpuContext,
    dispatches: &[&Dispatch],
) -> Result<(Vec<f64>, bool), GpuError> {
    let n = dispatches.len();
    if n == 0 {
        return Ok((Vec::new(), true));
    }
    if ctx.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        let qs = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count: (2 * n) as u32,
        });
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile resolve"),
            size: (16 * n) as u64,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for (i, d) in dispatches.iter().enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&d.label),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &qs,
                    beginning_of_pass_write_index: Some((2 * i) as u32),
                    end_of_pass_write_index: Some((2 * i + 1) as u32),
                }),
            });
            d.record(&mut pass);
        }
        encoder.resolve_query_set(&qs, 0..(2 * n) as u32, &resolve, 0);
        let ticks: Vec<u64> =
            ctx.submit_and_read(encoder, &[(&resolve, (16 * n) as u64)])?[0].to_vec::<u64>();
        let period = ctx.queue.get_timestamp_period() as f64;
        Ok((
            (0..n)
                .map(|i| ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period / 1e6)
                .collect(),
            true,
        ))
    } else {
        let mut out = Vec::with_capacity(n);
        for d in dispatches {
            let t = std::time::Instant::now();
            let encoder = encode(ctx, &[d]);
            ctx.queue.submit([encoder.finish()]);
            ctx.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| GpuError::Execution(format!("waiting for the GPU failed: {e}")))?;
            out.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok((out, false))
    }
}

/// Submits `encoder` and blocks until the GPU is done (for timing).
pub fn submit_and_wait(ctx: &GpuContext, encoder: wgpu::CommandEncoder) -> Result<(), GpuError> {
    ctx.queue.submit([encoder.finish()]);
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Execution(format!("waiting for the GPU failed: {e}")))?;
    match ctx.take_uncaptured() {
        Some(e) => Err(GpuError::Execution(e)),
        None => Ok(()),
    }
}
