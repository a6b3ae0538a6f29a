//! The Rust mirrors of the CAM shaders' uniform structs: `#[repr(C)]` + bytemuck `Pod`, same
//! name, field order and field types as the WGSL struct, explicit `_pad` fields where WGSL's
//! layout leaves a gap (every struct is a multiple of 16 bytes, as a uniform binding needs).
//!
//! Each struct also describes itself as a [`Mirror`] (its size and each field's name, type and
//! `offset_of!`), listed in [`ALL`]; this crate's `tests/shaders.rs` compares those with the
//! WGSL declarations read by naga, so a field changed on one side only fails a test.

/// How Rust lays out one uniform struct, to compare with the WGSL struct of the same name.
#[derive(Clone, Copy, Debug)]
pub struct Mirror {
    /// The struct's name, the same in Rust and WGSL.
    pub name: &'static str,
    /// `size_of` the Rust struct.
    pub size: usize,
    /// Each field in declaration order: name, Rust type as written (`u32`, `[f32; 4]`) and
    /// `offset_of!`.
    pub fields: &'static [(&'static str, &'static str, usize)],
}

/// Declares a uniform struct and its [`Mirror`] (`$name::MIRROR`) from one field list.
macro_rules! params {
    ($(#[$doc:meta])* $name:ident { $($f:ident : $t:ty),* $(,)? }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name { $(pub $f: $t),* }

        impl $name {
            /// This struct's layout, for the test that holds it to the WGSL.
            pub const MIRROR: Mirror = Mirror {
                name: stringify!($name),
                size: std::mem::size_of::<$name>(),
                fields: &[$((stringify!($f), stringify!($t), std::mem::offset_of!($name, $f))),*],
            };
        }
    };
}

/// Every uniform struct of the CAM shaders.
pub const ALL: &[Mirror] = &[
    TargetParams::MIRROR,
    WeightParams::MIRROR,
    SumParams::MIRROR,
    NormParams::MIRROR,
    UpParams::MIRROR,
    OverlayParams::MIRROR,
    EigenParams::MIRROR,
    AugParams::MIRROR,
    MaskParams::MIRROR,
    SoftmaxParams::MIRROR,
    SobelParams::MIRROR,
    PerturbParams::MIRROR,
    ScoreParams::MIRROR,
    BlurParams::MIRROR,
    RoadParams::MIRROR,
];

params!(
    /// `TargetParams` of shaders/cam_targets.wgsl: top-k (or fixed) target classes per image.
    TargetParams {
        batch: u32,
        classes: u32,
        k: u32,
        fixed: u32,
        mode: u32,
        comparisons: u32,
        _pad0: u32,
        _pad1: u32
    }
);
params!(
    /// `WeightParams` of shaders/cam_weights.wgsl: the closed-form channel weights α.
    WeightParams {
        batch: u32,
        targets: u32,
        hw: u32,
        c4: u32,
        method: u32,
        total: u32,
        classes: u32,
        _pad0: u32
    }
);
params!(
    /// `SumParams` of shaders/cam_weighted_sum.wgsl: `Σ_k α_k A_k` per map pixel.
    SumParams {
        batch: u32,
        targets: u32,
        hw: u32,
        c4: u32,
        total: u32,
        clamp: u32,
        _pad1: u32,
        _pad2: u32
    }
);
params!(
    /// `NormParams` of shaders/cam_normalize.wgsl: ReLU + min-max of whole maps.
    NormParams {
        maps: u32,
        len: u32,
        relu: u32,
        eps: f32
    }
);
params!(
    /// `UpParams` of shaders/cam_upsample.wgsl: bilinear resampling with a per-axis
    /// `src = dst·scale + offset` placement.
    UpParams {
        maps: u32,
        src_h: u32,
        src_w: u32,
        dst_h: u32,
        dst_w: u32,
        src_base: u32,
        total: u32,
        _pad: u32,
        scale_x: f32,
        offset_x: f32,
        scale_y: f32,
        offset_y: f32,
    }
);
params!(
    /// `OverlayParams` of shaders/cam_overlay.wgsl: JET heat blended over the crop (mode 0)
    /// or over the original picture (mode 1).
    OverlayParams {
        maps: u32,
        h: u32,
        w: u32,
        mode: u32,
        targets: u32,
        map_base: u32,
        dim: f32,
        _pad: u32,
        mean: [f32; 4],
        stdev: [f32; 4],
        rect: [u32; 4],
    }
);
params!(
    /// `EigenParams` of shaders/eigencam.wgsl: Gram matrix (plain, column-scaled or clamped) and
    /// power iteration (linear or sigmoid kernel).
    EigenParams {
        batch: u32,
        hw: u32,
        c4: u32,
        targets: u32,
        iters: u32,
        rows: u32,
        kernel: u32,
        gamma: f32
    }
);
params!(
    /// `AugParams` of shaders/aug_mean.wgsl: the mean of the de-augmented heatmaps (aug_smooth).
    AugParams {
        images: u32,
        targets: u32,
        h: u32,
        w: u32,
        copies: u32,
        flips: u32,
        total: u32,
        _pad: u32
    }
);
params!(
    /// `MaskParams` of shaders/scorecam_mask.wgsl: one chunk of Score-CAM's masked inputs.
    MaskParams {
        h: u32,
        w: u32,
        fh: u32,
        fw: u32,
        c4: u32,
        image: u32,
        k0: u32,
        count: u32
    }
);
params!(
    /// `SoftmaxParams` of shaders/scorecam_softmax.wgsl: gathering the masked scores and their
    /// softmax over the channels.
    SoftmaxParams {
        targets: u32,
        classes: u32,
        maps: u32,
        image: u32,
        k0: u32,
        count: u32,
        pairs: u32,
        _pad: u32
    }
);
params!(
    /// `SobelParams` of shaders/sobel.wgsl: SobelCAM's gradient magnitude of the uint8 crop
    /// rebuilt from the normalised input (`x·stdev + mean`).
    SobelParams {
        batch: u32,
        h: u32,
        w: u32,
        targets: u32,
        total: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
        mean: [f32; 4],
        stdev: [f32; 4],
    }
);

params!(
    /// `PerturbParams` of shaders/metric_perturb.wgsl: one chunk of the metrics' job table
    /// (perturbed inputs written into a forward plan's input buffer).
    PerturbParams {
        hw: u32,
        count: u32,
        job0: u32,
        _pad: u32,
    }
);

params!(
    /// `ScoreParams` of shaders/metric_score.wgsl: each job's target score (logit or softmax
    /// probability) gathered from the chunk's logits.
    ScoreParams {
        classes: u32,
        count: u32,
        job0: u32,
        softmax: u32,
    }
);

params!(
    /// `BlurParams` of shaders/metric_blur.wgsl: RISE's insertion substrate (Gaussian blur).
    BlurParams {
        h: u32,
        w: u32,
        images: u32,
        klen: u32,
    }
);

params!(
    /// `RoadParams` of shaders/metric_road.wgsl: ROAD's noisy linear imputation (four-colour
    /// SOR sweeps, coarse-to-fine start, noise).
    RoadParams {
        h: u32,
        w: u32,
        systems: u32,
        colour: u32,
        omega: f32,
        noise: f32,
        seed: u32,
        fine_h: u32,
        fine_w: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
);
