// metric_blur.wgsl — RISE's insertion substrate: the normalised input blurred by a Gaussian,
// `nn.functional.conv2d(x, kern, padding=klen // 2)` with `kern = gkern(11, 5)`, a diagonal
// [3, 3, 11, 11] kernel (each channel blurred on its own), zeros outside the image:
//
//     blur(x)_c(y, x) = Σ_{dy, dx ∈ [−r, r]} k(dy + r, dx + r) · x_c(y + dy, x + dx),  r = klen / 2
//
// `k` is scipy's `gaussian_filter` of an 11x11 delta, sigma 5 (computed on the CPU, in
// metrics/cpu.rs). One invocation writes one pixel (three channels) of one image.

struct BlurParams {
    h: u32,
    w: u32,
    images: u32,
    klen: u32,
}

@group(0) @binding(0) var<uniform> P: BlurParams;
@group(0) @binding(1) var<storage, read> kern: array<f32>;             // [klen, klen]
@group(0) @binding(2) var<storage, read> images: array<vec4<f32>>;     // NHWC4 [images, h, w]
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;  // NHWC4 [images, h, w]

// @anchor: blur
@compute @workgroup_size(64)
fn blur(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let hw = P.h * P.w;
    if (idx >= P.images * hw) {
        return;
    }
    let n = idx / hw;
    let p = idx % hw;
    let y = i32(p / P.w);
    let x = i32(p % P.w);
    let r = i32(P.klen / 2u);
    var acc = vec4<f32>(0.0);
    for (var dy = -r; dy <= r; dy++) {
        let yy = y + dy;
        if (yy < 0 || yy >= i32(P.h)) {
            continue;
        }
        for (var dx = -r; dx <= r; dx++) {
            let xx = x + dx;
            if (xx < 0 || xx >= i32(P.w)) {
                continue;
            }
            let k = kern[u32(dy + r) * P.klen + u32(dx + r)];
            acc += k * images[n * hw + u32(yy) * P.w + u32(xx)];
        }
    }
    out[idx] = vec4<f32>(acc.xyz, 0.0);
}
