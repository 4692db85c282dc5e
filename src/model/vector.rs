//! Element-wise loops compiled for AVX2/FMA where the CPU has them (the crate itself targets
//! baseline x86-64): wrap a loop body in [`with_avx2`] inside each parallel task, as an
//! `#[inline(always)]` closure: LLVM may otherwise compile a long body apart, without AVX2.

/// Runs `f` in a copy compiled with AVX2 and FMA when this CPU has both (`f` must be inlined
/// into it: mark the closure `#[inline(always)]`).
#[inline(always)]
pub fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the features `wide` is compiled for were just detected.
            return unsafe { wide(f) };
        }
    }
    f()
}

/// `y += a * x` over the common length.
#[inline(always)]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(y, &x)| *y += a * x);
}

/// Lanes of the f32 partial sums in [`sum_of`].
const LANES: usize = 8;

/// `sum over i of f(i)` for i < n, in eight f32 lanes (so the loop vectorises) added up in f64:
/// call it inside [`with_avx2`], on spans short enough for f32 partial sums (a row, a chunk).
#[inline(always)]
pub fn sum_of(n: usize, mut f: impl FnMut(usize) -> f32) -> f64 {
    let mut acc = [0f32; LANES];
    let full = n / LANES * LANES;
    for i in (0..full).step_by(LANES) {
        for (k, a) in acc.iter_mut().enumerate() {
            *a += f(i + k);
        }
    }
    let tail: f32 = (full..n).map(f).sum();
    acc.iter().map(|&a| f64::from(a)).sum::<f64>() + f64::from(tail)
}

/// Output columns per block of a sparse row times a blocked matrix: a block's weights
/// (inputs x 32) stay in the core's L2 cache and its accumulators in registers.
pub const SPARSE_BLOCK: usize = 32;

/// `sum over (j, v) of row: v * block[j]`, with `block` row-major (inputs x [`SPARSE_BLOCK`]):
/// one sparse row times one column block of a matrix, on FMA registers where the CPU has them.
pub fn sparse_block_row(row: &[(u32, f32)], block: &[f32]) -> [f32; SPARSE_BLOCK] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the features the function is compiled for were just detected.
        return unsafe { sparse_block_row_fma(row, block) };
    }
    sparse_block_row_plain(row, block)
}

/// [`sparse_block_row`] in portable code (the fallback).
fn sparse_block_row_plain(row: &[(u32, f32)], block: &[f32]) -> [f32; SPARSE_BLOCK] {
    let mut acc = [0f32; SPARSE_BLOCK];
    for &(j, v) in row {
        axpy(
            &mut acc,
            v,
            &block[j as usize * SPARSE_BLOCK..][..SPARSE_BLOCK],
        );
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sparse_block_row_fma(row: &[(u32, f32)], block: &[f32]) -> [f32; SPARSE_BLOCK] {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); SPARSE_BLOCK / 8];
    for &(j, v) in row {
        let w = &block[j as usize * SPARSE_BLOCK..][..SPARSE_BLOCK];
        let v = _mm256_set1_ps(v);
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: `w` holds SPARSE_BLOCK floats, so 8 from `8 k` are in bounds.
            let x = unsafe { _mm256_loadu_ps(w.as_ptr().add(8 * k)) };
            *a = _mm256_fmadd_ps(v, x, *a);
        }
    }
    let mut out = [0f32; SPARSE_BLOCK];
    for (k, a) in acc.iter().enumerate() {
        // SAFETY: `out` holds SPARSE_BLOCK floats, so 8 from `8 k` are in bounds.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(8 * k), *a) };
    }
    out
}

/// `e^x` in plain arithmetic that vectorises (Cephes' `expf`: range reduction by ln 2, a degree-6
/// polynomial, the power of two put in the exponent bits); within 3e-7 relative of `f32::exp`
/// where that is a normal float, the input clamped to [-87, 88], NaN kept.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let c = x.clamp(-87.0, 88.0);
    let t = c * LOG2E + ROUND;
    let n = t - ROUND;
    let r = c - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_65;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    let scale = f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits() - 127) << 23);
    if x.is_nan() { x } else { e * scale }
}

/// `ln(1 + x)` for `x >= 0` in plain arithmetic that vectorises (Cephes' `logf` on `u = 1 + x`,
/// corrected by `x / (u - 1)` so small `x` keep their precision); within 1e-6 relative of
/// `f32::ln_1p`, NaN kept.
#[inline(always)]
pub fn ln_1p(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let u = 1.0 + x;
    // u = m 2^e with m in [sqrt(1/2), sqrt(2)).
    let bits = u.to_bits();
    let mut e = ((bits >> 23) & 0xff) as f32 - 126.0;
    let mut m = f32::from_bits((bits & 0x807f_ffff) | 0x3f00_0000);
    if m < SQRT_HALF {
        e -= 1.0;
        m += m - 1.0;
    } else {
        m -= 1.0;
    }
    let z = m * m;
    let p = 7.037_683_6e-2_f32;
    let p = p * m - 1.151_461e-1;
    let p = p * m + 1.167_699_9e-1;
    let p = p * m - 1.242_014_1e-1;
    let p = p * m + 1.424_932_3e-1;
    let p = p * m - 1.666_805_8e-1;
    let p = p * m + 2.000_071_4e-1;
    let p = p * m - 2.499_999_4e-1;
    let p = p * m + 3.333_333e-1;
    let ln_u = m + (p * m * z - 2.121_944_4e-4 * e - 0.5 * z) + 0.693_359_4 * e;
    let d = u - 1.0;
    // NaN stays NaN; where 1 + x rounds to 1, ln(1 + x) = x to within f32.
    if x.is_nan() || d == 0.0 {
        x
    } else {
        ln_u * (x / d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_block_row_equals_the_dense_sum() {
        let inputs = 5;
        let block: Vec<f32> = (0..inputs * SPARSE_BLOCK)
            .map(|i| (i % 7) as f32 - 3.0)
            .collect();
        let row = [(1u32, 0.5f32), (4, -2.0)];
        for got in [
            sparse_block_row(&row, &block),
            sparse_block_row_plain(&row, &block),
        ] {
            for k in 0..SPARSE_BLOCK {
                let want = 0.5 * block[SPARSE_BLOCK + k] - 2.0 * block[4 * SPARSE_BLOCK + k];
                assert_eq!(got[k], want, "column {k}");
            }
        }
    }

    #[test]
    fn polynomial_exp_matches_the_library_exp() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, std) = (exp(x), x.exp());
            worst = worst.max(((ours - std) / std).abs());
            x += 0.001_37;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-200.0) < 1e-37 && exp(-200.0) >= 0.0);
        assert!(exp(200.0).is_finite());
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn polynomial_ln_1p_matches_the_library_ln_1p() {
        let mut worst = 0f32;
        let mut x = 1e-9f32;
        while x < 1e7 {
            let (ours, std) = (ln_1p(x), x.ln_1p());
            worst = worst.max(((ours - std) / std).abs());
            x *= 1.000_37;
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(ln_1p(0.0), 0.0);
        assert!(ln_1p(f32::NAN).is_nan());
    }

    #[test]
    fn lane_sums_equal_the_plain_sum() {
        for n in [0, 1, 7, 8, 9, 1000, 2003] {
            let want: f64 = (0..n).map(|i| f64::from((i % 13) as f32 - 6.0)).sum();
            let got = with_avx2(
                #[inline(always)]
                || sum_of(n, |i| (i % 13) as f32 - 6.0),
            );
            assert_eq!(got, want, "n = {n}");
        }
    }

    #[test]
    fn wide_and_plain_loops_agree() {
        let x: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let mut wide_y = vec![1f32; 37];
        with_avx2(|| axpy(&mut wide_y, 2.0, &x));
        let mut plain_y = vec![1f32; 37];
        axpy(&mut plain_y, 2.0, &x);
        assert_eq!(wide_y, plain_y);
        assert_eq!(wide_y[3], 4.0);
    }
}
