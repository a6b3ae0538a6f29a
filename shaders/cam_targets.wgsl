// cam_targets.wgsl — which classes to explain, chosen on the GPU so forward + CAM stay one submit.
//
// Formula: targets[b, 0..k] = the k classes with the largest logits[b, ·], best first
//          (ties go to the lower class index, like argmax), or, in fixed mode, the same
//          user-given list for every image.
//
// One invocation handles one image: a k-pass selection over its logits (k and the class count
// are small: k ≤ classes ≤ a few thousand).

struct TargetParams {
    batch: u32,
    classes: u32,
    k: u32,
    fixed: u32,   // 1: copy `fixed_targets`, 0: top-k of the logits
}

@group(0) @binding(0) var<uniform> P: TargetParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;          // [batch, classes]
@group(0) @binding(2) var<storage, read> fixed_targets: array<u32>;   // [k]
@group(0) @binding(3) var<storage, read_write> targets: array<u32>;   // [batch, k]

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
