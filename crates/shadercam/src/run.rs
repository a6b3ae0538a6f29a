//! The batch driver that `explain` and `classify` share ([`Run`]), the progress bar, how a
//! failed input is reported, and Ctrl-C.
//!
//! A failed input (unreadable, not a picture, too many pixels, a GPU error in its batch) is
//! reported (a JSON record on stdout with `--json`, a line on stderr always) and counted; the
//! other inputs still produce their outputs and the run exits 1.

use crate::cli::ModelArgs;
use crate::output::outln;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use shadercam_cam::{LoadedImage, prefetch};
use shadercam_image::{ImageError, Preprocess};
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the first Ctrl-C: the run stops between images (every file already written is whole,
/// none is half-written) and exits 130. A second Ctrl-C exits at once.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// True once Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Installs the Ctrl-C handler that sets [`interrupted`].
pub fn handle_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupted: finishing the current image, then stopping (Ctrl-C again to quit now)"
        );
    });
}

/// A progress bar on stderr, hidden with `--quiet` or when stderr is not a terminal. Dropped
/// unfinished (an error ended the run), it clears itself rather than stay on the screen.
pub fn progress(n: usize, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::new(n as u64).with_finish(ProgressFinish::AndClear);
    if quiet || !io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Prints a failed input's record (JSON on stdout with `--json`, and a stderr line).
fn report_error(pb: &ProgressBar, json: bool, image: &str, msg: &str) -> io::Result<()> {
    pb.suspend(|| {
        if json {
            outln!("{}", serde_json::json!({"image": image, "error": msg}))?;
        }
        eprintln!("error: {msg}");
        Ok(())
    })
}

/// The images of one prefetched batch that loaded; failures are reported and counted.
pub fn keep_loaded(
    batch: Vec<(PathBuf, Result<LoadedImage, ImageError>)>,
    pb: &ProgressBar,
    json: bool,
    failed: &mut usize,
) -> io::Result<Vec<LoadedImage>> {
    let mut good = Vec::new();
    for (p, r) in batch {
        match r {
            Ok(img) => good.push(img),
            Err(e) => {
                *failed += 1;
                report_error(pb, json, &p.display().to_string(), &e.to_string())?;
                pb.inc(1);
            }
        }
    }
    Ok(good)
}

/// What `explain` and `classify` share: input errors reported up front, batches decoded one
/// ahead on a background thread, Ctrl-C checked between batches, a failed GPU batch reported
/// image by image, the counts and the closing summary.
pub struct Run {
    pub pb: ProgressBar,
    json: bool,
    /// Inputs that produced their outputs.
    pub ok: usize,
    failed: usize,
    total: usize,
}

impl Run {
    /// Starts a run over `files`, first reporting the inputs that named no readable image.
    pub fn new(
        files: &[PathBuf],
        input_errors: &[(PathBuf, String)],
        json: bool,
        quiet: bool,
    ) -> io::Result<Self> {
        let mut run = Self {
            pb: progress(files.len(), quiet),
            json,
            ok: 0,
            failed: 0,
            total: files.len() + input_errors.len(),
        };
        for (p, msg) in input_errors {
            run.error(&p.display().to_string(), msg)?;
        }
        Ok(run)
    }

    /// Counts and reports one failed input.
    pub fn error(&mut self, image: &str, msg: &str) -> io::Result<()> {
        self.failed += 1;
        report_error(&self.pb, self.json, image, msg)
    }

    /// Calls `each` with every batch's loaded images and their stacked HWC tensors. An error
    /// from `each` (stdout closed) ends the run.
    pub fn batches(
        &mut self,
        files: &[PathBuf],
        batch: usize,
        pre: &Preprocess,
        m: &ModelArgs,
        mut each: impl FnMut(&mut Self, &[LoadedImage], &[f32]) -> Result<()>,
    ) -> Result<()> {
        for loaded in prefetch(files.to_vec(), batch, pre.clone(), m.max_pixels, m.exif) {
            if interrupted() {
                break;
            }
            let imgs = keep_loaded(loaded, &self.pb, self.json, &mut self.failed)?;
            if imgs.is_empty() {
                continue;
            }
            let tensors: Vec<f32> = imgs.iter().flat_map(|i| i.tensor.iter().copied()).collect();
            each(self, &imgs, &tensors)?;
        }
        Ok(())
    }

    /// A GPU failure loses only this batch: each of its images is reported as failed, the
    /// images of earlier batches keep their outputs, and the run goes on with the next batch.
    pub fn fail_batch(&mut self, imgs: &[LoadedImage], e: &dyn std::fmt::Display) -> Result<()> {
        for img in imgs {
            let name = img.path.display().to_string();
            self.error(&name, &format!("{name}: {e}"))?;
            self.pb.inc(1);
        }
        Ok(())
    }

    /// Prints a line (or JSON record) on stdout without tearing the progress bar.
    pub fn print(&self, line: impl std::fmt::Display) -> io::Result<()> {
        self.pb.suspend(|| outln!("{line}"))
    }

    /// The closing line on stderr; true when nothing failed.
    pub fn finish(self) -> bool {
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
