//! Row-major f32 matrix products on gemm, with the SIMD kernel chosen at run time: AVX-512 where
//! the CPU has it (gemm's `x86-v4` kernels), AVX2/FMA otherwise, or AVX2/FMA forced by
//! `CELLSCOPE_SIMD=avx2` (to compare the paths on one machine); or, inside a bf16
//! [`Precision::scope`] on a CPU with AMX or AVX512-BF16, bf16 products (see `matmul_bf16`).

use gemm::Parallelism;
use gemm_common::simd::MixedSimd;
use std::sync::OnceLock;

/// The environment variable that selects the matrix kernels: `auto` (default) or `avx2`.
pub const SIMD_ENV: &str = "CELLSCOPE_SIMD";

/// Which gemm kernels the hand-written passes call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// gemm's own run-time choice (AVX-512 where available).
    Auto,
    /// gemm's AVX2/FMA kernels even on an AVX-512 CPU.
    Avx2,
}

impl Kernels {
    /// Parses a `CELLSCOPE_SIMD` value.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "avx2" => Ok(Self::Avx2),
            other => Err(format!("{SIMD_ENV}={other:?}: expected auto or avx2")),
        }
    }

    /// The kernels selected by `CELLSCOPE_SIMD` (read once; an unknown value warns and uses auto).
    pub fn selected() -> Self {
        static SELECTED: OnceLock<Kernels> = OnceLock::new();
        *SELECTED.get_or_init(|| match std::env::var(SIMD_ENV) {
            Ok(v) => Self::parse(&v).unwrap_or_else(|e| {
                tracing::warn!("{e}; using auto");
                Self::Auto
            }),
            Err(_) => Self::Auto,
        })
    }

    /// The instruction set these kernels run on this CPU.
    pub fn instruction_set(self) -> &'static str {
        #[cfg(target_arch = "x86_64")]
        {
            if self == Self::Auto && std::arch::is_x86_feature_detected!("avx512f") {
                return "avx512f";
            }
            if std::arch::is_x86_feature_detected!("fma") {
                return "avx2+fma";
            }
        }
        "scalar"
    }
}

/// SIMD features of this CPU that matter to the kernels, space-separated.
pub fn cpu_features() -> String {
    let mut found: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {$(if std::arch::is_x86_feature_detected!($f) { found.push($f); })*};
        }
        probe!(
            "avx2",
            "fma",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512bf16"
        );
    }
    if super::matmul_bf16::backend() == Some(super::matmul_bf16::Backend::Amx) {
        found.push("amx-bf16");
    }
    found.join(" ")
}

/// The CPU's model name (from /proc/cpuinfo; "unknown" elsewhere).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// A row-major matrix operand: values with row and column strides.
pub struct Operand<'a> {
    values: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Operand<'a> {
    /// A plain row-major (rows x cols) matrix.
    pub fn rows(values: &'a [f32], cols: usize) -> Self {
        Self {
            values,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(values: &'a [f32], cols: usize) -> Self {
        Self {
            values,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// The values with their row and column strides.
    pub(super) fn parts(&self) -> (&'a [f32], usize, usize) {
        (self.values, self.row_stride, self.col_stride)
    }

    fn last_index(&self, rows: usize, cols: usize) -> usize {
        (rows - 1) * self.row_stride + (cols - 1) * self.col_stride
    }
}

/// The number format of the matrix products' operands (accumulation is f32 in both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 operands.
    #[default]
    F32,
    /// Operands rounded to bfloat16, on AMX tiles or AVX512-BF16 where the CPU has them (f32
    /// elsewhere).
    Bf16,
}

impl Precision {
    /// The precision the products run in on this CPU: bf16 only where AMX or AVX512-BF16 is.
    pub fn effective(self) -> Self {
        match self {
            Self::Bf16 if super::matmul_bf16::available() => Self::Bf16,
            _ => Self::F32,
        }
    }

    /// Runs `f` with this thread's products in `self` (its effective form), then restores the
    /// previous precision.
    pub fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        /// Restores the previous precision, also when `f` panics.
        struct Restore(Precision);
        impl Drop for Restore {
            fn drop(&mut self) {
                PRECISION.set(self.0);
            }
        }
        let _restore = Restore(PRECISION.replace(self.effective()));
        f()
    }
}

thread_local! {
    /// The precision of this thread's products (set by [`Precision::scope`]).
    static PRECISION: std::cell::Cell<Precision> = const { std::cell::Cell::new(Precision::F32) };
}

/// `dst (m x n, row-major) = lhs (m x k) * rhs (k x n)`, plus `dst` when `accumulate`: in bf16
/// inside a [`Precision::scope`] of bf16 on an AMX CPU, else in f32 on the kernels
/// `CELLSCOPE_SIMD` selects.
pub fn matmul(
    dst: &mut [f32],
    mnk: (usize, usize, usize),
    lhs: &Operand,
    rhs: &Operand,
    accumulate: bool,
) {
    match PRECISION.get() {
        Precision::Bf16 => super::matmul_bf16::matmul(dst, mnk, lhs, rhs, accumulate),
        Precision::F32 => matmul_on(Kernels::selected(), dst, mnk, lhs, rhs, accumulate),
    }
}

/// Panics unless `dst` and both operands cover an (m x n) = (m x k) . (k x n) product.
pub(super) fn check_sizes(
    dst: &[f32],
    (m, n, k): (usize, usize, usize),
    lhs: &Operand,
    rhs: &Operand,
) {
    assert!(dst.len() >= m * n, "gemm destination too small");
    assert!(
        lhs.last_index(m, k) < lhs.values.len(),
        "gemm lhs too small"
    );
    assert!(
        rhs.last_index(k, n) < rhs.values.len(),
        "gemm rhs too small"
    );
}

/// [`matmul`] on the given kernels.
pub fn matmul_on(
    kernels: Kernels,
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: &Operand,
    rhs: &Operand,
    accumulate: bool,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    check_sizes(dst, (m, n, k), lhs, rhs);
    let threads = rayon::current_num_threads();
    let par = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    let (dst, lhs_p, rhs_p) = (dst.as_mut_ptr(), lhs.values.as_ptr(), rhs.values.as_ptr());
    let (l_cs, l_rs) = (lhs.col_stride as isize, lhs.row_stride as isize);
    let (r_cs, r_rs) = (rhs.col_stride as isize, rhs.row_stride as isize);
    // SAFETY: the asserts above keep every index gemm touches inside the three slices, and
    // `dst` does not alias the inputs (it is borrowed mutably).
    unsafe {
        match kernels {
            Kernels::Avx2 if avx2_available() => {
                // gemm's driver wants a column-major destination: compute dst^T = rhs^T lhs^T,
                // as `gemm::gemm` does before its own dispatch.
                avx2_gemm(
                    (n, m, k),
                    dst,
                    n as isize,
                    accumulate,
                    (rhs_p, r_rs, r_cs),
                    (lhs_p, l_rs, l_cs),
                    par,
                )
            }
            _ => gemm::gemm(
                m, n, k, dst, 1, n as isize, accumulate, lhs_p, l_cs, l_rs, rhs_p, r_cs, r_rs, 1.0,
                1.0, false, false, false, par,
            ),
        }
    }
}

fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// gemm's AVX2/FMA kernels on a column-major destination (`dst_rs` = 1, column stride
/// `dst_cs`); operands as (pointer, column stride, row stride).
///
/// # Safety
/// The pointers must cover every index the strides reach, and the CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
unsafe fn avx2_gemm(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_cs: isize,
    read_dst: bool,
    (lhs, lhs_cs, lhs_rs): (*const f32, isize, isize),
    (rhs, rhs_cs, rhs_rs): (*const f32, isize, isize),
    par: Parallelism,
) {
    use gemm_f32::microkernel::fma::f32 as ukr;
    let simd = <gemm_common::simd::V3 as MixedSimd<f32, f32, f32, f32>>::try_new()
        .expect("AVX2/FMA checked by the caller");
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm_common::gemm::gemm_basic_generic::<
            _,
            f32,
            8,
            { ukr::MR_DIV_N * 8 },
            { ukr::NR },
            { ukr::MR_DIV_N },
            { ukr::H_M },
            { ukr::H_N },
        >(
            simd,
            m,
            n,
            k,
            dst,
            dst_cs,
            1,
            read_dst,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            |a, b, c| a * b + c,
            &ukr::UKR,
            &ukr::H_UKR,
            false,
            par,
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn avx2_gemm(
    _: (usize, usize, usize),
    _: *mut f32,
    _: isize,
    _: bool,
    _: (*const f32, isize, isize),
    _: (*const f32, isize, isize),
    _: Parallelism,
) {
    unreachable!("avx2_available() is false off x86_64")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], (m, n, k): (usize, usize, usize)) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn forced_avx2_kernels_equal_the_auto_ones_and_a_plain_product() {
        assert_eq!(Kernels::parse("AVX2"), Ok(Kernels::Avx2));
        assert_eq!(Kernels::parse(""), Ok(Kernels::Auto));
        assert!(Kernels::parse("sse").is_err());
        // Odd sizes exercise the kernels' edge tiles; transposed operands their strides.
        let (m, n, k) = (37, 53, 129);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) / 9.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 17) as f32 - 8.0) / 7.0)
            .collect();
        let expect = naive(&a, &b, (m, n, k));
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        for kernels in [Kernels::Auto, Kernels::Avx2] {
            let mut c = vec![1f32; m * n];
            let (lhs, rhs) = (Operand::rows(&a, k), Operand::transposed(&bt, k));
            matmul_on(kernels, &mut c, (m, n, k), &lhs, &rhs, false);
            let mut acc = vec![1f32; m * n];
            matmul_on(
                kernels,
                &mut acc,
                (m, n, k),
                &lhs,
                &Operand::rows(&b, n),
                true,
            );
            for ((x, y), z) in c.iter().zip(&expect).zip(&acc) {
                assert!(
                    (x - y).abs() < 1e-4 * (1.0 + y.abs()),
                    "{kernels:?}: {x} vs {y}"
                );
                assert!(
                    (z - y - 1.0).abs() < 1e-4 * (1.0 + y.abs()),
                    "{kernels:?} accumulate"
                );
            }
        }
        assert!(Kernels::Avx2.instruction_set() != "avx512f");
    }
}
