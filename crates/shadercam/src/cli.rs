//! Every flag of `shadercam`, as clap definitions. Values are checked here, while parsing: a
//! count of 0, an unknown `--method` or `--precision` is a usage error (exit 2) before any file
//! is read or any GPU work starts. Checks that need the checkpoint (`--target` against the
//! model's classes) stay with the commands.

use clap::builder::{PossibleValue, RangedU64ValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use shadercam_cam::Method;
use shadercam_image::DEFAULT_MAX_PIXELS;
use shadercam_kernels::Precision;
use std::ffi::OsStr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "shadercam",
    version,
    about = "Where did the classifier look? ResNet inference and class activation maps in WGSL on any GPU."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Classify images and draw where the model looked (CAM / Grad-CAM heatmaps).
    Explain(ExplainArgs),
    /// Predictions only (no maps).
    Classify(ClassifyArgs),
    /// Top-1 accuracy, pointing game and box IoU on a labels.json (the fixtures' format).
    Eval(EvalArgs),
    /// Time forward + CAM on this GPU (median per batch, images/s).
    Bench(BenchArgs),
    /// Per-kernel GPU times (timestamp queries where the adapter has them).
    Profile(ProfileArgs),
    /// The published ImageNet ResNets `--model` accepts: accuracy, size, preprocessing, source,
    /// and whether each is cached.
    Models(ModelsArgs),
    /// Check that shadercam computes correctly on this GPU and driver: every kernel against a
    /// CPU reference, the whole network against PyTorch. Exit 1 if any check fails.
    Selftest(SelftestArgs),
}

/// The value parser of counts that must be at least 1 (`--batch`, `--top-k`, `--maps`,
/// `--iters`): clap refuses 0 with a usage error that names the flag. The upper bound only keeps
/// the message readable ("0 is not in 1..=1000000" rather than "1..18446744073709551615").
fn at_least_one() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=1_000_000)
}

/// The options every command that runs the network shares: checkpoint, preprocessing, batch
/// size, weight precision, progress.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// Checkpoint: .safetensors, a PyTorch .pth/.pt/.bin (torch.save), or a Hugging Face download
    /// folder. Without it or --model: $SHADERCAM_WEIGHTS, else $SHADERCAM_MODEL, else the
    /// repository's weights/resnet50-shapes.safetensors.
    #[arg(long, value_name = "PATH", conflicts_with = "model")]
    pub weights: Option<PathBuf>,
    /// A published ImageNet ResNet (`shadercam models` lists them: resnet18, resnet34, resnet50,
    /// resnet101, resnet152, wide_resnet50_2, wide_resnet101_2, with .tv/.tv2 variants),
    /// downloaded once into the Hugging Face cache. Default: $SHADERCAM_MODEL.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Class names, one a line, for a checkpoint that has none (a .pth). Default: the
    /// checkpoint's, else ImageNet's for 1000 classes, else `class 0` .. `class N-1`.
    #[arg(long, value_name = "FILE")]
    pub classes: Option<PathBuf>,
    /// Shorter side after resizing (default: the checkpoint's preprocess metadata, else 256).
    #[arg(long, value_name = "PX")]
    pub resize: Option<u32>,
    /// Centre-crop size fed to the network (default: metadata, else 224).
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(32..=1024))]
    pub crop: Option<u32>,
    /// Images per GPU batch (default: chosen for the adapter and its limits).
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    pub batch: Option<usize>,
    /// Refuse images with more pixels than this (decompression-bomb guard, like Pillow's).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Number formats of the network (see README for the measured tolerance of each).
    #[arg(long, default_value = "f32")]
    pub precision: PrecisionArg,
    /// Turn pictures upright by their EXIF orientation tag first (torchvision, and so the
    /// reference maps, ignore the tag: off by default).
    #[arg(long)]
    pub exif: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// Image files or directories (searched recursively for images).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// The CAM variant, by pytorch-grad-cam's name (spellings such as grad-cam or gradcampp
    /// work too). `all`, or a comma-separated list, draws every one side by side in
    /// <stem>.gallery.png; `all` leaves out scorecam, which runs one forward pass per layer4
    /// channel (minutes on a CPU adapter): add it with `all,scorecam`.
    #[arg(long, default_value = "gradcam", value_parser = MethodListParser)]
    pub method: MethodList,
    /// RandomCAM's seed: the weights are numpy's `np.random.seed(SEED)` then
    /// `np.random.uniform(-1, 1, (N, C))`, row j for image j of each GPU batch.
    #[arg(long, value_name = "SEED", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=u32::MAX as u64))]
    pub seed: u64,
    /// pytorch-grad-cam's eigen_smooth: the map is the first principal component of the
    /// weighted layer4 maps instead of their sum (eigencam, eigengradcam, kpcacam, fem and
    /// sobelcam ignore it, as the library does).
    #[arg(long)]
    pub eigen_smooth: bool,
    /// pytorch-grad-cam's aug_smooth: the mean of the maps of six augmented copies of each
    /// image (horizontal flip x brightness 0.9, 1, 1.1), each flipped back: six forward passes
    /// per image.
    #[arg(long)]
    pub aug_smooth: bool,
    /// Explain this class index instead of the top prediction (repeat for several).
    #[arg(long, value_name = "CLASS", conflicts_with = "top_k")]
    pub target: Vec<usize>,
    /// Explain the K best classes, one map each (one dispatch).
    #[arg(long, value_name = "K", value_parser = at_least_one())]
    pub top_k: Option<usize>,
    /// Where the pictures go.
    #[arg(long, value_name = "DIR", default_value = "shadercam-out")]
    pub out_dir: PathBuf,
    /// One JSON object per image on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write <stem>.heatmap.npy (f32 [crop, crop], the normalised map).
    #[arg(long)]
    pub save_heatmap: bool,
    /// Also write <stem>.maps.png: the N layer4 maps that contribute most to the target,
    /// each labelled with k, w^c_k, mean(A_k) and w*mean (with --json: `channels` and
    /// `logit_parts`, the bias and the channels' sum that make the logit).
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    pub maps: Option<usize>,
    /// Also write each stage of the first target's map as <stem>.stageN-NAME.npy and .png (with
    /// its colour scale): 1 raw (signed), 2 normalised (ReLU + min-max), 3 upsampled to the
    /// crop, 4 heat (with --json: the raw map as `raw_map`). See docs/tutorial.md.
    #[arg(long)]
    pub dump_stages: bool,
    #[command(flatten)]
    pub metrics: crate::commands::eval::MetricArgs,
}

#[derive(Args)]
pub struct ClassifyArgs {
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Predictions listed per image.
    #[arg(long, value_name = "K", default_value_t = 5, value_parser = at_least_one())]
    pub top_k: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    /// labels.json with {"images": {name: {file, class_index, box, ...}}}; images are looked up
    /// in the `images/` folder next to it.
    pub labels: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, default_value = "gradcam", value_parser = MethodParser)]
    pub method: MethodArg,
    /// pytorch-grad-cam's eigen_smooth: the map is the first principal component of the
    /// weighted layer4 maps instead of their sum (eigencam, eigengradcam, kpcacam, fem and
    /// sobelcam ignore it, as the library does).
    #[arg(long)]
    pub eigen_smooth: bool,
    /// pytorch-grad-cam's aug_smooth: the mean of the maps of six augmented copies of each
    /// image (horizontal flip x brightness 0.9, 1, 1.1), each flipped back: six forward passes
    /// per image.
    #[arg(long)]
    pub aug_smooth: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub metrics: crate::commands::eval::MetricArgs,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Timed iterations (after warm-up).
    #[arg(long, default_value_t = 10, value_parser = at_least_one())]
    pub iters: usize,
    /// Untimed warm-up iterations.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    #[arg(long, default_value = "gradcam", value_parser = MethodParser)]
    pub method: MethodArg,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also print the per-kernel table (same as `shadercam profile`).
    #[arg(long)]
    pub profile: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args)]
pub struct ProfileArgs {
    #[arg(long, default_value = "gradcam", value_parser = MethodParser)]
    pub method: MethodArg,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args)]
pub struct SelftestArgs {
    /// Checkpoint for the whole-network checks; it must be the one the embedded reference was
    /// made with (weights/resnet50-shapes.safetensors). Default: $SHADERCAM_WEIGHTS, else the
    /// repository's.
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,
    /// Run only the checks whose name contains this (e.g. `conv2d`, `network`, `f16`).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// One JSON object on stdout: adapter, features, and every check.
    #[arg(long)]
    pub json: bool,
    /// Test hook: add 1.0 to the first GPU value of the checks whose name contains this, to
    /// prove that a wrong result is caught (those checks must FAIL; see commands/selftest/mod.rs).
    #[arg(long, value_name = "TEXT", hide = true)]
    pub inject_fault: Option<String>,
}

#[derive(Args)]
pub struct ModelsArgs {
    /// One JSON array on stdout, with cache paths and URLs.
    #[arg(long)]
    pub json: bool,
}

/// `--method`: a [`Method`] as clap sees it. The possible values (listed by `--help`) are
/// [`Method::ALL`] under [`Method::name`]; parsing goes through [`Method::parse`], so every
/// spelling the library accepts (`Grad-CAM`, `gradcampp`, ...) works on the command line too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodArg(pub Method);

impl MethodArg {
    const ALL: [MethodArg; Method::ALL.len()] = {
        let mut all = [MethodArg(Method::ALL[0]); Method::ALL.len()];
        let mut i = 1;
        while i < all.len() {
            all[i] = MethodArg(Method::ALL[i]);
            i += 1;
        }
        all
    };
}

impl ValueEnum for MethodArg {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()))
    }

    fn from_str(input: &str, _ignore_case: bool) -> Result<Self, String> {
        Method::parse(input).map(MethodArg).ok_or_else(|| {
            let all: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
            format!("unknown method {input:?}; choose one of {}", all.join(", "))
        })
    }
}

/// The value parser of `--method`: [`MethodArg::from_str`], where clap's own parser for a
/// [`ValueEnum`] would accept only the exact names, plus the possible values for `--help`.
#[derive(Clone)]
pub struct MethodParser;

impl TypedValueParser for MethodParser {
    type Value = MethodArg;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<MethodArg, clap::Error> {
        // A plain `Fn(&str) -> Result<_, String>` parser: clap words the error as
        // "invalid value 'x' for '--method <METHOD>': unknown method ...".
        let parse = |s: &str| MethodArg::from_str(s, true);
        parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            MethodArg::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

/// `explain --method`: one method, a comma-separated list, or `all` (every method but
/// scorecam, which costs one forward pass per layer4 channel). In the order given, each once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodList(pub Vec<Method>);

impl MethodList {
    /// What `all` stands for: every implemented [`Method`] but [`Method::ScoreCam`].
    pub fn all() -> Vec<Method> {
        Method::ALL
            .into_iter()
            .filter(|&m| m != Method::ScoreCam && m.implemented())
            .collect()
    }

    fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim) {
            let ms = if part.eq_ignore_ascii_case("all") {
                Self::all()
            } else {
                vec![MethodArg::from_str(part, true)?.0]
            };
            for m in ms {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        Ok(Self(out))
    }
}

/// The value parser of `explain --method`: [`MethodList::parse`], listing the methods and
/// `all` for `--help`.
#[derive(Clone)]
pub struct MethodListParser;

impl TypedValueParser for MethodListParser {
    type Value = MethodList;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<MethodList, clap::Error> {
        let parse = |s: &str| MethodList::parse(s);
        parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            MethodArg::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value)
                .chain([PossibleValue::new("all")]),
        ))
    }
}

/// `--precision`: a [`Precision`] as clap sees it (`f32`, `f16w`, `f16` or `auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrecisionArg(pub Precision);

impl ValueEnum for PrecisionArg {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            PrecisionArg(Precision::F32),
            PrecisionArg(Precision::F16Weights),
            PrecisionArg(Precision::F16),
            PrecisionArg(Precision::Auto),
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self.0 {
            Precision::F32 => "f32 weights, activations and arithmetic (the reference)",
            Precision::F16Weights => "f16 weights, f32 activations and arithmetic (any adapter)",
            Precision::F16 => {
                "f16 weights and activations, f32 accumulation; tensor cores where the adapter \
                 has them (needs SHADER_F16)"
            }
            Precision::Auto => "the fastest of these on this adapter (f32 on CPU adapters)",
        };
        Some(PossibleValue::new(self.0.name()).help(help))
    }
}

/// A usage error found after parsing (a flag that contradicts the checkpoint, an `--out-dir`
/// that is a file): printed like any error, but exit code 2, as clap's own.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_method_parses_under_its_name_and_the_old_spellings() {
        for m in Method::ALL {
            assert_eq!(MethodArg::from_str(m.name(), false), Ok(MethodArg(m)));
        }
        for (s, m) in [
            ("grad-cam", Method::GradCam),
            ("Grad-CAM", Method::GradCam),
            ("gradcampp", Method::GradCamPlusPlus),
            ("gradcam++", Method::GradCamPlusPlus),
            ("layer_cam", Method::LayerCam),
        ] {
            let cli = Cli::try_parse_from(["shadercam", "eval", "labels.json", "--method", s])
                .unwrap_or_else(|e| panic!("{s}: {e}"));
            let Command::Eval(a) = cli.command else {
                unreachable!()
            };
            assert_eq!(a.method, MethodArg(m), "{s}");
        }
    }

    #[test]
    fn explain_takes_all_or_a_list_of_methods() {
        let parse = |s: &str| {
            let cli = Cli::try_parse_from(["shadercam", "explain", "x.png", "--method", s])
                .unwrap_or_else(|e| panic!("{s}: {e}"));
            let Command::Explain(a) = cli.command else {
                unreachable!()
            };
            a.method.0
        };
        assert_eq!(parse("grad-cam"), vec![Method::GradCam]);
        assert_eq!(parse("all"), MethodList::all());
        assert!(!parse("all").contains(&Method::ScoreCam));
        assert_eq!(parse("all,scorecam").len(), MethodList::all().len() + 1);
        assert_eq!(
            parse("layercam, gradcam,layercam"),
            vec![Method::LayerCam, Method::GradCam]
        );
        let bad = Cli::try_parse_from(["shadercam", "explain", "x.png", "--method", "gradcam,x"]);
        assert!(bad.is_err_and(|e| e.to_string().contains("unknown method \"x\"")));
    }

    #[test]
    fn seed_is_numpys_range() {
        let seed = |s: &str| {
            Cli::try_parse_from(["shadercam", "explain", "x.png", "--seed", s]).map(|c| {
                let Command::Explain(a) = c.command else {
                    unreachable!()
                };
                a.seed
            })
        };
        assert_eq!(seed("4294967295").unwrap(), u32::MAX as u64);
        assert!(seed("4294967296").is_err_and(|e| e.to_string().contains("--seed")));
        assert!(seed("-1").is_err());
    }
}
