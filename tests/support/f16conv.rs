//! The f16 convolution against the CPU reference on one case (tests/precision.rs,
//! tests/cooperative.rs).

use crate::assert_close;
use shadercam_kernels::reference::{self, ConvCase, KERNEL_ABS, KERNEL_REL};

/// The buffer types of the network's convolutions in f16: hidden layers, the stem (f32 image
/// in) and the last convolution (f32 maps out).
pub const F16_IOS: [ConvIo; 3] = [
    ConvIo {
        input: Elem::F16,
        output: Elem::F16,
    },
    ConvIo {
        input: Elem::F32,
        output: Elem::F16,
    },
    ConvIo {
        input: Elem::F16,
        output: Elem::F32,
    },
];
use shadercam_kernels::{
    CONV_RELU, CONV_RESIDUAL, ConvBuffers, ConvIo, ConvShape, ConvVariant, Elem, GpuContext,
    Kernels, encode, pad_channels, unpad_channels,
};

/// f16 values as their bits, for an f16 storage buffer.
pub fn to_f16_bits(v: &[f32]) -> Vec<u16> {
    v.iter()
        .map(|&x| half::f16::from_f32(x).to_bits())
        .collect()
}

/// What an `e` buffer holds for `values`: f16 storage rounds them.
pub fn stored(values: &[f32], e: Elem) -> Vec<f32> {
    match e {
        Elem::F32 => values.to_vec(),
        Elem::F16 => reference::round_to_f16(values),
    }
}

/// One convolution case through the f16 kernel of `variant` on `io` buffers, against the CPU
/// reference fed what the kernel multiplies: weights, residual and (but for `Direct` on an f32
/// input) input rounded to f16. Panics past the kernel tolerance; returns the worst absolute
/// error.
pub fn check_f16_conv(
    ctx: &GpuContext,
    k: &Kernels,
    variant: ConvVariant,
    io: ConvIo,
    c: &ConvCase,
    seed: u64,
) -> f32 {
    let &ConvCase {
        n,
        h,
        w,
        cin,
        cout,
        k: ks,
        stride,
        pad,
        relu,
        residual,
        ..
    } = c;
    let reference::ConvData {
        input: x,
        weight: wt,
        bias: b,
        residual: res,
    } = c.random_data(seed);
    let (oh, ow) = c.out_hw();
    let f16 = |v: &[f32]| reference::round_to_f16(v);
    // The tiled kernels round everything they multiply to f16 (their tiles are f16); the
    // direct one multiplies values as stored, so an f32 input as it is.
    let x_seen = if variant == ConvVariant::Direct && io.input == Elem::F32 {
        x.clone()
    } else {
        f16(&x)
    };
    let want = reference::conv2d(
        &x_seen,
        &f16(&wt),
        &b,
        res.as_deref().map(f16).as_deref(),
        relu,
        n,
        (h, w, cin),
        (cout, ks, stride, pad),
    );
    let (cin4, cout4) = (cin.next_multiple_of(4), cout.next_multiple_of(4));
    let shape = ConvShape {
        batch: n,
        in_h: h,
        in_w: w,
        cin: cin4,
        cout: cout4,
        kh: ks,
        kw: ks,
        stride,
        pad,
    };
    // A buffer of `values` stored as `e`.
    let buffer = |label: &str, values: &[f32], e: Elem| {
        match e {
            Elem::F32 => ctx.storage_from(label, values),
            Elem::F16 => ctx.storage_from(label, &to_f16_bits(values)),
        }
        .unwrap()
    };
    // Weights packed as the network uploads them: two f16 per u32, low half first.
    let packed: Vec<u16> = to_f16_bits(&reference::pad_hwio(&wt, ks * ks, cin, cout));
    let xb = buffer("x", &pad_channels(&x, cin), io.input);
    let wb = ctx.storage_from("w", &packed).unwrap();
    let bb = ctx.storage_from("b", &pad_channels(&b, cout)).unwrap();
    let rv = res.as_ref().map_or(vec![0.0; 4], |r| pad_channels(r, cout));
    let rb = buffer("r", &rv, Elem::F16);
    let out_elems = n * oh * ow * cout4;
    let ob = ctx
        .storage("o", (out_elems * io.output.bytes()) as u64)
        .unwrap();
    let flags = if relu { CONV_RELU } else { 0 } | if residual { CONV_RESIDUAL } else { 0 };
    let d = k
        .conv2d
        .dispatch_io(
            ctx,
            variant,
            io,
            "f16 conv test",
            &shape,
            flags,
            ConvBuffers {
                input: &xb,
                weight: &wb,
                bias: &bb,
                residual: &rb,
                output: &ob,
            },
        )
        .unwrap();
    let bytes = (out_elems * io.output.bytes()) as u64;
    let out = ctx
        .submit_and_read(encode(ctx, &[&d]), &[(&ob, bytes)])
        .unwrap();
    let got: Vec<f32> = match io.output {
        Elem::F32 => out[0].to_vec::<f32>(),
        Elem::F16 => out[0]
            .to_vec::<u16>()
            .into_iter()
            .map(|h| half::f16::from_bits(h).to_f32())
            .collect(),
    };
    let got = unpad_channels(&got, cout);
    // The f32 kernel's bound (products of f16 are exact in f32, so the sums are f32 sums of
    // the same terms), plus one rounding of an f16 output: 2^-11 relative.
    let out_rel = if io.output == Elem::F16 { 4.9e-4 } else { 0.0 };
    assert_close(
        &format!("conv {variant:?} f16 {io:?} {} ({})", c.describe(), c.what),
        &got,
        &want,
        KERNEL_REL + out_rel,
        KERNEL_ABS * c.reduction() as f32 / 16.0,
    );
    crate::max_abs_diff(&got, &want).1
}
