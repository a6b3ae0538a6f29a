// scorecam_softmax.wgsl — Score-CAM's channel weights from the masked-input scores:
//
//     score[b, t, k] = logit of target t for the input masked by upsampled map k
//     α[b, t, k]     = softmax_k(score[b, t, ·])  =  exp(score_k - max) / Σ_j exp(score_j - max)
//
// Two entry points:
//   gather  — one invocation copies one logit of one masked input (a chunk of `count` maps
//             k0 .. k0+count of one image) into the score table;
//   softmax — one workgroup normalises the scores of one (image, target) pair into weights.

struct SoftmaxParams {
    targets: u32,    // targets per image
    classes: u32,
    maps: u32,       // K: layer4 channels
    image: u32,      // gather: which image the chunk belongs to
    k0: u32,         // gather: first map of the chunk
    count: u32,      // gather: maps in the chunk
    pairs: u32,      // softmax: batch·targets
    _pad: u32,
}

@group(0) @binding(0) var<uniform> P: SoftmaxParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;        // [count, classes] (gather)
@group(0) @binding(2) var<storage, read> targets: array<u32>;       // [batch, targets]
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;  // [batch, targets, maps]
@group(0) @binding(4) var<storage, read_write> alphas: array<f32>;  // [batch, targets, maps]

// @anchor: gather
@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= P.count * P.targets) {
        return;
    }
    let j = i % P.count;
    let t = i / P.count;
    let pair = P.image * P.targets + t;
    scores[pair * P.maps + P.k0 + j] = logits[j * P.classes + targets[pair]];
}

var<workgroup> red: array<f32, 256>;

// @anchor: softmax
@compute @workgroup_size(256)
fn softmax(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let pair = wg.x;
    if (pair >= P.pairs) {
        return;
    }
    let base = pair * P.maps;
    var mx = -3.4028235e38;
    for (var k = lid; k < P.maps; k += 256u) {
        mx = max(mx, scores[base + k]);
    }
    red[lid] = mx;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = max(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
    let top = red[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var k = lid; k < P.maps; k += 256u) {
        sum += exp(scores[base + k] - top);
    }
    red[lid] = sum;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    for (var k = lid; k < P.maps; k += 256u) {
        alphas[base + k] = exp(scores[base + k] - top) / total;
    }
}
