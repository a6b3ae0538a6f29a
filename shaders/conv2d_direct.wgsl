// conv2d_direct.wgsl — the convolution of conv2d.wgsl (same formula, same NHWC4 / HWIO layouts,
// same uniform block, same fused epilogue) for CPU adapters such as Mesa lavapipe: no
// workgroup memory and no barriers, a large register tile per invocation instead.
//
// Formula (one output element):
//   out[b, oy, ox, co] = act( bias[co] + res[b, oy, ox, co]
//                           + Σ_{ky,kx,ci} in[b, oy*s - p + ky, ox*s - p + kx, ci] · w[ky, kx, ci, co] )
// (act = ReLU or identity, res = shortcut or 0, out-of-image taps read 0.)
//
// One invocation computes R = 8 consecutive output pixels x C4 = 2 vec4 columns of output
// channels (8 x 8 outputs, 16 vec4 accumulators). Per 4-channel step of K it loads R input vec4s
// and 4·C4 weight vec4s and does 16·R·C4 multiply-adds, all from storage buffers: on lavapipe a
// workgroup runs as SIMD lanes of one CPU thread, every load is a per-lane gather, and workgroup
// memory would only add stores and barriers (it shares nothing a CPU cache does not). What pays
// is many multiply-adds per loaded scalar: (R + 4·C4)·4 = 64 loads for 256 multiply-adds, against
// 128 + 16 for 256 in conv2d.wgsl. Measured on lavapipe (benches/README.md): 8x8 beat 4x16, 16x4,
// 8x16 and 4x32 (the larger tiles spill).
//
// Work item idx = pixel group + tiles_m · channel group, pixel groups fastest: neighbouring
// invocations share their weight columns, and no lanes are wasted when M is small (layer4 at
// batch 1 has 49 pixels). Pixels past M are clamped for loading and not stored.
//
// Like conv2d.wgsl this is a template whose `// NAME-begin` .. `// NAME-end` blocks the Rust
// side swaps (crates/shadercam-kernels/src/shaders.rs): `precision` (f16 activations with
// `--precision f16`) and `weights` (f16 weights). Values are multiplied as stored, widened to
// f32 (a product of two f16 is exact in f32); accumulation, bias, residual and ReLU are f32 in
// every form. (Unlike conv2d.wgsl, whose f16 tiles round an f32 input to f16, this kernel
// multiplies the f32 image of the stem as it is: a round trip f32 -> f16 -> f32 here would be
// a conversion a driver may or may not fold away.)

// precision-begin
alias In4 = vec4<f32>;   // `input` as stored
alias Res4 = vec4<f32>;  // `residual` as stored
alias Out4 = vec4<f32>;  // `output` as stored
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
    tiles_m: u32,  // ceil(m / R): pixel groups
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

const R: u32 = 8u;   // output pixels per invocation (Rust: DIRECT_PIXELS)
const C4: u32 = 2u;  // output channel vec4s per invocation (8 channels; Rust: DIRECT_CHANNELS)
// Invocations per workgroup. No value here: the Rust side sets it when it creates the pipeline
// (`WORKGROUP_1D` in crates/shadercam-kernels/src/dispatch.rs) and sizes the dispatch with it.
override WG: u32;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG;
    let groups_n = (P.cout4 + C4 - 1u) / C4;
    if (idx >= P.tiles_m * groups_n) {
        return;
    }
    let m0 = (idx % P.tiles_m) * R;
    let n0 = (idx / P.tiles_m) * C4;

    // Where each of the R pixels' receptive fields starts (pixels past M repeat the last one).
    var iy0: array<i32, R>;
    var ix0: array<i32, R>;
    var img: array<u32, R>;
    for (var r = 0u; r < R; r++) {
        let m = min(m0 + r, P.m - 1u);
        let ox = m % P.out_w;
        let oy = (m / P.out_w) % P.out_h;
        img[r] = m / (P.out_w * P.out_h);
        iy0[r] = i32(oy * P.stride) - i32(P.pad);
        ix0[r] = i32(ox * P.stride) - i32(P.pad);
    }
    // Weight columns, clamped to the last real one (their results are not stored).
    var col: array<u32, C4>;
    for (var c = 0u; c < C4; c++) {
        col[c] = min(n0 + c, P.cout4 - 1u);
    }

    var acc: array<vec4<f32>, R * C4>; // [R][C4]
    for (var ky = 0u; ky < P.kh; ky++) {
        for (var kx = 0u; kx < P.kw; kx++) {
            // The tap's input pixel for each of the R outputs, or "outside" (reads 0).
            var src: array<u32, R>;
            var inside: array<bool, R>;
            for (var r = 0u; r < R; r++) {
                let iy = iy0[r] + i32(ky);
                let ix = ix0[r] + i32(kx);
                inside[r] = iy >= 0 && iy < i32(P.in_h) && ix >= 0 && ix < i32(P.in_w);
                src[r] = select(0u, ((img[r] * P.in_h + u32(iy)) * P.in_w + u32(ix)) * P.cin4, inside[r]);
            }
            let tap = ky * P.kw + kx;
            for (var ci4 = 0u; ci4 < P.cin4; ci4++) {
                var a: array<vec4<f32>, R>;
                for (var r = 0u; r < R; r++) {
                    a[r] = select(vec4<f32>(0.0), vec4<f32>(input[src[r] + ci4]), inside[r]);
                }
                // K rows (tap, ci4*4 + j), j = 0..3, of the weight matrix.
                let row = (tap * P.cin4 + ci4) * 4u * P.cout4;
                for (var c = 0u; c < C4; c++) {
                    let w0 = load_w(row + col[c]);
                    let w1 = load_w(row + P.cout4 + col[c]);
                    let w2 = load_w(row + 2u * P.cout4 + col[c]);
                    let w3 = load_w(row + 3u * P.cout4 + col[c]);
                    for (var r = 0u; r < R; r++) {
                        var s = acc[r * C4 + c];
                        s = fma(vec4<f32>(a[r].x), w0, s);
                        s = fma(vec4<f32>(a[r].y), w1, s);
                        s = fma(vec4<f32>(a[r].z), w2, s);
                        s = fma(vec4<f32>(a[r].w), w3, s);
                        acc[r * C4 + c] = s;
                    }
                }
            }
        }
    }

    // Epilogue: + folded-BN bias, + residual, ReLU, in f32; one vec4 store per pixel and column.
    for (var c = 0u; c < C4; c++) {
        let n4 = n0 + c;
        if (n4 >= P.cout4) {
            break;
        }
        let bv = bias[n4];
        for (var r = 0u; r < R; r++) {
            let m = m0 + r;
            if (m < P.m) {
                var v = acc[r * C4 + c] + bv;
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
}
