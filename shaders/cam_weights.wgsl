// cam_weights.wgsl — the per-channel weight α_k that each CAM method puts on layer4 map k.
//
// For a layer A (maps A_k, h·w pixels) followed by global average pooling and a linear layer,
// the gradient of the class-c logit y_c is the same at every pixel:
//     g_k = ∂y_c / ∂A_k(x, y) = w^c_k / (h·w)          (w = fc.weight)
// so every gradient-based method has a closed form (derived in docs/cam-math.md). With
// S_k = Σ_{x,y} A_k(x, y):
//     cam       α_k = w^c_k                       (Zhou et al. 2016: the raw CAM)
//     gradcam   α_k = g_k                         (mean of the gradients over pixels)
//     hirescam  α_k = g_k                         (Σ_k g_k·A_k(x,y): equal to gradcam here)
//     xgradcam  α_k = g_k · S_k / (S_k + 1e-7)
//     gradcam++ α_k = h·w · max(g_k, 0) · g_k² / (2·g_k² + S_k·g_k³ + 1e-6)   (0 where g_k = 0)
//     layercam  α_k = max(g_k, 0)
// The map is then CAM_c(x, y) = Σ_k α_k · A_k(x, y) (cam_weighted_sum.wgsl).
//
// One invocation computes four consecutive channels' weights (one vec4) for one
// (image, target) pair.

struct WeightParams {
    batch: u32,
    targets: u32,   // targets per image
    hw: u32,        // pixels per layer4 map
    c4: u32,        // channels / 4
    method: u32,    // 0 cam, 1 gradcam, 2 hirescam, 3 xgradcam, 4 gradcam++, 5 layercam
    total: u32,     // batch·targets·c4
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> P: WeightParams;
@group(0) @binding(1) var<storage, read> features: array<vec4<f32>>;   // NHWC4 [batch, hw, c4]
@group(0) @binding(2) var<storage, read> fc_weight: array<vec4<f32>>;  // [classes, c4]
@group(0) @binding(3) var<storage, read> targets: array<u32>;          // [batch, targets]
@group(0) @binding(4) var<storage, read_write> alphas: array<vec4<f32>>; // [batch, targets, c4]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    if (idx >= P.total) {
        return;
    }
    let k4 = idx % P.c4;
    let bt = idx / P.c4;            // (image, target) pair
    let b = bt / P.targets;
    // @anchor: gradient
    let w = fc_weight[targets[bt] * P.c4 + k4];
    let g = w / f32(P.hw);
    var alpha = g;
    switch P.method {
        // @anchor: cam
        case 0u: {
            alpha = w;
        }
        case 3u, 4u: {
            // @anchor: channel-sums
            var s = vec4<f32>(0.0);
            for (var p = 0u; p < P.hw; p++) {
                s += features[(b * P.hw + p) * P.c4 + k4];
            }
            if (P.method == 3u) {
                // @anchor: xgradcam
                alpha = g * s / (s + 1e-7);
            } else {
                // @anchor: gradcam-plus-plus
                let g2 = g * g;
                let aij = g2 / (2.0 * g2 + s * g2 * g + 1e-6);
                alpha = select(vec4<f32>(0.0), f32(P.hw) * max(g, vec4<f32>(0.0)) * aij, g != vec4<f32>(0.0));
            }
        }
        // @anchor: layercam
        case 5u: {
            alpha = max(g, vec4<f32>(0.0));
        }
        // @anchor: gradcam
        default: {
            alpha = g;
        }
    }
    alphas[idx] = alpha;
}
