// conv2d.wgsl — 2-D convolution as an implicit GEMM, with BatchNorm folded into the weights and
// bias, and the block's epilogue fused: optional residual add, optional ReLU.
//
// Formula (one output element):
//   out[b, oy, ox, co] = act( bias[co] + res[b, oy, ox, co]
//                           + Σ_{ky,kx,ci} in[b, oy*s - p + ky, ox*s - p + kx, ci] · w[ky, kx, ci, co] )
// where act is ReLU or the identity, res is the shortcut (or 0), and out-of-image taps read 0.
//
// Seen as a GEMM  C[M, N] = A[M, K] · B[K, N]:
//   M = batch·out_h·out_w   (one row per output pixel),
//   N = cout                (one column per output channel),
//   K = kh·kw·cin           (the receptive field, walked in (ky, kx, ci) order),
//   A[m, k] is gathered from the NHWC input on the fly (no im2col buffer: "implicit" GEMM),
//   B is the HWIO weight matrix, row-major [K, N].
//
// Layout: every activation is NHWC with the channel count padded to a multiple of 4 ("NHWC4",
// the pad channels hold zeros), so a vec4 load fetches four consecutive channels.
//
// One workgroup (16x16 = 256 invocations) computes a 64x64 tile of C: 64 output pixels x 64
// output channels. One invocation computes a 4x4 block of it: 4 pixels x 4 channels (one vec4).
// The K loop steps 16 at a time through workgroup memory: each invocation loads one vec4 of A
// (4 channels of one pixel's tap) and one vec4 of B (4 output channels of one K row), then all
// 256 invocations run 16 rank-1 updates from the shared tiles.

struct ConvParams {
    batch: u32,
    in_h: u32,
    in_w: u32,
    cin4: u32,     // input channels / 4 (padded)
    out_h: u32,
    out_w: u32,
    cout4: u32,    // output channels / 4 (padded)
    kw: u32,
    kh: u32,
    stride: u32,
    pad: u32,
    flags: u32,    // bit 0: ReLU, bit 1: add the residual
    m: u32,        // batch·out_h·out_w
    k4: u32,       // kh·kw·cin4: K counted in vec4s
    tiles_m: u32,  // ceil(m / 64)
    _pad: u32,
}

@group(0) @binding(0) var<uniform> P: ConvParams;
@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;     // NHWC4 [batch, in_h, in_w, cin4]
// Weights: f32 here; with `--precision f16` the Rust side swaps this block for one that
// stores four f16 in two u32 and unpacks them (`with_f16_weights` in
// crates/shadercam-kernels/src/shaders.rs).
// weights-begin
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;    // HWIO  [K, cout4]
fn load_w(i: u32) -> vec4<f32> {
    return weight[i];
}
// weights-end
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;      // [cout4]
@group(0) @binding(4) var<storage, read> residual: array<vec4<f32>>;  // NHWC4 [m, cout4] (unused unless flags & 2)
@group(0) @binding(5) var<storage, read_write> output: array<vec4<f32>>; // NHWC4 [m, cout4]

const BM: u32 = 64u;  // output pixels per tile (Rust: TILED_PIXELS)
const BN4: u32 = 16u; // output channels per tile, in vec4s (64 channels; Rust: TILED_CHANNELS)
const BK: u32 = 16u;  // K step per shared-memory round

var<workgroup> tile_a: array<f32, 1024>;        // [BK][BM]: A transposed, so a row of 4 pixels is contiguous
var<workgroup> tile_b: array<vec4<f32>, 256>;   // [BK][BN4]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32,
        @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    // Tiles along M are spread over x and y (a dispatch dimension is limited to 65535).
    let tile_m = wg.x + wg.y * nwg.x;
    if (tile_m >= P.tiles_m) {
        return; // uniform per workgroup: no barrier is skipped by only part of it
    }
    let m0 = tile_m * BM;
    let n0 = wg.z * BN4;

    // This invocation's share of the A tile: pixel row `am`, vec4 column `ak` of the K step.
    let am = tid / 4u;
    let ak = tid % 4u;
    let m_a = m0 + am;
    let ox = m_a % P.out_w;
    let oy = (m_a / P.out_w) % P.out_h;
    let b_img = m_a / (P.out_w * P.out_h);
    let iy0 = i32(oy * P.stride) - i32(P.pad);
    let ix0 = i32(ox * P.stride) - i32(P.pad);
    // Its share of the B tile: K row `bk`, vec4 column `bn`.
    let bk = tid / BN4;
    let bn = tid % BN4;
    // Its 4x4 block of C: pixels ty*4 .. ty*4+3, channels (n0 + tx)*4 .. +3.
    let tx = tid % BN4;
    let ty = tid / BN4;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    let k_steps = (P.k4 * 4u + BK - 1u) / BK;
    for (var step = 0u; step < k_steps; step++) {
        // Gather A[m_a, k .. k+3]: tap (ky, kx), channels ci4*4 .. +3, or zeros outside the image.
        let kv = step * (BK / 4u) + ak;
        var a = vec4<f32>(0.0);
        if (m_a < P.m && kv < P.k4) {
            let ci4 = kv % P.cin4;
            let tap = kv / P.cin4;
            let iy = iy0 + i32(tap / P.kw);
            let ix = ix0 + i32(tap % P.kw);
            if (iy >= 0 && iy < i32(P.in_h) && ix >= 0 && ix < i32(P.in_w)) {
                a = input[((b_img * P.in_h + u32(iy)) * P.in_w + u32(ix)) * P.cin4 + ci4];
            }
        }
        let ka = ak * 4u;
        tile_a[(ka + 0u) * BM + am] = a.x;
        tile_a[(ka + 1u) * BM + am] = a.y;
        tile_a[(ka + 2u) * BM + am] = a.z;
        tile_a[(ka + 3u) * BM + am] = a.w;

        let k_b = step * BK + bk;
        var w = vec4<f32>(0.0);
        if (k_b < P.k4 * 4u && n0 + bn < P.cout4) {
            w = load_w(k_b * P.cout4 + n0 + bn);
        }
        tile_b[bk * BN4 + bn] = w;
        workgroupBarrier();

        // 16 rank-1 updates: C[4 pixels, 4 channels] += A[4 pixels, k] ⊗ B[k, 4 channels].
        for (var kk = 0u; kk < BK; kk++) {
            let bv = tile_b[kk * BN4 + tx];
            let base = kk * BM + ty * 4u;
            acc0 += tile_a[base + 0u] * bv;
            acc1 += tile_a[base + 1u] * bv;
            acc2 += tile_a[base + 2u] * bv;
            acc3 += tile_a[base + 3u] * bv;
        }
        workgroupBarrier();
    }

    // Epilogue: + folded-BN bias, + residual, ReLU; one vec4 store per pixel.
    let n4 = n0 + tx;
    if (n4 >= P.cout4) {
        return;
    }
    let bv = bias[n4];
    var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + ty * 4u + i;
        if (m < P.m) {
            var v = accs[i] + bv;
            if ((P.flags & 2u) != 0u) {
                v += residual[m * P.cout4 + n4];
            }
            if ((P.flags & 1u) != 0u) {
                v = max(v, vec4<f32>(0.0));
            }
            output[m * P.cout4 + n4] = v;
        }
    }
}
