//! `shadercam classify`: the top-K predictions of each image, one line (or JSON record) each.

use crate::cli::ClassifyArgs;
use crate::model::load;
use crate::run::Run;
use anyhow::Result;
use shadercam_cam::{collect_inputs, predictions, predictions_json};

pub fn classify(a: ClassifyArgs) -> Result<bool> {
    let (files, input_errors) = collect_inputs(&a.inputs);
    let (mut ex, pre, batch) = load(&a.model)?;
    let classes = ex.model.classes.clone();
    let crop = pre.crop_size as usize;
    let mut run = Run::new(&files, &input_errors, a.json, a.model.quiet)?;
    run.batches(&files, batch, &pre, &a.model, |run, imgs, tensors| {
        let all = match ex.classify(tensors, crop) {
            Ok(all) => all,
            Err(e) => return run.fail_batch(imgs, &e),
        };
        for (img, logits) in imgs.iter().zip(all) {
            run.ok += 1;
            let preds = predictions(&logits, &classes, a.top_k);
            if a.json {
                run.print(predictions_json(
                    &img.path.display().to_string(),
                    (img.width, img.height),
                    &preds,
                    &logits,
                ))?;
            } else {
                let p = &preds[0];
                run.print(format_args!(
                    "{}: {} (class {}, {:.3})",
                    img.path.display(),
                    p.label,
                    p.class_index,
                    p.score
                ))?;
            }
            run.pb.inc(1);
        }
        Ok(())
    })?;
    Ok(run.finish())
}
