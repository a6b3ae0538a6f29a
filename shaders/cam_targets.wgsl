// cam_targets.wgsl — which classes to explain, chosen on the GPU so forward + CAM stay one submit.
//
// Formula: targets[b, 0..k] = the k classes with the largest logits[b, ·], best first
//          (ties go to the lower class index, like argmax), or, in fixed mode, the same
//          user-given list for every image.
//
// One invocation handles one image: a k-pass selection over its logits (k and the class count
// are small: k ≤ classes ≤ a few thousand).
//
// Entry point `class_vector` (after `main`): for the methods whose score is a nonlinear
// function of all the logits, v = ∂score/∂y per (image, target), so that the channel weights
// are α_k = (1/hw)·Σ_m v_m·w^m_k (cam_weights.wgsl#class-vector-weights). One invocation
// handles one (image, target) pair and writes its row of v (and FinerCAM's chosen classes).

struct TargetParams {
    batch: u32,
    classes: u32,
    k: u32,
    fixed: u32,   // 1: copy `fixed_targets`, 0: top-k of the logits
    mode: u32,    // class_vector: 1 finercam, 2 shapleycam (ReST target)
    comparisons: u32, // finercam: comparison classes (3, fewer for a model with < 4 classes)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> P: TargetParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;          // [batch, classes]
@group(0) @binding(2) var<storage, read> fixed_targets: array<u32>;   // [k]
@group(0) @binding(3) var<storage, read_write> targets: array<u32>;   // [batch, k]
@group(0) @binding(4) var<storage, read> fc_bias: array<f32>;          // [classes]
@group(0) @binding(5) var<storage, read_write> class_vec: array<f32>;  // [batch, k, classes]
@group(0) @binding(6) var<storage, read_write> chosen: array<u32>;     // [batch, k, 4]

// FinerWeightedTarget's comparison strength α and the epsilon of its denominator.
const FINER_ALPHA: f32 = 1.0;
const FINER_EPS: f32 = 1e-9;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= P.batch) {
        return;
    }
    // @anchor: fixed
    if (P.fixed == 1u) {
        for (var t = 0u; t < P.k; t++) {
            targets[b * P.k + t] = fixed_targets[t];
        }
        return;
    }
    // @anchor: top-k
    // Selection: pass t finds the largest logit strictly "below" the previous pick in the
    // order (value descending, index ascending).
    var prev_v = 3.4028235e38;
    var prev_i = 0xffffffffu;
    for (var t = 0u; t < P.k; t++) {
        var best_v = -3.4028235e38;
        var best_i = 0xffffffffu;
        for (var c = 0u; c < P.classes; c++) {
            let v = logits[b * P.classes + c];
            let after_prev = v < prev_v || (v == prev_v && c > prev_i);
            let before_best = v > best_v || (v == best_v && c < best_i);
            if (after_prev && before_best) {
                best_v = v;
                best_i = c;
            }
        }
        targets[b * P.k + t] = best_i;
        prev_v = best_v;
        prev_i = best_i;
    }
}

// Softmax probability of class m of image b, given that image's max logit and Σ exp(y − max).
fn prob(b: u32, m: u32, top: f32, z: f32) -> f32 {
    return exp(logits[b * P.classes + m] - top) / z;
}

// @anchor: class-vector
@compute @workgroup_size(64)
fn class_vector(@builtin(global_invocation_id) gid: vec3<u32>) {
    let bt = gid.x;
    if (bt >= P.batch * P.k) {
        return;
    }
    let b = bt / P.k;
    let c = targets[bt];
    let row = b * P.classes;
    let out = bt * P.classes;
    let yc = logits[row + c];
    var top = -3.4028235e38;
    for (var m = 0u; m < P.classes; m++) {
        top = max(top, logits[row + m]);
    }
    var z = 0.0;
    for (var m = 0u; m < P.classes; m++) {
        z += exp(logits[row + m] - top);
    }
    if (P.mode == 1u) {
        // @anchor: finer-comparisons
        // FinerCAM: the comparison classes are those nearest to y_c, i.e. np.argsort(|y − y_c|)
        // [1..=3] (entry 0 is c itself): a selection in the order (|y_j − y_c| ascending, index
        // ascending), c left out.
        chosen[bt * 4u] = c;
        var prev_d = -1.0;
        var prev_i = 0xffffffffu;
        for (var t = 0u; t < 3u; t++) {
            var best_d = 3.4028235e38;
            var best_i = 0xffffffffu;
            if (t < P.comparisons) {
                for (var j = 0u; j < P.classes; j++) {
                    let d = abs(logits[row + j] - yc);
                    let after_prev = d > prev_d || (d == prev_d && j > prev_i);
                    let before_best = d < best_d || (d == best_d && j < best_i);
                    if (j != c && after_prev && before_best) {
                        best_d = d;
                        best_i = j;
                    }
                }
            }
            chosen[bt * 4u + 1u + t] = best_i;
            prev_d = best_d;
            prev_i = best_i;
        }
        // @anchor: finer-gradient
        // score s = Σ_{j∈C} p_j·(y_c − α·y_j) / Q with Q = Σ_{j∈C} p_j + ε and p = softmax(y);
        // differentiating through p too (autograd does):
        //   ∂s/∂y_m = −p_m·s·ε/Q + [m = c]·P/Q + [m ∈ C]·p_m·(y_c − α·y_m − α − s)/Q.
        var pc = 0.0;
        var num = 0.0;
        for (var t = 0u; t < P.comparisons; t++) {
            let j = chosen[bt * 4u + 1u + t];
            let pj = prob(b, j, top, z);
            pc += pj;
            num += pj * (yc - FINER_ALPHA * logits[row + j]);
        }
        let q = pc + FINER_EPS;
        let s = num / q;
        for (var m = 0u; m < P.classes; m++) {
            class_vec[out + m] = -prob(b, m, top, z) * s * FINER_EPS / q;
        }
        class_vec[out + c] += pc / q;
        for (var t = 0u; t < P.comparisons; t++) {
            let j = chosen[bt * 4u + 1u + t];
            let d = yc - FINER_ALPHA * logits[row + j];
            class_vec[out + j] += prob(b, j, top, z) * (d - FINER_ALPHA - s) / q;
        }
    } else {
        // @anchor: rest-gradient
        // ShapleyCAM with the ReST target s = y_c − CE(y, c) = 2·y_c − logsumexp(y): the weight
        // is the pixel mean of ∇s − ½·H·A. ∂s/∂y = 2·e_c − p, and with u = y − b = W·mean(A)
        // the Hessian-vector product is H·A = −(1/hw)·Wᵀ(diag p − p pᵀ)·u, so
        //   v_m = 2·[m = c] − p_m + ½·p_m·(u_m − Σ_j p_j·u_j).
        var ubar = 0.0;
        for (var m = 0u; m < P.classes; m++) {
            ubar += prob(b, m, top, z) * (logits[row + m] - fc_bias[m]);
        }
        for (var m = 0u; m < P.classes; m++) {
            let p = prob(b, m, top, z);
            class_vec[out + m] = -p + 0.5 * p * (logits[row + m] - fc_bias[m] - ubar);
        }
        class_vec[out + c] += 2.0;
    }
}
