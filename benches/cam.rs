//! The CAM stage alone (target selection, channel weights, weighted sum, min-max, upsampling,
//! min-max, JET overlay) on the layer4 maps a forward pass left on the GPU, for the closed-form
//! methods and EigenCAM, at batch 1 and 8. `iter_custom` records N copies of the stage in one
//! compute pass, submits once, waits, then reads the clock (`shadercam_cam::profile::time_cam`).
//! Score-CAM is left out: it is 2048 forward passes, not a post-processing stage.
//! Run: `cargo bench --bench cam`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shadercam_cam::{ExplainOptions, Explainer, Method, profile};
use shadercam_loader::ResNet;
use shadercam_suite::{Rng, default_weights, gpu};
use std::time::Duration;

fn bench_cam(c: &mut Criterion) {
    let ctx = gpu();
    eprintln!("adapter: {}", ctx.describe());
    let mut ex =
        Explainer::new(ctx, ResNet::load(&default_weights()).expect("weights")).expect("explainer");
    let mut group = c.benchmark_group("cam");
    for batch in [1usize, 8] {
        let x = Rng::new(3).vec(batch * 224 * 224 * 3);
        group.throughput(Throughput::Elements(batch as u64));
        for method in [Method::GradCam, Method::GradCamPlusPlus, Method::EigenCam] {
            let opts = ExplainOptions {
                method,
                ..Default::default()
            };
            group.bench_function(
                BenchmarkId::new(method.name(), format!("batch{batch}")),
                |b| {
                    b.iter_custom(|iters| {
                        profile::time_cam(&mut ex, &x, 224, &opts, iters as u32).expect("cam stage")
                    })
                },
            );
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = bench_cam }
criterion_main!(benches);
