// cam_normalize.wgsl — pytorch-grad-cam's post-processing of a map, in place:
//
//     x ← max(x, 0)                        (optional: the ReLU of Grad-CAM; off for raw `cam`)
//     x ← (x - min x) / (max(x - min x) + eps)   (scale_cam_image, eps = 1e-7)
//
// One workgroup normalises one whole map: its 256 invocations stride over the pixels, reduce
// min and max through workgroup memory, then rescale their pixels.

struct NormParams {
    maps: u32,
    len: u32,      // pixels per map
    relu: u32,     // 1: apply max(x, 0) first
    eps: f32,
}

@group(0) @binding(0) var<uniform> P: NormParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;          // [maps, len]
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;    // [maps, len]

var<workgroup> lo: array<f32, 256>;
var<workgroup> hi: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32,
        @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let map = wg.x + wg.y * nwg.x;
    if (map >= P.maps) {
        return; // uniform per workgroup
    }
    let base = map * P.len;
    // @anchor: min-max
    var mn = 3.4028235e38;
    var mx = -3.4028235e38;
    for (var i = lid; i < P.len; i += 256u) {
        var v = src[base + i];
        if (P.relu == 1u) {
            v = max(v, 0.0);
        }
        mn = min(mn, v);
        mx = max(mx, v);
    }
    lo[lid] = mn;
    hi[lid] = mx;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            lo[lid] = min(lo[lid], lo[lid + s]);
            hi[lid] = max(hi[lid], hi[lid + s]);
        }
        workgroupBarrier();
    }
    let m0 = lo[0];
    // @anchor: range
    // max(x - min) = max(x) - min(x): subtraction by a constant is monotone under rounding.
    let range = hi[0] - m0;
    // @anchor: rescale
    for (var i = lid; i < P.len; i += 256u) {
        var v = src[base + i];
        if (P.relu == 1u) {
            v = max(v, 0.0);
        }
        dst[base + i] = (v - m0) / (range + P.eps);
    }
}
