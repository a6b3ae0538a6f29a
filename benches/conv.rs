//! Every distinct convolution of ResNet-50 (224x224 input, batch 1), timed alone.
//!
//! One criterion benchmark per shape and kernel variant, named
//! `conv/stage/kind/Variant/xN/in_hxin_w/cin->cout` (`Tiled` is the GPU kernel, `Direct` the
//! CPU-adapter kernel, see `ConvVariant`; the network uses `Conv2d::preferred`); the throughput is
//! the layer's multiply-adds (`Throughput::Elements`), so criterion prints GMAC/s beside the time.
//! `iter_custom` records `iters` copies of the same dispatch into one compute pass, submits once,
//! waits for the GPU (`device.poll(wait)`) and only then reads the clock: the time is GPU work plus
//! one submit, divided by `iters` by criterion.
//!
//! Run: `cargo bench --bench conv` (all shapes, a few minutes on lavapipe) or
//! `cargo bench --bench conv -- layer3` or `-- Direct` for a subset. The `x<n>` in each name is how often the
//! shape occurs in ResNet-50; multiply to weigh a shape's share of a forward pass.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shadercam_kernels::{
    CONV_RELU, CONV_RESIDUAL, ConvBuffers, ConvShape, ConvVariant, Dispatch, GpuContext, Kernels,
    encode,
};
use shadercam_suite::{Rng, gpu};
use std::time::{Duration, Instant};

/// One ResNet-50 convolution: where it sits, its geometry and how many times it occurs.
struct Layer {
    name: &'static str,
    count: usize,
    in_hw: usize,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    residual: bool,
}

#[allow(clippy::too_many_arguments)]
const fn l(
    name: &'static str,
    count: usize,
    in_hw: usize,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    residual: bool,
) -> Layer {
    Layer {
        name,
        count,
        in_hw,
        cin,
        cout,
        k,
        stride,
        residual,
    }
}

/// The distinct convolution shapes of torchvision's resnet50 (stride on the 3x3, "v1.5").
/// The stem reads 3 channels padded to 4 (NHWC4).
const LAYERS: &[Layer] = &[
    l("stem/7x7s2", 1, 224, 4, 64, 7, 2, false),
    l("layer1/1x1-reduce-first", 1, 56, 64, 64, 1, 1, false),
    l("layer1/1x1-reduce", 2, 56, 256, 64, 1, 1, false),
    l("layer1/3x3", 3, 56, 64, 64, 3, 1, false),
    l("layer1/1x1-expand", 3, 56, 64, 256, 1, 1, true),
    l("layer1/1x1-downsample", 1, 56, 64, 256, 1, 1, false),
    l("layer2/1x1-reduce-first", 1, 56, 256, 128, 1, 1, false),
    l("layer2/3x3s2", 1, 56, 128, 128, 3, 2, false),
    l("layer2/1x1-downsample-s2", 1, 56, 256, 512, 1, 2, false),
    l("layer2/1x1-reduce", 3, 28, 512, 128, 1, 1, false),
    l("layer2/3x3", 3, 28, 128, 128, 3, 1, false),
    l("layer2/1x1-expand", 4, 28, 128, 512, 1, 1, true),
    l("layer3/1x1-reduce-first", 1, 28, 512, 256, 1, 1, false),
    l("layer3/3x3s2", 1, 28, 256, 256, 3, 2, false),
    l("layer3/1x1-downsample-s2", 1, 28, 512, 1024, 1, 2, false),
    l("layer3/1x1-reduce", 5, 14, 1024, 256, 1, 1, false),
    l("layer3/3x3", 5, 14, 256, 256, 3, 1, false),
    l("layer3/1x1-expand", 6, 14, 256, 1024, 1, 1, true),
    l("layer4/1x1-reduce-first", 1, 14, 1024, 512, 1, 1, false),
    l("layer4/3x3s2", 1, 14, 512, 512, 3, 2, false),
    l("layer4/1x1-downsample-s2", 1, 14, 1024, 2048, 1, 2, false),
    l("layer4/1x1-reduce", 2, 7, 2048, 512, 1, 1, false),
    l("layer4/3x3", 2, 7, 512, 512, 3, 1, false),
    l("layer4/1x1-expand", 3, 7, 512, 2048, 1, 1, true),
];

fn bench_conv(c: &mut Criterion) {
    let ctx = gpu();
    let kernels = Kernels::new(&ctx).expect("pipelines");
    eprintln!("adapter: {}", ctx.describe());
    let mut group = c.benchmark_group("conv");
    let mut rng = Rng::new(1);
    for layer in LAYERS {
        let s = ConvShape {
            batch: 1,
            in_h: layer.in_hw,
            in_w: layer.in_hw,
            cin: layer.cin,
            cout: layer.cout,
            kh: layer.k,
            kw: layer.k,
            stride: layer.stride,
            pad: layer.k / 2,
        };
        let (oh, ow) = s.out_hw();
        let input = ctx
            .storage_from("input", &rng.vec(layer.in_hw * layer.in_hw * layer.cin))
            .unwrap();
        let weight = ctx
            .storage_from(
                "weight",
                &rng.vec(layer.k * layer.k * layer.cin * layer.cout),
            )
            .unwrap();
        let bias = ctx.storage_from("bias", &rng.vec(layer.cout)).unwrap();
        let residual = ctx
            .storage_from("residual", &rng.vec(oh * ow * layer.cout))
            .unwrap();
        let output = ctx
            .storage("output", (oh * ow * layer.cout * 4) as u64)
            .unwrap();
        let flags = CONV_RELU | if layer.residual { CONV_RESIDUAL } else { 0 };
        group.throughput(Throughput::Elements(s.macs()));
        let shape = format!(
            "x{}/{}x{}/{}->{}",
            layer.count, layer.in_hw, layer.in_hw, layer.cin, layer.cout
        );
        for variant in ConvVariant::ALL {
            let d = kernels
                .conv2d
                .dispatch_variant(
                    &ctx,
                    variant,
                    layer.name,
                    &s,
                    flags,
                    ConvBuffers {
                        input: &input,
                        weight: &weight,
                        bias: &bias,
                        residual: &residual,
                        output: &output,
                    },
                )
                .unwrap();
            let id = BenchmarkId::new(format!("{}/{variant:?}", layer.name), &shape);
            group.bench_function(id, |b| {
                b.iter_custom(|iters| time_dispatches(&ctx, &d, iters))
            });
        }
    }
    group.finish();
}

/// Records `iters` copies of `d` into one pass, submits, waits for the GPU (`submit_and_read`
/// with nothing to read is a submit plus a blocking `device.poll`), then reads the clock.
fn time_dispatches(ctx: &GpuContext, d: &Dispatch, iters: u64) -> Duration {
    let all: Vec<&Dispatch> = (0..iters).map(|_| d).collect();
    let enc = encode(ctx, &all);
    let t = Instant::now();
    ctx.submit_and_read(enc, &[]).expect("GPU work failed");
    t.elapsed()
}

fn config() -> Criterion {
    // lavapipe runs a 3x3 layer in tens of milliseconds: few samples, short windows.
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group!(name = benches; config = config(); targets = bench_conv);
criterion_main!(benches);
