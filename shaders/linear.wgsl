// linear.wgsl — the fully connected classifier (`fc`).
//
// Formula:  logits[b, j] = bias[j] + Σ_k x[b, k] · W[j, k]
// W is PyTorch's row-major [classes, features]; row j holds the CAM weights w^j_k.
//
// One invocation computes one logit: one class of one image (a dot product over features/4 vec4s).

struct LinearParams {
    batch: u32,
    features4: u32,  // features / 4
    classes: u32,
    total: u32,      // batch·classes
}

@group(0) @binding(0) var<uniform> P: LinearParams;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;       // [batch, features4]
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;  // [classes, features4]
@group(0) @binding(3) var<storage, read> bias: array<f32>;          // [classes]
@group(0) @binding(4) var<storage, read_write> logits: array<f32>;  // [batch, classes]

// Invocations per workgroup. No value here: the Rust side sets it when it creates the pipeline
// (`WORKGROUP_1D` in crates/shadercam-kernels/src/dispatch.rs) and sizes the dispatch with it.
override WG: u32;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG;
    if (idx >= P.total) {
        return;
    }
    let j = idx % P.classes;
    let b = idx / P.classes;
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < P.features4; k++) {
        acc += x[b * P.features4 + k] * weight[j * P.features4 + k];
    }
    logits[idx] = bias[j] + acc.x + acc.y + acc.z + acc.w;
}
