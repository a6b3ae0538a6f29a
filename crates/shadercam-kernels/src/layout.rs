//! The NHWC4 layout on the CPU side: every activation on the GPU keeps its channel count
//! padded to a multiple of 4 (zeros in the pad channels), so a shader loads four channels with
//! one `vec4<f32>`. These convert row-major `[rows, c]` data to and from that layout.

/// Pads the last dimension of a row-major `[rows, c]` tensor to `c4 = ceil(c/4)*4` with zeros.
pub fn pad_channels(data: &[f32], c: usize) -> Vec<f32> {
    let c4 = c.next_multiple_of(4);
    if c4 == c {
        return data.to_vec();
    }
    let mut out = vec![0f32; data.len() / c * c4];
    for (src, dst) in data.chunks_exact(c).zip(out.chunks_exact_mut(c4)) {
        dst[..c].copy_from_slice(src);
    }
    out
}

/// Inverse of [`pad_channels`].
pub fn unpad_channels(data: &[f32], c: usize) -> Vec<f32> {
    let c4 = c.next_multiple_of(4);
    data.chunks_exact(c4)
        .flat_map(|r| r[..c].iter().copied())
        .collect()
}
