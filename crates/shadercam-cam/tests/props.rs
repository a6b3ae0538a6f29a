//! Property tests: bad or unusual input never crashes the CPU side of shadercam.
//!
//! Random image sizes from 1x1 to 4096x4096 (and extreme aspect ratios such as 4096x1) with
//! several resize/crop settings go through the crop geometry, the heatmap post-processing
//! (peak, CAM box, mapping back to the original picture), the overlay placement, and, on small
//! real images, the torchvision preprocessing. No GPU is needed.
//!
//! Run: `cargo test -p shadercam-cam --test props`.

use image::RgbImage;
use proptest::prelude::*;
use shadercam_cam::{
    MAX_OVERLAY_SIDE, cam_box, crop_box_to_original, crop_pixel_to_original, original_placement,
    peak,
};
use shadercam_image::{CropGeometry, Preprocess, preprocess};

/// Original image sizes: anything from 1x1 to 4096x4096, with extra weight on tiny and
/// extremely thin or flat pictures.
fn image_size() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        3 => (1u32..=4096, 1u32..=4096),
        1 => (1u32..=16, 1u32..=16),
        1 => (1u32..=4096, 1u32..=4),
        1 => (1u32..=4, 1u32..=4096),
        1 => prop_oneof![
            Just((4096u32, 1u32)),
            Just((1, 4096)),
            Just((1, 1)),
            Just((4096, 4096)),
            Just((4095, 4096)),
            Just((4096, 3)),
        ],
    ]
}

/// `(resize_size, crop_size)` with `resize_size >= crop_size`: the common settings plus random
/// ones.
fn resize_crop() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        2 => Just((256u32, 224u32)),
        1 => prop_oneof![
            Just((36u32, 32u32)),
            Just((224, 224)),
            Just((232, 224)),
            Just((288, 256)),
            Just((480, 448)),
            Just((1, 1)),
            Just((2, 1)),
        ],
        2 => (1u32..=384).prop_flat_map(|crop| (crop..=crop + 128).prop_map(move |r| (r, crop))),
    ]
}

/// A non-negative heatmap, described compactly and expanded for a given crop size.
#[derive(Clone, Debug)]
enum Heat {
    /// All zeros (a class with no positive evidence).
    Zero,
    /// One positive pixel; `at` is reduced modulo `crop * crop`.
    SingleHot { at: usize, value: f32 },
    /// The same value everywhere.
    Constant(f32),
    /// Pseudo-random values in `[0, 1)`, a `zero_per_mille` share of them set to 0 (so the
    /// thresholded map splits into several components).
    Random { seed: u64, zero_per_mille: u32 },
}

fn heat() -> impl Strategy<Value = Heat> {
    prop_oneof![
        1 => Just(Heat::Zero),
        2 => (any::<usize>(), prop_oneof![Just(1.0f32), 1e-30f32..1e30]).prop_map(|(at, value)| Heat::SingleHot { at, value }),
        1 => prop_oneof![Just(1.0f32), Just(f32::MIN_POSITIVE), 1e-6f32..1e6].prop_map(Heat::Constant),
        3 => (any::<u64>(), 0u32..=1000).prop_map(|(seed, zero_per_mille)| Heat::Random { seed, zero_per_mille }),
    ]
}

/// xorshift64*: cheap deterministic noise, so big maps cost nothing to generate or shrink.
fn noise(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed | 1;
    move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Heat {
    fn map(&self, crop: usize) -> Vec<f32> {
        let n = crop * crop;
        match *self {
            Heat::Zero => vec![0.0; n],
            Heat::SingleHot { at, value } => {
                let mut m = vec![0.0; n];
                m[at % n] = value;
                m
            }
            Heat::Constant(v) => vec![v; n],
            Heat::Random {
                seed,
                zero_per_mille,
            } => {
                let mut next = noise(seed);
                (0..n)
                    .map(|_| {
                        let r = next();
                        if (r % 1000) < u64::from(zero_per_mille) {
                            0.0
                        } else {
                            (r >> 40) as f32 / (1u64 << 24) as f32
                        }
                    })
                    .collect()
            }
        }
    }
}

/// The picture the overlay is drawn on, exactly as `pipeline::load_image` sizes it.
fn displayed_size(w: u32, h: u32) -> (usize, usize) {
    let scale = (f64::from(MAX_OVERLAY_SIDE) / f64::from(w.max(h))).min(1.0);
    if scale < 1.0 {
        (
            ((f64::from(w) * scale).round() as usize).max(1),
            ((f64::from(h) * scale).round() as usize).max(1),
        )
    } else {
        (w as usize, h as usize)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// torchvision's resize + centre crop: the crop lies inside the resized picture, the short
    /// side becomes `resize_size`, the long side `int(resize_size * long / short)`.
    #[test]
    fn crop_geometry_is_consistent((w, h) in image_size(), (resize, crop) in resize_crop()) {
        let g = CropGeometry::new(w, h, resize, crop);
        prop_assert_eq!((g.orig_w, g.orig_h, g.crop), (w, h, crop));
        prop_assert!(u64::from(g.left) + u64::from(crop) <= u64::from(g.resized_w), "{:?}", g);
        prop_assert!(u64::from(g.top) + u64::from(crop) <= u64::from(g.resized_h), "{:?}", g);
        let (short, long) = (w.min(h), w.max(h));
        let (r_short, r_long) = if w <= h { (g.resized_w, g.resized_h) } else { (g.resized_h, g.resized_w) };
        prop_assert_eq!(r_short, resize, "{:?}", g);
        prop_assert_eq!(u64::from(r_long), u64::from(resize) * u64::from(long) / u64::from(short), "{:?}", g);
        // The crop is centred: the margins differ by at most one pixel.
        let (right, bottom) = (g.resized_w - crop - g.left, g.resized_h - crop - g.top);
        prop_assert!(g.left.abs_diff(right) <= 1 && g.top.abs_diff(bottom) <= 1, "{:?}", g);
        // Its corners map into the original picture, in order.
        let (x0, y0) = g.crop_to_original(0.0, 0.0);
        let (x1, y1) = g.crop_to_original(crop as f32, crop as f32);
        prop_assert!(0.0 <= x0 && x0 < x1 && x1 <= w as f32, "{x0} {x1} {:?}", g);
        prop_assert!(0.0 <= y0 && y0 < y1 && y1 <= h as f32, "{y0} {y1} {:?}", g);
    }

    /// Peak and CAM box of any non-negative heatmap, mapped back, land inside the original
    /// picture; a single hot pixel is its own peak and box, and its peak lies in its box.
    #[test]
    fn heatmap_post_processing_stays_inside_the_picture(
        (w, h) in image_size(),
        (resize, crop) in resize_crop(),
        heat in heat(),
    ) {
        let g = CropGeometry::new(w, h, resize, crop);
        let c = crop as usize;
        let map = heat.map(c);

        let (px, py) = peak(&map, c);
        prop_assert!(px < c && py < c, "peak ({px}, {py}) outside {c}x{c}");
        let (ox, oy) = crop_pixel_to_original(&g, px, py);
        prop_assert!(ox < w && oy < h, "peak ({ox}, {oy}) outside {w}x{h}; {:?}", g);

        let b = cam_box(&map, c, 0.2);
        let positive = map.iter().any(|&v| v > 0.0);
        match b {
            None => prop_assert!(!positive, "map with a positive value has no box"),
            Some(b) => {
                prop_assert!(positive, "all-zero map has a box {b:?}");
                prop_assert!(b[0] <= b[2] && b[2] < c && b[1] <= b[3] && b[3] < c, "crop box {b:?}");
                let o = crop_box_to_original(&g, b);
                prop_assert!(o[0] <= o[2] && o[2] < w && o[1] <= o[3] && o[3] < h,
                    "box {o:?} outside {w}x{h} (crop box {b:?}); {:?}", g);
                // The mapped box covers the mapped centres of its own corner pixels.
                for (cx, cy) in [(b[0], b[1]), (b[2], b[3])] {
                    let (mx, my) = crop_pixel_to_original(&g, cx, cy);
                    prop_assert!(o[0] <= mx && mx <= o[2] && o[1] <= my && my <= o[3],
                        "corner ({cx}, {cy}) -> ({mx}, {my}) outside {o:?}; {:?}", g);
                }
                if let Heat::SingleHot { at, .. } = heat {
                    let (hx, hy) = ((at % (c * c)) % c, (at % (c * c)) / c);
                    prop_assert_eq!((px, py), (hx, hy));
                    prop_assert_eq!(b, [hx, hy, hx, hy]);
                    prop_assert!(o[0] <= ox && ox <= o[2] && o[1] <= oy && oy <= o[3],
                        "peak ({ox}, {oy}) outside its box {o:?}; {:?}", g);
                }
            }
        }
    }

    /// Peak and box never panic on any values at all: NaN, infinities, negatives, subnormals.
    #[test]
    fn peak_and_box_accept_any_floats(
        (w, values) in (1usize..=48, 1usize..=48).prop_flat_map(|(w, h)| {
            (Just(w), proptest::collection::vec(any::<f32>(), w * h))
        }),
        frac in prop_oneof![Just(0.0f32), Just(0.2), Just(1.0), any::<f32>()],
    ) {
        let h = values.len() / w;
        let (px, py) = peak(&values, w);
        prop_assert!(px < w && py < h);
        if let Some(b) = cam_box(&values, w, frac) {
            prop_assert!(b[0] <= b[2] && b[2] < w && b[1] <= b[3] && b[3] < h, "{b:?}");
        }
    }

    /// The crop's rectangle on the displayed picture (the original, or its scaled-down copy for
    /// the overlay) is non-empty and inside it; the map placement is finite.
    #[test]
    fn overlay_placement_is_inside_the_displayed_picture(
        (w, h) in image_size(),
        (resize, crop) in resize_crop(),
        (fh, fw) in (1usize..=32, 1usize..=32),
        any_display in (1usize..=4096, 1usize..=4096),
    ) {
        let g = CropGeometry::new(w, h, resize, crop);
        for (dw, dh) in [displayed_size(w, h), (w as usize, h as usize), any_display] {
            let (place, rect) = original_placement(&g, dw, dh, (fh, fw));
            prop_assert!(place.iter().all(|v| v.is_finite()), "{place:?}");
            prop_assert!(place[0] > 0.0 && place[2] > 0.0, "{place:?}");
            let [x0, y0, x1, y1] = rect;
            prop_assert!(x0 < x1 && x1 as usize <= dw && y0 < y1 && y1 as usize <= dh,
                "rect {rect:?} on {dw}x{dh}; {:?}", g);
        }
    }
}

/// A small RGB image with random pixels.
fn small_image(max_side: u32) -> impl Strategy<Value = RgbImage> {
    (1..=max_side, 1..=max_side).prop_flat_map(|(w, h)| {
        proptest::collection::vec(any::<u8>(), (w * h * 3) as usize)
            .prop_map(move |px| RgbImage::from_raw(w, h, px).expect("w*h*3 bytes"))
    })
}

/// Checks one preprocessing result: size, finiteness, and that the tensor is the normalised
/// crop picture.
fn check_prepared(img: &RgbImage, p: &Preprocess) -> Result<(), TestCaseError> {
    let (w, h) = img.dimensions();
    let out = preprocess(img, p).map_err(|e| TestCaseError::fail(format!("{w}x{h}: {e}")))?;
    let c = p.crop_size as usize;
    prop_assert_eq!(out.tensor_hwc.len(), c * c * 3);
    prop_assert!(out.tensor_hwc.iter().all(|v| v.is_finite()));
    prop_assert_eq!(out.crop_rgb.dimensions(), (p.crop_size, p.crop_size));
    prop_assert_eq!(
        out.geometry,
        CropGeometry::new(w, h, p.resize_size, p.crop_size)
    );
    for (i, (&t, &v)) in out.tensor_hwc.iter().zip(out.crop_rgb.as_raw()).enumerate() {
        let k = i % 3;
        prop_assert_eq!(t, (f32::from(v) / 255.0 - p.mean[k]) / p.std[k]);
    }
    // A flat picture stays flat through the antialiased resize.
    if let Some(first) = img.pixels().next()
        && img.pixels().all(|q| q == first)
    {
        prop_assert!(out.crop_rgb.pixels().all(|q| q == first));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Small random pictures, crop 32 of resize 36 (and random small settings).
    #[test]
    fn preprocess_small_images(
        img in prop_oneof![3 => small_image(64), 1 => small_image(3)],
        (resize, crop) in prop_oneof![3 => Just((36u32, 32u32)), 1 => (1u32..=48).prop_flat_map(|c| (c..=c + 16).prop_map(move |r| (r, c)))],
    ) {
        let p = Preprocess { resize_size: resize, crop_size: crop, ..Preprocess::default() };
        check_prepared(&img, &p)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// The default 256/224 on a few small pictures and on very thin ones (up to 4096x2).
    #[test]
    fn preprocess_default_settings(
        img in prop_oneof![
            small_image(64),
            (1u32..=4096, 1u32..=2, any::<bool>(), any::<u64>()).prop_map(|(long, short, tall, seed)| {
                let (w, h) = if tall { (short, long) } else { (long, short) };
                let mut next = noise(seed);
                RgbImage::from_fn(w, h, |_, _| image::Rgb([next() as u8, (next() >> 8) as u8, (next() >> 16) as u8]))
            }),
        ],
    ) {
        check_prepared(&img, &Preprocess::default())?;
    }
}
