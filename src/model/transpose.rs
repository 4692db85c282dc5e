//! Matrix transposes of the hand-written passes: the first layer's weights into column blocks
//! and its gradient back, and tiles of the bf16 packing; on 8x8 AVX2 shuffles where the CPU has
//! them (a tested plain fallback).

use crate::model::vector::SPARSE_BLOCK;

/// A strided view of a (rows x cols) tile: element (r, c) at `r * stride + c`.
#[derive(Clone, Copy)]
struct Tile {
    rows: usize,
    cols: usize,
    stride: usize,
}

impl Tile {
    /// Whether a slice of `len` values holds every element of the tile.
    fn fits(self, len: usize) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.stride + self.cols <= len
    }
}

/// Block `b` of `W (out x inp)`: its [`SPARSE_BLOCK`] output columns as an
/// `inp x SPARSE_BLOCK` row-major matrix in `dst` (columns past `out` zero).
pub fn weight_block(w: &[f32], (out, inp): (usize, usize), b: usize, dst: &mut [f32]) {
    let width = SPARSE_BLOCK.min(out - b * SPARSE_BLOCK);
    if width < SPARSE_BLOCK {
        dst.fill(0.0);
    }
    let tile = Tile {
        rows: width,
        cols: inp,
        stride: inp,
    };
    transpose_tile(&w[b * SPARSE_BLOCK * inp..], tile, dst, SPARSE_BLOCK);
}

/// The inverse of [`weight_block`]: writes the first `width` columns of an
/// `inp x SPARSE_BLOCK` block as `width` rows of `inp` into `dst`.
pub fn unblock(block: &[f32], (width, inp): (usize, usize), dst: &mut [f32]) {
    let tile = Tile {
        rows: inp,
        cols: width,
        stride: SPARSE_BLOCK,
    };
    transpose_tile(block, tile, dst, inp);
}

/// `dst[c * dst_stride + r] = src[r * stride + c]` for r < rows and c < cols.
pub fn transpose(
    src: &[f32],
    (rows, cols, stride): (usize, usize, usize),
    dst: &mut [f32],
    dst_stride: usize,
) {
    transpose_tile(src, Tile { rows, cols, stride }, dst, dst_stride);
}

/// `dst[c * dst_stride + r] = src[r * tile.stride + c]` over the tile.
fn transpose_tile(src: &[f32], tile: Tile, dst: &mut [f32], dst_stride: usize) {
    let target = Tile {
        rows: tile.cols,
        cols: tile.rows,
        stride: dst_stride,
    };
    assert!(
        tile.fits(src.len()) && target.fits(dst.len()),
        "transpose out of bounds"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was just detected; the assert keeps every access in bounds.
        unsafe { transpose_avx2(src, tile, dst, dst_stride) };
        return;
    }
    transpose_plain(src, tile, (0, 0), dst, dst_stride);
}

/// The plain transpose of the part of the tile from (`r0`, `c0`) on.
fn transpose_plain(
    src: &[f32],
    tile: Tile,
    (r0, c0): (usize, usize),
    dst: &mut [f32],
    dst_stride: usize,
) {
    for r in r0..tile.rows {
        for c in c0..tile.cols {
            dst[c * dst_stride + r] = src[r * tile.stride + c];
        }
    }
}

/// [`transpose_tile`] in 8x8 blocks of AVX2 shuffles; the ragged edges plain.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn transpose_avx2(src: &[f32], tile: Tile, dst: &mut [f32], dst_stride: usize) {
    let (rows8, cols8) = (tile.rows / 8 * 8, tile.cols / 8 * 8);
    for r in (0..rows8).step_by(8) {
        for c in (0..cols8).step_by(8) {
            // SAFETY: rows r..r + 8 and columns c..c + 8 lie inside the tile, which the caller
            // checked fits both slices.
            unsafe {
                transpose8(
                    src.as_ptr().add(r * tile.stride + c),
                    tile.stride,
                    dst.as_mut_ptr().add(c * dst_stride + r),
                    dst_stride,
                )
            };
        }
    }
    // The columns past the last full block in the full rows, then the rows past them.
    let full_rows = Tile {
        rows: rows8,
        ..tile
    };
    transpose_plain(src, full_rows, (0, cols8), dst, dst_stride);
    transpose_plain(src, tile, (rows8, 0), dst, dst_stride);
}

/// Transposes the 8x8 block at `src` (row stride `ss`) into `dst` (row stride `ds`).
///
/// # Safety
/// Eight rows of eight floats must be readable at `src` and writable at `dst`, and AVX2
/// available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose8(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
    use std::arch::x86_64::*;
    // SAFETY: the caller guarantees the eight rows at `src` and `dst`.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|k| _mm256_loadu_ps(src.add(k * ss)));
        // Interleave pairs of rows, then pairs of pairs, then swap 128-bit halves.
        let t: [__m256; 8] = std::array::from_fn(|k| {
            let (a, b) = (r[2 * (k / 2)], r[2 * (k / 2) + 1]);
            if k % 2 == 0 {
                _mm256_unpacklo_ps(a, b)
            } else {
                _mm256_unpackhi_ps(a, b)
            }
        });
        let u: [__m256; 8] = std::array::from_fn(|k| {
            let (a, b) = (
                t[4 * (k / 4) + (k % 4) / 2],
                t[4 * (k / 4) + (k % 4) / 2 + 2],
            );
            if k % 2 == 0 {
                _mm256_shuffle_ps::<0x44>(a, b)
            } else {
                _mm256_shuffle_ps::<0xEE>(a, b)
            }
        });
        for k in 0..4 {
            _mm256_storeu_ps(
                dst.add(k * ds),
                _mm256_permute2f128_ps::<0x20>(u[k], u[k + 4]),
            );
            _mm256_storeu_ps(
                dst.add((k + 4) * ds),
                _mm256_permute2f128_ps::<0x31>(u[k], u[k + 4]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols).map(|i| i as f32 * 0.25 - 7.0).collect()
    }

    #[test]
    fn blocks_and_back_move_every_element_at_ragged_sizes() {
        for (out, inp) in [(1, 1), (8, 8), (13, 70), (64, 33), (40, 67)] {
            let w = matrix(out, inp);
            let mut back = vec![f32::NAN; out * inp];
            let mut block = vec![0f32; inp * SPARSE_BLOCK];
            for (b, rows) in back.chunks_mut(SPARSE_BLOCK * inp).enumerate() {
                weight_block(&w, (out, inp), b, &mut block);
                unblock(&block, (rows.len() / inp, inp), rows);
            }
            assert_eq!(back, w, "{out}x{inp}");
        }
    }

    #[test]
    fn shuffled_and_plain_tiles_agree() {
        let (rows, cols, stride, ds) = (19, 27, 30, 23);
        let src = matrix(rows, stride);
        let tile = Tile { rows, cols, stride };
        let mut plain = vec![0f32; cols * ds];
        transpose_plain(&src, tile, (0, 0), &mut plain, ds);
        let mut dispatched = vec![0f32; cols * ds];
        transpose_tile(&src, tile, &mut dispatched, ds);
        assert_eq!(plain, dispatched);
        assert_eq!(plain[5 * ds + 3], src[3 * stride + 5]);
    }

    #[test]
    fn blocks_hold_each_output_column_and_zero_padding() {
        let (out, inp) = (SPARSE_BLOCK + 5, 11);
        let w = matrix(out, inp);
        let mut blocks = vec![f32::NAN; 2 * inp * SPARSE_BLOCK];
        for (b, d) in blocks.chunks_exact_mut(inp * SPARSE_BLOCK).enumerate() {
            weight_block(&w, (out, inp), b, d);
        }
        for o in 0..2 * SPARSE_BLOCK {
            let (b, k) = (o / SPARSE_BLOCK, o % SPARSE_BLOCK);
            for j in 0..inp {
                let want = if o < out { w[o * inp + j] } else { 0.0 };
                assert_eq!(blocks[b * inp * SPARSE_BLOCK + j * SPARSE_BLOCK + k], want);
            }
        }
    }
}
