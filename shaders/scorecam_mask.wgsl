// scorecam_mask.wgsl — Score-CAM's masked inputs (Wang et al. 2020; pytorch-grad-cam ScoreCAM):
//
//     U_k  = bilinear upsampling of layer4 map k to the input size, align_corners=True
//            (torch.nn.UpsamplingBilinear2d):  s = d · (src - 1) / (dst - 1)
//     M_k  = (U_k - min U_k) / (max U_k - min U_k + 1e-8)
//     X_k  = X ⊙ M_k                     (the normalised input tensor, every channel)
//
// The score of map k is then the target's logit for X_k (scorecam_softmax.wgsl turns the
// scores into CAM weights).
//
// Two entry points, for a chunk of maps k = k0 .. k0 + count of one image:
//   range — one invocation finds min and max of one upsampled map U_k over the whole grid;
//   mask  — one invocation writes one pixel (four padded channels) of one masked input X_k.

struct MaskParams {
    h: u32,          // input height = width of the masked images
    w: u32,
    fh: u32,         // layer4 map size
    fw: u32,
    c4: u32,         // layer4 channels / 4
    image: u32,      // which image of the features batch
    k0: u32,         // first map of this chunk
    count: u32,      // maps in this chunk
}

@group(0) @binding(0) var<uniform> P: MaskParams;
@group(0) @binding(1) var<storage, read> features: array<vec4<f32>>;  // NHWC4 [batch, fh·fw, c4]
@group(0) @binding(2) var<storage, read> input: array<vec4<f32>>;     // NHWC4 [batch, h, w] (3 channels + pad)
@group(0) @binding(3) var<storage, read_write> masked: array<vec4<f32>>; // NHWC4 [count, h, w]
@group(0) @binding(4) var<storage, read_write> ranges: array<vec2<f32>>;  // [count]: min, max of U_k

fn feat(p: u32, k: u32) -> f32 {
    let v = features[(P.image * P.fh * P.fw + p) * P.c4 + k / 4u];
    return v[k % 4u];
}

// @anchor: upsampled
// U_k at output pixel (x, y), align_corners=True.
fn upsampled(k: u32, x: u32, y: u32) -> f32 {
    let scale_x = select(0.0, f32(P.fw - 1u) / f32(P.w - 1u), P.w > 1u);
    let scale_y = select(0.0, f32(P.fh - 1u) / f32(P.h - 1u), P.h > 1u);
    let sx = scale_x * f32(x);
    let sy = scale_y * f32(y);
    let x0 = min(u32(floor(sx)), P.fw - 1u);
    let y0 = min(u32(floor(sy)), P.fh - 1u);
    let x1 = min(x0 + 1u, P.fw - 1u);
    let y1 = min(y0 + 1u, P.fh - 1u);
    let fx = sx - f32(x0);
    let fy = sy - f32(y0);
    let top = (1.0 - fx) * feat(y0 * P.fw + x0, k) + fx * feat(y0 * P.fw + x1, k);
    let bot = (1.0 - fx) * feat(y1 * P.fw + x0, k) + fx * feat(y1 * P.fw + x1, k);
    return (1.0 - fy) * top + fy * bot;
}

// @anchor: range
@compute @workgroup_size(64)
fn range(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= P.count) {
        return;
    }
    var mn = 3.4028235e38;
    var mx = -3.4028235e38;
    for (var y = 0u; y < P.h; y++) {
        for (var x = 0u; x < P.w; x++) {
            let u = upsampled(P.k0 + j, x, y);
            mn = min(mn, u);
            mx = max(mx, u);
        }
    }
    ranges[j] = vec2<f32>(mn, mx);
}

// @anchor: mask
@compute @workgroup_size(64)
fn mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let hw = P.h * P.w;
    if (idx >= P.count * hw) {
        return;
    }
    let j = idx / hw;
    let p = idx % hw;
    let r = ranges[j];
    // @anchor: apply-mask
    let m = (upsampled(P.k0 + j, p % P.w, p / P.w) - r.x) / (r.y - r.x + 1e-8);
    masked[j * hw + p] = input[P.image * hw + p] * m;
}
