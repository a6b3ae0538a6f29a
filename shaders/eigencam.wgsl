// eigencam.wgsl — the principal-component maps of pytorch-grad-cam: EigenCAM and EigenGradCAM
// (get_2d_projection), the eigen_smooth option of the weight methods (get_2d_projection of the
// weighted maps), and KPCA-CAM (get_2d_projection_kernel: sklearn's KernelPCA, sigmoid kernel).
//
// The maps of one image, seen as a matrix M[p, k] (pixels x channels), are first transformed
// column-wise according to P.rows:
//     rows 0:  M = A                          (EigenCAM, KPCA-CAM)
//     rows 1:  M = A · diag(s)                (EigenGradCAM: s = g; eigen_smooth: s = α)
//     rows 2:  M = max(A · diag(s), 0)        (gradcamelementwise with eigen_smooth: s = g)
// with s = scale[b, t] the per-channel weights of target t (rows 1 and 2 give one matrix per
// target, rows 0 one per image). Then, centred over the pixels (M_c = M - 1·mean_p M):
//
//   kernel 0 (PCA):  projection = M_c · v = σ · u,  u the first left singular vector of M_c.
//                    M_c·M_cᵀ = J·G·J with G = M·Mᵀ (the pixel Gram matrix), J = I - 11ᵀ/n:
//                    u is the leading eigenvector of J·G·J and σ² its eigenvalue.
//   kernel 1 (KPCA): K = tanh(γ · J·G·J + 1) (sigmoid kernel of the centred rows, coef0 = 1),
//                    Kc = J·K·J (sklearn's KernelCenterer); projection = sqrt(λ) · v with
//                    (λ, v) the top eigenpair of Kc (KernelPCA.fit_transform).
//
// We never form M_c. An eigenvector's sign is arbitrary: it is chosen to make the largest-
// magnitude value positive (sklearn's svd_flip for KPCA; numpy's SVD sign for the PCA maps
// follows no rule, see docs/cam-math.md).
//
// Two entry points:
//   gram_entry — one invocation computes one entry G[m, p, q] = Σ_k M[m, p, k] · M[m, q, k]
//                of matrix m (one per image, or per (image, target));
//   power      — one workgroup handles one matrix: centres G (and applies the kernel), runs
//                power iteration on it, and writes the projection into the CAM map(s) of
//                that image (every target for rows 0, target t for rows 1 and 2).

struct EigenParams {
    batch: u32,
    hw: u32,        // pixels per map (≤ 1024)
    c4: u32,
    targets: u32,   // maps per image
    iters: u32,     // power iterations
    rows: u32,      // 0: M = A; 1: M = A·diag(s); 2: M = max(A·diag(s), 0)
    kernel: u32,    // 0: linear (PCA); 1: sigmoid kernel (KPCA)
    gamma: f32,     // the sigmoid kernel's γ (1 / channels)
}

@group(0) @binding(0) var<uniform> P: EigenParams;
@group(0) @binding(1) var<storage, read> features: array<vec4<f32>>;   // [batch, hw, c4]
@group(0) @binding(2) var<storage, read_write> gram: array<f32>;       // [matrices, hw, hw]
@group(0) @binding(3) var<storage, read_write> maps: array<f32>;       // [batch, targets, hw]
@group(0) @binding(4) var<storage, read> scale: array<vec4<f32>>;      // [batch, targets, c4]

// Matrices per image: one, or one per target when the rows are scaled per target.
fn per_image() -> u32 {
    return select(1u, P.targets, P.rows != 0u);
}

// @anchor: gram-entry
@compute @workgroup_size(64)
fn gram_entry(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let hw2 = P.hw * P.hw;
    if (idx >= P.batch * per_image() * hw2) {
        return;
    }
    let q = idx % P.hw;
    let p = (idx / P.hw) % P.hw;
    let m = idx / hw2;                  // matrix: image, or (image, target)
    let b = m / per_image();
    var acc = vec4<f32>(0.0);
    let fp = (b * P.hw + p) * P.c4;
    let fq = (b * P.hw + q) * P.c4;
    if (P.rows == 0u) {
        for (var k = 0u; k < P.c4; k++) {
            acc += features[fp + k] * features[fq + k];
        }
    } else if (P.rows == 1u) {
        // @anchor: gram-scaled
        // Σ_k (s_k A_pk)(s_k A_qk) = Σ_k s_k² A_pk A_qk: the Gram matrix of A·diag(s).
        for (var k = 0u; k < P.c4; k++) {
            let s = scale[m * P.c4 + k];
            acc += s * s * features[fp + k] * features[fq + k];
        }
    } else {
        // @anchor: gram-clamped
        // Σ_k max(s_k A_pk, 0) · max(s_k A_qk, 0): the Gram matrix of max(A·diag(s), 0).
        for (var k = 0u; k < P.c4; k++) {
            let s = scale[m * P.c4 + k];
            acc += max(s * features[fp + k], vec4<f32>(0.0)) * max(s * features[fq + k], vec4<f32>(0.0));
        }
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

// Double-centres the n x n matrix at gram[g0..] in place:
// Gc[p,q] = G[p,q] - r_p - r_q + m, r = row means (= column means: G is symmetric), m = overall
// mean; that is J·G·J entry by entry (and sklearn's KernelCenterer for a kernel matrix).
fn centre(lid: u32, g0: u32, n: u32) {
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
    storageBarrier();
}

// @anchor: power
@compute @workgroup_size(256)
fn power(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let mat = wg.x;                     // matrix: image, or (image, target)
    let b = mat / per_image();
    let n = P.hw;
    let g0 = mat * n * n;
    // @anchor: centre
    centre(lid, g0, n);
    if (P.kernel == 1u) {
        // @anchor: sigmoid-kernel
        // K[p,q] = tanh(γ · <x_p, x_q> + coef0), coef0 = 1, of the centred rows x_p (whose inner
        // products Gc holds), then centred again as sklearn's KernelCenterer does.
        for (var i = lid; i < n * n; i += 256u) {
            gram[g0 + i] = tanh(P.gamma * gram[g0 + i] + 1.0);
        }
        storageBarrier();
        centre(lid, g0, n);
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
        lambda = norm; // ‖Gc x‖ with ‖x‖ = 1 converges to the top eigenvalue σ² (or λ)
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
    if (P.rows == 0u) {
        for (var t = 0u; t < P.targets; t++) {
            for (var p = lid; p < n; p += 256u) {
                maps[(b * P.targets + t) * n + p] = sign * sigma * vec_a[p];
            }
        }
    } else {
        for (var p = lid; p < n; p += 256u) {
            maps[mat * n + p] = sign * sigma * vec_a[p];
        }
    }
}
