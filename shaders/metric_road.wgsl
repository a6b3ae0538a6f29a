// metric_road.wgsl — ROAD's noisy linear imputation (Rong et al. 2022, "A Consistent and
// Efficient Evaluation Strategy for Attribution Methods"; pytorch-grad-cam's
// `NoisyLinearImputer`), solved on the GPU for many (image, percentile, MoRF/LeRF) systems at
// once.
//
// A system removes the pixels whose (MoRF) heat H or (LeRF) 1 − H is NOT below its threshold t
// (t = np.percentile of that map, chosen on the CPU): keep(p) = m(p) < t. Each removed pixel i
// takes the weighted mean of its in-image 8-neighbours j (weight 1/6 for the four edge
// neighbours, 1/12 for the four corner ones), known neighbours with their value, removed ones
// with their unknown — the library's sparse system
//
//     s_i · x_i − Σ_{j removed} w_ij x_j = Σ_{j kept} w_ij v_j,   s_i = Σ_{j in image} w_ij,
//
// (symmetric after scaling, diagonally dominant, the discrete Laplace equation with the kept
// pixels as boundary values), which scipy solves exactly with spsolve. Here: successive
// over-relaxation in four colours (pixel parity (y mod 2, x mod 2)): an 8-neighbour never has
// the colour of its centre, so one colour's pixels update in parallel with exact Gauss–Seidel
// values. The host repeats rounds of sweeps until the largest update of every system is below
// its tolerance (`residual`). The library then adds `noise · N(0, 1)` to every removed pixel and
// channel (`noise`).
//
// SOR alone needs thousands of sweeps for a hole as wide as the image (its slow modes have the
// hole's wavelength), so the first guess comes from coarser grids (cascadic multigrid): the
// masks and kept values are averaged down 2x2 at a time (`coarsen`: a coarse pixel is kept if
// any of its four children is, with their mean), the coarsest grid is swept, and each grid's
// solution seeds the removed pixels of the next finer one (`prolong`: the parent's value) before
// that grid is swept in turn. The convergence check is on the finest grid only: what the
// coarse grids contribute is a starting point, not the answer.
//
// Entry points (one invocation each):
//   init     — one pixel of one system: its mask bit, and x = v (kept) or 0 (removed);
//   sweep    — one pixel of the current colour of one system: the SOR update of a removed pixel;
//   residual — one pixel of one system: max over channels of |Σ_j w_ij y_j / s_i − x_i| into
//              the system's running maximum (atomic, on the f32's bits: non-negative floats
//              order like their bit patterns);
//   noise    — one pixel of one system: adds the Gaussian noise to a removed pixel.

struct RoadParams {
    h: u32,
    w: u32,
    systems: u32,
    colour: u32,    // sweep: 0..3 = (y mod 2) · 2 + (x mod 2)
    omega: f32,     // sweep: over-relaxation factor
    noise: f32,     // noise: standard deviation
    seed: u32,      // noise: stream
    fine_h: u32,    // coarsen, prolong: the finer grid's size (h, w are the coarser one's)
    fine_w: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> P: RoadParams;
@group(0) @binding(1) var<storage, read> systems: array<vec4<u32>>;     // image, lerf, bits of t, 0
@group(0) @binding(2) var<storage, read> images: array<vec4<f32>>;      // NHWC4 [images, hw]
@group(0) @binding(3) var<storage, read> heat: array<f32>;              // [images, hw]
@group(0) @binding(4) var<storage, read_write> keep: array<u32>;        // [systems, hw]
@group(0) @binding(5) var<storage, read_write> x: array<vec4<f32>>;     // NHWC4 [systems, hw]
@group(0) @binding(6) var<storage, read_write> worst: array<atomic<u32>>; // [systems]
@group(0) @binding(7) var<storage, read_write> keep_coarse: array<u32>;     // [systems, coarse hw]
@group(0) @binding(8) var<storage, read_write> x_coarse: array<vec4<f32>>;  // [systems, coarse hw]

// @anchor: init
@compute @workgroup_size(64)
fn init(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let hw = P.h * P.w;
    if (idx >= P.systems * hw) {
        return;
    }
    let s = systems[idx / hw];
    let p = idx % hw;
    var m = heat[s.x * hw + p];
    if (s.y == 1u) {
        m = 1.0 - m;  // RemoveLeastRelevantFirst: the same rule on 1 − mask
    }
    // @anchor: keep
    let kept = m < bitcast<f32>(s.z);
    keep[idx] = u32(kept);
    x[idx] = select(vec4<f32>(0.0), images[s.x * hw + p], kept);
}

// @anchor: coarsen
// One coarse pixel (y, x) of one system: kept iff one of the fine pixels (2y + a, 2x + b) is,
// with the mean of the kept ones' values; 0 otherwise. Here keep/x are the finer grid's.
@compute @workgroup_size(64)
fn coarsen(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let chw = P.h * P.w;
    if (idx >= P.systems * chw) {
        return;
    }
    let sys = idx / chw;
    let q = idx % chw;
    let cy = q / P.w;
    let cx = q % P.w;
    var acc = vec4<f32>(0.0);
    var count = 0u;
    for (var a = 0u; a < 2u; a++) {
        for (var b = 0u; b < 2u; b++) {
            let fy = 2u * cy + a;
            let fx = 2u * cx + b;
            if (fy < P.fine_h && fx < P.fine_w) {
                let f = sys * P.fine_h * P.fine_w + fy * P.fine_w + fx;
                if (keep[f] == 1u) {
                    acc += x[f];
                    count += 1u;
                }
            }
        }
    }
    keep_coarse[idx] = u32(count > 0u);
    x_coarse[idx] = select(vec4<f32>(0.0), acc / f32(max(count, 1u)), count > 0u);
}

// @anchor: prolong
// One fine pixel of one system: a removed one starts from its coarse parent's value.
@compute @workgroup_size(64)
fn prolong(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let fhw = P.fine_h * P.fine_w;
    if (idx >= P.systems * fhw || keep[idx] == 1u) {
        return;
    }
    let sys = idx / fhw;
    let q = idx % fhw;
    let c = sys * P.h * P.w + (q / P.fine_w / 2u) * P.w + (q % P.fine_w) / 2u;
    x[idx] = x_coarse[c];
}

// Σ_j w_ij x_j over the in-image 8-neighbours of (py, px) in system `base`, and s_i.
fn neighbours(base: u32, py: i32, px: i32) -> vec4<f32> {
    var acc = vec4<f32>(0.0);
    var total = 0.0;
    for (var dy = -1; dy <= 1; dy++) {
        for (var dx = -1; dx <= 1; dx++) {
            let yy = py + dy;
            let xx = px + dx;
            if ((dy == 0 && dx == 0) || yy < 0 || xx < 0 || yy >= i32(P.h) || xx >= i32(P.w)) {
                continue;
            }
            // @anchor: weights
            let wt = select(1.0 / 12.0, 1.0 / 6.0, dy == 0 || dx == 0);
            acc += wt * x[base + u32(yy) * P.w + u32(xx)];
            total += wt;
        }
    }
    return vec4<f32>(acc.xyz / total, 0.0);
}

// @anchor: sweep
@compute @workgroup_size(64)
fn sweep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let cy = P.colour / 2u;
    let cx = P.colour % 2u;
    let ny = (P.h - cy + 1u) / 2u;
    let nx = (P.w - cx + 1u) / 2u;
    if (idx >= P.systems * ny * nx) {
        return;
    }
    let sys = idx / (ny * nx);
    let q = idx % (ny * nx);
    let py = cy + 2u * (q / nx);
    let px = cx + 2u * (q % nx);
    let hw = P.h * P.w;
    let i = sys * hw + py * P.w + px;
    if (keep[i] == 1u) {
        return;
    }
    // x_i ← (1 − ω) x_i + ω · (Σ_j w_ij y_j) / s_i
    let gs = neighbours(sys * hw, i32(py), i32(px));
    x[i] = x[i] + P.omega * (gs - x[i]);
}

// @anchor: residual
@compute @workgroup_size(64)
fn residual(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let hw = P.h * P.w;
    if (idx >= P.systems * hw || keep[idx] == 1u) {
        return;
    }
    let sys = idx / hw;
    let p = idx % hw;
    let d = abs(neighbours(sys * hw, i32(p / P.w), i32(p % P.w)) - x[idx]);
    let m = max(d.x, max(d.y, d.z));
    atomicMax(&worst[sys], bitcast<u32>(m));
}

// PCG hash (O'Neill), one 32-bit draw from one 32-bit key.
fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// A uniform in (0, 1].
fn unit(v: u32) -> f32 {
    return (f32(v >> 8u) + 1.0) / 16777216.0;
}

// @anchor: noise
@compute @workgroup_size(64)
fn noise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let hw = P.h * P.w;
    if (idx >= P.systems * hw || keep[idx] == 1u) {
        return;
    }
    // Box–Muller: two uniforms give two independent N(0, 1); four draws cover three channels.
    let k = pcg(idx ^ pcg(P.seed));
    let a = pcg(k);
    let b = pcg(a);
    let c = pcg(b);
    let d = pcg(c);
    let r1 = sqrt(-2.0 * log(unit(a)));
    let r2 = sqrt(-2.0 * log(unit(c)));
    let t1 = 6.2831853 * unit(b);
    let t2 = 6.2831853 * unit(d);
    let g = vec4<f32>(r1 * cos(t1), r1 * sin(t1), r2 * cos(t2), 0.0);
    x[idx] = x[idx] + P.noise * g;
}
