//! One module per subcommand. Each takes its parsed arguments (`crate::cli`) and returns
//! `Ok(true)` when every input succeeded, `Ok(false)` when some failed (exit 1), or an error.

pub mod bench;
pub mod classify;
pub mod eval;
pub mod explain;
pub mod models;
pub mod selftest;
