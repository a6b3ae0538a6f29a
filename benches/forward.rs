//! The whole ResNet-50 forward pass (224x224, the real weights of
//! `weights/resnet50-shapes.safetensors`) at batch 1 and batch 8.
//!
//! - `forward/gpu/batch{1,8}`: the plan's dispatches (every conv, pool and fc of the network)
//!   recorded into one compute pass, one submit, a blocking wait and a readback of the logits;
//!   throughput in images, so criterion prints images/s.
//! - `forward/api/batch1`: `GpuResNet::forward` as the CLI calls it: upload of the image,
//!   the same pass, readback of the logits.
//!
//! Flat sampling, 10 samples: on lavapipe one batch-8 forward takes seconds, so the batch-8
//! bench alone takes one to two minutes. Run: `cargo bench --bench forward`.

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use shadercam_kernels::{Dispatch, GpuResNet, encode};
use shadercam_loader::ResNet;
use shadercam_suite::{Rng, default_weights, gpu};
use std::time::{Duration, Instant};

const SIZE: usize = 224;

fn bench_forward(c: &mut Criterion) {
    let ctx = gpu();
    eprintln!("adapter: {}", ctx.describe());
    let net = ResNet::load(&default_weights()).expect("weights/resnet50-shapes.safetensors");
    let mut gnet = GpuResNet::new(&ctx, &net).expect("upload");
    let mut group = c.benchmark_group("forward");
    group.sampling_mode(SamplingMode::Flat);
    for batch in [1usize, 8] {
        let images = Rng::new(batch as u64).vec(batch * SIZE * SIZE * 3);
        let plan = gnet.plan(&ctx, batch, SIZE, SIZE).expect("plan");
        plan.upload(&ctx, &images).expect("upload");
        let steps: Vec<&Dispatch> = plan.steps.iter().map(|s| &s.dispatch).collect();
        let logits_bytes = (batch * gnet.num_classes * 4) as u64;
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("gpu", format!("batch{batch}")), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let enc = encode(&ctx, &steps);
                    let t = Instant::now();
                    ctx.submit_and_read(enc, &[(&plan.logits, logits_bytes)])
                        .expect("forward");
                    total += t.elapsed();
                }
                total
            })
        });
    }
    let image = Rng::new(7).vec(SIZE * SIZE * 3);
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("api", "batch1"), |b| {
        b.iter(|| gnet.forward(&ctx, &image, 1, SIZE, SIZE).expect("forward"))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion_group!(name = benches; config = config(); targets = bench_forward);
criterion_main!(benches);
