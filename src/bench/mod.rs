//! `cellscope bench` measurements, one module per subcommand (`train`, `ui`, `analysis`,
//! `scale`, `prep`, `kmeans`), plus the gemm-rate probe `bench train` compares against.

pub mod analysis;
pub mod gemm;
pub mod kmeans;
pub mod prep;
pub mod scale;
pub mod train;
pub mod ui;
