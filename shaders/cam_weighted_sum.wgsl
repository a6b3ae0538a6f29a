// cam_weighted_sum.wgsl — the class activation map itself.
//
// Formula:  CAM[b, t](x, y) = Σ_k α[b, t, k] · A[b, y, x, k]
// with A the layer4 maps (NHWC4) and α the per-channel weights of target t (cam_weights.wgsl;
// for the plain CAM α_k = w^c_k, the fc row of class c: Zhou et al. 2016, eq. 2).
// With `clamp` set (GradCAMElementWise): CAM[b, t](x, y) = Σ_k max(α[b, t, k] · A[b, y, x, k], 0),
// the elementwise ReLU of gradient × activation before the channel sum.
//
// One invocation computes one pixel of one map: a dot product over the channels, four at a time.

struct SumParams {
    batch: u32,
    targets: u32,
    hw: u32,
    c4: u32,
    total: u32,    // batch·targets·hw
    clamp: u32,    // 1: sum max(α_k·A_k, 0) (gradcamelementwise)
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> P: SumParams;
@group(0) @binding(1) var<storage, read> features: array<vec4<f32>>;  // [batch, hw, c4]
@group(0) @binding(2) var<storage, read> alphas: array<vec4<f32>>;    // [batch, targets, c4]
@group(0) @binding(3) var<storage, read_write> maps: array<f32>;      // [batch, targets, hw]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    if (idx >= P.total) {
        return;
    }
    let p = idx % P.hw;
    let bt = idx / P.hw;
    let b = bt / P.targets;
    // @anchor: channel-dot
    var acc = vec4<f32>(0.0);
    if (P.clamp == 1u) {
        // @anchor: elementwise
        for (var k = 0u; k < P.c4; k++) {
            acc += max(alphas[bt * P.c4 + k] * features[(b * P.hw + p) * P.c4 + k], vec4<f32>(0.0));
        }
    } else {
        for (var k = 0u; k < P.c4; k++) {
            acc += alphas[bt * P.c4 + k] * features[(b * P.hw + p) * P.c4 + k];
        }
    }
    maps[idx] = acc.x + acc.y + acc.z + acc.w;
}
