//! Faithfulness metrics of a heatmap, with every perturbed input run through the network in
//! big batched forwards on the GPU: pytorch-grad-cam 1.5.7's `pytorch_grad_cam.metrics`
//! (`CamMultImageConfidenceChange`, `DropInConfidence`, `IncreaseInConfidence`, ROAD most- and
//! least-relevant-first with its noisy linear imputation and `ROADCombined`, `Complexity`,
//! `Coherency`, `ARCC`) and the deletion and insertion AUCs of Petsiuk et al. 2018 (RISE).
//!
//! Flow for a group of images (docs/cam-math.md, "Faithfulness metrics"):
//! 1. the host picks ROAD's thresholds (numpy's percentile of each map) and RISE's pixel order
//!    (one sort per map), [`cpu`];
//! 2. ROAD's imputations are solved on the GPU for every (image, percentile, MoRF/LeRF) at once
//!    (shaders/metric_road.wgsl, [`road`]); the insertion substrate is blurred
//!    (shaders/metric_blur.wgsl);
//! 3. a job table lists every perturbed image; chunks of jobs are written straight into a
//!    forward plan's input buffer (shaders/metric_perturb.wgsl), run through the network, and
//!    each job's target score is gathered from the logits (shaders/metric_score.wgsl) — all
//!    chunks in one submit, one readback of the scores;
//! 4. the host turns the scores into the metrics; Coherency's second map comes from
//!    [`Explainer::explain`] on `x ⊙ H`.

pub mod cpu;
mod road;

pub use road::{RoadSolver, RoadSystem, SolveStats};

use crate::shaders::{METRIC_BLUR, METRIC_PERTURB, METRIC_ROAD, METRIC_SCORE, WORKGROUP_1D};
use crate::uniforms::{BlurParams, PerturbParams, ScoreParams};
use crate::{CamError, ExplainOptions, Explainer, Targets};
use serde_json::{Map, Value, json};
use shadercam_kernels::{
    Dispatch, GpuContext, GpuError, Plan, entry_pipeline, linear_grid, pad_channels, shader_module,
};
use std::sync::Arc;

/// The most perturbed images one forward chunk holds (the adapter's limit may make it fewer).
const MAX_CHUNK: usize = 16;

/// The most ROAD systems solved at once (bounds the imputed-image buffer: 16 bytes a pixel).
const MAX_SYSTEMS: usize = 72;

/// Job kinds of shaders/metric_perturb.wgsl.
const ORIGINAL: u32 = 0;
const CAM_MULT: u32 = 1;
const ROAD: u32 = 2;
const DELETION: u32 = 3;
const INSERTION: u32 = 4;

/// One metric, by its CLI name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    CamMult,
    Drop,
    Increase,
    RoadMorf,
    RoadLerf,
    Road,
    Complexity,
    Coherency,
    Arcc,
    Deletion,
    Insertion,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::CamMult,
        Metric::Drop,
        Metric::Increase,
        Metric::RoadMorf,
        Metric::RoadLerf,
        Metric::Road,
        Metric::Complexity,
        Metric::Coherency,
        Metric::Arcc,
        Metric::Deletion,
        Metric::Insertion,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::CamMult => "cam-mult",
            Metric::Drop => "drop",
            Metric::Increase => "increase",
            Metric::RoadMorf => "road-morf",
            Metric::RoadLerf => "road-lerf",
            Metric::Road => "road",
            Metric::Complexity => "complexity",
            Metric::Coherency => "coherency",
            Metric::Arcc => "arcc",
            Metric::Deletion => "deletion",
            Metric::Insertion => "insertion",
        }
    }

    /// A comma-separated list of names (or `all`), each once, in the order given.
    pub fn parse_list(s: &str) -> Result<Vec<Metric>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let ms: Vec<Metric> = if part.eq_ignore_ascii_case("all") {
                Metric::ALL.to_vec()
            } else {
                let p = part.to_ascii_lowercase().replace('_', "-");
                vec![
                    Metric::ALL
                        .into_iter()
                        .find(|m| m.name() == p)
                        .ok_or_else(|| {
                            let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                            format!(
                                "unknown metric {part:?}; choose from {}, all",
                                names.join(", ")
                            )
                        })?,
                ]
            };
            for m in ms {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        if out.is_empty() {
            return Err("no metric named".into());
        }
        Ok(out)
    }
}

/// Which score of the target class the confidence metrics compare (pytorch-grad-cam's target
/// classes). Deletion and insertion always use the softmax probability, as RISE does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScoreTarget {
    /// `ClassifierOutputTarget`: the logit.
    #[default]
    Logit,
    /// `ClassifierOutputSoftmaxTarget`: the softmax probability.
    Softmax,
}

/// What to compute and how.
#[derive(Clone, Debug)]
pub struct MetricOptions {
    pub metrics: Vec<Metric>,
    pub score: ScoreTarget,
    /// ROAD's percentiles (the library's `[10, 20, ..., 90]`).
    pub percentiles: Vec<f64>,
    /// ARCC's ROAD percentiles (the library's `[20, 40, 60, 80]`).
    pub arcc_percentiles: Vec<f64>,
    pub road: RoadSolver,
    /// Deletion/insertion steps; `None`: RISE's 224 pixels a step at 224² (`crop` pixels a
    /// step in general, so `crop` steps).
    pub steps: Option<usize>,
    /// The method (and options) Coherency recomputes the map with.
    pub explain: ExplainOptions,
}

impl Default for MetricOptions {
    fn default() -> Self {
        Self {
            metrics: Metric::ALL.to_vec(),
            score: ScoreTarget::Logit,
            percentiles: (1..=9).map(|p| (p * 10) as f64).collect(),
            arcc_percentiles: vec![20.0, 40.0, 60.0, 80.0],
            road: RoadSolver::default(),
            steps: None,
            explain: ExplainOptions::default(),
        }
    }
}

impl MetricOptions {
    fn wants(&self, m: Metric) -> bool {
        self.metrics.contains(&m)
    }

    fn wants_road(&self) -> bool {
        [
            Metric::RoadMorf,
            Metric::RoadLerf,
            Metric::Road,
            Metric::Arcc,
        ]
        .iter()
        .any(|&m| self.wants(m))
    }

    /// Every ROAD percentile the requested metrics need, ascending, each once.
    fn road_percentiles(&self) -> Vec<f64> {
        let mut ps = Vec::new();
        if [Metric::RoadMorf, Metric::RoadLerf, Metric::Road]
            .iter()
            .any(|&m| self.wants(m))
        {
            ps.extend(&self.percentiles);
        }
        if self.wants(Metric::Arcc) {
            ps.extend(&self.arcc_percentiles);
        }
        ps.sort_by(f64::total_cmp);
        ps.dedup();
        ps
    }

    /// Pixels a deletion/insertion step moves and the number of steps (RISE's
    /// `n_steps = (HW + step − 1) // step`).
    pub fn step_size(&self, crop: usize) -> (usize, usize) {
        let hw = crop * crop;
        let step = match self.steps {
            Some(n) => hw.div_ceil(n.max(1)),
            None => crop,
        };
        (step, hw.div_ceil(step))
    }
}

/// The metrics of one image's map (only those requested are `Some`/non-empty).
#[derive(Clone, Debug, Default)]
pub struct ImageMetrics {
    pub target: usize,
    /// The target's score on the unperturbed image.
    pub score: f64,
    pub cam_mult_change: Option<f64>,
    pub drop_in_confidence: Option<f64>,
    pub increase_in_confidence: Option<f64>,
    /// `(percentile, score(imputed) − score(x))` for each ROAD percentile computed.
    pub road_morf: Vec<(f64, f64)>,
    pub road_lerf: Vec<(f64, f64)>,
    pub road_morf_mean: Option<f64>,
    pub road_lerf_mean: Option<f64>,
    pub road_combined: Option<f64>,
    pub complexity: Option<f64>,
    pub coherency: Option<f64>,
    pub arcc: Option<f64>,
    pub deletion_auc: Option<f64>,
    pub insertion_auc: Option<f64>,
    /// The probability curves behind the AUCs (`steps + 1` values each).
    pub deletion_curve: Vec<f64>,
    pub insertion_curve: Vec<f64>,
    /// How ROAD's imputation solve ended for this image's group.
    pub road_solve: Option<SolveStats>,
}

impl ImageMetrics {
    /// The requested metrics as a JSON object (pytorch-grad-cam's names).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<f64>| {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        };
        put("cam_mult_change", self.cam_mult_change);
        put("drop_in_confidence", self.drop_in_confidence);
        put("increase_in_confidence", self.increase_in_confidence);
        put("road_morf", self.road_morf_mean);
        put("road_lerf", self.road_lerf_mean);
        put("road_combined", self.road_combined);
        put("complexity", self.complexity);
        put("coherency", self.coherency);
        put("arcc", self.arcc);
        put("deletion_auc", self.deletion_auc);
        put("insertion_auc", self.insertion_auc);
        let per = |v: &[(f64, f64)]| {
            Value::Object(v.iter().map(|(p, s)| (format!("{p}"), json!(s))).collect())
        };
        if self.road_morf_mean.is_some() {
            m.insert("road_morf_at".into(), per(&self.road_morf));
        }
        if self.road_lerf_mean.is_some() {
            m.insert("road_lerf_at".into(), per(&self.road_lerf));
        }
        if let Some(st) = self.road_solve {
            m.insert(
                "road_solver".into(),
                json!({"sweeps": st.sweeps, "max_update": st.max_update, "converged": st.converged}),
            );
        }
        m.insert("target".into(), json!(self.target));
        m.insert("score".into(), json!(self.score));
        Value::Object(m)
    }
}

/// The metric pipelines, created once.
pub struct MetricStage {
    assemble: wgpu::ComputePipeline,
    score: wgpu::ComputePipeline,
    blur: wgpu::ComputePipeline,
    road_init: wgpu::ComputePipeline,
    road_sweep: wgpu::ComputePipeline,
    road_residual: wgpu::ComputePipeline,
    road_noise: wgpu::ComputePipeline,
    road_coarsen: wgpu::ComputePipeline,
    road_prolong: wgpu::ComputePipeline,
}

/// Where each image's jobs are in the job table.
#[derive(Default)]
struct JobIndex {
    base: usize,
    mult: Option<usize>,
    /// `(percentile, MoRF job, LeRF job)`.
    road: Vec<(f64, usize, usize)>,
    deletion: Option<usize>,
    insertion: Option<usize>,
}

/// The per-group GPU inputs the perturbation shader reads.
struct GroupBuffers {
    images: wgpu::Buffer,
    heat: wgpu::Buffer,
    targets: wgpu::Buffer,
    imputed: Option<wgpu::Buffer>,
    blurred: Option<wgpu::Buffer>,
    ranks: Option<wgpu::Buffer>,
    none: wgpu::Buffer,
}

impl MetricStage {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let perturb = shader_module(ctx, "metric_perturb", METRIC_PERTURB)?;
        let score = shader_module(ctx, "metric_score", METRIC_SCORE)?;
        let blur = shader_module(ctx, "metric_blur", METRIC_BLUR)?;
        let road = shader_module(ctx, "metric_road", METRIC_ROAD)?;
        Ok(Self {
            assemble: entry_pipeline(ctx, &perturb, "metric_perturb", "assemble")?,
            score: entry_pipeline(ctx, &score, "metric_score", "score")?,
            blur: entry_pipeline(ctx, &blur, "metric_blur", "blur")?,
            road_init: entry_pipeline(ctx, &road, "metric_road", "init")?,
            road_sweep: entry_pipeline(ctx, &road, "metric_road", "sweep")?,
            road_residual: entry_pipeline(ctx, &road, "metric_road", "residual")?,
            road_noise: entry_pipeline(ctx, &road, "metric_road", "noise")?,
            road_coarsen: entry_pipeline(ctx, &road, "metric_road", "coarsen")?,
            road_prolong: entry_pipeline(ctx, &road, "metric_road", "prolong")?,
        })
    }

    /// The metrics of `heat[i]` (`[crop·crop]`, the map pytorch-grad-cam returns) for image `i`
    /// of `inputs_hwc` (normalised, HWC) and class `targets[i]`.
    pub fn evaluate(
        &self,
        ex: &mut Explainer,
        inputs_hwc: &[f32],
        crop: usize,
        heat: &[Vec<f32>],
        targets: &[usize],
        opts: &MetricOptions,
    ) -> Result<Vec<ImageMetrics>, CamError> {
        let hw = crop * crop;
        let n = heat.len();
        if inputs_hwc.len() != n * hw * 3
            || targets.len() != n
            || heat.iter().any(|h| h.len() != hw)
        {
            return Err(CamError::Options(format!(
                "metrics: {n} maps of {crop}x{crop} need {n} images and {n} targets"
            )));
        }
        let systems_per_image = 2 * opts.road_percentiles().len();
        let group = (MAX_SYSTEMS / systems_per_image.max(1)).clamp(1, 8);
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(group) {
            let end = (start + group).min(n);
            out.extend(self.evaluate_group(
                ex,
                &inputs_hwc[start * hw * 3..end * hw * 3],
                crop,
                &heat[start..end],
                &targets[start..end],
                opts,
            )?);
        }
        if opts.wants(Metric::Coherency) || opts.wants(Metric::Arcc) {
            let coh = coherency_maps(ex, inputs_hwc, crop, heat, targets, &opts.explain)?;
            for (m, (h, h2)) in out.iter_mut().zip(heat.iter().zip(&coh)) {
                let c = cpu::coherency(h2, h);
                if opts.wants(Metric::Coherency) {
                    m.coherency = Some(c);
                }
                if opts.wants(Metric::Arcc) {
                    let comp = cpu::complexity(h);
                    let at = |lerf: bool| {
                        let v = if lerf { &m.road_lerf } else { &m.road_morf };
                        let s: Vec<f64> = v
                            .iter()
                            .filter(|(p, _)| opts.arcc_percentiles.contains(p))
                            .map(|&(_, s)| s)
                            .collect();
                        s.iter().sum::<f64>() / s.len() as f64
                    };
                    let road = (at(true) - at(false)) / 2.0;
                    m.arcc = Some(cpu::arcc(comp, c, road));
                }
            }
        }
        Ok(out)
    }

    fn evaluate_group(
        &self,
        ex: &mut Explainer,
        inputs_hwc: &[f32],
        crop: usize,
        heat: &[Vec<f32>],
        targets: &[usize],
        opts: &MetricOptions,
    ) -> Result<Vec<ImageMetrics>, CamError> {
        let ctx = &ex.ctx;
        let (hw, n) = (crop * crop, heat.len());
        let flat_heat: Vec<f32> = heat.iter().flatten().copied().collect();
        let tg: Vec<u32> = targets.iter().map(|&t| t as u32).collect();
        let mut b = GroupBuffers {
            images: ctx.storage_from("metric images", &pad_channels(inputs_hwc, 3))?,
            heat: ctx.storage_from("metric heatmaps", &flat_heat)?,
            targets: ctx.storage_from("metric targets", &tg)?,
            imputed: None,
            blurred: None,
            ranks: None,
            none: ctx.storage("unused", 16)?,
        };

        // ROAD: one system per (image, percentile, MoRF/LeRF), solved together.
        let ps = if opts.wants_road() {
            opts.road_percentiles()
        } else {
            vec![]
        };
        let mut systems = Vec::new();
        for (i, h) in heat.iter().enumerate() {
            let (s, s1) = (cpu::sorted(h), {
                let inv: Vec<f32> = h.iter().map(|&v| 1.0 - v).collect();
                cpu::sorted(&inv)
            });
            for &p in &ps {
                for (lerf, srt) in [(false, &s), (true, &s1)] {
                    systems.push(RoadSystem {
                        image: i,
                        lerf,
                        threshold: cpu::percentile_sorted(srt, p),
                    });
                }
            }
        }
        let mut solve = None;
        if !systems.is_empty() {
            let r = self.road_solve(ctx, (crop, crop), &b.images, &b.heat, &systems, &opts.road)?;
            solve = Some(r.stats);
            b.imputed = Some(r.x);
        }

        let (step, n_steps) = opts.step_size(crop);
        let del = opts.wants(Metric::Deletion);
        let ins = opts.wants(Metric::Insertion);
        if del || ins {
            let ranks: Vec<u32> = heat.iter().flat_map(|h| cpu::deletion_ranks(h)).collect();
            b.ranks = Some(ctx.storage_from("metric ranks", &ranks)?);
        }
        if ins {
            b.blurred = Some(self.blur(ctx, crop, n, &b.images)?);
        }

        // The job table.
        let mut jobs: Vec<[u32; 4]> = Vec::new();
        let mut index = Vec::with_capacity(n);
        let wants_mult = [Metric::CamMult, Metric::Drop, Metric::Increase]
            .iter()
            .any(|&m| opts.wants(m));
        for i in 0..n {
            let im = i as u32;
            let mut ix = JobIndex {
                base: jobs.len(),
                ..Default::default()
            };
            jobs.push([ORIGINAL, im, 0, 0]);
            if wants_mult {
                ix.mult = Some(jobs.len());
                jobs.push([CAM_MULT, im, 0, 0]);
            }
            for (k, &p) in ps.iter().enumerate() {
                let slot = (i * ps.len() + k) * 2;
                let morf = jobs.len();
                jobs.push([ROAD, im, 0, slot as u32]);
                jobs.push([ROAD, im, 0, slot as u32 + 1]);
                ix.road.push((p, morf, morf + 1));
            }
            for (on, kind, at) in [
                (del, DELETION, &mut ix.deletion),
                (ins, INSERTION, &mut ix.insertion),
            ] {
                if on {
                    *at = Some(jobs.len());
                    for s in 0..=n_steps {
                        jobs.push([kind, im, (s * step).min(hw) as u32, 0]);
                    }
                }
            }
            index.push(ix);
        }
        let scores = self.run_jobs(ex, crop, &jobs, &b, opts.score)?;

        let mut out = Vec::with_capacity(n);
        for (i, ix) in index.iter().enumerate() {
            let base = scores[ix.base] as f64;
            let mut m = ImageMetrics {
                target: targets[i],
                score: base,
                road_solve: solve,
                ..Default::default()
            };
            if let Some(j) = ix.mult {
                let change = scores[j] as f64 - base;
                let want = |x: Metric| opts.wants(x);
                m.cam_mult_change = want(Metric::CamMult).then_some(change);
                m.drop_in_confidence = want(Metric::Drop).then_some((-change).max(0.0));
                m.increase_in_confidence =
                    want(Metric::Increase).then_some(if change > 0.0 { 1.0 } else { 0.0 });
            }
            for &(p, jm, jl) in &ix.road {
                m.road_morf.push((p, scores[jm] as f64 - base));
                m.road_lerf.push((p, scores[jl] as f64 - base));
            }
            let mean_at = |v: &[(f64, f64)]| {
                let s: Vec<f64> = v
                    .iter()
                    .filter(|(p, _)| opts.percentiles.contains(p))
                    .map(|&(_, s)| s)
                    .collect();
                s.iter().sum::<f64>() / s.len() as f64
            };
            if opts.wants(Metric::RoadMorf) {
                m.road_morf_mean = Some(mean_at(&m.road_morf));
            }
            if opts.wants(Metric::RoadLerf) {
                m.road_lerf_mean = Some(mean_at(&m.road_lerf));
            }
            if opts.wants(Metric::Road) {
                m.road_combined = Some((mean_at(&m.road_lerf) - mean_at(&m.road_morf)) / 2.0);
            }
            if opts.wants(Metric::Complexity) {
                m.complexity = Some(cpu::complexity(&heat[i]));
            }
            let curve = |j: usize| -> Vec<f64> {
                scores[j..=j + n_steps].iter().map(|&s| s as f64).collect()
            };
            if let Some(j) = ix.deletion {
                m.deletion_curve = curve(j);
                m.deletion_auc = Some(cpu::auc(&m.deletion_curve));
            }
            if let Some(j) = ix.insertion {
                m.insertion_curve = curve(j);
                m.insertion_auc = Some(cpu::auc(&m.insertion_curve));
            }
            out.push(m);
        }
        Ok(out)
    }

    /// RISE's insertion substrate for `n` NHWC4 images.
    fn blur(
        &self,
        ctx: &GpuContext,
        crop: usize,
        n: usize,
        images: &wgpu::Buffer,
    ) -> Result<wgpu::Buffer, CamError> {
        let k = cpu::gkern(11, 5.0);
        let kern = ctx.storage_from("rise kernel", &k)?;
        let out = ctx.storage("rise blurred", (n * crop * crop * 16) as u64)?;
        let d = Dispatch::builder("rise blur", &self.blur)
            .uniform(&BlurParams {
                h: crop as u32,
                w: crop as u32,
                images: n as u32,
                klen: 11,
            })
            .bind(&kern)
            .bind(images)
            .bind(&out)
            .workgroups(linear_grid(ctx, n * crop * crop, WORKGROUP_1D))
            .build(ctx)?;
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            d.record(&mut pass);
        }
        ctx.queue.submit([encoder.finish()]);
        Ok(out)
    }

    /// Every job's target score: chunks of perturbed images assembled in a forward plan's input,
    /// the forward, the score gather; all chunks in one submit, one readback.
    fn run_jobs(
        &self,
        ex: &Explainer,
        crop: usize,
        jobs: &[[u32; 4]],
        b: &GroupBuffers,
        score: ScoreTarget,
    ) -> Result<Vec<f32>, CamError> {
        let ctx = &ex.ctx;
        let hw = crop * crop;
        let total = jobs.len();
        let chunk = ex
            .net
            .max_batch(ctx, crop, crop)
            .min(MAX_CHUNK)
            .min(total)
            .max(1);
        let table = ctx.storage_from("metric jobs", jobs)?;
        let scores = ctx.storage("metric scores", (total * 4) as u64)?;
        let full = ex.net.plan_uncached(ctx, chunk, crop, crop)?;
        let rest = total % chunk;
        let last: Option<Arc<Plan>> = if rest > 0 {
            Some(ex.net.plan_uncached(ctx, rest, crop, crop)?)
        } else {
            None
        };
        let classes = full.classes;
        let mut ds: Vec<Dispatch> = Vec::new();
        for job0 in (0..total).step_by(chunk) {
            let count = chunk.min(total - job0);
            let plan = if count == chunk {
                &full
            } else {
                last.as_ref().expect("a plan for the last chunk")
            };
            ds.push(
                Dispatch::builder("metric assemble", &self.assemble)
                    .uniform(&PerturbParams {
                        hw: hw as u32,
                        count: count as u32,
                        job0: job0 as u32,
                        _pad: 0,
                    })
                    .bind(&table)
                    .bind(&b.images)
                    .bind(&b.heat)
                    .bind(b.imputed.as_ref().unwrap_or(&b.none))
                    .bind(b.blurred.as_ref().unwrap_or(&b.none))
                    .bind(b.ranks.as_ref().unwrap_or(&b.none))
                    .bind(&plan.input)
                    .workgroups(linear_grid(ctx, count * hw, WORKGROUP_1D))
                    .build(ctx)?,
            );
            ds.extend(plan.steps.iter().map(|s| s.dispatch.clone()));
            ds.push(
                Dispatch::builder("metric score", &self.score)
                    .uniform(&ScoreParams {
                        classes: classes as u32,
                        count: count as u32,
                        job0: job0 as u32,
                        softmax: (score == ScoreTarget::Softmax) as u32,
                    })
                    .bind(&table)
                    .bind(&b.targets)
                    .bind(&plan.logits)
                    .bind(&scores)
                    .workgroups(((count as u32).div_ceil(WORKGROUP_1D as u32), 1, 1))
                    .build(ctx)?,
            );
        }
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("metric forwards"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("perturbed forwards"),
                timestamp_writes: None,
            });
            for d in &ds {
                d.record(&mut pass);
            }
        }
        let data = ctx.submit_and_read(encoder, &[(&scores, (total * 4) as u64)])?;
        Ok(data[0].to_vec::<f32>())
    }

    /// ROAD's imputed images read back, HWC (3 channels), one per system, with the solve's
    /// statistics: for tests and the docs' convergence figures.
    pub fn road_impute(
        &self,
        ctx: &GpuContext,
        inputs_hwc: &[f32],
        crop: usize,
        heat: &[Vec<f32>],
        systems: &[RoadSystem],
        solver: &RoadSolver,
    ) -> Result<(Vec<Vec<f32>>, SolveStats), CamError> {
        let hw = crop * crop;
        let flat_heat: Vec<f32> = heat.iter().flatten().copied().collect();
        let images = ctx.storage_from("metric images", &pad_channels(inputs_hwc, 3))?;
        let hb = ctx.storage_from("metric heatmaps", &flat_heat)?;
        let r = self.road_solve(ctx, (crop, crop), &images, &hb, systems, solver)?;
        let encoder = ctx.device.create_command_encoder(&Default::default());
        let data = ctx.submit_and_read(encoder, &[(&r.x, (systems.len() * hw * 16) as u64)])?;
        let x = data[0].to_vec::<f32>();
        let imgs = x
            .chunks(hw * 4)
            .map(|c| shadercam_kernels::unpad_channels(c, 3))
            .collect();
        Ok((imgs, r.stats))
    }

    /// RISE's blurred substrate read back, HWC (for tests).
    pub fn rise_blur(
        &self,
        ctx: &GpuContext,
        inputs_hwc: &[f32],
        crop: usize,
    ) -> Result<Vec<f32>, CamError> {
        let n = inputs_hwc.len() / (crop * crop * 3);
        let images = ctx.storage_from("metric images", &pad_channels(inputs_hwc, 3))?;
        let out = self.blur(ctx, crop, n, &images)?;
        let encoder = ctx.device.create_command_encoder(&Default::default());
        let data = ctx.submit_and_read(encoder, &[(&out, (n * crop * crop * 16) as u64)])?;
        Ok(shadercam_kernels::unpad_channels(
            &data[0].to_vec::<f32>(),
            3,
        ))
    }
}

/// Coherency's second maps: the same method on `x ⊙ H`, explaining the same class (images
/// grouped by class: one explain call per class).
fn coherency_maps(
    ex: &mut Explainer,
    inputs_hwc: &[f32],
    crop: usize,
    heat: &[Vec<f32>],
    targets: &[usize],
    explain: &ExplainOptions,
) -> Result<Vec<Vec<f32>>, CamError> {
    let hw = crop * crop;
    let mut out = vec![Vec::new(); heat.len()];
    let mut classes: Vec<usize> = targets.to_vec();
    classes.sort_unstable();
    classes.dedup();
    for c in classes {
        let idx: Vec<usize> = (0..heat.len()).filter(|&i| targets[i] == c).collect();
        let mut mixed = Vec::with_capacity(idx.len() * hw * 3);
        for &i in &idx {
            let x = &inputs_hwc[i * hw * 3..(i + 1) * hw * 3];
            for (p, px) in x.chunks(3).enumerate() {
                mixed.extend(px.iter().map(|&v| v * heat[i][p]));
            }
        }
        let opts = ExplainOptions {
            targets: Targets::Fixed(vec![c]),
            keep_features: false,
            ..explain.clone()
        };
        let e = ex.explain(&mixed, crop, &[], &opts)?;
        for (&i, e) in idx.iter().zip(e) {
            out[i] = e.heatmaps.into_iter().next().unwrap_or_default();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lists_parse() {
        assert_eq!(
            Metric::parse_list("drop, road_morf,drop").unwrap(),
            vec![Metric::Drop, Metric::RoadMorf]
        );
        assert_eq!(Metric::parse_list("all").unwrap().len(), Metric::ALL.len());
        assert!(Metric::parse_list("x").is_err());
    }

    #[test]
    fn rise_steps_default_to_224_pixels_at_224() {
        let o = MetricOptions::default();
        assert_eq!(o.step_size(224), (224, 224));
        let o = MetricOptions {
            steps: Some(4),
            ..Default::default()
        };
        assert_eq!(o.step_size(224), (12544, 4));
    }
}
