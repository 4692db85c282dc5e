//! Element-wise loops compiled for AVX2/FMA where the CPU has them (the crate itself targets
//! baseline x86-64): wrap a loop body in [`with_avx2`] inside each parallel task.

/// Runs `f`, inlined into a copy compiled with AVX2 and FMA when this CPU has both.
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

#[cfg(test)]
mod tests {
    use super::*;

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
