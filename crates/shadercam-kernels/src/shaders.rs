//! Every WGSL kernel of the network, by name. The sources live in the workspace's `shaders/`
//! folder, one file per kernel, and are compiled into the binary.
//!
//! Some kernels are templates: a block of lines between a `// NAME-begin` and a `// NAME-end`
//! marker is replaced by Rust to make another form of the same kernel ([`swap_block`]):
//! - `precision` (conv2d, conv2d_direct, maxpool): the storage types of activations and of the
//!   multiply's operands ([`with_precision_block`]); f32 as written.
//! - `weights` (the convolutions): how weights are stored ([`with_f16_weights`],
//!   [`with_native_f16_weights`]).
//! - `multiply-decls`, `entry`, `multiply-init`, `multiply`, `multiply-finish` (conv2d): the tile
//!   multiply, replaced by cooperative-matrix operations in [`with_cooperative_matrix`].
//!
//! The whole source of one convolution form is put together by
//! [`crate::ConvKernel::source`].

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

/// Replaces the lines strictly between the marker lines `// {name}-begin` and `// {name}-end`
/// of `src` by `body` (the markers stay, so blocks can be swapped again). A marker line may
/// carry a comment after the marker (`// weights-begin (f16 storage)`).
///
/// Panics if `src` lacks either marker: the templates are compiled into the binary and their
/// markers are checked by this crate's tests, so a missing one is a bug, not an input error.
pub fn swap_block(src: &str, name: &str, body: &str) -> String {
    let (begin, end) = (format!("// {name}-begin"), format!("// {name}-end"));
    let is_marker = |line: &str, m: &str| {
        let t = line.trim();
        t == m || t.strip_prefix(m).is_some_and(|rest| rest.starts_with(' '))
    };
    let mut out = String::with_capacity(src.len() + body.len());
    let mut state = 0; // 0: before the block, 1: inside it, 2: after it
    for line in src.split_inclusive('\n') {
        match state {
            0 => {
                out.push_str(line);
                if is_marker(line, &begin) {
                    out.push_str(body);
                    if !body.is_empty() && !body.ends_with('\n') {
                        out.push('\n');
                    }
                    state = 1;
                }
            }
            1 => {
                if is_marker(line, &end) {
                    out.push_str(line);
                    state = 2;
                }
            }
            _ => out.push_str(line),
        }
    }
    assert!(
        state == 2,
        "shader has no `{begin}` .. `{end}` block (see shaders.rs)"
    );
    out
}

/// How a value is stored in a buffer or a tile: the WGSL scalar type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Elem {
    #[default]
    F32,
    /// WGSL `f16` (needs `enable f16;`, i.e. the adapter's `SHADER_F16`).
    F16,
}

impl Elem {
    /// The WGSL type name.
    pub fn wgsl(self) -> &'static str {
        match self {
            Elem::F32 => "f32",
            Elem::F16 => "f16",
        }
    }

    /// Bytes of one scalar.
    pub fn bytes(self) -> usize {
        match self {
            Elem::F32 => 4,
            Elem::F16 => 2,
        }
    }
}

/// The storage types a template's `precision` block declares, as `(alias, element)` pairs:
/// `("In4", Elem::F16)` becomes `alias In4 = vec4<f16>;`; the alias `Operand` is a scalar
/// (`alias Operand = f16;`). `enable f16;` comes first when any of them is f16, and
/// `enable wgpu_cooperative_matrix;` when `cooperative` is set (WGSL's `enable` directives must
/// precede every declaration; the block sits above the first one).
pub fn with_precision_block(src: &str, aliases: &[(&str, Elem)], cooperative: bool) -> String {
    let mut body = String::new();
    if aliases.iter().any(|(_, e)| *e == Elem::F16) || cooperative {
        body.push_str("enable f16;\n");
    }
    if cooperative {
        body.push_str("enable wgpu_cooperative_matrix;\n");
    }
    for (name, elem) in aliases {
        let ty = elem.wgsl();
        if *name == "Operand" {
            body.push_str(&format!("alias {name} = {ty};\n"));
        } else {
            body.push_str(&format!("alias {name} = vec4<{ty}>;\n"));
        }
    }
    swap_block(src, "precision", &body)
}

/// Replaces the f32 weight block of a convolution shader by one that stores the HWIO weights
/// as f16: each `vec4` of four output channels is two `u32`s, unpacked with WGSL's built-in
/// `unpack2x16float` (core WGSL, no SHADER_F16 feature needed); arithmetic stays f32. Half the
/// weight memory and bandwidth (`--precision f16w`).
pub fn with_f16_weights(src: &str) -> String {
    const F16_WEIGHTS: &str = "// f16 storage: 4 halves in 2 u32, low half first (see shaders.rs)
@group(0) @binding(2) var<storage, read> weight: array<vec2<u32>>;    // HWIO  [K, cout4] as f16
fn load_w(i: u32) -> vec4<f32> {
    let p = weight[i];
    return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}
";
    swap_block(src, "weights", F16_WEIGHTS)
}

/// Replaces the f32 weight block of a convolution shader by one that reads the same bytes as
/// [`with_f16_weights`] (four f16 per 8 bytes, little-endian) as WGSL `vec4<f16>`, which needs
/// `enable f16;` (the `precision` block adds it). `--precision f16`.
pub fn with_native_f16_weights(src: &str) -> String {
    const F16_WEIGHTS: &str =
        "// f16 storage read as WGSL f16 (SHADER_F16): the bytes of with_f16_weights
@group(0) @binding(2) var<storage, read> weight: array<vec4<f16>>;    // HWIO  [K, cout4]
fn load_w(i: u32) -> vec4<f32> {
    return vec4<f32>(weight[i]);
}
";
    swap_block(src, "weights", F16_WEIGHTS)
}

/// Workgroup memory of the cooperative-matrix form of `conv2d.wgsl`, in bytes: the two f16
/// tiles (64x16 and 16x64) and the f32 64x64 product. An adapter must allow this much for the
/// form to be chosen; tests/layout.rs checks it against the shader.
pub const COOPERATIVE_WORKGROUP_BYTES: u32 = 2 * 1024 * 2 + 64 * 64 * 4;

/// The pipeline-overridable constant of the cooperative-matrix form: `SUBGROUPS`, subgroups
/// per 256-invocation workgroup, for an adapter whose subgroups have `subgroup_size`
/// invocations.
pub fn cooperative_overrides(subgroup_size: u32) -> Vec<(&'static str, f64)> {
    vec![("SUBGROUPS", (256 / subgroup_size.max(1)) as f64)]
}

/// Replaces the tile multiply of `conv2d.wgsl` (blocks `multiply-decls`, `entry`,
/// `multiply-init`, `multiply`, `multiply-finish`) by cooperative-matrix operations (tensor
/// cores): per K step of 16, each subgroup loads 16x16 f16 blocks of the same two workgroup
/// tiles the SIMT form fills and multiply-adds them into 16x16 f32 accumulators
/// (`coopMultiplyAdd`); after the K loop the accumulators go to a 64x64 f32 tile in workgroup
/// memory, from which every invocation takes the 4x4 block the SIMT form would have computed,
/// into the same epilogue. Tile loads, addressing, padding and epilogue are shared.
///
/// The 16 blocks of the 64x64 tile are dealt to the workgroup's subgroups: subgroup `s` takes
/// blocks `s + j·SUBGROUPS`, `j < 16 / SUBGROUPS`. `SUBGROUPS` is a pipeline constant
/// ([`cooperative_overrides`]), so that every branch on it is uniform, as cooperative
/// operations require; the adapter's subgroup size must therefore be fixed and 16, 32 or 64
/// ([`crate::cooperative_matrix_usable`]). The source still needs the `precision` block with
/// f16 tiles and `cooperative` set.
pub fn with_cooperative_matrix(src: &str) -> String {
    const DECLS: &str =
        "// Cooperative-matrix form (shaders.rs, with_cooperative_matrix): the 64x64 f32 product,
// row-major [BM][BN], from where the epilogue reads it.
var<workgroup> tile_c: array<f32, 4096>;
// Subgroups per workgroup (256 / subgroup size: 4, 8 or 16), set by the Rust side.
override SUBGROUPS: u32;
";
    const ENTRY: &str = "        @builtin(subgroup_id) sg_id: u32,
";
    const INIT: &str =
        "    // The accumulators of this subgroup's (at most 4) 16x16 blocks of the tile.
    var c0 = coop_mat16x16<f32, C>();
    var c1 = coop_mat16x16<f32, C>();
    var c2 = coop_mat16x16<f32, C>();
    var c3 = coop_mat16x16<f32, C>();
    let blocks = 16u / SUBGROUPS; // blocks per subgroup: uniform (a pipeline constant)
";
    // Block b of C: pixels 16·(b / 4) .., channels 16·(b % 4) ... Its A rows are a column-major
    // 16x16 piece of tile_a ([BK][BM]: stride BM), its B columns a row-major piece of tile_b
    // ([BK][BN]: stride BN). Offsets and strides are multiples of 16 bytes, as Vulkan asks.
    const MULTIPLY: &str = "        // C block b += A[16 pixels of b, 16 k] x B[16 k, 16 channels of b], f16 in, f32 accumulate.
        {
            let b = sg_id;
            let a = coopLoad<coop_mat16x16<f16, A>>(&tile_a[(b / 4u) * 16u], BM);
            let w = coopLoadT<coop_mat16x16<f16, B>>(&tile_b[(b % 4u) * 16u], BN);
            c0 = coopMultiplyAdd(a, w, c0);
        }
        if (blocks > 1u) {
            let b = sg_id + SUBGROUPS;
            let a = coopLoad<coop_mat16x16<f16, A>>(&tile_a[(b / 4u) * 16u], BM);
            let w = coopLoadT<coop_mat16x16<f16, B>>(&tile_b[(b % 4u) * 16u], BN);
            c1 = coopMultiplyAdd(a, w, c1);
        }
        if (blocks > 2u) {
            let b2 = sg_id + 2u * SUBGROUPS;
            let a2 = coopLoad<coop_mat16x16<f16, A>>(&tile_a[(b2 / 4u) * 16u], BM);
            let w2 = coopLoadT<coop_mat16x16<f16, B>>(&tile_b[(b2 % 4u) * 16u], BN);
            c2 = coopMultiplyAdd(a2, w2, c2);
            let b3 = sg_id + 3u * SUBGROUPS;
            let a3 = coopLoad<coop_mat16x16<f16, A>>(&tile_a[(b3 / 4u) * 16u], BM);
            let w3 = coopLoadT<coop_mat16x16<f16, B>>(&tile_b[(b3 % 4u) * 16u], BN);
            c3 = coopMultiplyAdd(a3, w3, c3);
        }
";
    const FINISH: &str = "    // Every block to tile_c (row-major [BM][BN]), then each invocation takes its 4x4 block:
    // pixels ty*4 .. +3, channels tx*4 .. +3, as the SIMT form computes them.
    coopStoreT(c0, &tile_c[(sg_id / 4u) * 16u * BN + (sg_id % 4u) * 16u], BN);
    if (blocks > 1u) {
        let b = sg_id + SUBGROUPS;
        coopStoreT(c1, &tile_c[(b / 4u) * 16u * BN + (b % 4u) * 16u], BN);
    }
    if (blocks > 2u) {
        let b2 = sg_id + 2u * SUBGROUPS;
        coopStoreT(c2, &tile_c[(b2 / 4u) * 16u * BN + (b2 % 4u) * 16u], BN);
        let b3 = sg_id + 3u * SUBGROUPS;
        coopStoreT(c3, &tile_c[(b3 / 4u) * 16u * BN + (b3 % 4u) * 16u], BN);
    }
    workgroupBarrier();
    let c_at = ty * 4u * BN + tx * 4u;
    let acc0 = vec4<f32>(tile_c[c_at], tile_c[c_at + 1u], tile_c[c_at + 2u], tile_c[c_at + 3u]);
    let c_at1 = c_at + BN;
    let acc1 = vec4<f32>(tile_c[c_at1], tile_c[c_at1 + 1u], tile_c[c_at1 + 2u], tile_c[c_at1 + 3u]);
    let c_at2 = c_at + 2u * BN;
    let acc2 = vec4<f32>(tile_c[c_at2], tile_c[c_at2 + 1u], tile_c[c_at2 + 2u], tile_c[c_at2 + 3u]);
    let c_at3 = c_at + 3u * BN;
    let acc3 = vec4<f32>(tile_c[c_at3], tile_c[c_at3 + 1u], tile_c[c_at3 + 2u], tile_c[c_at3 + 3u]);
";
    let src = swap_block(src, "multiply-decls", DECLS);
    let src = swap_block(&src, "entry", ENTRY);
    let src = swap_block(&src, "multiply-init", INIT);
    let src = swap_block(&src, "multiply", MULTIPLY);
    swap_block(&src, "multiply-finish", FINISH)
}

/// The `precision` block of `maxpool.wgsl` for activations stored as `act`.
pub fn maxpool_source(act: Elem) -> String {
    match act {
        Elem::F32 => MAXPOOL.to_owned(),
        Elem::F16 => with_precision_block(MAXPOOL, &[("Act4", Elem::F16)], false),
    }
}
