//! `shadercam`: where did the classifier look? A thin command line over the library crates:
//! argument parsing, progress, printing and writing files. Exit codes: 0 all good, 1 some input
//! failed (the others still produced their outputs), 2 usage error.

mod bench;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shadercam_cam::pipeline::{
    EvalSummary, ImageReport, LoadedImage, collect_inputs, maps_grid, predictions,
    predictions_json, prefetch, rgba_to_image, top_channels,
};
use shadercam_cam::{ExplainOptions, Explainer, Method, Targets};
use shadercam_image::{DEFAULT_MAX_PIXELS, Preprocess, write_npy_f32_atomic, write_png_atomic};
use shadercam_kernels::GpuContext;
use shadercam_kernels::kernels::Precision;
use shadercam_loader::ResNet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the first Ctrl-C: the run stops between images (every file already written is whole,
/// none is half-written) and exits 130. A second Ctrl-C exits at once.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

#[derive(Parser)]
#[command(
    name = "shadercam",
    version,
    about = "Where did the classifier look? ResNet inference and class activation maps in WGSL on any GPU."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify images and draw where the model looked (CAM / Grad-CAM heatmaps).
    Explain(ExplainArgs),
    /// Predictions only (no maps).
    Classify(ClassifyArgs),
    /// Top-1 accuracy, pointing game and box IoU on a labels.json (the fixtures' format).
    Eval(EvalArgs),
    /// Time forward + CAM on this GPU (median per batch, images/s).
    Bench(bench::BenchArgs),
    /// Per-kernel GPU times (timestamp queries where the adapter has them).
    Profile(bench::ProfileArgs),
}

#[derive(Args, Clone)]
pub(crate) struct ModelArgs {
    /// Checkpoint (.safetensors). Default: $SHADERCAM_WEIGHTS, else the repository's
    /// weights/resnet50-shapes.safetensors.
    #[arg(long, value_name = "PATH")]
    pub(crate) weights: Option<PathBuf>,
    /// Shorter side after resizing (default: the checkpoint's preprocess metadata, else 256).
    #[arg(long, value_name = "PX")]
    resize: Option<u32>,
    /// Centre-crop size fed to the network (default: metadata, else 224).
    #[arg(long, value_name = "PX")]
    crop: Option<u32>,
    /// Images per GPU batch (default: chosen for the adapter and its limits).
    #[arg(long, value_name = "N")]
    pub(crate) batch: Option<usize>,
    /// Refuse images with more pixels than this (decompression-bomb guard, like Pillow's).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    /// Convolution weight storage: f32 (reference) or f16 (half the weight memory and
    /// bandwidth; arithmetic stays f32; see README for the measured tolerance).
    #[arg(long, default_value = "f32", value_parser = parse_precision)]
    pub(crate) precision: Precision,
    /// Turn pictures upright by their EXIF orientation tag first (torchvision, and so the
    /// reference maps, ignore the tag: off by default).
    #[arg(long)]
    exif: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_precision(s: &str) -> Result<Precision, String> {
    match s {
        "f32" => Ok(Precision::F32),
        "f16" => Ok(Precision::F16),
        _ => Err(format!("unknown precision {s:?}; choose f32 or f16")),
    }
}

#[derive(Args)]
struct ExplainArgs {
    /// Image files or directories (searched recursively for images).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// cam, gradcam, hirescam, xgradcam, gradcam++, layercam, eigencam, scorecam.
    #[arg(long, default_value = "gradcam", value_parser = parse_method)]
    method: Method,
    /// Explain this class index instead of the top prediction (repeat for several).
    #[arg(long, value_name = "CLASS", conflicts_with = "top_k")]
    target: Vec<usize>,
    /// Explain the K best classes, one map each (one dispatch).
    #[arg(long, value_name = "K")]
    top_k: Option<usize>,
    /// Where the pictures go.
    #[arg(long, value_name = "DIR", default_value = "shadercam-out")]
    out_dir: PathBuf,
    /// One JSON object per image on stdout.
    #[arg(long)]
    json: bool,
    /// Also write <stem>.heatmap.npy (f32 [crop, crop], the normalised map).
    #[arg(long)]
    save_heatmap: bool,
    /// Also write <stem>.maps.png: the N layer4 maps that contribute most to the target.
    #[arg(long, value_name = "N")]
    maps: Option<usize>,
}

#[derive(Args)]
struct ClassifyArgs {
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Predictions listed per image.
    #[arg(long, value_name = "K", default_value_t = 5)]
    top_k: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// labels.json with {"images": {name: {file, class_index, box, ...}}}; images are looked up
    /// in the `images/` folder next to it.
    labels: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, default_value = "gradcam", value_parser = parse_method)]
    method: Method,
    #[arg(long)]
    json: bool,
}

pub(crate) fn parse_method(s: &str) -> Result<Method, String> {
    Method::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        format!("unknown method {s:?}; choose one of {}", all.join(", "))
    })
}

/// A usage error: printed, exit code 2.
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);
impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Usage {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupted: finishing the current image, then stopping (Ctrl-C again to quit now)"
        );
    });
    let result = match cli.command {
        Command::Explain(a) => explain(a),
        Command::Classify(a) => classify(a),
        Command::Eval(a) => eval(a),
        Command::Bench(a) => bench::bench(a).map(|()| true),
        Command::Profile(a) => bench::profile(a).map(|()| true),
    };
    match result {
        _ if interrupted() => ExitCode::from(130),
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// The checkpoint to use: `--weights`, `$SHADERCAM_WEIGHTS`, or the repository's default
/// found next to the executable's workspace (target/<profile>/shadercam → ../../weights).
pub(crate) fn weights_path(flag: &Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag {
        return p.clone();
    }
    if let Some(p) = std::env::var_os("SHADERCAM_WEIGHTS") {
        return PathBuf::from(p);
    }
    const REL: &str = "weights/resnet50-shapes.safetensors";
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            let p = up.join(REL);
            if p.is_file() {
                return p;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(REL)
}

/// Loads the checkpoint and creates the GPU pipelines.
pub(crate) fn load(m: &ModelArgs) -> Result<(Explainer, Preprocess, usize)> {
    let path = weights_path(&m.weights);
    let model = ResNet::load(&path).with_context(
        || "loading the checkpoint (choose one with --weights or SHADERCAM_WEIGHTS)",
    )?;
    let p = &model.preprocess;
    let pre = Preprocess {
        resize_size: m.resize.unwrap_or(p.resize_size),
        crop_size: m.crop.unwrap_or(p.crop_size),
        mean: p.mean,
        std: p.std,
    };
    if pre.crop_size < 32 || pre.crop_size > 1024 {
        bail!(Usage(format!(
            "--crop {} is outside 32..=1024",
            pre.crop_size
        )));
    }
    if pre.resize_size < pre.crop_size {
        bail!(Usage(format!(
            "--resize {} is smaller than --crop {}",
            pre.resize_size, pre.crop_size
        )));
    }
    let ctx = GpuContext::new()?;
    let ex = Explainer::with_precision(ctx, model, m.precision)?;
    let max = ex.max_batch(pre.crop_size as usize);
    let default = if ex.ctx.is_cpu() { 4 } else { 32 };
    let batch = m.batch.unwrap_or(default).clamp(1, max);
    if m.batch == Some(0) {
        bail!(Usage("--batch must be at least 1".into()));
    }
    Ok((ex, pre, batch))
}

fn progress(n: usize, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::new(n as u64);
    if quiet || !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Prints a failed input's record (JSON or a stderr line).
fn report_error(pb: &ProgressBar, json: bool, image: &str, msg: &str) {
    pb.suspend(|| {
        if json {
            println!("{}", serde_json::json!({"image": image, "error": msg}));
        }
        eprintln!("error: {msg}");
    });
}

/// Creates `dir` and proves it is writable, before any GPU work.
fn prepare_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!(Usage(format!(
            "--out-dir {}: exists and is not a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--out-dir {}: cannot create directory", dir.display()))?;
    let probe = dir.join(format!(".shadercam-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("--out-dir {}: directory is not writable", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into())
}

/// The images of one prefetched batch that loaded; failures are reported and counted.
fn keep_loaded(
    batch: Vec<(PathBuf, Result<LoadedImage, shadercam_image::ImageError>)>,
    pb: &ProgressBar,
    json: bool,
    failed: &mut usize,
) -> Vec<LoadedImage> {
    let mut good = Vec::new();
    for (p, r) in batch {
        match r {
            Ok(img) => good.push(img),
            Err(e) => {
                *failed += 1;
                report_error(pb, json, &p.display().to_string(), &e.to_string());
                pb.inc(1);
            }
        }
    }
    good
}

/// What `explain` and `classify` share: input errors reported up front, batches decoded one
/// ahead on a background thread, Ctrl-C checked between batches, a failed GPU batch reported
/// image by image, the counts and the closing summary.
struct Run {
    pb: ProgressBar,
    json: bool,
    ok: usize,
    failed: usize,
    total: usize,
}

impl Run {
    fn new(files: &[PathBuf], input_errors: &[(PathBuf, String)], json: bool, quiet: bool) -> Self {
        let mut run = Self {
            pb: progress(files.len(), quiet),
            json,
            ok: 0,
            failed: 0,
            total: files.len() + input_errors.len(),
        };
        for (p, msg) in input_errors {
            run.error(&p.display().to_string(), msg);
        }
        run
    }

    /// Counts and reports one failed input.
    fn error(&mut self, image: &str, msg: &str) {
        self.failed += 1;
        report_error(&self.pb, self.json, image, msg);
    }

    /// Calls `each` with every batch's loaded images and their stacked HWC tensors.
    fn batches(
        &mut self,
        files: &[PathBuf],
        batch: usize,
        pre: &Preprocess,
        m: &ModelArgs,
        mut each: impl FnMut(&mut Self, &[LoadedImage], &[f32]),
    ) {
        for loaded in prefetch(files.to_vec(), batch, pre.clone(), m.max_pixels, m.exif) {
            if interrupted() {
                break;
            }
            let imgs = keep_loaded(loaded, &self.pb, self.json, &mut self.failed);
            if imgs.is_empty() {
                continue;
            }
            let tensors: Vec<f32> = imgs.iter().flat_map(|i| i.tensor.iter().copied()).collect();
            each(self, &imgs, &tensors);
        }
    }

    /// A GPU failure loses only this batch: each of its images is reported as failed, the
    /// images of earlier batches keep their outputs, and the run goes on with the next batch.
    fn fail_batch(&mut self, imgs: &[LoadedImage], e: &dyn std::fmt::Display) {
        for img in imgs {
            let name = img.path.display().to_string();
            self.error(&name, &format!("{name}: {e}"));
            self.pb.inc(1);
        }
    }

    /// Prints a line (or JSON record) without tearing the progress bar.
    fn print(&self, line: impl FnOnce()) {
        self.pb.suspend(line);
    }

    /// The closing line on stderr; true when nothing failed.
    fn finish(self) -> bool {
        self.pb.finish_and_clear();
        if interrupted() {
            eprintln!(
                "interrupted: {} ok, {} failed, {} not processed",
                self.ok,
                self.failed,
                self.total.saturating_sub(self.ok + self.failed)
            );
        } else {
            eprintln!("{} ok, {} failed", self.ok, self.failed);
        }
        self.failed == 0
    }
}

fn explain(a: ExplainArgs) -> Result<bool> {
    if a.top_k == Some(0) {
        bail!(Usage("--top-k must be at least 1".into()));
    }
    if a.maps == Some(0) {
        bail!(Usage("--maps must be at least 1".into()));
    }
    prepare_out_dir(&a.out_dir)?;
    let (files, input_errors) = collect_inputs(&a.inputs);
    let (mut ex, pre, batch) = load(&a.model)?;
    let classes = ex.model.classes.clone();
    if let Some(bad) = a.target.iter().find(|&&t| t >= classes.len()) {
        bail!(Usage(format!(
            "--target {bad} is outside the model's {} classes (0..={})",
            classes.len(),
            classes.len() - 1
        )));
    }
    if let Some(k) = a.top_k.filter(|&k| k > classes.len()) {
        bail!(Usage(format!(
            "--top-k {k} exceeds the model's {} classes",
            classes.len()
        )));
    }
    let targets = if a.target.is_empty() {
        Targets::TopK(a.top_k.unwrap_or(1))
    } else {
        Targets::Fixed(a.target.clone())
    };
    let opts = ExplainOptions {
        method: a.method,
        targets,
        keep_features: a.maps.is_some(),
    };
    let crop = pre.crop_size as usize;
    let mut run = Run::new(&files, &input_errors, a.json, a.model.quiet);
    let mut used_stems = std::collections::HashSet::new();
    run.batches(&files, batch, &pre, &a.model, |run, imgs, tensors| {
        let views: Vec<_> = imgs.iter().map(|i| Some(i.view.clone())).collect();
        let results = match ex.explain(tensors, crop, &views, &opts) {
            Ok(r) => r,
            Err(e) => return run.fail_batch(imgs, &e),
        };
        for (img, e) in imgs.iter().zip(&results) {
            if interrupted() {
                break;
            }
            let name = img.path.display().to_string();
            let report = ImageReport::new(
                &name,
                img,
                e,
                a.method,
                &classes,
                a.top_k.unwrap_or(1).max(5),
            );
            match write_outputs(&a, img, e, &ex, &mut used_stems) {
                Ok(written) => {
                    run.ok += 1;
                    run.print(|| {
                        if a.json {
                            println!("{}", report.to_json(true));
                        } else {
                            let (c, label, score, _) = &report.predictions[0];
                            println!(
                                "{name}: {label} (class {c}, {score:.3}) -> {}",
                                written.display()
                            );
                        }
                    });
                }
                Err(err) => run.error(&name, &format!("{err:#}")),
            }
            run.pb.inc(1);
        }
    });
    Ok(run.finish())
}

/// Writes one image's pictures; returns the main one's path.
fn write_outputs(
    a: &ExplainArgs,
    img: &LoadedImage,
    e: &shadercam_cam::Explanation,
    ex: &Explainer,
    used: &mut std::collections::HashSet<String>,
) -> Result<PathBuf> {
    // Two inputs with the same file stem (a/x.png, b/x.jpg) must not overwrite each other.
    let base = stem(&img.path);
    let s = (0..)
        .map(|i| {
            if i == 0 {
                base.clone()
            } else {
                format!("{base}-{i}")
            }
        })
        .find(|s| !used.contains(s))
        .expect("some suffix is free");
    let mut written = Vec::new();
    let result = write_files(a, img, e, ex, &s, &mut written);
    if result.is_err() {
        // No output for a failed input: remove what this image already wrote.
        for p in &written {
            let _ = std::fs::remove_file(p);
        }
    } else {
        used.insert(s);
    }
    result
}

fn write_files(
    a: &ExplainArgs,
    img: &LoadedImage,
    e: &shadercam_cam::Explanation,
    ex: &Explainer,
    s: &str,
    written: &mut Vec<PathBuf>,
) -> Result<PathBuf> {
    let crop = e.crop;
    let mut png = |path: PathBuf, pic: &image::RgbImage| -> Result<PathBuf> {
        write_png_atomic(&path, pic)?;
        written.push(path.clone());
        Ok(path)
    };
    let mut main = PathBuf::new();
    for (t, ov) in e.overlays.iter().enumerate() {
        let name = if t == 0 {
            format!("{s}.cam.png")
        } else {
            format!("{s}.class{}.cam.png", e.targets[t])
        };
        let p = png(a.out_dir.join(name), &rgba_to_image(ov, crop, crop))?;
        if t == 0 {
            main = p;
        }
    }
    if let Some(ov) = &e.original_overlay {
        png(
            a.out_dir.join(format!("{s}.overlay.png")),
            &rgba_to_image(ov, img.view.width, img.view.height),
        )?;
    }
    if let (Some(n), Some(f)) = (a.maps, &e.features) {
        let k = ex.model.num_features;
        let c = e.targets[0];
        let chans = top_channels(
            f,
            e.map_size.0 * e.map_size.1,
            &ex.model.fc_weight[c * k..(c + 1) * k],
            n.min(k),
        );
        png(
            a.out_dir.join(format!("{s}.maps.png")),
            &maps_grid(f, e.map_size, &chans),
        )?;
    }
    if a.save_heatmap {
        let p = a.out_dir.join(format!("{s}.heatmap.npy"));
        write_npy_f32_atomic(&p, &[crop, crop], &e.heatmaps[0])?;
        written.push(p);
    }
    Ok(main)
}

fn classify(a: ClassifyArgs) -> Result<bool> {
    if a.top_k == 0 {
        bail!(Usage("--top-k must be at least 1".into()));
    }
    let (files, input_errors) = collect_inputs(&a.inputs);
    let (mut ex, pre, batch) = load(&a.model)?;
    let classes = ex.model.classes.clone();
    let crop = pre.crop_size as usize;
    let mut run = Run::new(&files, &input_errors, a.json, a.model.quiet);
    run.batches(&files, batch, &pre, &a.model, |run, imgs, tensors| {
        let all = match ex.classify(tensors, crop) {
            Ok(all) => all,
            Err(e) => return run.fail_batch(imgs, &e),
        };
        for (img, logits) in imgs.iter().zip(all) {
            run.ok += 1;
            let preds = predictions(&logits, &classes, a.top_k);
            run.print(|| {
                if a.json {
                    println!(
                        "{}",
                        predictions_json(
                            &img.path.display().to_string(),
                            (img.width, img.height),
                            &preds,
                            &logits
                        )
                    );
                } else {
                    let (c, label, score, _) = &preds[0];
                    println!("{}: {label} (class {c}, {score:.3})", img.path.display());
                }
            });
            run.pb.inc(1);
        }
    });
    Ok(run.finish())
}

fn eval(a: EvalArgs) -> Result<bool> {
    let text = std::fs::read_to_string(&a.labels)
        .with_context(|| format!("{}: cannot read labels", a.labels.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", a.labels.display()))?;
    let Some(images) = v["images"].as_object() else {
        bail!(Usage(format!(
            "{}: no \"images\" object (expected the fixtures' labels.json format)",
            a.labels.display()
        )));
    };
    let dir = a.labels.parent().unwrap_or(Path::new(".")).join("images");
    let (mut ex, pre, batch) = load(&a.model)?;
    let classes = ex.model.classes.clone();
    let mut names: Vec<&String> = images.keys().collect();
    names.sort();
    let pb = progress(names.len(), a.model.quiet);
    let mut summary = EvalSummary::default();
    let mut failed = 0usize;
    let opts = ExplainOptions {
        method: a.method,
        ..Default::default()
    };
    let paths: Vec<PathBuf> = names
        .iter()
        .map(|n| dir.join(images[*n]["file"].as_str().unwrap_or(n.as_str())))
        .collect();
    for (chunk, loaded) in names.chunks(batch).zip(prefetch(
        paths.clone(),
        batch,
        pre.clone(),
        a.model.max_pixels,
        a.model.exif,
    )) {
        let paths: Vec<PathBuf> = loaded.iter().map(|(p, _)| p.clone()).collect();
        let imgs = keep_loaded(loaded, &pb, a.json, &mut failed);
        if imgs.is_empty() {
            continue;
        }
        let tensors: Vec<f32> = imgs.iter().flat_map(|i| i.tensor.iter().copied()).collect();
        let results = ex.explain(&tensors, pre.crop_size as usize, &[], &opts)?;
        for (img, e) in imgs.iter().zip(&results) {
            let name = chunk[paths
                .iter()
                .position(|p| p == &img.path)
                .expect("path from this chunk")];
            let label = &images[name];
            let r = ImageReport::new(name, img, e, a.method, &classes, 1);
            let class = label["class_index"].as_u64().map(|c| c as usize);
            let gt = label["box"].as_array().and_then(|b| {
                let f: Vec<f32> = b
                    .iter()
                    .filter_map(|x| x.as_f64().map(|x| x as f32))
                    .collect();
                (f.len() == 4).then(|| [f[0], f[1], f[2], f[3]])
            });
            summary.add(&r, class, gt);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    let s = summary.to_json();
    if a.json {
        println!("{s}");
    } else {
        let pct = |k: &str| {
            s[k].as_f64()
                .map_or("n/a".into(), |v| format!("{:.1}%", v * 100.0))
        };
        println!(
            "{} images: top-1 {} ({} labelled), pointing game {} and box IoU>=0.5 {} ({} boxes), method {}",
            summary.images,
            pct("top1_accuracy"),
            summary.labelled,
            pct("pointing_game"),
            pct("iou50"),
            summary.boxed,
            a.method
        );
    }
    Ok(failed == 0)
}
