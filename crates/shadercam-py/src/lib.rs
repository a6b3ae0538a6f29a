//! `shadercam._native`: the Rust side of the Python package. The Python layer
//! (`python/shadercam/__init__.py`) turns paths, PIL images and numpy arrays into what these
//! functions take (paths, or RGB bytes with their size) and their bytes back into numpy arrays,
//! so this module needs no numpy at build time.
//!
//! Every call that touches the GPU or decodes pictures releases the GIL (`Python::detach`), and
//! runs inside `catch_unwind`: a Rust panic becomes a `RuntimeError`, never an abort of the
//! interpreter. Errors keep the CLI's messages: `FileNotFoundError` for a missing file,
//! `ValueError` for a file or array that is not a usable picture or checkpoint, `RuntimeError`
//! for GPU failures.

use pyo3::exceptions::{PyFileNotFoundError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use shadercam_cam::{
    ExplainOptions, Explainer, ImageReport, LoadedImage, Method, Targets, load_image, load_rgb,
};
use shadercam_image::{ImageError, Preprocess};
use shadercam_kernels::{GpuContext, Precision};
use shadercam_loader::{Checkpoint, LoadError, ResNet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The default shapes checkpoint, compiled into the module so that `shadercam.Explainer()`
/// works from an installed wheel with no clone and no download.
const EMBEDDED: &[u8] = include_bytes!("../../../weights/resnet50-shapes.safetensors");
const EMBEDDED_NAME: &str = "resnet50-shapes.safetensors (embedded in the shadercam wheel)";
/// Pillow's decompression-bomb limit, the CLI's `--max-pixels` default.
const MAX_PIXELS: u64 = 89_478_485;

/// A failure, classified as the Python exception it becomes (made once the GIL is back).
enum Fail {
    NotFound(String),
    Value(String),
    Runtime(String),
}

impl From<Fail> for PyErr {
    fn from(f: Fail) -> PyErr {
        match f {
            Fail::NotFound(m) => PyFileNotFoundError::new_err(m),
            Fail::Value(m) => PyValueError::new_err(m),
            Fail::Runtime(m) => PyRuntimeError::new_err(m),
        }
    }
}

fn load_fail(e: LoadError) -> Fail {
    let msg = e.to_string();
    match &e {
        LoadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Fail::NotFound(msg)
        }
        _ => Fail::Value(msg),
    }
}

fn image_fail(path: &Path, e: ImageError) -> Fail {
    if !path.exists() {
        Fail::NotFound(format!("{}: no such file", path.display()))
    } else {
        Fail::Value(e.to_string())
    }
}

/// Runs `f` with the GIL released, turning a panic into a `RuntimeError`.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, Fail> + Send) -> PyResult<T> {
    py.detach(|| match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(Fail::Runtime(format!(
                "shadercam failed internally (a Rust panic, please report it): {what}"
            )))
        }
    })
    .map_err(PyErr::from)
}

fn parse_precision(s: &str) -> Result<Precision, Fail> {
    match s {
        "f32" => Ok(Precision::F32),
        "f16w" => Ok(Precision::F16Weights),
        "f16" => Ok(Precision::F16),
        "auto" => Ok(Precision::Auto),
        other => Err(Fail::Value(format!(
            "precision={other:?}: expected \"f32\", \"f16w\", \"f16\" or \"auto\""
        ))),
    }
}

/// One input picture: a path, or decoded RGB bytes (`h`x`w`x3, row-major) named `name`.
type Item = (String, Option<Vec<u8>>, u32, u32);

/// The explainer: a network on the GPU, its preprocessing and batch size.
#[pyclass(module = "shadercam._native", name = "NativeExplainer")]
struct NativeExplainer {
    inner: Mutex<Explainer>,
    pre: Preprocess,
    batch: usize,
    method: Method,
    source: String,
}

fn loaded(
    name: &str,
    rgb: Option<Vec<u8>>,
    w: u32,
    h: u32,
    pre: &Preprocess,
) -> Result<LoadedImage, Fail> {
    let path = Path::new(name);
    match rgb {
        None => load_image(path, pre, MAX_PIXELS, false).map_err(|e| image_fail(path, e)),
        Some(bytes) => {
            let img = image::RgbImage::from_raw(w, h, bytes).ok_or_else(|| {
                Fail::Value(format!(
                    "{name}: the pixel buffer does not hold {h}x{w}x3 bytes"
                ))
            })?;
            load_rgb(path, img, pre).map_err(|e| Fail::Value(format!("{name}: {e}")))
        }
    }
}

/// RGBA8 pixels packed in u32s (`r | g << 8 | b << 16 | a << 24`) as RGB bytes.
fn rgb_bytes(rgba: &[u32]) -> Vec<u8> {
    rgba.iter()
        .flat_map(|p| {
            [
                (p & 0xff) as u8,
                (p >> 8 & 0xff) as u8,
                (p >> 16 & 0xff) as u8,
            ]
        })
        .collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// What one image gave, ready to become a Python dict.
struct Outcome {
    name: String,
    error: Option<(bool, String)>,
    record: String,
    crop: usize,
    map_size: (usize, usize),
    logits: Vec<f32>,
    targets: Vec<usize>,
    heatmaps: Vec<Vec<u8>>,
    raw: Vec<Vec<u8>>,
    overlays: Vec<Vec<u8>>,
    original: Option<(Vec<u8>, usize, usize)>,
}

#[pymethods]
impl NativeExplainer {
    /// `weights`: a checkpoint path, or None for the embedded shapes model; `weights_bytes`: a
    /// safetensors file in memory (the Python layer's state dicts); `model`: a published
    /// model's name (`shadercam.models()`), fetched into the Hugging Face cache.
    #[new]
    #[pyo3(signature = (weights=None, weights_bytes=None, model=None, method="gradcam", precision="f32", batch=None, classes=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        weights: Option<PathBuf>,
        weights_bytes: Option<Vec<u8>>,
        model: Option<String>,
        method: &str,
        precision: &str,
        batch: Option<usize>,
        classes: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let method = Method::parse(method).ok_or_else(|| {
            PyValueError::new_err(format!(
                "method={method:?}: not a shadercam method (shadercam explain --help lists them)"
            ))
        })?;
        if !method.implemented() {
            return Err(PyValueError::new_err(format!(
                "method={method:?} is not implemented yet"
            )));
        }
        let precision = parse_precision(precision)?;
        detached(py, move || {
            let (mut net, source) = match (weights, weights_bytes, model) {
                (Some(p), None, None) => (
                    ResNet::load(&p).map_err(load_fail)?,
                    p.display().to_string(),
                ),
                (None, Some(bytes), None) => {
                    let name = Path::new("<state dict>");
                    let ck = Checkpoint::from_bytes(name, &bytes).map_err(load_fail)?;
                    (
                        ResNet::from_checkpoint(&ck).map_err(load_fail)?,
                        "<state dict>".to_owned(),
                    )
                }
                (None, None, Some(name)) => {
                    let spec = shadercam_loader::models::find(&name)
                        .map_err(|e| Fail::Value(format!("model={name:?}: {e}")))?;
                    let fetched = shadercam_hub::Hub::from_env()
                        .fetch_model(spec)
                        .map_err(|e| Fail::Runtime(format!("getting model {}: {e}", spec.name)))?;
                    let mut net = ResNet::load(&fetched.weights).map_err(load_fail)?;
                    net.preprocess = spec.preprocess.clone();
                    (net, fetched.weights.display().to_string())
                }
                (None, None, None) => {
                    let ck = Checkpoint::from_bytes(Path::new(EMBEDDED_NAME), EMBEDDED)
                        .map_err(load_fail)?;
                    (
                        ResNet::from_checkpoint(&ck).map_err(load_fail)?,
                        EMBEDDED_NAME.to_owned(),
                    )
                }
                _ => {
                    return Err(Fail::Value(
                        "give at most one of weights= (a path or a state dict) and model=".into(),
                    ));
                }
            };
            if let Some(names) = classes {
                if names.len() != net.num_classes() {
                    return Err(Fail::Value(format!(
                        "classes: {} names for a checkpoint with {} classes",
                        names.len(),
                        net.num_classes()
                    )));
                }
                net.classes = names;
            }
            let p = &net.preprocess;
            let pre = Preprocess {
                resize_size: p.resize_size,
                crop_size: p.crop_size,
                mean: p.mean,
                std: p.std,
            };
            let ctx = GpuContext::new().map_err(|e| Fail::Runtime(e.to_string()))?;
            let ex = Explainer::with_precision(ctx, net, precision)
                .map_err(|e| Fail::Runtime(e.to_string()))?;
            let max = ex.max_batch(pre.crop_size as usize);
            let default = if ex.ctx.is_cpu() { 4 } else { 32 };
            let batch = batch.unwrap_or(default).clamp(1, max);
            Ok(NativeExplainer {
                inner: Mutex::new(ex),
                pre,
                batch,
                method,
                source,
            })
        })
    }

    /// `(adapter, precision, batch, crop, resize, classes, source, conv kernel)`.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let ex = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let d = PyDict::new(py);
        d.set_item("adapter", ex.ctx.describe())?;
        d.set_item(
            "driver",
            format!("{} {}", ex.ctx.info.driver, ex.ctx.info.driver_info),
        )?;
        d.set_item("precision", ex.net.precision().name())?;
        d.set_item("conv_kernel", ex.net.kernels.conv2d.preferred.kernel_name())?;
        d.set_item("batch", self.batch)?;
        d.set_item("crop", self.pre.crop_size)?;
        d.set_item("resize", self.pre.resize_size)?;
        d.set_item("method", self.method.name())?;
        d.set_item("classes", ex.model.classes.clone())?;
        d.set_item("weights", self.source.clone())?;
        Ok(d)
    }

    /// Explains `items` (see [`Item`]) in GPU batches; one dict per item, in order. A bad item
    /// gives a dict with `error` (and `error_kind`: "not_found" or "value") and no maps.
    #[pyo3(signature = (items, targets=None, top_k=1, aug_smooth=false, eigen_smooth=false, seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        items: Vec<Item>,
        targets: Option<Vec<usize>>,
        top_k: usize,
        aug_smooth: bool,
        eigen_smooth: bool,
        seed: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        let targets = match targets {
            Some(t) if !t.is_empty() => Targets::Fixed(t),
            _ => Targets::TopK(top_k.max(1)),
        };
        let opts = ExplainOptions {
            method: self.method,
            targets,
            aug_smooth,
            eigen_smooth,
            seed,
            ..Default::default()
        };
        let (pre, batch, method) = (self.pre.clone(), self.batch, self.method);
        let inner = &self.inner;
        let outcomes = detached(py, move || {
            let mut ex = inner.lock().unwrap_or_else(|p| p.into_inner());
            let classes = ex.model.classes.clone();
            let crop = pre.crop_size as usize;
            let mut out = Vec::with_capacity(items.len());
            for chunk in items.chunks(batch) {
                let mut good: Vec<(String, LoadedImage)> = Vec::new();
                let mut slots: Vec<Result<usize, (String, Fail)>> = Vec::new();
                for (name, rgb, w, h) in chunk.iter().cloned() {
                    match loaded(&name, rgb, w, h, &pre) {
                        Ok(img) => {
                            slots.push(Ok(good.len()));
                            good.push((name, img));
                        }
                        Err(e) => slots.push(Err((name, e))),
                    }
                }
                let mut explained = Vec::new();
                if !good.is_empty() {
                    let x: Vec<f32> = good
                        .iter()
                        .flat_map(|(_, i)| i.tensor.iter().copied())
                        .collect();
                    let views: Vec<_> = good.iter().map(|(_, i)| Some(i.view.clone())).collect();
                    explained = ex
                        .explain(&x, crop, &views, &opts)
                        .map_err(|e| Fail::Runtime(e.to_string()))?;
                }
                for slot in slots {
                    out.push(match slot {
                        Err((name, e)) => {
                            let (not_found, msg) = match e {
                                Fail::NotFound(m) => (true, m),
                                Fail::Value(m) | Fail::Runtime(m) => (false, m),
                            };
                            Outcome {
                                name,
                                error: Some((not_found, msg)),
                                record: String::new(),
                                crop,
                                map_size: (0, 0),
                                logits: Vec::new(),
                                targets: Vec::new(),
                                heatmaps: Vec::new(),
                                raw: Vec::new(),
                                overlays: Vec::new(),
                                original: None,
                            }
                        }
                        Ok(i) => {
                            let (name, img) = &good[i];
                            let e = &explained[i];
                            let report = ImageReport::new(name, img, e, method, &classes, 5);
                            Outcome {
                                name: name.clone(),
                                error: None,
                                record: report.to_json(true).to_string(),
                                crop,
                                map_size: e.map_size,
                                logits: e.logits.clone(),
                                targets: e.targets.clone(),
                                heatmaps: e.heatmaps.iter().map(|h| f32_bytes(h)).collect(),
                                raw: e.raw.iter().map(|r| f32_bytes(r)).collect(),
                                overlays: e.overlays.iter().map(|o| rgb_bytes(o)).collect(),
                                original: e
                                    .original_overlay
                                    .as_ref()
                                    .map(|o| (rgb_bytes(o), img.view.width, img.view.height)),
                            }
                        }
                    });
                }
            }
            Ok(out)
        })?;
        let list = PyList::empty(py);
        for o in outcomes {
            let d = PyDict::new(py);
            d.set_item("name", &o.name)?;
            match o.error {
                Some((not_found, msg)) => {
                    d.set_item("error", msg)?;
                    d.set_item("error_kind", if not_found { "not_found" } else { "value" })?;
                }
                None => {
                    d.set_item("record", o.record)?;
                    d.set_item("crop", o.crop)?;
                    d.set_item("map_size", o.map_size)?;
                    d.set_item("logits", o.logits)?;
                    d.set_item("targets", o.targets)?;
                    let bytes = |v: &Vec<Vec<u8>>| -> Vec<Bound<'py, PyBytes>> {
                        v.iter().map(|b| PyBytes::new(py, b)).collect()
                    };
                    d.set_item("heatmaps", bytes(&o.heatmaps))?;
                    d.set_item("raw", bytes(&o.raw))?;
                    d.set_item("overlays", bytes(&o.overlays))?;
                    if let Some((px, w, h)) = o.original {
                        d.set_item("original", (PyBytes::new(py, &px), w, h))?;
                    }
                }
            }
            list.append(d)?;
        }
        Ok(list)
    }

    /// Forward + CAM of `n` already-normalised images, float32 NCHW bytes (`n`x3x`size`x`size`):
    /// returns `(heatmaps bytes [n, size, size], logits bytes [n, classes], classes)`, the
    /// first target's map per image (`targets`: one class per image, else each image's top-1).
    #[pyo3(signature = (x, n, size, targets=None, aug_smooth=false, eigen_smooth=false))]
    #[allow(clippy::too_many_arguments)]
    fn explain_tensor<'py>(
        &self,
        py: Python<'py>,
        x: Vec<u8>,
        n: usize,
        size: usize,
        targets: Option<Vec<usize>>,
        aug_smooth: bool,
        eigen_smooth: bool,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, usize)> {
        let method = self.method;
        let inner = &self.inner;
        let (heat, logits, classes) = detached(py, move || {
            let mut ex = inner.lock().unwrap_or_else(|p| p.into_inner());
            let plane = size * size;
            if x.len() != n * 3 * plane * 4 {
                return Err(Fail::Value(format!(
                    "expected {} bytes for float32 [{n}, 3, {size}, {size}], got {}",
                    n * 3 * plane * 4,
                    x.len()
                )));
            }
            let f: Vec<f32> = x
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            // NCHW -> NHWC, as the network's input takes it.
            let mut hwc = vec![0f32; f.len()];
            for i in 0..n {
                for c in 0..3 {
                    for p in 0..plane {
                        hwc[(i * plane + p) * 3 + c] = f[(i * 3 + c) * plane + p];
                    }
                }
            }
            let classes = ex.model.num_classes();
            if let Some(t) = &targets {
                if t.len() != n {
                    return Err(Fail::Value(format!(
                        "targets: {} classes for {n} images (one per image)",
                        t.len()
                    )));
                }
                if let Some(bad) = t.iter().find(|&&c| c >= classes) {
                    return Err(Fail::Value(format!(
                        "targets: class {bad} is out of range for {classes} classes"
                    )));
                }
            }
            let mut heat = vec![0f32; n * plane];
            let mut logits = vec![0f32; n * classes];
            // Images that share a target go through the GPU together; without targets, all of
            // them at once (each takes its own top-1).
            let mut groups: Vec<(Option<usize>, Vec<usize>)> = Vec::new();
            for i in 0..n {
                let t = targets.as_ref().map(|t| t[i]);
                match groups.iter_mut().find(|(g, _)| *g == t) {
                    Some((_, v)) => v.push(i),
                    None => groups.push((t, vec![i])),
                }
            }
            for (t, idx) in groups {
                let opts = ExplainOptions {
                    method,
                    targets: t.map_or(Targets::TopK(1), |c| Targets::Fixed(vec![c])),
                    aug_smooth,
                    eigen_smooth,
                    ..Default::default()
                };
                let xs: Vec<f32> = idx
                    .iter()
                    .flat_map(|&i| hwc[i * plane * 3..(i + 1) * plane * 3].iter().copied())
                    .collect();
                let es = ex
                    .explain(&xs, size, &[], &opts)
                    .map_err(|e| Fail::Runtime(e.to_string()))?;
                for (&i, e) in idx.iter().zip(&es) {
                    heat[i * plane..(i + 1) * plane].copy_from_slice(&e.heatmaps[0]);
                    logits[i * classes..(i + 1) * classes].copy_from_slice(&e.logits);
                }
            }
            Ok((f32_bytes(&heat), f32_bytes(&logits), classes))
        })?;
        Ok((PyBytes::new(py, &heat), PyBytes::new(py, &logits), classes))
    }
}

/// The published models `model=` accepts: `(name, arch, top1, params, default)`.
#[pyfunction]
fn models() -> Vec<(String, String, f32, u64, bool)> {
    shadercam_loader::models::MODELS
        .iter()
        .map(|m| {
            (
                m.name.to_owned(),
                m.arch.to_owned(),
                m.top1,
                m.params,
                m.is_default(),
            )
        })
        .collect()
}

/// OpenCV's JET colour map (`cv2.COLORMAP_JET`, which `show_cam_on_image` uses) as 256 RGB
/// triples, the table the overlay shader draws with (shaders/jet_lut.py made it from OpenCV).
#[pyfunction]
fn jet_lut<'py>(py: Python<'py>) -> Bound<'py, PyBytes> {
    let bytes: Vec<u8> = shadercam_cam::jet_table()
        .iter()
        .flatten()
        .copied()
        .collect();
    PyBytes::new(py, &bytes)
}

/// `rgb` (`h`x`w`x3 bytes) as a PNG file in memory (Ray's `overlay_png` column), encoded by
/// the `image` crate as the CLI writes its pictures.
#[pyfunction]
fn encode_png<'py>(py: Python<'py>, rgb: Vec<u8>, w: u32, h: u32) -> PyResult<Bound<'py, PyBytes>> {
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or_else(|| {
        PyValueError::new_err(format!("the pixel buffer does not hold {h}x{w}x3 bytes"))
    })?;
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| PyRuntimeError::new_err(format!("PNG encoding failed: {e}")))?;
    Ok(PyBytes::new(py, &out))
}

/// Panics inside the same guard every GPU call runs in: the test that a Rust panic reaches
/// Python as a `RuntimeError` (python/tests/test_api.py).
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    detached(py, || -> Result<(), Fail> { panic!("a deliberate panic") })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeExplainer>()?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(jet_lut, m)?)?;
    m.add_function(wrap_pyfunction!(encode_png, m)?)?;
    m.add("EMBEDDED_WEIGHTS", EMBEDDED_NAME)?;
    Ok(())
}
