//! Bit-exact reimplementation of Pillow's antialiased BILINEAR `Image.resize`
//! (`src/libImaging/Resample.c`: `precompute_coeffs`, `normalize_coeffs_8bpc`,
//! `ImagingResampleHorizontal_8bpc`, `ImagingResampleVertical_8bpc`, `ImagingResampleInner`).
//!
//! Why not `fast_image_resize`: its convolution follows Pillow-SIMD, which quantises the weights
//! to `i16` with at most 15 fractional bits, while Pillow uses `i32` weights with 22 fractional
//! bits (`PRECISION_BITS = 32 - 8 - 2`). The two round differently on some pixels (one 8-bit
//! level), and one level in the green channel is `1 / (255 * 0.224) = 0.01751` after
//! normalisation — just over the 0.0175 parity budget. This implementation reproduces Pillow's
//! arithmetic step by step (double-precision weights computed in the same order, the same
//! quantisation, horizontal pass first with an 8-bit intermediate, then vertical).
//!
//! It also computes only the output window that is needed (the centre crop): each output pixel
//! of a separable convolution depends only on its own weights, so a window of the full resize
//! is bit-identical to cropping the full resize, at a fraction of the memory (a 5000x3 image
//! resizes to 426666x256 in torchvision; here only the 224x224 crop is computed).

/// Pillow's fixed-point precision for 8-bit resampling.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's `bilinear_filter` (support 1.0).
fn bilinear_filter(x: f64) -> f64 {
    let x = if x < 0.0 { -x } else { x };
    if x < 1.0 { 1.0 - x } else { 0.0 }
}
const BILINEAR_SUPPORT: f64 = 1.0;

/// Quantised weights of the output indices `first..first + count` of a 1-D resize from
/// `in_size` to `out_size` (Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`, box
/// `[0, in_size]`).
struct Coeffs {
    /// First input index for each output index.
    xmin: Vec<usize>,
    /// Number of input taps for each output index.
    len: Vec<usize>,
    /// `ksize` weights per output index (only the first `len` are used).
    weights: Vec<i32>,
    ksize: usize,
}

impl Coeffs {
    fn new(in_size: u32, out_size: u32, first: u32, count: u32) -> Self {
        // C: `filterscale = scale = (double)(in1 - in0) / outSize;` with float in0/in1.
        let in0 = 0.0f32;
        let in1 = in_size as f32;
        let scale = f64::from(in1 - in0) / f64::from(out_size);
        let filterscale = if scale < 1.0 { 1.0 } else { scale };
        let support = BILINEAR_SUPPORT * filterscale;
        let ksize = (support.ceil() as usize) * 2 + 1;
        let ss = 1.0 / filterscale;

        let mut xmin_v = Vec::with_capacity(count as usize);
        let mut len_v = Vec::with_capacity(count as usize);
        let mut weights = vec![0i32; ksize * count as usize];
        let mut k = vec![0f64; ksize];
        for (i, xx) in (first..first + count).enumerate() {
            let center = f64::from(in0) + (f64::from(xx) + 0.5) * scale;
            // C: `(int)(center - support + 0.5)`, truncation toward zero, then clamp.
            let mut xmin = (center - support + 0.5) as i64;
            if xmin < 0 {
                xmin = 0;
            }
            let mut xmax = (center + support + 0.5) as i64;
            if xmax > i64::from(in_size) {
                xmax = i64::from(in_size);
            }
            let n = (xmax - xmin).max(0) as usize;
            let mut ww = 0.0f64;
            for (x, kx) in k.iter_mut().enumerate().take(n) {
                let w = bilinear_filter(((x as i64 + xmin) as f64 - center + 0.5) * ss);
                *kx = w;
                ww += w;
            }
            let row = &mut weights[i * ksize..i * ksize + n];
            for (dst, &kx) in row.iter_mut().zip(&k[..n]) {
                let kx = if ww != 0.0 { kx / ww } else { kx };
                let scaled = kx * f64::from(1u32 << PRECISION_BITS);
                // C: `(int)(-0.5 + k * (1 << PRECISION_BITS))` for negative, `+0.5` otherwise.
                *dst = if kx < 0.0 {
                    (-0.5 + scaled) as i32
                } else {
                    (0.5 + scaled) as i32
                };
            }
            xmin_v.push(xmin as usize);
            len_v.push(n);
        }
        Coeffs {
            xmin: xmin_v,
            len: len_v,
            weights,
            ksize,
        }
    }

    fn taps(&self, i: usize) -> (usize, &[i32]) {
        let n = self.len[i];
        (
            self.xmin[i],
            &self.weights[i * self.ksize..i * self.ksize + n],
        )
    }

    /// Input range `[lo, hi)` touched by all outputs.
    fn input_span(&self) -> (usize, usize) {
        let lo = self.xmin.iter().copied().min().unwrap_or(0);
        let hi = self
            .xmin
            .iter()
            .zip(&self.len)
            .map(|(&a, &n)| a + n)
            .max()
            .unwrap_or(0);
        (lo, hi.max(lo))
    }
}

/// Pillow's `clip8`: `in >> PRECISION_BITS` clamped to 0..=255.
#[inline]
fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

#[inline]
fn convolve3(src: &[u8], stride: usize, start: usize, weights: &[i32]) -> [u8; 3] {
    let half = 1i32 << (PRECISION_BITS - 1);
    let (mut s0, mut s1, mut s2) = (half, half, half);
    for (t, &w) in weights.iter().enumerate() {
        let p = &src[(start + t) * stride..(start + t) * stride + 3];
        s0 += i32::from(p[0]) * w;
        s1 += i32::from(p[1]) * w;
        s2 += i32::from(p[2]) * w;
    }
    [clip8(s0), clip8(s1), clip8(s2)]
}

/// A window of Pillow's `img.resize((out_w, out_h), Image.BILINEAR)` on an interleaved RGB8
/// image: output columns `x0..x0 + win_w` and rows `y0..y0 + win_h`, returned as interleaved
/// RGB8 (`win_w * win_h * 3` bytes). Bit-exact with cropping Pillow's full resize.
///
/// Panics if the window is not inside `out_w x out_h` or `src` is not `in_w * in_h * 3` bytes.
#[allow(clippy::too_many_arguments)]
pub fn resize_bilinear_window(
    src: &[u8],
    in_w: u32,
    in_h: u32,
    out_w: u32,
    out_h: u32,
    x0: u32,
    y0: u32,
    win_w: u32,
    win_h: u32,
) -> Vec<u8> {
    assert_eq!(src.len(), in_w as usize * in_h as usize * 3, "source size");
    assert!(
        u64::from(x0) + u64::from(win_w) <= u64::from(out_w),
        "window x"
    );
    assert!(
        u64::from(y0) + u64::from(win_h) <= u64::from(out_h),
        "window y"
    );
    let (in_w_us, win_w_us, win_h_us) = (in_w as usize, win_w as usize, win_h as usize);

    // Pillow: need_horizontal = xsize != imIn->xsize (box is the whole image).
    let need_h = out_w != in_w;
    let need_v = out_h != in_h;

    // Rows of the source the vertical pass will read.
    let vcoeffs = need_v.then(|| Coeffs::new(in_h, out_h, y0, win_h));
    let (row_lo, row_hi) = match &vcoeffs {
        Some(c) => c.input_span(),
        None => (y0 as usize, y0 as usize + win_h_us),
    };
    let rows = row_hi - row_lo;

    // Horizontal pass (or plain column crop) on rows row_lo..row_hi -> rows x win_w RGB8.
    let mut tmp = vec![0u8; rows * win_w_us * 3];
    if need_h {
        let hc = Coeffs::new(in_w, out_w, x0, win_w);
        for r in 0..rows {
            let src_row = &src[(row_lo + r) * in_w_us * 3..(row_lo + r + 1) * in_w_us * 3];
            let dst_row = &mut tmp[r * win_w_us * 3..(r + 1) * win_w_us * 3];
            for (i, dst) in dst_row.chunks_exact_mut(3).enumerate() {
                let (start, w) = hc.taps(i);
                dst.copy_from_slice(&convolve3(src_row, 3, start, w));
            }
        }
    } else {
        let c0 = x0 as usize * 3;
        for r in 0..rows {
            let s = (row_lo + r) * in_w_us * 3 + c0;
            tmp[r * win_w_us * 3..(r + 1) * win_w_us * 3]
                .copy_from_slice(&src[s..s + win_w_us * 3]);
        }
    }

    // Vertical pass (or done).
    let Some(vc) = vcoeffs else {
        return tmp;
    };
    let stride = win_w_us * 3;
    let mut out = vec![0u8; win_h_us * stride];
    for (j, out_row) in out.chunks_exact_mut(stride).enumerate() {
        let (start, w) = vc.taps(j);
        let start = start - row_lo;
        for x in 0..win_w_us {
            // Column x of tmp, as a strided 3-channel signal along rows.
            let col = &tmp[x * 3..];
            out_row[x * 3..x * 3 + 3].copy_from_slice(&convolve3(col, stride, start, w));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_when_sizes_match() {
        let src: Vec<u8> = (0..5 * 4 * 3).map(|v| v as u8).collect();
        assert_eq!(resize_bilinear_window(&src, 5, 4, 5, 4, 0, 0, 5, 4), src);
        // window of the identity = crop
        let w = resize_bilinear_window(&src, 5, 4, 5, 4, 1, 2, 3, 2);
        assert_eq!(&w[..9], &src[(2 * 5 + 1) * 3..(2 * 5 + 4) * 3]);
    }

    #[test]
    fn constant_image_stays_constant() {
        for &(iw, ih, ow, oh) in &[(1, 1, 256, 256), (7, 3, 2, 9), (300, 200, 37, 256)] {
            let src = vec![200u8; iw * ih * 3];
            let out = resize_bilinear_window(&src, iw as u32, ih as u32, ow, oh, 0, 0, ow, oh);
            assert!(out.iter().all(|&v| v == 200), "{iw}x{ih}->{ow}x{oh}");
        }
    }

    #[test]
    fn window_equals_crop_of_full_resize() {
        let (iw, ih) = (37u32, 23u32);
        let src: Vec<u8> = (0..iw * ih * 3).map(|v| (v * 7919 % 251) as u8).collect();
        for &(ow, oh) in &[(64u32, 40u32), (20, 13), (37, 50), (90, 23)] {
            let full = resize_bilinear_window(&src, iw, ih, ow, oh, 0, 0, ow, oh);
            let (x0, y0, ww, wh) = (ow / 4, oh / 3, ow / 2, oh / 2);
            let win = resize_bilinear_window(&src, iw, ih, ow, oh, x0, y0, ww, wh);
            for y in 0..wh as usize {
                let a =
                    &full[((y + y0 as usize) * ow as usize + x0 as usize) * 3..][..ww as usize * 3];
                assert_eq!(
                    &win[y * ww as usize * 3..][..ww as usize * 3],
                    a,
                    "{ow}x{oh} row {y}"
                );
            }
        }
    }

    #[test]
    fn weights_sum_close_to_one() {
        let c = Coeffs::new(1000, 256, 0, 256);
        for i in 0..256 {
            let s: i64 = c.taps(i).1.iter().map(|&w| i64::from(w)).sum();
            assert!(
                (s - (1 << PRECISION_BITS)).abs() <= c.ksize as i64,
                "{i}: {s}"
            );
        }
    }
}
