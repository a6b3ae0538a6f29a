//! The CAM stage: class activation maps computed on the GPU from the layer4 maps that
//! `shadercam-kernels` leaves there, plus [`Explainer`], which runs image tensor → network →
//! map → overlay in one submit.
//!
//! `CAM_c(x, y) = Σ_k w^c_k · f_k(x, y)` (Zhou et al., "Learning Deep Features for
//! Discriminative Localization", CVPR 2016). For a network that ends in global average pooling
//! and one linear layer, Grad-CAM (Selvaraju et al. 2017) is this map divided by `h·w`, and the
//! other gradient methods of pytorch-grad-cam have closed forms too: docs/cam-math.md derives
//! each one and points at the shader code (a named anchor) that computes it.

//! Layout: [`Explainer`] (`explain.rs`) owns the network and the [`CamStage`] (`stage/`: one
//! planner per method family) and runs both in one submit; `inputs.rs`, `report.rs`, `draw.rs`
//! and `eval.rs` are the CLI's work as a library (finding and loading images, the per-image
//! report, the pictures, `eval`'s scores); `post.rs` maps a finished heatmap back to the
//! picture. Every item is exported here at the root; the public modules are [`profile`]
//! (timing), [`shaders`] (the WGSL sources and workgroup sizes) and [`uniforms`] (the Rust
//! mirrors of the shaders' uniform structs).

mod draw;
mod eval;
mod explain;
mod figure;
mod inputs;
pub mod metrics;
mod post;
pub mod profile;
mod report;
pub mod shaders;
mod stage;
pub mod uniforms;

pub use draw::{MAX_OVERLAY_SIDE, jet, jet_table, maps_grid, rgba_to_image};
pub use eval::{EvalSummary, pointing_hit};
pub use explain::{ExplainOptions, Explainer, Explanation, OriginalView, StageMaps};
pub use figure::{ColourScale, gallery, stage_picture};
pub use inputs::{LoadedImage, collect_inputs, load_image, load_rgb, prefetch};
pub use post::{
    cam_box, crop_box_to_original, crop_pixel_to_original, iou, original_placement, peak,
};
pub use profile::DispatchRow;
pub use report::{
    BOX_THRESHOLD, ChannelContribution, ImageReport, Prediction, channel_contributions,
    predictions, predictions_json, ranking, softmax, top_channels,
};
pub use stage::{CamPlan, CamStage, Normalisation, OriginalOverlay, SCALE_EPS, numpy_uniform};

use shadercam_kernels::GpuError;

/// The CAM variants, with pytorch-grad-cam's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The raw class activation map (signed; min-max scaled, no ReLU).
    Cam,
    GradCam,
    HiResCam,
    XGradCam,
    GradCamPlusPlus,
    LayerCam,
    EigenCam,
    ScoreCam,
    AblationCam,
    EigenGradCam,
    GradCamElementWise,
    FinerCam,
    KpcaCam,
    ShapleyCam,
    Fem,
    SobelCam,
    RandomCam,
}

impl Method {
    pub const ALL: [Method; 17] = [
        Method::Cam,
        Method::GradCam,
        Method::HiResCam,
        Method::XGradCam,
        Method::GradCamPlusPlus,
        Method::LayerCam,
        Method::EigenCam,
        Method::ScoreCam,
        Method::AblationCam,
        Method::EigenGradCam,
        Method::GradCamElementWise,
        Method::FinerCam,
        Method::KpcaCam,
        Method::ShapleyCam,
        Method::Fem,
        Method::SobelCam,
        Method::RandomCam,
    ];

    /// The CLI name (`--method`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Cam => "cam",
            Method::GradCam => "gradcam",
            Method::HiResCam => "hirescam",
            Method::XGradCam => "xgradcam",
            Method::GradCamPlusPlus => "gradcam++",
            Method::LayerCam => "layercam",
            Method::EigenCam => "eigencam",
            Method::ScoreCam => "scorecam",
            Method::AblationCam => "ablationcam",
            Method::EigenGradCam => "eigengradcam",
            Method::GradCamElementWise => "gradcamelementwise",
            Method::FinerCam => "finercam",
            Method::KpcaCam => "kpcacam",
            Method::ShapleyCam => "shapleycam",
            Method::Fem => "fem",
            Method::SobelCam => "sobelcam",
            Method::RandomCam => "randomcam",
        }
    }

    /// Whether the CAM stage computes this method yet (the others are refused with
    /// [`CamError::Options`]; `--method all` leaves them out).
    pub fn implemented(self) -> bool {
        // Every variant is computed now (EigenGradCAM and KPCA-CAM: stage/eigen.rs).
        let _ = self;
        true
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_lowercase().replace(['-', '_'], "");
        Self::ALL.into_iter().find(|m| {
            m.name().replace('-', "") == s || (s == "gradcampp" && *m == Method::GradCamPlusPlus)
        })
    }

    /// The `method` code of shaders/cam_weights.wgsl (the methods whose weights it computes).
    pub(crate) fn weight_code(self) -> u32 {
        match self {
            Method::Cam => 0,
            Method::GradCam => 1,
            Method::HiResCam => 2,
            Method::XGradCam => 3,
            Method::GradCamPlusPlus => 4,
            Method::LayerCam => 5,
            Method::GradCamElementWise => 6,
            Method::AblationCam => 7,
            Method::FinerCam | Method::ShapleyCam => 8,
            Method::Fem => 9,
            _ => u32::MAX,
        }
    }

    /// pytorch-grad-cam applies ReLU before scaling for every method; the raw CAM keeps its sign.
    pub(crate) fn relu(self) -> bool {
        self != Method::Cam
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which classes to explain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    /// The `k` highest-scoring classes of each image, best first (top-1 by default).
    TopK(usize),
    /// The same classes for every image.
    Fixed(Vec<usize>),
}

impl Targets {
    pub fn count(&self) -> usize {
        match self {
            Targets::TopK(k) => *k,
            Targets::Fixed(v) => v.len(),
        }
    }
}

/// Failures of the CAM stage.
#[derive(Debug, thiserror::Error)]
pub enum CamError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("{0}")]
    Options(String),
}
