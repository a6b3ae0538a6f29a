// sobel.wgsl — SobelCAM: pytorch_grad_cam.sobel_cam.sobel_cam on the crop, a gradient-magnitude
// baseline that looks at the picture only (no network, no class).
//
// Formula (OpenCV on the uint8 RGB crop I):
//     I        = clamp(round((x·std + mean)·255), 0, 255)       the crop, from the input tensor
//     gray     = (9798·R + 19235·G + 3735·B + 2^14) >> 15       cv2.cvtColor(RGB2GRAY), 8-bit
//     dx, dy   = 3x3 Sobel of gray, borders BORDER_REFLECT_101   cv2.Sobel(CV_64F, ksize=3)
//     out      = rint(0.5·min(|dx|, 255) + 0.5·min(|dy|, 255))  convertScaleAbs + addWeighted
//     heat     = out / 255
// (rint: round half to even, as OpenCV's saturate_cast<uchar> from float.) The map is the
// heatmap itself: no ReLU, no min-max, no resize.
//
// One invocation computes one pixel of one image and writes it to the heat (and the
// "upsampled" stage) of every target of that image.

struct SobelParams {
    batch: u32,
    h: u32,
    w: u32,
    targets: u32,
    total: u32,     // batch·h·w
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    mean: vec4<f32>,
    stdev: vec4<f32>,
}

@group(0) @binding(0) var<uniform> P: SobelParams;
@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;    // NHWC4 [batch, h, w, 4]
@group(0) @binding(2) var<storage, read_write> heat: array<f32>;     // [batch, targets, h·w]
@group(0) @binding(3) var<storage, read_write> up: array<f32>;       // [batch, targets, h·w]

// BORDER_REFLECT_101: -1 → 1, n → n − 2.
fn reflect101(i: i32, n: i32) -> i32 {
    if (i < 0) {
        return -i;
    }
    if (i >= n) {
        return 2 * n - 2 - i;
    }
    return i;
}

// @anchor: gray
// The 8-bit gray value of pixel (y, x) of image b: the uint8 RGB crop rebuilt from the
// normalised tensor, then OpenCV's fixed-point RGB2GRAY (15-bit coefficients, exact for all
// 2^24 colours).
fn gray(b: u32, y: i32, x: i32) -> i32 {
    let yy = reflect101(y, i32(P.h));
    let xx = reflect101(x, i32(P.w));
    let v = input[(b * P.h + u32(yy)) * P.w + u32(xx)];
    let rgb = vec3<i32>(clamp(round((v.xyz * P.stdev.xyz + P.mean.xyz) * 255.0), vec3<f32>(0.0), vec3<f32>(255.0)));
    return (rgb.x * 9798 + rgb.y * 19235 + rgb.z * 3735 + 16384) >> 15u;
}

// @anchor: sobel
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    if (idx >= P.total) {
        return;
    }
    let hw = P.h * P.w;
    let b = idx / hw;
    let p = idx % hw;
    let y = i32(p / P.w);
    let x = i32(p % P.w);
    // Sobel 3x3: dx = [-1 0 1; -2 0 2; -1 0 1], dy its transpose.
    let dx = (gray(b, y - 1, x + 1) - gray(b, y - 1, x - 1))
        + 2 * (gray(b, y, x + 1) - gray(b, y, x - 1))
        + (gray(b, y + 1, x + 1) - gray(b, y + 1, x - 1));
    let dy = (gray(b, y + 1, x - 1) - gray(b, y - 1, x - 1))
        + 2 * (gray(b, y + 1, x) - gray(b, y - 1, x))
        + (gray(b, y + 1, x + 1) - gray(b, y - 1, x + 1));
    // convertScaleAbs saturates to 255; addWeighted(0.5, 0.5) rounds half to even (WGSL round).
    let ax = f32(min(abs(dx), 255));
    let ay = f32(min(abs(dy), 255));
    let v = round(0.5 * ax + 0.5 * ay) / 255.0;
    for (var t = 0u; t < P.targets; t++) {
        heat[(b * P.targets + t) * hw + p] = v;
        up[(b * P.targets + t) * hw + p] = v;
    }
}
