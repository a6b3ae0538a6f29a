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
