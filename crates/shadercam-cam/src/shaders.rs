//! The CAM stage's WGSL kernels, by name (sources in the workspace's `shaders/`).

pub const CAM_TARGETS: &str = include_str!("../../../shaders/cam_targets.wgsl");
pub const CAM_WEIGHTS: &str = include_str!("../../../shaders/cam_weights.wgsl");
pub const CAM_WEIGHTED_SUM: &str = include_str!("../../../shaders/cam_weighted_sum.wgsl");
pub const CAM_NORMALIZE: &str = include_str!("../../../shaders/cam_normalize.wgsl");
pub const CAM_UPSAMPLE: &str = include_str!("../../../shaders/cam_upsample.wgsl");
pub const CAM_OVERLAY: &str = include_str!("../../../shaders/cam_overlay.wgsl");
pub const EIGENCAM: &str = include_str!("../../../shaders/eigencam.wgsl");
pub const SCORECAM_MASK: &str = include_str!("../../../shaders/scorecam_mask.wgsl");
pub const SCORECAM_SOFTMAX: &str = include_str!("../../../shaders/scorecam_softmax.wgsl");

/// `(name, source)` of every kernel in this crate, for validation tests and tools.
pub const ALL: &[(&str, &str)] = &[
    ("cam_targets", CAM_TARGETS),
    ("cam_weights", CAM_WEIGHTS),
    ("cam_weighted_sum", CAM_WEIGHTED_SUM),
    ("cam_normalize", CAM_NORMALIZE),
    ("cam_upsample", CAM_UPSAMPLE),
    ("cam_overlay", CAM_OVERLAY),
    ("eigencam", EIGENCAM),
    ("scorecam_mask", SCORECAM_MASK),
    ("scorecam_softmax", SCORECAM_SOFTMAX),
];
