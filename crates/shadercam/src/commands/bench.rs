//! `shadercam bench` and `shadercam profile`: timings of the real network and CAM stage on
//! this adapter. Inputs are deterministic pseudo-random crops (timing does not depend on
//! pixel values); weights are the chosen checkpoint's.

use crate::cli::{BenchArgs, ProfileArgs, Usage};
use crate::model::load;
use crate::output::outln;
use anyhow::{Result, bail};
use shadercam_cam::ExplainOptions;
use shadercam_cam::profile::{dispatch_table, time_parts};
use shadercam_kernels::time_dispatches;

/// `n` images of `crop`x`crop`x3, pseudo-random in [-1, 1) (xorshift64: the same every run).
fn inputs(n: usize, crop: usize) -> Vec<f32> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    (0..n * crop * crop * 3)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// The middle value (mean of the two middle ones for an even count); NaN for none.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `shadercam bench`: median forward, CAM and end-to-end times of one batch.
pub fn bench(a: BenchArgs) -> Result<()> {
    let batch = a.model.batch.unwrap_or(1);
    let mut model = a.model.clone();
    model.batch = Some(batch);
    let (mut ex, pre, _) = load(&model)?;
    let crop = pre.crop_size as usize;
    if batch > ex.max_batch(crop) {
        bail!(Usage(format!(
            "--batch {} exceeds this adapter's limit of {} images of {crop}x{crop}",
            batch,
            ex.max_batch(crop)
        )));
    }
    let x = inputs(batch, crop);
    let opts = ExplainOptions {
        method: a.method.0,
        ..Default::default()
    };
    for _ in 0..a.warmup {
        ex.explain(&x, crop, &[], &opts)?;
        time_parts(&mut ex, &x, crop, &opts)?;
    }
    let (mut fwd, mut cam, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..a.iters {
        let t = std::time::Instant::now();
        ex.explain(&x, crop, &[], &opts)?;
        total.push(t.elapsed().as_secs_f64() * 1e3);
        let (f, c) = time_parts(&mut ex, &x, crop, &opts)?;
        fwd.push(f);
        cam.push(c);
    }
    let (f, c, t) = (median(&mut fwd), median(&mut cam), median(&mut total));
    let ips = batch as f64 * 1e3 / t;
    // Which convolution form ran each layer (they differ by adapter, precision and
    // SHADERCAM_CONV: conv2d_direct on CPU adapters, conv2d_coop16x16 on tensor cores, ...).
    let ctx = ex.ctx.clone();
    let convs = ex.net.conv_kernels(&ctx, batch, crop, crop)?;
    let info = &ex.ctx.info;
    if a.json {
        outln!(
            "{}",
            serde_json::json!({
                "adapter": info.name, "backend": format!("{:?}", info.backend), "device_type": format!("{:?}", info.device_type),
                "driver": info.driver_info, "batch": batch, "iters": a.iters, "method": a.method.0.name(), "crop": crop,
                "precision": ex.net.precision().name(),
                "conv_kernels": convs.iter().map(|(layer, k)| serde_json::json!({"layer": layer, "kernel": k})).collect::<Vec<_>>(),
                "forward_ms_median": f, "cam_ms_median": c, "total_ms_median": t, "images_per_s": ips,
            })
        )?;
    } else {
        outln!(
            "adapter: {} ({:?}, {:?}) {}",
            info.name,
            info.backend,
            info.device_type,
            info.driver_info
        )?;
        outln!(
            "batch {} x {crop}x{crop}, {} iterations after {} warm-up, method {}, precision {}",
            batch,
            a.iters,
            a.warmup,
            a.method.0,
            ex.net.precision()
        )?;
        let mut kinds: Vec<&str> = convs.iter().map(|(_, k)| k.as_str()).collect();
        kinds.dedup();
        outln!("conv kernels: {}", kinds.join(", "))?;
        outln!("forward  {f:10.3} ms (median)")?;
        outln!("cam      {c:10.3} ms (median)")?;
        outln!(
            "total    {t:10.3} ms (median: upload + forward + CAM + overlays + readback, one submit)"
        )?;
        outln!("throughput {ips:.1} images/s")?;
    }
    if a.profile {
        profile(ProfileArgs {
            method: a.method,
            json: a.json,
            model,
        })?;
    }
    Ok(())
}

/// `shadercam profile`: every dispatch of forward + CAM, timed one by one (median of 3).
pub fn profile(a: ProfileArgs) -> Result<()> {
    let batch = a.model.batch.unwrap_or(1);
    let (mut ex, pre, _) = load(&a.model)?;
    let crop = pre.crop_size as usize;
    let x = inputs(batch, crop);
    let opts = ExplainOptions {
        method: a.method.0,
        ..Default::default()
    };
    ex.explain(&x, crop, &[], &opts)?; // warm-up: compiles pipelines, fills the maps
    let rows = dispatch_table(&mut ex, &x, crop, &opts)?;
    let ds: Vec<_> = rows.iter().map(|r| &r.dispatch).collect();
    // Median of 3 runs per dispatch.
    let mut runs = Vec::new();
    let mut gpu_clock = true;
    for _ in 0..3 {
        let (t, exact) = time_dispatches(&ex.ctx, &ds)?;
        gpu_clock &= exact;
        runs.push(t);
    }
    let times: Vec<f64> = (0..rows.len())
        .map(|i| median(&mut runs.iter().map(|r| r[i]).collect::<Vec<_>>()))
        .collect();
    let sum: f64 = times.iter().sum();
    if a.json {
        let v: Vec<_> = rows
            .iter()
            .zip(&times)
            .map(|(r, ms)| serde_json::json!({"kernel": r.label, "shader": r.kernel, "shape": r.shape, "ms": ms, "gflops": 2.0 * r.macs as f64 / ms / 1e6, "gbps": r.bytes as f64 / ms / 1e6, "share": ms / sum}))
            .collect();
        outln!(
            "{}",
            serde_json::json!({"adapter": ex.ctx.info.name, "gpu_timestamps": gpu_clock, "batch": batch, "total_ms": sum, "kernels": v})
        )?;
        return Ok(());
    }
    outln!(
        "adapter: {} — times from {}",
        ex.ctx.describe(),
        if gpu_clock {
            "GPU timestamp queries"
        } else {
            "CPU clock around one submit per kernel (no TIMESTAMP_QUERY)"
        }
    )?;
    outln!(
        "{:<22} {:<34} {:>16} {:>10} {:>9} {:>8} {:>6}",
        "kernel",
        "shader",
        "output (NHWC)",
        "ms",
        "GFLOP/s",
        "GB/s",
        "share"
    )?;
    for (r, ms) in rows.iter().zip(&times) {
        let gf = if r.macs > 0 {
            format!("{:.1}", 2.0 * r.macs as f64 / ms / 1e6)
        } else {
            "-".into()
        };
        let gb = if r.bytes > 0 {
            format!("{:.1}", r.bytes as f64 / ms / 1e6)
        } else {
            "-".into()
        };
        outln!(
            "{:<22} {:<34} {:>16} {ms:>10.3} {gf:>9} {gb:>8} {:>5.1}%",
            r.label,
            r.kernel,
            r.shape,
            ms / sum * 100.0
        )?;
    }
    outln!("{:<22} {:<34} {:>16} {sum:>10.3}", "total", "", "")?;
    Ok(())
}
