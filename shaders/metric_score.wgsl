// metric_score.wgsl — the target score of each perturbed image of a chunk, from the logits the
// chunk's forward pass left: pytorch-grad-cam's `ClassifierOutputTarget` (the logit y_c) or
// `ClassifierOutputSoftmaxTarget` (softmax(y)_c = exp(y_c − m) / Σ_j exp(y_j − m), m = max y),
// and RISE's probability (the softmax one).
//
// One invocation reads the logits of one job of the chunk and writes one score.

struct ScoreParams {
    classes: u32,
    count: u32,    // jobs in this chunk
    job0: u32,     // first job of the chunk
    softmax: u32,  // 0: logit, 1: softmax probability
}

@group(0) @binding(0) var<uniform> P: ScoreParams;
@group(0) @binding(1) var<storage, read> jobs: array<vec4<u32>>;       // kind, image, param, slot
@group(0) @binding(2) var<storage, read> targets: array<u32>;          // [images] class of each image
@group(0) @binding(3) var<storage, read> logits: array<f32>;           // [count, classes]
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;     // [jobs]

// @anchor: score
@compute @workgroup_size(64)
fn score(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= P.count) {
        return;
    }
    let job = jobs[P.job0 + j];
    let c = targets[job.y];
    let row = j * P.classes;
    let y = logits[row + c];
    // Deletion and insertion jobs (kinds 3, 4) always score the probability, as RISE does.
    if (P.softmax == 0u && job.x < 3u) {
        scores[P.job0 + j] = y;
        return;
    }
    var m = -3.4028235e38;
    for (var k = 0u; k < P.classes; k++) {
        m = max(m, logits[row + k]);
    }
    var s = 0.0;
    for (var k = 0u; k < P.classes; k++) {
        s += exp(logits[row + k] - m);
    }
    scores[P.job0 + j] = exp(y - m) / s;
}
