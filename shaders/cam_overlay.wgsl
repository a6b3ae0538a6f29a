// cam_overlay.wgsl — pytorch-grad-cam's show_cam_on_image(img, mask, use_rgb=True), on the GPU:
//
//     heat = JET[uint8(255 · mask)] / 255           (OpenCV COLORMAP_JET, truncating cast)
//     cam  = 0.5 · heat + 0.5 · img                  (image_weight = 0.5)
//     out  = uint8(255 · cam / max(cam))             (max over the whole picture, all channels)
//
// `img` is either the network's input crop, un-normalised as the seed does it
// (clamp(x·std + mean, 0, 1)), or the user's original picture (RGBA8). Outside `rect` (the
// part of the original that the network saw) there is no heat: the image times `dim`.
//
// Two entry points, one pass each:
//   blend  — one invocation blends one pixel of one map and raises that map's running maximum
//            (atomicMax on the float's bits: valid because every value is >= 0);
//   finish — one invocation blends the same pixel again (cheaper than storing it), scales it by
//            its map's maximum and packs it as RGBA8.

struct OverlayParams {
    maps: u32,
    h: u32,
    w: u32,
    mode: u32,        // 0: image from the normalised NHWC4 input tensor, 1: from `rgba`
    targets: u32,     // maps per image (mode 0: image = map / targets)
    map_base: u32,    // first heat map read (mode 1)
    dim: f32,         // factor for pixels outside `rect`
    _pad: u32,
    mean: vec4<f32>,
    stdev: vec4<f32>,
    rect: vec4<u32>,  // x0, y0, x1, y1 (exclusive) of the undimmed region
}

@group(0) @binding(0) var<uniform> P: OverlayParams;
@group(0) @binding(1) var<storage, read> heat: array<f32>;              // [.., h·w], values in [0, 1]
@group(0) @binding(2) var<storage, read> tensor: array<vec4<f32>>;      // NHWC4 [images, h, w] (mode 0)
@group(0) @binding(3) var<storage, read> rgba: array<u32>;              // [h·w] RGBA8 (mode 1)
@group(0) @binding(4) var<storage, read_write> max_bits: array<atomic<u32>>; // [maps], zeroed before
@group(0) @binding(5) var<storage, read_write> out: array<u32>;         // [maps, h·w] RGBA8

// @anchor: jet
// OpenCV 5.0.0 COLORMAP_JET, entry i = r | g << 8 | b << 16 (shaders/jet_lut.py)
const JET: array<u32, 256> = array<u32, 256>(
    0x800000u, 0x840000u, 0x880000u, 0x8c0000u, 0x900000u, 0x940000u, 0x980000u, 0x9c0000u,
    0xa00000u, 0xa40000u, 0xa80000u, 0xac0000u, 0xb00000u, 0xb40000u, 0xb80000u, 0xbc0000u,
    0xc00000u, 0xc40000u, 0xc80000u, 0xcc0000u, 0xd00000u, 0xd40000u, 0xd80000u, 0xdc0000u,
    0xe00000u, 0xe40000u, 0xe80000u, 0xec0000u, 0xf00000u, 0xf40000u, 0xf80000u, 0xfc0000u,
    0xff0000u, 0xff0400u, 0xff0800u, 0xff0c00u, 0xff1000u, 0xff1400u, 0xff1800u, 0xff1c00u,
    0xff2000u, 0xff2400u, 0xff2800u, 0xff2c00u, 0xff3000u, 0xff3400u, 0xff3800u, 0xff3c00u,
    0xff4000u, 0xff4400u, 0xff4800u, 0xff4c00u, 0xff5000u, 0xff5400u, 0xff5800u, 0xff5c00u,
    0xff6000u, 0xff6400u, 0xff6800u, 0xff6c00u, 0xff7000u, 0xff7400u, 0xff7800u, 0xff7c00u,
    0xff8000u, 0xff8400u, 0xff8800u, 0xff8c00u, 0xff9000u, 0xff9400u, 0xff9800u, 0xff9c00u,
    0xffa000u, 0xffa400u, 0xffa800u, 0xffac00u, 0xffb000u, 0xffb400u, 0xffb800u, 0xffbc00u,
    0xffc000u, 0xffc400u, 0xffc800u, 0xffcc00u, 0xffd000u, 0xffd400u, 0xffd800u, 0xffdc00u,
    0xffe000u, 0xffe400u, 0xffe800u, 0xffec00u, 0xfff000u, 0xfff400u, 0xfff800u, 0xfffc00u,
    0xfeff02u, 0xfaff06u, 0xf6ff0au, 0xf2ff0eu, 0xeeff12u, 0xeaff16u, 0xe6ff1au, 0xe2ff1eu,
    0xdeff22u, 0xdaff26u, 0xd6ff2au, 0xd2ff2eu, 0xceff32u, 0xcaff36u, 0xc6ff3au, 0xc2ff3eu,
    0xbeff42u, 0xbaff46u, 0xb6ff4au, 0xb2ff4eu, 0xaeff52u, 0xaaff56u, 0xa6ff5au, 0xa2ff5eu,
    0x9eff62u, 0x9aff66u, 0x96ff6au, 0x92ff6eu, 0x8eff72u, 0x8aff76u, 0x86ff7au, 0x82ff7eu,
    0x7eff82u, 0x7aff86u, 0x76ff8au, 0x72ff8eu, 0x6eff92u, 0x6aff96u, 0x66ff9au, 0x62ff9eu,
    0x5effa2u, 0x5affa6u, 0x56ffaau, 0x52ffaeu, 0x4effb2u, 0x4affb6u, 0x46ffbau, 0x42ffbeu,
    0x3effc2u, 0x3affc6u, 0x36ffcau, 0x32ffceu, 0x2effd2u, 0x2affd6u, 0x26ffdau, 0x22ffdeu,
    0x1effe2u, 0x1affe6u, 0x16ffeau, 0x12ffeeu, 0x0efff2u, 0x0afff6u, 0x06fffau, 0x01fffeu,
    0x00fcffu, 0x00f8ffu, 0x00f4ffu, 0x00f0ffu, 0x00ecffu, 0x00e8ffu, 0x00e4ffu, 0x00e0ffu,
    0x00dcffu, 0x00d8ffu, 0x00d4ffu, 0x00d0ffu, 0x00ccffu, 0x00c8ffu, 0x00c4ffu, 0x00c0ffu,
    0x00bcffu, 0x00b8ffu, 0x00b4ffu, 0x00b0ffu, 0x00acffu, 0x00a8ffu, 0x00a4ffu, 0x00a0ffu,
    0x009cffu, 0x0098ffu, 0x0094ffu, 0x0090ffu, 0x008cffu, 0x0088ffu, 0x0084ffu, 0x0080ffu,
    0x007cffu, 0x0078ffu, 0x0074ffu, 0x0070ffu, 0x006cffu, 0x0068ffu, 0x0064ffu, 0x0060ffu,
    0x005cffu, 0x0058ffu, 0x0054ffu, 0x0050ffu, 0x004cffu, 0x0048ffu, 0x0044ffu, 0x0040ffu,
    0x003cffu, 0x0038ffu, 0x0034ffu, 0x0030ffu, 0x002cffu, 0x0028ffu, 0x0024ffu, 0x0020ffu,
    0x001cffu, 0x0018ffu, 0x0014ffu, 0x0010ffu, 0x000cffu, 0x0008ffu, 0x0004ffu, 0x0000ffu,
    0x0000fcu, 0x0000f8u, 0x0000f4u, 0x0000f0u, 0x0000ecu, 0x0000e8u, 0x0000e4u, 0x0000e0u,
    0x0000dcu, 0x0000d8u, 0x0000d4u, 0x0000d0u, 0x0000ccu, 0x0000c8u, 0x0000c4u, 0x0000c0u,
    0x0000bcu, 0x0000b8u, 0x0000b4u, 0x0000b0u, 0x0000acu, 0x0000a8u, 0x0000a4u, 0x0000a0u,
    0x00009cu, 0x000098u, 0x000094u, 0x000090u, 0x00008cu, 0x000088u, 0x000084u, 0x000080u
);

fn unpack_rgb(v: u32) -> vec3<f32> {
    return vec3<f32>(f32(v & 0xffu), f32((v >> 8u) & 0xffu), f32((v >> 16u) & 0xffu));
}

// @anchor: blended
// 0.5·JET(mask) + 0.5·image for pixel `p` of map `map`, dimmed outside `rect`.
fn blended(map: u32, p: u32) -> vec3<f32> {
    let hw = P.h * P.w;
    let mask = heat[(P.map_base + map) * hw + p];
    // @anchor: level
    let level = min(u32(255.0 * clamp(mask, 0.0, 1.0)), 255u);
    let colour = unpack_rgb(JET[level]) / 255.0;
    var img: vec3<f32>;
    if (P.mode == 0u) {
        let x = tensor[(map / P.targets) * hw + p].xyz;
        // @anchor: unnormalise
        img = clamp(x * P.stdev.xyz + P.mean.xyz, vec3<f32>(0.0), vec3<f32>(1.0));
    } else {
        img = unpack_rgb(rgba[p]) / 255.0;
    }
    let x = p % P.w;
    let y = p / P.w;
    if (x < P.rect.x || y < P.rect.y || x >= P.rect.z || y >= P.rect.w) {
        // The network never saw this part of the picture: no heat, just the dimmed image.
        return img * P.dim;
    }
    // @anchor: mix
    return 0.5 * colour + 0.5 * img;
}

// @anchor: blend
@compute @workgroup_size(64)
fn blend(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let hw = P.h * P.w;
    if (idx >= P.maps * hw) {
        return;
    }
    let cam = blended(idx / hw, idx % hw);
    atomicMax(&max_bits[idx / hw], bitcast<u32>(max(cam.x, max(cam.y, cam.z))));
}

// @anchor: finish
@compute @workgroup_size(64)
fn finish(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let hw = P.h * P.w;
    if (idx >= P.maps * hw) {
        return;
    }
    let top = bitcast<f32>(atomicLoad(&max_bits[idx / hw]));
    let c = blended(idx / hw, idx % hw) / max(top, 1e-30);
    let q = min(vec3<u32>(255.0 * c), vec3<u32>(255u));
    out[idx] = q.x | (q.y << 8u) | (q.z << 16u) | (255u << 24u);
}
