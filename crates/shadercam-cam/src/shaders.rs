//! The CAM stage's WGSL kernels, by name (sources in the workspace's `shaders/`).

pub const CAM_TARGETS: &str = include_str!("../../../shaders/cam_targets.wgsl");
pub const CAM_WEIGHTS: &str = include_str!("../../../shaders/cam_weights.wgsl");
pub const CAM_WEIGHTED_SUM: &str = include_str!("../../../shaders/cam_weighted_sum.wgsl");
pub const CAM_NORMALIZE: &str = include_str!("../../../shaders/cam_normalize.wgsl");
pub const CAM_UPSAMPLE: &str = include_str!("../../../shaders/cam_upsample.wgsl");
pub const CAM_OVERLAY: &str = include_str!("../../../shaders/cam_overlay.wgsl");
pub const EIGENCAM: &str = include_str!("../../../shaders/eigencam.wgsl");
pub const AUG_MEAN: &str = include_str!("../../../shaders/aug_mean.wgsl");
pub const SCORECAM_MASK: &str = include_str!("../../../shaders/scorecam_mask.wgsl");
pub const SCORECAM_SOFTMAX: &str = include_str!("../../../shaders/scorecam_softmax.wgsl");
pub const SOBEL: &str = include_str!("../../../shaders/sobel.wgsl");
// The faithfulness metrics (crate::metrics).
pub const METRIC_PERTURB: &str = include_str!("../../../shaders/metric_perturb.wgsl");
pub const METRIC_SCORE: &str = include_str!("../../../shaders/metric_score.wgsl");
pub const METRIC_BLUR: &str = include_str!("../../../shaders/metric_blur.wgsl");
pub const METRIC_ROAD: &str = include_str!("../../../shaders/metric_road.wgsl");

/// `(name, source)` of every kernel in this crate, for validation tests and tools.
pub const ALL: &[(&str, &str)] = &[
    ("cam_targets", CAM_TARGETS),
    ("cam_weights", CAM_WEIGHTS),
    ("cam_weighted_sum", CAM_WEIGHTED_SUM),
    ("cam_normalize", CAM_NORMALIZE),
    ("cam_upsample", CAM_UPSAMPLE),
    ("cam_overlay", CAM_OVERLAY),
    ("eigencam", EIGENCAM),
    ("aug_mean", AUG_MEAN),
    ("scorecam_mask", SCORECAM_MASK),
    ("scorecam_softmax", SCORECAM_SOFTMAX),
    ("sobel", SOBEL),
    ("metric_perturb", METRIC_PERTURB),
    ("metric_score", METRIC_SCORE),
    ("metric_blur", METRIC_BLUR),
    ("metric_road", METRIC_ROAD),
];

/// Invocations per workgroup of the entry points that cover a flat range of items, one
/// invocation per item: the shaders declare `@workgroup_size(64)`, and the stage sizes those
/// dispatches with this constant (`tests/shaders.rs` holds the two together).
pub const WORKGROUP_1D: usize = 64;

/// Invocations per workgroup of the reductions that give one workgroup to each map, image or
/// (image, target) pair. Their dispatches count maps, not invocations; the number matters to
/// the shaders' own strides and workgroup arrays.
pub const WORKGROUP_REDUCE: usize = 256;

/// Every entry point the CAM stage creates a pipeline for, and the workgroup size its dispatch
/// assumes: `(shader name in ALL, entry point, invocations along x)`; y and z are 1.
pub const ENTRY_POINTS: &[(&str, &str, usize)] = &[
    ("cam_targets", "main", WORKGROUP_1D),
    ("cam_targets", "class_vector", WORKGROUP_1D),
    ("cam_weights", "main", WORKGROUP_1D),
    ("cam_weights", "image_min", WORKGROUP_REDUCE),
    ("cam_weighted_sum", "main", WORKGROUP_1D),
    ("cam_normalize", "main", WORKGROUP_REDUCE),
    ("cam_upsample", "main", WORKGROUP_1D),
    ("cam_overlay", "blend", WORKGROUP_1D),
    ("cam_overlay", "finish", WORKGROUP_1D),
    ("eigencam", "gram_entry", WORKGROUP_1D),
    ("eigencam", "power", WORKGROUP_REDUCE),
    ("aug_mean", "main", WORKGROUP_1D),
    ("scorecam_mask", "range", WORKGROUP_1D),
    ("scorecam_mask", "mask", WORKGROUP_1D),
    ("scorecam_softmax", "gather", WORKGROUP_1D),
    ("scorecam_softmax", "softmax", WORKGROUP_REDUCE),
    ("sobel", "main", WORKGROUP_1D),
    ("metric_perturb", "assemble", WORKGROUP_1D),
    ("metric_score", "score", WORKGROUP_1D),
    ("metric_blur", "blur", WORKGROUP_1D),
    ("metric_road", "init", WORKGROUP_1D),
    ("metric_road", "coarsen", WORKGROUP_1D),
    ("metric_road", "prolong", WORKGROUP_1D),
    ("metric_road", "sweep", WORKGROUP_1D),
    ("metric_road", "residual", WORKGROUP_1D),
    ("metric_road", "noise", WORKGROUP_1D),
];
