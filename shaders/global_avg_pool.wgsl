// global_avg_pool.wgsl — global average pooling over the spatial dimensions, NHWC4 in.
//
// Formula:  out[b, c] = (1 / (h·w)) · Σ_{y, x} in[b, y, x, c]
// (ResNet's `avgpool` before `fc`; the CAM derivation rests on this being a plain mean.)
//
// One invocation computes one vec4: four consecutive channels of one image.

struct GapParams {
    batch: u32,
    hw: u32,      // h·w
    c4: u32,
    total: u32,   // batch·c4
}

@group(0) @binding(0) var<uniform> P: GapParams;
@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;       // [batch, hw, c4]
@group(0) @binding(2) var<storage, read_write> output: array<vec4<f32>>; // [batch, c4]

// Invocations per workgroup. No value here: the Rust side sets it when it creates the pipeline
// (`WORKGROUP_1D` in crates/shadercam-kernels/src/dispatch.rs) and sizes the dispatch with it.
override WG: u32;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG;
    if (idx >= P.total) {
        return;
    }
    let c = idx % P.c4;
    let b = idx / P.c4;
    var sum = vec4<f32>(0.0);
    for (var p = 0u; p < P.hw; p++) {
        sum += input[(b * P.hw + p) * P.c4 + c];
    }
    output[idx] = sum / f32(P.hw);
}
