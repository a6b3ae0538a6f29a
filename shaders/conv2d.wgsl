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
//
// This file is a template: the Rust side (crates/shadercam-kernels/src/shaders.rs) swaps the
// blocks between `// NAME-begin` and `// NAME-end` markers to make its other forms.
//   precision: the storage types below, f32 as written; `--precision f16` stores activations
//              as f16 and rounds the multiply's operands (the tiles) to f16. Accumulation,
//              bias, residual add and ReLU stay f32 in every form.
//   weights:   how the HWIO weights are stored (f32 here, f16 in the f16 forms).
//   multiply-decls, entry, multiply-init, multiply, multiply-finish: the tile multiply. As
//              written, each invocation accumulates its 4x4 block with scalar multiply-adds
//              (SIMT). The cooperative-matrix form (tensor cores) replaces only these blocks:
//              each subgroup multiplies 16x16 blocks of the same tiles with coopMultiplyAdd,
//              then leaves the 64x64 result in workgroup memory, from where every invocation
//              takes its 4x4 block into the same epilogue.

// precision-begin
alias In4 = vec4<f32>;   // `input` as stored
alias Res4 = vec4<f32>;  // `residual` as stored
alias Out4 = vec4<f32>;  // `output` as stored
alias Operand = f32;     // element of the tiles: what the multiply's operands are rounded to
// precision-end

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
@group(0) @binding(1) var<storage, read> input: array<In4>;     // NHWC4 [batch, in_h, in_w, cin4]
// Weights: f32 here; the f16 forms swap this block for one that stores four f16 per vec4
// (`with_f16_weights` and `with_native_f16_weights` in crates/shadercam-kernels/src/shaders.rs).
// load_w returns the four weights as f32 in every form.
// weights-begin
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;    // HWIO  [K, cout4]
fn load_w(i: u32) -> vec4<f32> {
    return weight[i];
}
// weights-end
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;      // [cout4]
@group(0) @binding(4) var<storage, read> residual: array<Res4>;       // NHWC4 [m, cout4] (unused unless flags & 2)
@group(0) @binding(5) var<storage, read_write> output: array<Out4>;   // NHWC4 [m, cout4]

const BM: u32 = 64u;  // output pixels per tile (Rust: TILED_PIXELS)
const BN4: u32 = 16u; // output channels per tile, in vec4s (64 channels; Rust: TILED_CHANNELS)
const BN: u32 = 64u;  // output channels per tile (4 x BN4)
const BK: u32 = 16u;  // K step per shared-memory round

// Both tiles are plain arrays of scalars, so that a cooperative matrix can load 16x16 blocks of
// them with a stride (coopLoad takes a pointer to a scalar).
var<workgroup> tile_a: array<Operand, 1024>;  // [BK][BM]: A transposed (column-major A), a row of 4 pixels contiguous
var<workgroup> tile_b: array<Operand, 1024>;  // [BK][BN]: B row-major
// multiply-decls-begin
// multiply-decls-end

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32,
        @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        // entry-begin
        // entry-end
        ) {
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

    // multiply-init-begin
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    // multiply-init-end

    let k_steps = (P.k4 * 4u + BK - 1u) / BK;
    for (var step = 0u; step < k_steps; step++) {
        // Gather A[m_a, k .. k+3]: tap (ky, kx), channels ci4*4 .. +3, or zeros outside the image.
        let kv = step * (BK / 4u) + ak;
        var a = vec4<Operand>(0.0);
        if (m_a < P.m && kv < P.k4) {
            let ci4 = kv % P.cin4;
            let tap = kv / P.cin4;
            let iy = iy0 + i32(tap / P.kw);
            let ix = ix0 + i32(tap % P.kw);
            if (iy >= 0 && iy < i32(P.in_h) && ix >= 0 && ix < i32(P.in_w)) {
                a = vec4<Operand>(input[((b_img * P.in_h + u32(iy)) * P.in_w + u32(ix)) * P.cin4 + ci4]);
            }
        }
        let ka = ak * 4u;
        tile_a[(ka + 0u) * BM + am] = a.x;
        tile_a[(ka + 1u) * BM + am] = a.y;
        tile_a[(ka + 2u) * BM + am] = a.z;
        tile_a[(ka + 3u) * BM + am] = a.w;

        let k_b = step * BK + bk;
        var w = vec4<Operand>(0.0);
        if (k_b < P.k4 * 4u && n0 + bn < P.cout4) {
            w = vec4<Operand>(load_w(k_b * P.cout4 + n0 + bn));
        }
        let kb = bk * BN + bn * 4u;
        tile_b[kb + 0u] = w.x;
        tile_b[kb + 1u] = w.y;
        tile_b[kb + 2u] = w.z;
        tile_b[kb + 3u] = w.w;
        workgroupBarrier();

        // multiply-begin
        // 16 rank-1 updates: C[4 pixels, 4 channels] += A[4 pixels, k] ⊗ B[k, 4 channels].
        // Operands are converted to f32 before multiplying: with f16 tiles each product of two
        // f16 values is exact in f32 and the sum is f32, as in a tensor core's f16 x f16 + f32.
        for (var kk = 0u; kk < BK; kk++) {
            let bi = kk * BN + tx * 4u;
            let bv = vec4<f32>(f32(tile_b[bi]), f32(tile_b[bi + 1u]), f32(tile_b[bi + 2u]), f32(tile_b[bi + 3u]));
            let base = kk * BM + ty * 4u;
            acc0 += f32(tile_a[base + 0u]) * bv;
            acc1 += f32(tile_a[base + 1u]) * bv;
            acc2 += f32(tile_a[base + 2u]) * bv;
            acc3 += f32(tile_a[base + 3u]) * bv;
        }
        // multiply-end
        workgroupBarrier();
    }
    // multiply-finish-begin
    // multiply-finish-end

    // Epilogue: + folded-BN bias, + residual, ReLU, in f32; one vec4 store per pixel.
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
                v += vec4<f32>(residual[m * P.cout4 + n4]);
            }
            if ((P.flags & 1u) != 0u) {
                v = max(v, vec4<f32>(0.0));
            }
            output[m * P.cout4 + n4] = Out4(v);
        }
    }
}
