//! `explain --dump-stages`: every stage between the layer4 maps and the heatmap, written as
//! `.npy` (to poke at in NumPy) and as a `.png` with its colour scale (docs/tutorial.md, "One
//! picture per stage"). The stages are the buffers the GPU computed, read back, not a CPU
//! re-computation: docs/cam-math.md section 4 says what each step does.

use anyhow::Result;
use shadercam_cam::{ColourScale, Explanation, Method, StageMaps, stage_picture};
use shadercam_image::{write_npy_f32_atomic, write_png_atomic};
use std::path::{Path, PathBuf};

/// One stage of one map: its file name part, picture title, shape, values and colours.
struct Stage<'a> {
    name: &'static str,
    title: String,
    shape: (usize, usize),
    values: &'a [f32],
    scale: ColourScale,
}

/// The four stages of target `t`'s map, in pytorch-grad-cam's order.
fn stages<'a>(e: &'a Explanation, s: &'a StageMaps, method: Method, t: usize) -> [Stage<'a>; 4] {
    let (fh, fw) = e.map_size;
    let crop = e.crop;
    // `--method cam` alone skips the ReLU (docs/cam-math.md, 3.1): say so in the titles.
    let relu = if method == Method::Cam { "" } else { "relu + " };
    [
        Stage {
            name: "stage1-raw",
            title: format!("1 raw {method} map (signed)"),
            shape: (fh, fw),
            values: &e.raw[t],
            scale: ColourScale::Signed,
        },
        Stage {
            name: "stage2-normalised",
            title: format!("2 {relu}min-max {fh}x{fw}"),
            shape: (fh, fw),
            values: &s.normalised[t],
            scale: ColourScale::Unit,
        },
        Stage {
            name: "stage3-upsampled",
            title: format!("3 upsampled {crop}x{crop}"),
            shape: (crop, crop),
            values: &s.upsampled[t],
            scale: ColourScale::Unit,
        },
        Stage {
            name: "stage4-heat",
            title: format!("4 heat = {relu}min-max"),
            shape: (crop, crop),
            values: &e.heatmaps[t],
            scale: ColourScale::Unit,
        },
    ]
}

/// Writes `<prefix>.stageN-NAME.npy` (f32, `[h, w]`) and `.png` for the first target's map
/// into `dir`; every path written goes into `written` (so a failure can remove them).
pub fn write_stages(
    dir: &Path,
    prefix: &str,
    e: &Explanation,
    s: &StageMaps,
    method: Method,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    for st in stages(e, s, method, 0) {
        let npy = dir.join(format!("{prefix}.{}.npy", st.name));
        write_npy_f32_atomic(&npy, &[st.shape.0, st.shape.1], st.values)?;
        written.push(npy);
        let png = dir.join(format!("{prefix}.{}.png", st.name));
        write_png_atomic(
            &png,
            &stage_picture(st.values, st.shape, &st.title, st.scale),
        )?;
        written.push(png);
    }
    Ok(())
}

/// The raw map of the first target as rows, for `--json` (`raw_map`).
pub fn raw_rows(e: &Explanation) -> Vec<Vec<f32>> {
    e.raw[0].chunks(e.map_size.1).map(<[f32]>::to_vec).collect()
}
