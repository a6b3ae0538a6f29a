// cam_upsample.wgsl — bilinear resampling of maps with OpenCV's cv2.resize(INTER_LINEAR)
// convention, generalised to any affine placement:
//
//     sx = dst_x · scale_x + offset_x,   sy = dst_y · scale_y + offset_y
//     (for a plain resize: scale = src/dst, offset = scale/2 - 1/2: pixel centres,
//      align_corners=False), clamped to [0, src-1] (cv2 replicates the edge pixels), then
//     out = (1-fy)·((1-fx)·s[y0,x0] + fx·s[y0,x1]) + fy·((1-fx)·s[y1,x0] + fx·s[y1,x1])
//
// The same kernel maps the 7x7 map onto the 224x224 crop (what pytorch-grad-cam shows) and onto
// the crop's region of the original image (offsets place the crop inside the full picture).
//
// One invocation computes one output pixel of one map.

struct UpParams {
    maps: u32,
    src_h: u32,
    src_w: u32,
    dst_h: u32,
    dst_w: u32,
    src_base: u32,   // first source map (maps src_base .. src_base+maps are read)
    total: u32,      // maps·dst_h·dst_w
    _pad: u32,
    scale_x: f32,
    offset_x: f32,
    scale_y: f32,
    offset_y: f32,
}

@group(0) @binding(0) var<uniform> P: UpParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;         // [.., src_h, src_w]
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;   // [maps, dst_h, dst_w]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    if (idx >= P.total) {
        return;
    }
    let x = idx % P.dst_w;
    let y = (idx / P.dst_w) % P.dst_h;
    let m = idx / (P.dst_w * P.dst_h) + P.src_base;
    // @anchor: placement
    let max_x = f32(P.src_w - 1u);
    let max_y = f32(P.src_h - 1u);
    let sx = clamp(f32(x) * P.scale_x + P.offset_x, 0.0, max_x);
    let sy = clamp(f32(y) * P.scale_y + P.offset_y, 0.0, max_y);
    let x0 = u32(floor(sx));
    let y0 = u32(floor(sy));
    let x1 = min(x0 + 1u, P.src_w - 1u);
    let y1 = min(y0 + 1u, P.src_h - 1u);
    let fx = sx - f32(x0);
    let fy = sy - f32(y0);
    let row = m * P.src_h * P.src_w;
    let top = (1.0 - fx) * src[row + y0 * P.src_w + x0] + fx * src[row + y0 * P.src_w + x1];
    let bot = (1.0 - fx) * src[row + y1 * P.src_w + x0] + fx * src[row + y1 * P.src_w + x1];
    dst[idx] = (1.0 - fy) * top + fy * bot;
}
