// metric_perturb.wgsl — the perturbed inputs of the faithfulness metrics (pytorch-grad-cam's
// `pytorch_grad_cam.metrics`, and Petsiuk et al. 2018, "RISE", for deletion and insertion),
// written straight into the input buffer of a forward plan, one chunk of jobs at a time.
//
// A job is one perturbed image: `jobs[j] = (kind, image, param, slot)`. With x the image's
// normalised input (NHWC4, three channels and a zero pad), H its heatmap in [0, 1] and r(p) the
// rank of pixel p in decreasing-heat order (0 = hottest):
//
//     kind 0  original   out = x
//     kind 1  cam-mult   out = x ⊙ H                      (multiply_tensor_with_cam)
//     kind 2  ROAD       out = imputed[slot]              (metric_road.wgsl's solution)
//     kind 3  deletion   out = r(p) < param ? 0 : x        (RISE substrate: zeros, normalised)
//     kind 4  insertion  out = r(p) < param ? x : blur(x) (RISE substrate: metric_blur.wgsl)
//
// `param` of kinds 3 and 4 is the number of pixels deleted or inserted so far: step i of n
// moves the pixels ranked [0, i·step).
//
// One invocation writes one pixel (all channels, one vec4) of one job of the chunk.

struct PerturbParams {
    hw: u32,      // pixels per image
    count: u32,   // jobs in this chunk
    job0: u32,    // first job of the chunk in `jobs`
    _pad: u32,
}

@group(0) @binding(0) var<uniform> P: PerturbParams;
@group(0) @binding(1) var<storage, read> jobs: array<vec4<u32>>;       // [jobs]: kind, image, param, slot
@group(0) @binding(2) var<storage, read> images: array<vec4<f32>>;     // NHWC4 [images, hw]
@group(0) @binding(3) var<storage, read> heat: array<f32>;             // [images, hw]
@group(0) @binding(4) var<storage, read> imputed: array<vec4<f32>>;    // NHWC4 [systems, hw]
@group(0) @binding(5) var<storage, read> blurred: array<vec4<f32>>;    // NHWC4 [images, hw]
@group(0) @binding(6) var<storage, read> ranks: array<u32>;            // [images, hw]
@group(0) @binding(7) var<storage, read_write> out: array<vec4<f32>>;  // NHWC4 [count, hw]

// @anchor: assemble
@compute @workgroup_size(64)
fn assemble(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    if (idx >= P.count * P.hw) {
        return;
    }
    let j = idx / P.hw;
    let p = idx % P.hw;
    let job = jobs[P.job0 + j];
    let src = job.y * P.hw + p;
    let x = images[src];
    var v = x;
    switch job.x {
        case 1u: {
            // @anchor: cam-mult
            v = x * heat[src];
        }
        case 2u: {
            v = imputed[job.w * P.hw + p];
        }
        case 3u: {
            // @anchor: deletion
            v = select(x, vec4<f32>(0.0), ranks[src] < job.z);
        }
        case 4u: {
            // @anchor: insertion
            v = select(blurred[src], x, ranks[src] < job.z);
        }
        default: {}
    }
    out[j * P.hw + p] = v;
}
