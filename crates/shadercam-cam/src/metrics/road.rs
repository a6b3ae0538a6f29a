//! ROAD's noisy linear imputation on the GPU (shaders/metric_road.wgsl): many systems (image ×
//! percentile × MoRF/LeRF) solved at once by four-colour SOR, in rounds of sweeps with a
//! convergence check after each round (one small readback: the largest update of each system).

use super::MetricStage;
use crate::CamError;
use crate::shaders::WORKGROUP_1D;
use crate::uniforms::RoadParams;
use shadercam_kernels::{Dispatch, GpuContext, linear_grid};

/// One linear system: which image, which map (`heat` or `1 − heat`) and its threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoadSystem {
    pub image: usize,
    pub lerf: bool,
    pub threshold: f32,
}

/// How the solver stops and what it adds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoadSolver {
    /// Over-relaxation factor ω of the SOR sweeps.
    pub omega: f32,
    /// Stop when the largest Gauss–Seidel update `|Σ w y / s − x|` of every system is below
    /// this (normalised input units).
    pub tolerance: f32,
    /// Sweeps (of all four colours) between two convergence checks.
    pub sweeps_per_round: usize,
    /// Give up after this many sweeps (the result is then reported as not converged).
    pub max_sweeps: usize,
    /// Standard deviation of the Gaussian noise added to every imputed value (the library's
    /// default is 0.01; 0 makes the result deterministic and comparable with spsolve).
    pub noise: f32,
    /// Stream of the noise.
    pub seed: u32,
    /// Coarser grids for the first guess (0: plain SOR from zero).
    pub levels: usize,
}

impl Default for RoadSolver {
    fn default() -> Self {
        Self {
            omega: 1.9,
            tolerance: 1e-6,
            sweeps_per_round: 50,
            max_sweeps: 5000,
            noise: 0.01,
            seed: 0,
            levels: 5,
        }
    }
}

/// What the solve took: sweeps run and the largest final update over all systems.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SolveStats {
    pub sweeps: usize,
    pub max_update: f32,
    pub converged: bool,
}

/// The result of a solve on the GPU: the imputed images `[systems, h·w]` NHWC4 (kept pixels
/// hold the original values).
pub struct RoadImputed {
    pub x: wgpu::Buffer,
    pub stats: SolveStats,
}

impl MetricStage {
    /// Solves every system of `systems` on `images` (NHWC4 `[n, h·w]`) and `heat` (`[n, h·w]`).
    pub(crate) fn road_solve(
        &self,
        ctx: &GpuContext,
        (h, w): (usize, usize),
        images: &wgpu::Buffer,
        heat: &wgpu::Buffer,
        systems: &[RoadSystem],
        solver: &RoadSolver,
    ) -> Result<RoadImputed, CamError> {
        let hw = h * w;
        let ns = systems.len();
        let table: Vec<[u32; 4]> = systems
            .iter()
            .map(|s| [s.image as u32, s.lerf as u32, s.threshold.to_bits(), 0])
            .collect();
        let sys_buf = ctx.storage_from("road systems", &table)?;
        let keep = ctx.storage("road keep masks", (ns * hw * 4) as u64)?;
        let x = ctx.storage("road imputed images", (ns * hw * 16) as u64)?;
        let worst = ctx.storage("road largest updates", (ns * 4) as u64)?;
        // The grids: the image, then halved (rounding up) down to about 8 pixels a side.
        let mut dims = vec![(h, w)];
        while let Some(&(lh, lw)) = dims.last() {
            if lh.min(lw) <= 8 || dims.len() > solver.levels {
                break;
            }
            dims.push((lh.div_ceil(2), lw.div_ceil(2)));
        }
        let mut keeps = vec![keep];
        let mut xs = vec![x];
        for (l, &(lh, lw)) in dims.iter().enumerate().skip(1) {
            keeps.push(ctx.storage(&format!("road keep, grid {l}"), (ns * lh * lw * 4) as u64)?);
            xs.push(ctx.storage(
                &format!("road values, grid {l}"),
                (ns * lh * lw * 16) as u64,
            )?);
        }
        let params = |(lh, lw): (usize, usize), colour: u32, (fh, fw): (usize, usize)| RoadParams {
            h: lh as u32,
            w: lw as u32,
            systems: ns as u32,
            colour,
            omega: solver.omega,
            noise: solver.noise,
            seed: solver.seed,
            fine_h: fh as u32,
            fine_w: fw as u32,
            ..Default::default()
        };
        let grid = |(lh, lw): (usize, usize)| linear_grid(ctx, ns * lh * lw, WORKGROUP_1D);
        let all = grid((h, w));
        let init = Dispatch::builder("road init", &self.road_init)
            .uniform(&params((h, w), 0, (h, w)))
            .bind(&sys_buf)
            .bind(images)
            .bind(heat)
            .bind(&keeps[0])
            .bind(&xs[0])
            .workgroups(all)
            .build(ctx)?;
        // The four colour sweeps of grid l.
        let sweeps = |l: usize| -> Result<Vec<Dispatch>, CamError> {
            let (lh, lw) = dims[l];
            (0..4u32)
                .map(|c| {
                    let (cy, cx) = ((c / 2) as usize, (c % 2) as usize);
                    let count = ns * (lh - cy.min(lh)).div_ceil(2) * (lw - cx.min(lw)).div_ceil(2);
                    Ok(Dispatch::builder("road sweep", &self.road_sweep)
                        .uniform(&params(dims[l], c, dims[l]))
                        .bind_at(4, &keeps[l])
                        .bind(&xs[l])
                        .workgroups(linear_grid(ctx, count.max(1), WORKGROUP_1D))
                        .build(ctx)?)
                })
                .collect()
        };
        // Coarse-to-fine first guess, recorded once before the first round.
        let mut setup = vec![init];
        for l in 0..dims.len() - 1 {
            setup.push(
                Dispatch::builder("road coarsen", &self.road_coarsen)
                    .uniform(&params(dims[l + 1], 0, dims[l]))
                    .bind_at(4, &keeps[l])
                    .bind(&xs[l])
                    .bind_at(7, &keeps[l + 1])
                    .bind(&xs[l + 1])
                    .workgroups(grid(dims[l + 1]))
                    .build(ctx)?,
            );
        }
        for l in (1..dims.len()).rev() {
            let side = dims[l].0.max(dims[l].1);
            let sw = sweeps(l)?;
            for _ in 0..side.max(16) {
                setup.extend(sw.iter().cloned());
            }
            setup.push(
                Dispatch::builder("road prolong", &self.road_prolong)
                    .uniform(&params(dims[l], 0, dims[l - 1]))
                    .bind_at(4, &keeps[l - 1])
                    .bind(&xs[l - 1])
                    .bind_at(8, &xs[l])
                    .workgroups(grid(dims[l - 1]))
                    .build(ctx)?,
            );
        }
        let fine = sweeps(0)?;
        let residual = Dispatch::builder("road residual", &self.road_residual)
            .uniform(&params((h, w), 0, (h, w)))
            .bind_at(4, &keeps[0])
            .bind(&xs[0])
            .bind(&worst)
            .workgroups(all)
            .build(ctx)?;
        let x = &xs[0];
        let keep = &keeps[0];
        let mut stats = SolveStats::default();
        let mut first = true;
        loop {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("road solve"),
                });
            encoder.clear_buffer(&worst, 0, None);
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("road sweeps"),
                    timestamp_writes: None,
                });
                if first {
                    for d in &setup {
                        d.record(&mut pass);
                    }
                }
                for _ in 0..solver.sweeps_per_round {
                    for s in &fine {
                        s.record(&mut pass);
                    }
                }
                residual.record(&mut pass);
            }
            first = false;
            stats.sweeps += solver.sweeps_per_round;
            let data = ctx.submit_and_read(encoder, &[(&worst, (ns * 4) as u64)])?;
            let m = data[0]
                .to_vec::<u32>()
                .into_iter()
                .map(f32::from_bits)
                .fold(0f32, f32::max);
            stats.max_update = m;
            if m <= solver.tolerance {
                stats.converged = true;
                break;
            }
            if stats.sweeps >= solver.max_sweeps {
                break;
            }
        }
        if solver.noise > 0.0 {
            let noise = Dispatch::builder("road noise", &self.road_noise)
                .uniform(&params((h, w), 0, (h, w)))
                .bind_at(4, keep)
                .bind(x)
                .workgroups(all)
                .build(ctx)?;
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                noise.record(&mut pass);
            }
            ctx.queue.submit([encoder.finish()]);
        }
        Ok(RoadImputed {
            x: xs.swap_remove(0),
            stats,
        })
    }
}
