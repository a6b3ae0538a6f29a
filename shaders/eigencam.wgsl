// eigencam.wgsl — EigenCAM (Muhammad & Yeasin 2020; pytorch-grad-cam's get_2d_projection):
// the layer4 maps, seen as a matrix M[p, k] (pixels x channels) and centred over the pixels
// (M_c = M - mean_p M), projected on their first principal direction v:
//
//     projection[p] = (M_c · v)[p] = σ · u[p]
//
// where u is the first left singular vector of M_c. Since M_c·M_cᵀ = J·G·J with G = M·Mᵀ
// (the pixel Gram matrix) and J = I - 11ᵀ/n, u is the leading eigenvector of J·G·J and σ² its
// eigenvalue: we never form M_c. An SVD's sign is arbitrary, so the sign is chosen to make the
// largest-magnitude value positive.
//
// Two entry points:
//   gram  — one invocation computes one entry G[b, p, q] = Σ_k M[b, p, k] · M[b, q, k];
//   power — one workgroup handles one image: centres G, runs power iteration on it, and writes
//           σ·u into the CAM map of every target of that image.

struct EigenParams {
    batch: u32,
    hw: u32,        // pixels per map (≤ 1024)
    c4: u32,
    targets: u32,   // maps per image to fill
    iters: u32,     // power iterations
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> P: EigenParams;
@group(0) @binding(1) var<storage, read> features: array<vec4<f32>>;   // [batch, hw, c4]
@group(0) @binding(2) var<storage, read_write> gram: array<f32>;       // [batch, hw, hw]
@group(0) @binding(3) var<storage, read_write> maps: array<f32>;       // [batch, targets, hw]

// @anchor: gram-entry
@compute @workgroup_size(64)
fn gram_entry(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    if (idx >= P.batch * P.hw * P.hw) {
        return;
    }
    let q = idx % P.hw;
    let p = (idx / P.hw) % P.hw;
    let b = idx / (P.hw * P.hw);
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < P.c4; k++) {
        acc += features[(b * P.hw + p) * P.c4 + k] * features[(b * P.hw + q) * P.c4 + k];
    }
    gram[idx] = acc.x + acc.y + acc.z + acc.w;
}

var<workgroup> vec_a: array<f32, 1024>;
var<workgroup> row_mean: array<f32, 1024>;
var<workgroup> red: array<f32, 256>;

// Sum of `v` over the workgroup (every invocation gets the total).
fn wg_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

// @anchor: power
@compute @workgroup_size(256)
fn power(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let b = wg.x;
    let n = P.hw;
    let g0 = b * n * n;
    // @anchor: centre
    // Centre G in place: Gc[p,q] = G[p,q] - r_p - r_q + m, r = row means, m = overall mean.
    var part = 0.0;
    for (var p = lid; p < n; p += 256u) {
        var s = 0.0;
        for (var q = 0u; q < n; q++) {
            s += gram[g0 + p * n + q];
        }
        row_mean[p] = s / f32(n);
        part += s;
    }
    let m = wg_sum(lid, part) / f32(n * n);
    for (var i = lid; i < n * n; i += 256u) {
        gram[g0 + i] = gram[g0 + i] - row_mean[i / n] - row_mean[i % n] + m;
    }
    // @anchor: power-iteration
    // Power iteration from a fixed, non-symmetric start vector.
    for (var p = lid; p < n; p += 256u) {
        vec_a[p] = 1.0 + f32(p) / f32(n);
    }
    storageBarrier();
    workgroupBarrier();
    var lambda = 0.0;
    for (var it = 0u; it < P.iters; it++) {
        // y = Gc · x, kept in registers (each invocation owns rows lid, lid+256, ...).
        var y: array<f32, 4>;
        var sq = 0.0;
        for (var j = 0u; j < 4u; j++) {
            let p = lid + j * 256u;
            var s = 0.0;
            if (p < n) {
                for (var q = 0u; q < n; q++) {
                    s += gram[g0 + p * n + q] * vec_a[q];
                }
            }
            y[j] = s;
            sq += s * s;
        }
        let norm = sqrt(wg_sum(lid, sq));
        lambda = norm; // ‖Gc x‖ with ‖x‖ = 1 converges to the top eigenvalue σ²
        for (var j = 0u; j < 4u; j++) {
            let p = lid + j * 256u;
            if (p < n) {
                vec_a[p] = y[j] / max(norm, 1e-30);
            }
        }
        workgroupBarrier();
    }
    // @anchor: sign
    // Sign: make the largest-magnitude entry positive.
    var best = 0.0;
    for (var p = lid; p < n; p += 256u) {
        if (abs(vec_a[p]) > abs(best)) {
            best = vec_a[p];
        }
    }
    red[lid] = best;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s && abs(red[lid + s]) > abs(red[lid])) {
            red[lid] = red[lid + s];
        }
        workgroupBarrier();
    }
    let sign = select(1.0, -1.0, red[0] < 0.0);
    // @anchor: write-maps
    let sigma = sqrt(max(lambda, 0.0));
    for (var t = 0u; t < P.targets; t++) {
        for (var p = lid; p < n; p += 256u) {
            maps[(b * P.targets + t) * n + p] = sign * sigma * vec_a[p];
        }
    }
}
