//! The machine's f32 gemm rate at the training shapes, through the same kernels the training
//! pass calls: the ceiling each method's GFLOP/s is compared with in `cellscope bench train`.

use serde::Serialize;
use std::time::Instant;

use crate::model::matmul::{Kernels, Operand, matmul_on};
use crate::model::matmul_bf16;

/// (m, k, n) of the products in one masked step at batch 256 on 2,000 genes: first layer
/// forward, a hidden layer, the first layer's weight gradient, the output layer.
pub const TRAINING_SHAPES: [(usize, usize, usize); 4] = [
    (256, 2000, 512),
    (256, 512, 512),
    (2000, 256, 512),
    (256, 512, 2000),
];

/// The gemm rate of one kernel choice.
#[derive(Debug, Clone, Serialize)]
pub struct GemmRate {
    /// `auto` or `avx2` (see `CELLSCOPE_SIMD`), or `bf16`.
    pub kernels: String,
    /// The instruction set they ran on.
    pub instruction_set: String,
    /// GFLOP/s over all the shapes together (median of the repetitions).
    pub gflops_per_sec: f64,
    /// GFLOP/s per shape, in the order of [`TRAINING_SHAPES`].
    pub per_shape: Vec<f64>,
}

/// Median seconds of `reps` calls of `f` after one untimed call.
fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut secs: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    secs.sort_by(f64::total_cmp);
    secs[secs.len() / 2]
}

/// Measures `kernels` at [`TRAINING_SHAPES`] on the current rayon pool, `reps` times each.
pub fn measure(kernels: Kernels, reps: usize) -> GemmRate {
    rate(
        format!("{kernels:?}").to_lowercase(),
        kernels.instruction_set(),
        reps,
        |c, mnk, lhs, rhs| matmul_on(kernels, c, mnk, lhs, rhs, false),
    )
}

/// Measures the bf16 products (AMX tiles or AVX512-BF16) at [`TRAINING_SHAPES`]; `None`
/// without either.
pub fn measure_bf16(reps: usize) -> Option<GemmRate> {
    matmul_bf16::backend().map(|b| {
        rate("bf16".into(), b.feature(), reps, |c, mnk, lhs, rhs| {
            matmul_bf16::matmul(c, mnk, lhs, rhs, false)
        })
    })
}

/// The rate of `product` at [`TRAINING_SHAPES`].
fn rate(
    kernels: String,
    isa: &str,
    reps: usize,
    product: impl Fn(&mut [f32], (usize, usize, usize), &Operand, &Operand),
) -> GemmRate {
    let mut per_shape = Vec::new();
    let (mut flops, mut secs) = (0.0, 0.0);
    for (m, k, n) in TRAINING_SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut c = vec![0f32; m * n];
        let s = median_secs(reps, || {
            product(
                &mut c,
                (m, n, k),
                &Operand::rows(&a, k),
                &Operand::rows(&b, n),
            );
        });
        let f = 2.0 * (m * n * k) as f64;
        per_shape.push(f / s / 1e9);
        flops += f;
        secs += s;
    }
    GemmRate {
        kernels,
        instruction_set: isa.into(),
        gflops_per_sec: flops / secs / 1e9,
        per_shape,
    }
}
