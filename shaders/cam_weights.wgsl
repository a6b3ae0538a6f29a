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
//     gradcamelementwise  α_k = g_k, and the weighted sum clamps each term: Σ_k max(α_k·A_k, 0)
//     ablationcam  α_k = (y_c − y_c^(k)) / y_c = w^c_k · (mean A_k − v_k) / y_c, with v_k the
//               ablation value (0 when min(A) = 0 over the image; else the library's cumulative
//               min(A) − ((k mod 32) + 1)·1e7)
//     finercam, shapleycam  α_k = (1/hw) Σ_m v_m · w^m_k: the gradient of a score that is a
//               nonlinear function of all the logits, v = ∂score/∂y (cam_targets.wgsl#class-vector)
//     fem       α_k = #{p : A_k(p) > mean_p A_k + 2·std_p A_k} / hw   (class-independent)
// The map is then CAM_c(x, y) = Σ_k α_k · A_k(x, y) (cam_weighted_sum.wgsl).
//
// Entry point `main`: one invocation computes four consecutive channels' weights (one vec4)
// for one (image, target) pair. Entry point `image_min`: one workgroup per image reduces
// min(A) over all its maps (AblationCAM's ablation value).

struct WeightParams {
    batch: u32,
    targets: u32,   // targets per image
    hw: u32,        // pixels per layer4 map
    c4: u32,        // channels / 4
    method: u32,    // 0 cam, 1 gradcam, 2 hirescam, 3 xgradcam, 4 gradcam++, 5 layercam,
                    // 6 gradcamelementwise, 7 ablationcam, 8 class vector (finercam, shapleycam),
                    // 9 fem
    total: u32,     // batch·targets·c4
    classes: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> P: WeightParams;
@group(0) @binding(1) var<storage, read> features: array<vec4<f32>>;   // NHWC4 [batch, hw, c4]
@group(0) @binding(2) var<storage, read> fc_weight: array<vec4<f32>>;  // [classes, c4]
@group(0) @binding(3) var<storage, read> targets: array<u32>;          // [batch, targets]
@group(0) @binding(4) var<storage, read_write> alphas: array<vec4<f32>>; // [batch, targets, c4]
@group(0) @binding(5) var<storage, read> logits: array<f32>;           // [batch, classes]
@group(0) @binding(6) var<storage, read> class_vec: array<f32>;        // [batch, targets, classes]
@group(0) @binding(7) var<storage, read_write> image_mins: array<f32>; // [batch]

// AblationCAM's ablation value: pytorch-grad-cam's AblationLayer sets the channel to 0 when
// min(A) == 0, else to min(output) − 1e7, where `output` already holds the earlier ablations
// of the same 32-channel batch (an in-place edit), so channel k gets min(A) − ((k%32)+1)·1e7.
const ABLATION_VALUE: f32 = 1e7;
const ABLATION_BATCH: u32 = 32u;

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
        // @anchor: ablationcam
        case 7u: {
            var s = vec4<f32>(0.0);
            for (var p = 0u; p < P.hw; p++) {
                s += features[(b * P.hw + p) * P.c4 + k4];
            }
            let m = image_mins[b];
            let k = vec4<u32>(4u * k4) + vec4<u32>(0u, 1u, 2u, 3u);
            let step = vec4<f32>(k % vec4<u32>(ABLATION_BATCH) + vec4<u32>(1u));
            let v = select(vec4<f32>(m) - step * ABLATION_VALUE, vec4<f32>(0.0), m == 0.0);
            let y = logits[b * P.classes + targets[bt]];
            // y_c − y_c^(k) = w^c_k · (mean A_k − v_k): the logit is linear in the pooled maps.
            alpha = w * (s / f32(P.hw) - v) / y;
        }
        // @anchor: class-vector-weights
        case 8u: {
            var acc = vec4<f32>(0.0);
            for (var m = 0u; m < P.classes; m++) {
                acc += class_vec[bt * P.classes + m] * fc_weight[m * P.c4 + k4];
            }
            alpha = acc / f32(P.hw);
        }
        // @anchor: fem
        case 9u: {
            var s = vec4<f32>(0.0);
            for (var p = 0u; p < P.hw; p++) {
                s += features[(b * P.hw + p) * P.c4 + k4];
            }
            let mean = s / f32(P.hw);
            var ss = vec4<f32>(0.0);
            for (var p = 0u; p < P.hw; p++) {
                let d = features[(b * P.hw + p) * P.c4 + k4] - mean;
                ss += d * d;
            }
            // numpy's std: population (divide by hw); the k-sigma rule with k = 2.
            let th = mean + 2.0 * sqrt(ss / f32(P.hw));
            var count = vec4<f32>(0.0);
            for (var p = 0u; p < P.hw; p++) {
                count += select(vec4<f32>(0.0), vec4<f32>(1.0), features[(b * P.hw + p) * P.c4 + k4] > th);
            }
            alpha = count / f32(P.hw);
        }
        // @anchor: gradcam
        // (6, gradcamelementwise, also uses g: cam_weighted_sum.wgsl#elementwise clamps.)
        default: {
            alpha = g;
        }
    }
    alphas[idx] = alpha;
}

// One workgroup per image: min over every value of its layer4 maps (AblationCAM: is the
// ablation value 0, or min − 1e7?). Tree reduction of 256 strided partial minima.
var<workgroup> part_min: array<f32, 256>;

// @anchor: image-min
@compute @workgroup_size(256)
fn image_min(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b = wid.x;
    let n = P.hw * P.c4;
    var m = 3.4028235e38;
    for (var i = li; i < n; i += 256u) {
        let v = features[b * n + i];
        m = min(m, min(min(v.x, v.y), min(v.z, v.w)));
    }
    part_min[li] = m;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) {
            part_min[li] = min(part_min[li], part_min[li + s]);
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        image_mins[b] = part_min[0];
    }
}
