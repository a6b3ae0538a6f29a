//! The two baselines that use no gradient: SobelCAM (the picture's edge strength, computed from
//! the input crop by shaders/sobel.wgsl; no network maps at all) and RandomCAM (uniform random
//! channel weights, numpy's stream, uploaded before each batch and summed by the weighted sum).

use super::{Buffers, CamStage, Normalisation, Shape};
use crate::shaders::WORKGROUP_1D;
use crate::uniforms::SobelParams;
use rand_mt::Mt;
use shadercam_kernels::{Dispatch, GpuContext, GpuError, Plan, linear_grid};

impl CamStage {
    /// SobelCAM's heatmaps, one invocation per crop pixel, written straight to `b.heat` (and
    /// `b.up`, the stage before it) for every target of the image.
    pub(super) fn plan_sobel(
        &self,
        ctx: &GpuContext,
        forward: &Plan,
        s: &Shape,
        b: &Buffers,
        norm: Normalisation,
    ) -> Result<Dispatch, GpuError> {
        let px = s.n * s.crop * s.crop;
        let p = SobelParams {
            batch: s.n as u32,
            h: s.crop as u32,
            w: s.crop as u32,
            targets: s.t as u32,
            total: px as u32,
            mean: [norm.mean[0], norm.mean[1], norm.mean[2], 0.0],
            stdev: [norm.std[0], norm.std[1], norm.std[2], 1.0],
            ..Default::default()
        };
        Dispatch::builder("sobel", &self.sobel)
            .uniform(&p)
            .bind(&forward.input)
            .bind(&b.heat)
            .bind(&b.up)
            .workgroups(linear_grid(ctx, px, WORKGROUP_1D))
            .build(ctx)
    }
}

/// RandomCAM's weights: `α[j, t, k] = U(−1, 1)`, the `(j·C + k)`-th draw of numpy's legacy
/// `np.random.seed(seed); np.random.uniform(-1, 1, size=(N, C))`, the same for every target.
pub(super) struct RandomWeights {
    seed: u32,
    n: usize,
    t: usize,
    c: usize,
    alphas: wgpu::Buffer,
}

impl RandomWeights {
    /// `seed` was checked to fit a u32 (numpy refuses larger seeds).
    pub(super) fn new(s: &Shape, b: &Buffers, seed: u64) -> Self {
        Self {
            seed: seed as u32,
            n: s.n,
            t: s.t,
            c: s.c,
            alphas: b.alphas.clone(),
        }
    }

    /// Writes the weights of images `first .. first + n` of the caller's list.
    pub(super) fn upload(&self, ctx: &GpuContext, first: usize) {
        let draws = numpy_uniform(self.seed, first * self.c, self.n * self.c);
        let mut alphas = Vec::with_capacity(self.n * self.t * self.c);
        for row in draws.chunks(self.c) {
            for _ in 0..self.t {
                alphas.extend(row.iter().map(|&d| d as f32));
            }
        }
        ctx.queue
            .write_buffer(&self.alphas, 0, bytemuck::cast_slice(&alphas));
    }
}

/// Draws `skip .. skip + count` of numpy's `RandomState(seed).uniform(-1, 1, size)`: MT19937
/// seeded by `init_genrand(seed)` (numpy's legacy seeding of an integer), each double built
/// from two outputs as `((a >> 5)·2^26 + (b >> 6)) / 2^53` (`random_sample`), then
/// `low + (high − low)·d`.
pub fn numpy_uniform(seed: u32, skip: usize, count: usize) -> Vec<f64> {
    let mut mt = Mt::new(seed);
    let mut next = || {
        let a = (mt.next_u32() >> 5) as f64;
        let b = (mt.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    };
    for _ in 0..skip {
        next();
    }
    (0..count).map(|_| -1.0 + 2.0 * next()).collect()
}

#[cfg(test)]
mod tests {
    use super::numpy_uniform;

    /// The values numpy 2.x prints for `np.random.seed(S); np.random.uniform(-1, 1, n)`.
    #[test]
    fn the_draws_are_numpys() {
        let seed0 = [
            0.0976270078546495,
            0.43037873274483895,
            0.20552675214328775,
            0.08976636599379373,
            -0.15269040132219058,
            0.29178822613331223,
            -0.12482557747461498,
            0.7835460015641595,
        ];
        assert_eq!(numpy_uniform(0, 0, 8), seed0);
        assert_eq!(numpy_uniform(0, 3, 5), seed0[3..]);
        assert_eq!(
            numpy_uniform(u32::MAX, 0, 2),
            [-0.8047359420119724, 0.8247656906052436]
        );
    }
}
