//! The real `shadercam` binary on tests/fixtures: outputs, JSON fields, exit codes, parity of
//! the written heatmap with pytorch-grad-cam, and `eval`'s pointing game against the one the
//! reference maps give. GPU runs use whatever adapter wgpu finds (lavapipe in CI).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{fixture, json_lines, read_npy, run, run_ok};

fn tmp(name: &str) -> PathBuf {
    common::tmp("cli", name)
}

fn read_f32(path: &Path, name: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(name)
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn explain_writes_every_output_and_matches_pytorch_grad_cam() {
    let out_dir = tmp("explain");
    let img = fixture("images/shape_002.png");
    let out = run_ok(&[
        "explain",
        img.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--json",
        "--save-heatmap",
        "--maps",
        "4",
        "--top-k",
        "2",
    ]);
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r["image"], img.to_str().unwrap());
    assert_eq!(
        (r["width"].as_u64(), r["height"].as_u64()),
        (Some(384), Some(384))
    );
    assert_eq!(r["method"], "gradcam");
    assert_eq!(r["target"], 1, "shape_002 is a ring (class 1)");
    assert_eq!(r["targets"].as_array().unwrap().len(), 2);
    assert_eq!(r["logits"].as_array().unwrap().len(), 8);
    let p0 = &r["predictions"][0];
    assert_eq!(
        (p0["class_index"].as_u64(), p0["label"].as_str()),
        (Some(1), Some("ring"))
    );
    assert!(p0["score"].as_f64().unwrap() > 0.99 && p0["logit"].is_number());
    let (px, py) = (
        r["peak"]["x"].as_u64().unwrap(),
        r["peak"]["y"].as_u64().unwrap(),
    );
    assert!(px < 384 && py < 384);
    let b: Vec<u64> = r["box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(
        b[0] <= px && px <= b[2] && b[1] <= py && py <= b[3],
        "peak inside the CAM box: {b:?} ({px}, {py})"
    );
    for f in [
        "shape_002.cam.png",
        "shape_002.overlay.png",
        "shape_002.heatmap.npy",
        "shape_002.maps.png",
    ] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    let second = r["targets"][1].as_u64().unwrap();
    assert!(
        out_dir
            .join(format!("shape_002.class{second}.cam.png"))
            .is_file()
    );
    let overlay = image_dims(&out_dir.join("shape_002.overlay.png"));
    assert_eq!(overlay, (384, 384), "overlay covers the original picture");
    // From the PNG file (not the reference tensor): preprocessing + forward + CAM end to end.
    let (shape, heat) = read_npy(&out_dir.join("shape_002.heatmap.npy"));
    assert_eq!(shape, [224, 224]);
    let want = read_f32(&fixture("reference.safetensors"), "shape_002.gradcam");
    let err = heat
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        err <= 2e-3,
        "heatmap from the PNG differs from pytorch-grad-cam by {err}"
    );
    // No temporary files are left behind.
    for e in std::fs::read_dir(&out_dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "leftover file {name}");
    }
}

fn image_dims(p: &Path) -> (u32, u32) {
    let b = std::fs::read(p).unwrap();
    assert_eq!(&b[1..4], b"PNG");
    (
        u32::from_be_bytes([b[16], b[17], b[18], b[19]]),
        u32::from_be_bytes([b[20], b[21], b[22], b[23]]),
    )
}

#[test]
fn bad_inputs_are_reported_and_the_good_ones_still_run() {
    let dir = tmp("mixed");
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("notes.png");
    std::fs::write(&fake, "this is text, not a PNG").unwrap();
    let empty_dir = dir.join("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let out_dir = dir.join("out");
    let good = fixture("images/shape_000.png");
    let out = run(&[
        "explain",
        good.to_str().unwrap(),
        fake.to_str().unwrap(),
        "missing.png",
        empty_dir.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "some inputs failed: exit 1");
    let recs = json_lines(&out);
    let err_of = |needle: &str| {
        recs.iter()
            .find(|r| r["image"].as_str().is_some_and(|i| i.contains(needle)))
            .and_then(|r| r["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no error record for {needle}: {recs:?}"))
    };
    assert!(err_of("notes.png").contains("notes.png"));
    assert!(err_of("missing.png").contains("no such file"));
    assert!(err_of("empty").contains("no image files"));
    assert!(
        recs.iter()
            .any(|r| r["image"] == good.to_str().unwrap() && r["target"] == 6)
    );
    assert!(out_dir.join("shape_000.cam.png").is_file());
    assert!(
        !out_dir.join("notes.cam.png").exists(),
        "no output for a failed input"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 ok, 3 failed"), "summary line: {stderr}");
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let dir = tmp("usage");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let img = fixture("images/shape_000.png");
    let img = img.to_str().unwrap();
    let out_dir = dir.join("out");
    let od = out_dir.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["explain", img, "--top-k", "0", "--out-dir", od],
            "invalid value '0' for '--top-k <K>'",
        ),
        (
            vec!["explain", img, "--target", "99", "--out-dir", od],
            "--target 99 is outside the model's 8 classes",
        ),
        (
            vec!["explain", img, "--out-dir", file.to_str().unwrap()],
            "is not a directory",
        ),
        (
            vec![
                "explain",
                img,
                "--target",
                "1",
                "--top-k",
                "2",
                "--out-dir",
                od,
            ],
            "cannot be used with",
        ),
        (
            vec!["explain", img, "--method", "magic", "--out-dir", od],
            "unknown method",
        ),
    ] {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: expected {needle:?} in {stderr}"
        );
    }
}

#[test]
fn a_bad_checkpoint_is_a_clear_error() {
    let dir = tmp("ckpt");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("random.safetensors");
    std::fs::write(&bad, [7u8; 64]).unwrap();
    let img = fixture("images/shape_000.png");
    let out = run(&[
        "classify",
        img.to_str().unwrap(),
        "--weights",
        bad.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("random.safetensors") && stderr.contains("not a valid safetensors file"),
        "{stderr}"
    );
}

#[test]
fn classify_a_directory_as_json() {
    let out = run_ok(&[
        "classify",
        fixture("images").to_str().unwrap(),
        "--json",
        "--top-k",
        "3",
    ]);
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 8, "every fixture image");
    let labels: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("labels.json")).unwrap()).unwrap();
    let half = run_ok(&[
        "classify",
        fixture("images").to_str().unwrap(),
        "--json",
        "--precision",
        "f16w",
    ]);
    for (a, b) in recs.iter().zip(json_lines(&half)) {
        assert_eq!(
            a["predictions"][0]["class_index"], b["predictions"][0]["class_index"],
            "f16 weights keep the top-1"
        );
    }
    for r in &recs {
        assert_eq!(r["predictions"].as_array().unwrap().len(), 3);
        assert!(
            r.get("peak").is_none() && r.get("box").is_none(),
            "classify has no map fields"
        );
        let stem = Path::new(r["image"].as_str().unwrap())
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            r["predictions"][0]["class_index"], labels["images"][&stem]["top1"],
            "{stem}"
        );
    }
}

/// score_refs.py's pointing game, on the reference Grad-CAM maps.
fn reference_pointing_game() -> f64 {
    let labels: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("labels.json")).unwrap()).unwrap();
    let (mut hit, mut n) = (0, 0);
    for (name, l) in labels["images"].as_object().unwrap() {
        let Some(b) = l["box"].as_array() else {
            continue;
        };
        let b: Vec<f64> = b.iter().map(|v| v.as_f64().unwrap()).collect();
        let (w, h) = (l["width"].as_f64().unwrap(), l["height"].as_f64().unwrap());
        let (short, long) = (w.min(h), w.max(h));
        let nl = (256.0 * long / short).floor();
        let (nw, nh) = if w <= h { (256.0, nl) } else { (nl, 256.0) };
        let r = nw / w;
        let round_even = |v: f64| {
            let f = v.floor();
            if v - f == 0.5 {
                if f % 2.0 == 0.0 { f } else { f + 1.0 }
            } else {
                v.round()
            }
        };
        let (left, top) = (
            round_even((nw - 224.0) / 2.0),
            round_even((nh - 224.0) / 2.0),
        );
        let gc = read_f32(
            &fixture("reference.safetensors"),
            &format!("{name}.gradcam"),
        );
        let idx = gc
            .iter()
            .enumerate()
            .fold(0, |m, (i, &v)| if v > gc[m] { i } else { m });
        let (px, py) = ((idx % 224) as f64, (idx / 224) as f64);
        let (x0, x1, y0, y1) = (
            b[0] * r - left,
            b[2] * r - left,
            b[1] * r - top,
            b[3] * r - top,
        );
        hit += (x0 - 0.5 <= px && px <= x1 + 0.5 && y0 - 0.5 <= py && py <= y1 + 0.5) as usize;
        n += 1;
    }
    hit as f64 / n as f64
}

#[test]
fn eval_gives_the_reference_pointing_game() {
    let out = run_ok(&["eval", fixture("labels.json").to_str().unwrap(), "--json"]);
    let s = &json_lines(&out)[0];
    assert_eq!(s["images"], 8);
    assert_eq!(s["boxes"], 6);
    assert_eq!(s["top1_accuracy"].as_f64(), Some(1.0), "{s}");
    let want = reference_pointing_game();
    assert_eq!(
        s["pointing_game"].as_f64(),
        Some(want),
        "ours {s} vs reference maps {want}"
    );
    assert!(s["iou50"].as_f64().is_some());
}

#[test]
fn bench_and_profile_report_their_fields() {
    let out = run_ok(&[
        "bench", "--batch", "1", "--iters", "1", "--warmup", "0", "--json",
    ]);
    let b = &json_lines(&out)[0];
    for k in [
        "adapter",
        "backend",
        "batch",
        "iters",
        "forward_ms_median",
        "cam_ms_median",
        "total_ms_median",
        "images_per_s",
    ] {
        assert!(b.get(k).is_some(), "bench JSON lacks {k}: {b}");
    }
    assert!(
        b["forward_ms_median"].as_f64().unwrap() > 0.0 && b["images_per_s"].as_f64().unwrap() > 0.0
    );
    // The convolution form that ran each of ResNet-50's 53 convolutions (f32: conv2d on GPUs,
    // conv2d_direct on CPU adapters).
    let convs = b["conv_kernels"].as_array().unwrap();
    assert_eq!(convs.len(), 53, "{b}");
    assert_eq!(convs[0]["layer"], "conv1");
    assert!(
        convs.iter().all(|c| c["kernel"]
            .as_str()
            .is_some_and(|k| k == "conv2d" || k == "conv2d_direct")),
        "{b}"
    );
    // f16 with the tensor-core kernel forced: every layer says so (where the adapter has
    // cooperative matrices; elsewhere the run is refused with the reason).
    let out = common::output(
        common::shadercam()
            .args([
                "bench", "--batch", "1", "--iters", "1", "--warmup", "0", "--json",
            ])
            .args(["--precision", "f16"])
            .env("SHADERCAM_CONV", "coop")
            .env_remove("SHADERCAM_WEIGHTS"),
    );
    if out.status.success() {
        let b = &json_lines(&out)[0];
        let convs = b["conv_kernels"].as_array().unwrap();
        assert!(
            convs
                .iter()
                .all(|c| c["kernel"].as_str().unwrap().starts_with("conv2d_coop")),
            "{b}"
        );
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no usable cooperative matrices"), "{err}");
    }
    // A kernel name SHADERCAM_CONV does not know is an error that lists the names.
    let out = common::output(
        common::shadercam()
            .args(["bench", "--batch", "1", "--iters", "1", "--warmup", "0"])
            .env("SHADERCAM_CONV", "bogus")
            .env_remove("SHADERCAM_WEIGHTS"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("SHADERCAM_CONV=\"bogus\": expected auto, tiled, direct or coop"),
        "{err}"
    );
    let out = run_ok(&["profile", "--json"]);
    let p = &json_lines(&out)[0];
    let kernels = p["kernels"].as_array().unwrap();
    assert!(
        kernels.len() > 50,
        "every conv of ResNet-50 plus the CAM stage"
    );
    assert!(kernels.iter().any(|k| {
        k["kernel"] == "layer4.2.conv3"
            && k["shader"]
                .as_str()
                .is_some_and(|s| s.starts_with("conv2d"))
    }));
    let share: f64 = kernels.iter().map(|k| k["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-6);
}

#[cfg(target_os = "linux")]
#[test]
fn no_adapter_is_an_error_with_instructions() {
    // Linux has no DX12: restricting wgpu to it leaves no adapter at all.
    let img = fixture("images/shape_000.png");
    let cases: [(&str, &str, &[&str]); 2] = [
        (
            "WGPU_BACKEND",
            "dx12",
            &[
                "no usable GPU adapter",
                "apt-get install mesa-vulkan-drivers",
            ],
        ),
        (
            "SHADERCAM_ADAPTER",
            "no-such-gpu-anywhere",
            &["SHADERCAM_ADAPTER=\"no-such-gpu-anywhere\" matches none"],
        ),
    ];
    for (key, value, needles) in cases {
        let out = common::shadercam()
            .args(["classify", img.to_str().unwrap()])
            .env(key, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(needles.iter().all(|n| stderr.contains(n)), "{stderr}");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_between_images_and_leaves_only_whole_files() {
    use std::io::{BufRead, BufReader};
    let out_dir = tmp("ctrlc");
    let mut child = common::shadercam()
        .args([
            "explain",
            fixture("images").to_str().unwrap(),
            "--batch",
            "1",
            "--out-dir",
            out_dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("one image done").unwrap();
    assert!(first.contains("->"), "{first}");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted:") && stderr.contains("not processed"),
        "{stderr}"
    );
    assert!(rest.len() < 7, "stopped before the end: {rest:?}");
    for e in std::fs::read_dir(&out_dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "leftover temporary file {name}");
        let b = std::fs::read(&p).unwrap();
        assert!(
            b.ends_with(&[0xAE, 0x42, 0x60, 0x82]),
            "{name} is not a whole PNG (no IEND chunk)"
        );
    }
}

/// Regression: `shadercam classify --json DIR | head -1` panicked with "failed printing to
/// stdout: Broken pipe" (`println!` on a pipe whose reader had gone). Now a closed stdout ends
/// the run quietly with exit 0, as `rg` and `ls` do.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    // One image per batch: the later records are written well after the pipe is closed.
    let mut child = common::shadercam()
        .args([
            "classify",
            fixture("images").to_str().unwrap(),
            "--json",
            "--batch",
            "1",
        ])
        .env_remove("SHADERCAM_WEIGHTS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("\"predictions\""), "first record: {first}");
    drop(stdout); // closes the pipe: like `head -1` exiting
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    const SIGPIPE: i32 = 13;
    assert!(
        out.status.success() || out.status.signal() == Some(SIGPIPE),
        "exit {:?}: {stderr}",
        out.status
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

/// A PNG whose header announces `w`x`h` pixels but that holds one byte of pixel data.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    for (kind, data) in [
        (
            &b"IDAT"[..],
            &[0x78u8, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01][..],
        ),
        (b"IEND", &[]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend(data);
        png.extend((data.len() as u32).to_be_bytes());
        png.extend(&chunk);
        png.extend(crc32(&chunk).to_be_bytes());
    }
    png
}

#[test]
fn a_decompression_bomb_is_refused_before_decoding() {
    let dir = tmp("bomb");
    std::fs::create_dir_all(&dir).unwrap();
    let bomb = dir.join("bomb.png");
    std::fs::write(&bomb, png_header_only(60000, 60000)).unwrap();
    let out = run(&[
        "explain",
        bomb.to_str().unwrap(),
        "--out-dir",
        dir.join("out").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let rec = &json_lines(&out)[0];
    let msg = rec["error"].as_str().unwrap();
    assert!(
        msg.contains("bomb.png") && msg.contains("60000x60000") && msg.contains("--max-pixels"),
        "{msg}"
    );
    assert!(!dir.join("out/bomb.cam.png").exists());
}

#[test]
fn tiny_thin_and_large_pictures_work() {
    let dir = tmp("sizes");
    std::fs::create_dir_all(&dir).unwrap();
    let mut seed = 1u32;
    let mut noise = |w: u32, h: u32| {
        image::RgbImage::from_fn(w, h, |_, _| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            image::Rgb([(seed >> 24) as u8, (seed >> 16) as u8, (seed >> 8) as u8])
        })
    };
    noise(1, 1).save(dir.join("one.png")).unwrap();
    noise(5000, 3).save(dir.join("thin.png")).unwrap();
    // 6000x4000: the overlay is drawn on a copy scaled to 2048 px, not on 24 million pixels.
    noise(6000, 4000).save(dir.join("large.png")).unwrap();
    let out_dir = dir.join("out");
    let out = run_ok(&[
        "explain",
        dir.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 3);
    for r in &recs {
        let (w, h) = (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap());
        assert!(
            r["peak"]["x"].as_u64().unwrap() < w && r["peak"]["y"].as_u64().unwrap() < h,
            "{r}"
        );
        let b: Vec<u64> = r["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert!(b[0] <= b[2] && b[2] < w && b[1] <= b[3] && b[3] < h, "{r}");
    }
    assert_eq!(image_dims(&out_dir.join("one.overlay.png")), (1, 1));
    assert_eq!(image_dims(&out_dir.join("thin.overlay.png")), (2048, 1));
    assert_eq!(image_dims(&out_dir.join("large.overlay.png")), (2048, 1365));
    assert_eq!(image_dims(&out_dir.join("large.cam.png")), (224, 224));
}

#[test]
fn inputs_with_the_same_stem_do_not_overwrite_each_other() {
    let dir = tmp("stems");
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::copy(fixture("images/shape_000.png"), dir.join("a/x.png")).unwrap();
    std::fs::copy(fixture("images/shape_002.png"), dir.join("b/x.png")).unwrap();
    let out_dir = dir.join("out");
    let out = run_ok(&[
        "explain",
        dir.join("a").to_str().unwrap(),
        dir.join("b").to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("x.cam.png") && stdout.contains("x-1.cam.png"),
        "{stdout}"
    );
    for f in [
        "x.cam.png",
        "x.overlay.png",
        "x-1.cam.png",
        "x-1.overlay.png",
    ] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
}
