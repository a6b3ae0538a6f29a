// maxpool.wgsl — max pooling (ResNet's 3x3, stride 2, pad 1 after the stem), NHWC4 layout.
//
// Formula (one output element):
//   out[b, oy, ox, c] = max_{ky, kx < k, tap inside the image} in[b, oy*s - p + ky, ox*s - p + kx, c]
// Padding taps are skipped (PyTorch pads max-pool with -inf), so every window has at least one
// real tap as long as p < k.
//
// One invocation computes one vec4: four consecutive channels of one output pixel.
// With `--precision f16` the Rust side swaps the `precision` block for f16 activations
// (crates/shadercam-kernels/src/shaders.rs); the maximum of f16 values is exact either way.

// precision-begin
alias Act4 = vec4<f32>;  // activations as stored
// precision-end

struct PoolParams {
    batch: u32,
    in_h: u32,
    in_w: u32,
    c4: u32,
    out_h: u32,
    out_w: u32,
    kernel: u32,
    stride: u32,
    pad: u32,
    total: u32,   // batch·out_h·out_w·c4 invocations that do work
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> P: PoolParams;
@group(0) @binding(1) var<storage, read> input: array<Act4>;
@group(0) @binding(2) var<storage, read_write> output: array<Act4>;

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
    let ox = (idx / P.c4) % P.out_w;
    let oy = (idx / (P.c4 * P.out_w)) % P.out_h;
    let b = idx / (P.c4 * P.out_w * P.out_h);
    var best = vec4<f32>(-3.4028235e38);
    for (var ky = 0u; ky < P.kernel; ky++) {
        let iy = i32(oy * P.stride + ky) - i32(P.pad);
        if (iy < 0 || iy >= i32(P.in_h)) {
            continue;
        }
        for (var kx = 0u; kx < P.kernel; kx++) {
            let ix = i32(ox * P.stride + kx) - i32(P.pad);
            if (ix < 0 || ix >= i32(P.in_w)) {
                continue;
            }
            best = max(best, vec4<f32>(input[((b * P.in_h + u32(iy)) * P.in_w + u32(ix)) * P.c4 + c]));
        }
    }
    output[idx] = Act4(best);
}
