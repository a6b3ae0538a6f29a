// aug_mean.wgsl — pytorch-grad-cam's aug_smooth (BaseCAM.forward_augmentation_smoothing with
// ttach's Compose([HorizontalFlip(), Multiply([0.9, 1, 1.1])])): the heatmap of each image is the
// plain mean of the heatmaps of its augmented copies, each de-augmented (flipped back when its
// copy was flipped; Multiply needs no undoing):
//
//     mean[i, t](y, x) = (1/A) · Σ_a heat[i·A + a, t](y, flip_a ? W - 1 - x : x)
//
// summed in copy order a = 0 .. A-1 in f32, then divided, as np.mean(np.float32(cams), axis=0)
// does; no ReLU or min-max afterwards (the library returns the mean as it is).
//
// One invocation computes one pixel of one mean map.

struct AugParams {
    images: u32,    // un-augmented images
    targets: u32,   // maps per image
    h: u32,
    w: u32,
    copies: u32,    // augmented copies per image (A)
    flips: u32,     // bit a set: copy a is horizontally flipped
    total: u32,     // images·targets·h·w
    _pad: u32,
}

@group(0) @binding(0) var<uniform> P: AugParams;
@group(0) @binding(1) var<storage, read> heat: array<f32>;        // [images·copies, targets, h, w]
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;  // [images, targets, h, w]

// @anchor: aug-mean
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    if (idx >= P.total) {
        return;
    }
    let hw = P.h * P.w;
    let x = idx % P.w;
    let y = (idx / P.w) % P.h;
    let t = (idx / hw) % P.targets;
    let i = idx / (hw * P.targets);
    var sum = 0.0;
    for (var a = 0u; a < P.copies; a++) {
        // @anchor: deaugment
        let flipped = ((P.flips >> a) & 1u) == 1u;
        let sx = select(x, P.w - 1u - x, flipped);
        sum += heat[((i * P.copies + a) * P.targets + t) * hw + y * P.w + sx];
    }
    mean[idx] = sum / f32(P.copies);
}
