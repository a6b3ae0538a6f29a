//! Every WGSL kernel of the network, by name. The sources live in the workspace's `shaders/`
//! folder, one file per kernel, and are compiled into the binary.

pub const CONV2D: &str = include_str!("../../../shaders/conv2d.wgsl");
pub const CONV2D_DIRECT: &str = include_str!("../../../shaders/conv2d_direct.wgsl");
pub const MAXPOOL: &str = include_str!("../../../shaders/maxpool.wgsl");
pub const GLOBAL_AVG_POOL: &str = include_str!("../../../shaders/global_avg_pool.wgsl");
pub const LINEAR: &str = include_str!("../../../shaders/linear.wgsl");

/// `(name, source)` of every kernel in this crate, for validation tests and tools.
pub const ALL: &[(&str, &str)] = &[
    ("conv2d", CONV2D),
    ("conv2d_direct", CONV2D_DIRECT),
    ("maxpool", MAXPOOL),
    ("global_avg_pool", GLOBAL_AVG_POOL),
    ("linear", LINEAR),
];

/// Replaces the f32 weight block of a convolution shader (between `// weights-begin` and
/// `// weights-end`) by one that stores the HWIO weights as f16: each `vec4` of four output
/// channels is two `u32`s, unpacked with WGSL's built-in `unpack2x16float` (core WGSL, no
/// SHADER_F16 feature needed); arithmetic stays f32. Half the weight memory and bandwidth.
pub fn with_f16_weights(src: &str) -> String {
    const F16_WEIGHTS: &str = "// weights-begin (f16 storage: 4 halves in 2 u32, see shaders.rs)
@group(0) @binding(2) var<storage, read> weight: array<vec2<u32>>;    // HWIO  [K, cout4] as f16
fn load_w(i: u32) -> vec4<f32> {
    let p = weight[i];
    return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}
";
    let (a, b) = (src.find("// weights-begin"), src.find("// weights-end"));
    match (a, b) {
        (Some(a), Some(b)) => format!("{}{}{}", &src[..a], F16_WEIGHTS, &src[b..]),
        _ => panic!("shader has no weights-begin/weights-end block"),
    }
}
