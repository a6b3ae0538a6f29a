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
/// tiles (64x16 and 16x64) and the f32 64x64 product, for every fragment shape. An adapter must
/// allow this much for the form to be chosen; tests/precision.rs checks it against the shader.
pub const COOPERATIVE_WORKGROUP_BYTES: u32 = 2 * 1024 * 2 + 64 * 64 * 4;

/// Replaces the tile multiply of `conv2d.wgsl` (blocks `multiply-decls`, `entry`,
/// `multiply-init`, `multiply`, `multiply-finish`) by cooperative-matrix operations (tensor
/// cores) of `shape`: the 64x64 output tile is cut into `F` x `F` blocks (`F` = `shape.frag`,
/// 8 or 16); per 16-deep K step, each subgroup loads `F` x `F` f16 fragments of the same two
/// workgroup tiles the SIMT form fills and multiply-adds them into its blocks' f32
/// accumulators (`coopMultiplyAdd`); after the K loop the accumulators go to a 64x64 f32 tile
/// in workgroup memory, from which every invocation takes the 4x4 block the SIMT form would
/// have computed, into the same epilogue. Tile loads, addressing, padding and epilogue are
/// shared.
///
/// Block `b` (pixels `F·(b / NB)` .., channels `F·(b % NB)` .., `NB = 64 / F` blocks per row)
/// goes to subgroup `b % SUBGROUPS`: subgroup `s` accumulates blocks `s + j·SUBGROUPS`,
/// `j < shape.blocks_per_subgroup()`. Every cooperative operation must be reached by the whole
/// workgroup (naga's uniformity rule), so the subgroup index only moves pointers and the
/// counts are WGSL constants written here from `shape`. The source still needs the `precision`
/// block with f16 tiles and `cooperative` set.
pub fn with_cooperative_matrix(src: &str, shape: crate::CoopShape) -> String {
    let (f, mat) = (shape.frag, shape.wgsl_type());
    let per = shape.blocks_per_subgroup();
    let decls = format!(
        "// Cooperative-matrix form (shaders.rs, with_cooperative_matrix) for {shape}.
const FRAG: u32 = {f}u;          // M = N = K of one fragment
const NB: u32 = BM / FRAG;       // blocks per tile row (and column)
const BLOCKS: u32 = NB * NB;     // blocks per 64x64 tile
const SUBGROUPS: u32 = {sgs}u;     // subgroups per workgroup: 256 / subgroup size ({sg})
// The 64x64 f32 product, row-major [BM][BN], from where the epilogue reads it.
var<workgroup> tile_c: array<f32, 4096>;
",
        sgs = shape.subgroups(),
        sg = shape.subgroup_size,
    );
    let entry = "        @builtin(subgroup_id) sg_id: u32,\n".to_owned();
    let mut init = format!(
        "    // The f32 accumulators of this subgroup's {per} block(s) of the tile: blocks
    // (sg_id + j·SUBGROUPS) % BLOCKS for j < {per}.
"
    );
    for j in 0..per {
        init.push_str(&format!("    var c{j} = {mat}<f32, C>();\n"));
    }
    if !shape.within_spec() {
        init.push_str(
            "    // Fewer blocks than subgroups (16x16 fragments on subgroups of 8, offered by no
    // adapter): subgroups s and s + BLOCKS compute block s alike and store the same values.
",
        );
    }
    // A of block b: rows F·(b / NB) .., a column-major piece of tile_a ([BK][BM]: stride BM);
    // B: columns F·(b % NB) .., a row-major piece of tile_b ([BK][BN]: stride BN). Offsets and
    // strides are multiples of 16 bytes, as Vulkan asks.
    let mut multiply = format!(
        "        // C[block] += A[F pixels, F k] x B[F k, F channels], f16 in, f32 accumulate, over
        // the {kf} fragment(s) of this K step.
        for (var kf = 0u; kf < BK / FRAG; kf++) {{
",
        kf = shape.k_fragments()
    );
    for j in 0..per {
        multiply.push_str(&format!(
            "            {{
                let b = (sg_id + {j}u * SUBGROUPS) % BLOCKS;
                let a = coopLoad<{mat}<f16, A>>(&tile_a[kf * FRAG * BM + (b / NB) * FRAG], BM);
                let w = coopLoadT<{mat}<f16, B>>(&tile_b[kf * FRAG * BN + (b % NB) * FRAG], BN);
                c{j} = coopMultiplyAdd(a, w, c{j});
            }}
"
        ));
    }
    multiply.push_str("        }\n");
    let mut finish = String::from(
        "    // Every block to tile_c (row-major [BM][BN]), then each invocation takes its 4x4 block:
    // pixels ty*4 .. +3, channels tx*4 .. +3, as the SIMT form computes them.
",
    );
    for j in 0..per {
        finish.push_str(&format!(
            "    {{
        let b = (sg_id + {j}u * SUBGROUPS) % BLOCKS;
        coopStoreT(c{j}, &tile_c[(b / NB) * FRAG * BN + (b % NB) * FRAG], BN);
    }}
"
        ));
    }
    finish.push_str(
        "    workgroupBarrier();
    let c_at = ty * 4u * BN + tx * 4u;
    let acc0 = vec4<f32>(tile_c[c_at], tile_c[c_at + 1u], tile_c[c_at + 2u], tile_c[c_at + 3u]);
    let c_at1 = c_at + BN;
    let acc1 = vec4<f32>(tile_c[c_at1], tile_c[c_at1 + 1u], tile_c[c_at1 + 2u], tile_c[c_at1 + 3u]);
    let c_at2 = c_at + 2u * BN;
    let acc2 = vec4<f32>(tile_c[c_at2], tile_c[c_at2 + 1u], tile_c[c_at2 + 2u], tile_c[c_at2 + 3u]);
    let c_at3 = c_at + 3u * BN;
    let acc3 = vec4<f32>(tile_c[c_at3], tile_c[c_at3 + 1u], tile_c[c_at3 + 2u], tile_c[c_at3 + 3u]);
",
    );
    let src = swap_block(src, "multiply-decls", &decls);
    let src = swap_block(&src, "entry", &entry);
    let src = swap_block(&src, "multiply-init", &init);
    let src = swap_block(&src, "multiply", &multiply);
    swap_block(&src, "multiply-finish", &finish)
}

/// The `precision` block of `maxpool.wgsl` for activations stored as `act`.
pub fn maxpool_source(act: Elem) -> String {
    match act {
        Elem::F32 => MAXPOOL.to_owned(),
        Elem::F16 => with_precision_block(MAXPOOL, &[("Act4", Elem::F16)], false),
    }
}
