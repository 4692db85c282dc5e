//! Matrix products in bfloat16 with f32 accumulation on Intel AMX tiles (`tdpbf16ps`), or on
//! AVX512-BF16 dot products (`vdpbf16ps`) where there is no AMX, for `train.precision = "bf16"`.
//! Both operands are rounded to bf16 (round to nearest even) while they are packed into tile
//! order; products accumulate in f32 in registers and land in an f32 destination, as PyTorch's
//! bf16 autocast does on CPU.
//!
//! The product is cut into 32 x 32 destination blocks (four 16 x 16 f32 tiles) that run over the
//! inner dimension in steps of 32 (two bf16 tiles of each operand a step), split between the
//! threads by blocks of destination columns (or rows, when there are fewer column blocks).

use rayon::prelude::*;
use std::cell::RefCell;

use super::matmul::{Operand, check_sizes};
use super::transpose::transpose;
use super::vector::with_avx2;

/// Destination block side, and the inner-dimension step of one tile product.
const BLOCK: usize = 32;
/// bf16 values in one packed 32 x 32 operand block (two 1 KiB tiles).
const PACKED_BLOCK: usize = BLOCK * BLOCK;
/// Pairs of bf16 values (one 32-bit word each) in a packed block.
const WORDS: usize = PACKED_BLOCK / 2;
/// Inner-dimension steps per pass over a destination block: 1,024 values of k keep a slice of
/// the packed left operand within L2 while the destination columns sweep over it.
const STEPS_PER_PASS: usize = 32;

/// The most bytes of packed right operand that one pass keeps in a core's L2 cache while the
/// destination's row panels sweep over it.
const RHS_SLICE_BYTES: usize = 1 << 20;

/// The instructions that run the bf16 products on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Intel AMX tiles (`tdpbf16ps`), Xeon 4th generation and later.
    Amx,
    /// AVX512-BF16 dot products (`vdpbf16ps`), e.g. AMD Zen 4 and 5.
    Avx512Bf16,
}

impl Backend {
    /// The CPU feature's name, as `bench train` prints it.
    pub fn feature(self) -> &'static str {
        match self {
            Self::Amx => "amx-bf16",
            Self::Avx512Bf16 => "avx512bf16",
        }
    }
}

/// The fastest bf16 instructions this CPU and OS run, if any (checked once; asks Linux for the
/// AMX tile state).
pub fn backend() -> Option<Backend> {
    static BACKEND: std::sync::OnceLock<Option<Backend>> = std::sync::OnceLock::new();
    *BACKEND.get_or_init(|| {
        if amx::enable() {
            return Some(Backend::Amx);
        }
        #[cfg(target_arch = "x86_64")]
        if dot512::available() {
            return Some(Backend::Avx512Bf16);
        }
        None
    })
}

/// Whether this CPU runs bf16 products (see [`backend`]).
pub fn available() -> bool {
    backend().is_some()
}

/// f32 to bf16, round to nearest even (NaN stays NaN).
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    (rounded(x) >> 16) as u16
}

/// bf16 to f32 (exact).
#[inline(always)]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// One packed operand block: 2 KiB, aligned for the tile loads.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([u32; WORDS]);

/// The block products that run a packed product: AMX tiles, AVX512-BF16, or (in tests) plain Rust.
trait Tiles: Sync {
    /// Makes the calling thread ready for [`Tiles::block`] (nothing, unless a kernel needs it).
    fn begin(&self) {}
    /// `c (32 x 32 f32, row stride c_stride floats) (+)= a . b` over `steps` packed blocks.
    ///
    /// # Safety
    /// `a` and `b` cover `steps` packed blocks; `c` covers 32 rows of `c_stride` floats, 32
    /// valid; the thread ran [`Tiles::begin`].
    unsafe fn block(
        &self,
        a: *const u16,
        b: *const u16,
        steps: usize,
        c: *mut f32,
        c_stride: usize,
        load: bool,
    );
    /// Releases what [`Tiles::begin`] set up.
    fn end(&self) {}
}

thread_local! {
    /// Packed operands of the calling thread's last product, reused (no per-step allocation).
    static PACKED: RefCell<(Vec<Block>, Vec<Block>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `dst (m x n) (+)= lhs (m x k) . rhs (k x n)` in bf16 with f32 accumulation.
///
/// # Panics
/// If no [`backend`] is available or an operand or `dst` is too small for the shape.
pub fn matmul(
    dst: &mut [f32],
    mnk: (usize, usize, usize),
    lhs: &Operand,
    rhs: &Operand,
    accumulate: bool,
) {
    match backend() {
        Some(Backend::Amx) => run(&amx::Amx, dst, mnk, lhs, rhs, accumulate),
        #[cfg(target_arch = "x86_64")]
        Some(Backend::Avx512Bf16) => run(&dot512::Dot512, dst, mnk, lhs, rhs, accumulate),
        _ => panic!("bf16 matmul needs AMX or AVX512-BF16"),
    }
}

fn run<T: Tiles>(
    tiles: &T,
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
    let (mb, nb, steps) = (m.div_ceil(BLOCK), n.div_ceil(BLOCK), k.div_ceil(BLOCK));
    PACKED.with_borrow_mut(|(a, b)| {
        let (a, b) = (pack_lhs(lhs, (m, k), a), pack_rhs(rhs, (k, n), b));
        let threads = rayon::current_num_threads().max(1);
        // Each task owns whole blocks of destination columns (rows when columns are few), so no
        // two tasks write one value.
        let by_cols = nb >= threads || nb >= mb;
        let blocks = if by_cols { nb } else { mb };
        let tasks = threads.min(blocks);
        let out = SendPtr(dst.as_mut_ptr());
        (0..tasks).into_par_iter().for_each(|t| {
            let range = t * blocks / tasks..(t + 1) * blocks / tasks;
            let (rows, cols) = if by_cols {
                (0..mb, range)
            } else {
                (range, 0..nb)
            };
            tiles.begin();
            let mut edge = [0f32; BLOCK * BLOCK];
            for pass in (0..steps).step_by(STEPS_PER_PASS) {
                let s = STEPS_PER_PASS.min(steps - pass);
                let load = accumulate || pass > 0;
                // Destination rows outer (each 32-row panel written left to right, in few
                // pages) while the right operand's slice stays within L2; columns outer else.
                let rows_outer = s * cols.len() * size_of::<Block>() <= RHS_SLICE_BYTES;
                let (outer, inner) = match rows_outer {
                    true => (rows.clone(), cols.clone()),
                    false => (cols.clone(), rows.clone()),
                };
                for o in outer {
                    for x in inner.clone() {
                        let (i, j) = if rows_outer { (o, x) } else { (x, o) };
                        let pa = a[i * steps + pass..].as_ptr().cast::<u16>();
                        let pb = b[j * steps + pass..].as_ptr().cast::<u16>();
                        let (r0, c0) = (i * BLOCK, j * BLOCK);
                        let (h, w) = (BLOCK.min(m - r0), BLOCK.min(n - c0));
                        // SAFETY: the packed slices hold `steps` blocks per panel; a whole
                        // block writes inside `dst` (its length checked above); an edge block
                        // goes through `edge`; tasks write disjoint blocks.
                        unsafe {
                            let c = out.at(r0 * n + c0);
                            if h == BLOCK && w == BLOCK {
                                tiles.block(pa, pb, s, c, n, load);
                            } else {
                                edge.fill(0.0);
                                if load {
                                    for r in 0..h {
                                        let src = std::slice::from_raw_parts(c.add(r * n), w);
                                        edge[r * BLOCK..r * BLOCK + w].copy_from_slice(src);
                                    }
                                }
                                tiles.block(pa, pb, s, edge.as_mut_ptr(), BLOCK, true);
                                for r in 0..h {
                                    let d = std::slice::from_raw_parts_mut(c.add(r * n), w);
                                    d.copy_from_slice(&edge[r * BLOCK..r * BLOCK + w]);
                                }
                            }
                        }
                    }
                }
            }
            tiles.end();
        });
    });
}

/// A destination pointer shared by tasks that write disjoint blocks.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: every task writes only its own destination blocks.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer `offset` values on.
    ///
    /// # Safety
    /// As for `pointer::add`.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.add(offset) }
    }
}

/// Packs the left operand (m x k): for each 32-row panel and 32-wide step of k, a 32 x 32
/// row-major bf16 block (two 16-row tiles), zero beyond the matrix.
fn pack_lhs<'b>(op: &Operand, (m, k): (usize, usize), out: &'b mut Vec<Block>) -> &'b [Block] {
    let (values, rs, cs) = op.parts();
    pack::<false>(values, (rs, cs), (m, k), out)
}

/// Packs the right operand (k x n): for each 32-column panel and 32-wide step of k, two
/// 16-column tiles in AMX's pair order (tile row q holds b[2q][j], b[2q+1][j] for its 16 j).
fn pack_rhs<'b>(op: &Operand, (k, n): (usize, usize), out: &'b mut Vec<Block>) -> &'b [Block] {
    let (values, rs, cs) = op.parts();
    pack::<true>(values, (cs, rs), (n, k), out)
}

/// f32 bits rounded to nearest even at bit 16, so that the upper half is the bf16 value (NaN
/// kept quiet); branch-free so that loops over it vectorise.
#[inline(always)]
fn rounded(x: f32) -> u32 {
    let u = x.to_bits();
    let r = u.wrapping_add(0x7fff + ((u >> 16) & 1));
    if u & 0x7fff_ffff > 0x7f80_0000 {
        u | 0x0040_0000
    } else {
        r
    }
}

/// The word of bf16 values `(lo, hi)` from two [`rounded`] values.
#[inline(always)]
fn join(lo: u32, hi: u32) -> u32 {
    (lo >> 16) | (hi & 0xffff_0000)
}

/// [`rounded`] of up to 32 values, zero past them.
#[inline(always)]
fn rounded_lanes(src: &[f32]) -> [u32; BLOCK] {
    let mut r = [0u32; BLOCK];
    r.iter_mut().zip(src).for_each(|(r, &x)| *r = rounded(x));
    r
}

/// Packs `lines` lines of `k` values (value p of line l at `l * line_stride + p * k_stride`)
/// into blocks of 32 lines x 32 values of k, each word a pair of neighbours along k: lines
/// row-major in a block for the left operand, AMX's pair order for the right (`RHS`). One of
/// the strides must be 1.
fn pack<'b, const RHS: bool>(
    values: &[f32],
    (line_stride, k_stride): (usize, usize),
    (lines, k): (usize, usize),
    out: &'b mut Vec<Block>,
) -> &'b [Block] {
    let steps = k.div_ceil(BLOCK);
    let len = lines.div_ceil(BLOCK) * steps;
    if out.len() < len {
        out.resize(len, Block([0; WORDS]));
    }
    let out = &mut out[..len];
    let shape = (lines, k, line_stride, k_stride);
    #[cfg(target_arch = "x86_64")]
    if convert512::available() {
        // SAFETY: the converter's features were just detected.
        unsafe { pack_panels::<RHS, convert512::Avx512>(values, shape, steps, out) };
        return out;
    }
    // SAFETY: the portable converter needs no feature.
    unsafe { pack_panels::<RHS, Portable>(values, shape, steps, out) };
    out
}

/// [`pack_panel`] on every panel of `out` (`steps` blocks each), in parallel.
///
/// # Safety
/// The CPU has the features of `C`.
unsafe fn pack_panels<const RHS: bool, C: Convert>(
    values: &[f32],
    shape: (usize, usize, usize, usize),
    steps: usize,
    out: &mut [Block],
) {
    out.par_chunks_mut(steps)
        .enumerate()
        .for_each(|(panel, blocks)| {
            // SAFETY: forwarded from the caller.
            unsafe { C::run(|| pack_panel::<RHS, C>(values, shape, panel, blocks)) }
        });
}

/// How packing turns f32 values into words of two bf16 values (round to nearest even).
trait Convert {
    /// Runs `f` compiled for this converter's instruction set.
    ///
    /// # Safety
    /// The CPU has the converter's features (as for the other methods).
    unsafe fn run(f: impl FnOnce());
    /// The 16 words of up to 32 values along k, zero past them.
    ///
    /// # Safety
    /// As for [`Convert::run`].
    unsafe fn line_words(src: &[f32]) -> [u32; 16];
    /// Word l of up to 32 lines: (`lo[l]`, `hi[l]`), zero past them or where `hi` is absent.
    ///
    /// # Safety
    /// As for [`Convert::run`].
    unsafe fn row_pairs(lo: &[f32], hi: Option<&[f32]>) -> [u32; BLOCK];
}

/// Conversions in plain Rust (vectorised by the compiler, on AVX2 where the CPU has it).
struct Portable;

impl Convert for Portable {
    unsafe fn run(f: impl FnOnce()) {
        with_avx2(f)
    }

    #[inline(always)]
    unsafe fn line_words(src: &[f32]) -> [u32; 16] {
        let r = rounded_lanes(src);
        let mut w = [0u32; 16];
        for (q, w) in w.iter_mut().enumerate() {
            *w = join(r[2 * q], r[2 * q + 1]);
        }
        w
    }

    #[inline(always)]
    unsafe fn row_pairs(lo: &[f32], hi: Option<&[f32]>) -> [u32; BLOCK] {
        let (l, h) = (rounded_lanes(lo), hi.map_or([0; BLOCK], rounded_lanes));
        let mut w = [0u32; BLOCK];
        for ((w, &lo), &hi) in w.iter_mut().zip(&l).zip(&h) {
            *w = join(lo, hi);
        }
        w
    }
}

/// Packs one 32-line panel of [`pack`] (its `steps` blocks) with the converter `C`.
#[inline(always)]
fn pack_panel<const RHS: bool, C: Convert>(
    values: &[f32],
    (lines, k, line_stride, k_stride): (usize, usize, usize, usize),
    panel: usize,
    blocks: &mut [Block],
) {
    // Word (line l, pair q) of a block.
    let at = |l: usize, q: usize| {
        if RHS {
            (l / 16) * 256 + q * 16 + l % 16
        } else {
            l * 16 + q
        }
    };
    let first = panel * BLOCK;
    let nl = BLOCK.min(lines - first);
    for (s, block) in blocks.iter_mut().enumerate() {
        let p0 = s * BLOCK;
        let kw = BLOCK.min(k - p0);
        let block = &mut block.0;
        if nl < BLOCK || kw < BLOCK {
            block.fill(0);
        }
        if k_stride == 1 || !RHS {
            // A line's 32 values along k give its 16 words; a left operand stored transposed
            // is turned line-major first (through a 32 x 32 tile).
            let mut tile = [0f32; PACKED_BLOCK];
            let (src, stride) = if k_stride == 1 {
                (&values[first * line_stride + p0..], line_stride)
            } else {
                let src = &values[p0 * k_stride + first..];
                transpose(src, (kw, nl, k_stride), &mut tile, BLOCK);
                (&tile[..], BLOCK)
            };
            for l in 0..nl {
                // SAFETY: `pack` chose `C` after checking its features.
                let w = unsafe { C::line_words(&src[l * stride..][..kw]) };
                if RHS {
                    for (q, &w) in w.iter().enumerate() {
                        block[at(l, q)] = w;
                    }
                } else {
                    block[l * 16..l * 16 + 16].copy_from_slice(&w);
                }
            }
        } else {
            // A right operand stored row-major: two rows of k give one word per line, 16 lines
            // of a tile row side by side.
            for q in 0..kw.div_ceil(2) {
                let p = p0 + 2 * q;
                let row = |p: usize| &values[p * k_stride + first..][..nl];
                let hi = (p + 1 < k).then(|| row(p + 1));
                // SAFETY: as above.
                let w = unsafe { C::row_pairs(row(p), hi) };
                block[q * 16..q * 16 + 16].copy_from_slice(&w[..16]);
                block[256 + q * 16..256 + q * 16 + 16].copy_from_slice(&w[16..]);
            }
        }
    }
}

/// Conversions on AVX512-BF16 (`vcvtne2ps2bf16`: 32 values an instruction), which every CPU
/// with AMX-BF16 has. Unlike [`rounded`], they flush subnormal values to zero, as the tile
/// products do with their inputs.
#[cfg(target_arch = "x86_64")]
mod convert512 {
    use super::{BLOCK, Convert};
    use std::arch::x86_64::*;

    /// Whether this CPU has the features of [`Avx512`].
    pub fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }

    pub struct Avx512;

    #[target_feature(enable = "avx512f,avx512bw,avx512bf16,avx2,fma")]
    fn wide(f: impl FnOnce()) {
        f()
    }

    /// Up to 16 values from `p`, zero past `n` (masked: nothing past them is read).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const f32, n: usize) -> __m512 {
        // SAFETY: the mask keeps the load within the caller's `n` values.
        unsafe { _mm512_maskz_loadu_ps(((1u32 << n.min(16)) - 1) as __mmask16, p) }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn line_words(src: &[f32]) -> [u32; 16] {
        let n = src.len().min(BLOCK);
        let p = src.as_ptr();
        // SAFETY: each load reads only values of `src`.
        let (lo, hi) = unsafe { (load(p, n), load(p.wrapping_add(16), n.saturating_sub(16))) };
        // SAFETY: __m512bh and __m512i are both 64 bytes of lanes.
        let words: __m512i = unsafe { std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo)) };
        let mut out = [0u32; 16];
        // SAFETY: `out` holds 64 bytes.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), words) };
        out
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn row_pairs(lo: &[f32], hi: Option<&[f32]>) -> [u32; BLOCK] {
        let mut out = [0u32; BLOCK];
        let (nl, nh) = (lo.len().min(BLOCK), hi.map_or(0, |h| h.len().min(BLOCK)));
        let ph = hi.map_or(std::ptr::null(), |h| h.as_ptr());
        for half in 0..2 {
            let at = 16 * half;
            // SAFETY: each load reads only values of `lo` and `hi` (none where `nh` is 0).
            let (l, h) = unsafe {
                (
                    load(lo.as_ptr().wrapping_add(at), nl.saturating_sub(at)),
                    load(ph.wrapping_add(at), nh.saturating_sub(at)),
                )
            };
            let widen = |x: __m512| -> __m512i {
                // SAFETY: __m256bh and __m256i are both 32 bytes of lanes.
                _mm512_cvtepu16_epi32(unsafe {
                    std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(x))
                })
            };
            let words = _mm512_or_si512(widen(l), _mm512_slli_epi32::<16>(widen(h)));
            // SAFETY: `out[at..at + 16]` holds 64 bytes.
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().add(at).cast(), words) };
        }
        out
    }

    impl Convert for Avx512 {
        unsafe fn run(f: impl FnOnce()) {
            // SAFETY: the caller vouches for the features.
            unsafe { wide(f) }
        }

        #[inline(always)]
        unsafe fn line_words(src: &[f32]) -> [u32; 16] {
            // SAFETY: as above.
            unsafe { line_words(src) }
        }

        #[inline(always)]
        unsafe fn row_pairs(lo: &[f32], hi: Option<&[f32]>) -> [u32; BLOCK] {
            // SAFETY: as above.
            unsafe { row_pairs(lo, hi) }
        }
    }
}

/// Block products on AVX512-BF16 (`vdpbf16ps`: each of 16 f32 lanes adds the products of a
/// pair of bf16 values), for CPUs that have it without AMX (AMD Zen 4 and 5). The packed blocks
/// are the tiles' own: a right operand's tile row is one register of 16 column pairs, and a left
/// operand's word is broadcast against it.
#[cfg(target_arch = "x86_64")]
mod dot512 {
    use super::{BLOCK, PACKED_BLOCK};
    use std::arch::x86_64::*;

    /// `vdpbf16ps` products of the packed blocks, 8 x 32 destination values at a time.
    pub struct Dot512;

    /// Whether this CPU has the features of [`Dot512`].
    pub fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }

    /// Destination rows per register block: 8 rows of two 16-lane registers, 16 accumulators.
    const ROWS: usize = 8;

    /// The 32 x 32 block of [`super::Tiles::block`], a register block of rows at a time.
    ///
    /// # Safety
    /// As for [`super::Tiles::block`]; the CPU has AVX512-BF16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn block(
        a: *const u16,
        b: *const u16,
        steps: usize,
        c: *mut f32,
        c_stride: usize,
        load: bool,
    ) {
        // SAFETY: every address stays inside the blocks and rows the caller vouches for.
        unsafe {
            for group in 0..BLOCK / ROWS {
                let row = |r: usize| c.add((group * ROWS + r) * c_stride);
                let mut acc = [[_mm512_setzero_ps(); 2]; ROWS];
                if load {
                    for (r, acc) in acc.iter_mut().enumerate() {
                        *acc = [_mm512_loadu_ps(row(r)), _mm512_loadu_ps(row(r).add(16))];
                    }
                }
                for s in 0..steps {
                    let pa = a.add(s * PACKED_BLOCK + group * ROWS * BLOCK).cast::<i32>();
                    let pb = b.add(s * PACKED_BLOCK).cast::<__m512bh>();
                    for q in 0..BLOCK / 2 {
                        // Tile row q of each 16-column half: pairs (b[2q][j], b[2q + 1][j]).
                        let (b0, b1) = (pb.add(q).read(), pb.add(16 + q).read());
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let w = _mm512_set1_epi32(pa.add(r * BLOCK / 2 + q).read());
                            let w: __m512bh = std::mem::transmute(w);
                            acc[0] = _mm512_dpbf16_ps(acc[0], w, b0);
                            acc[1] = _mm512_dpbf16_ps(acc[1], w, b1);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    _mm512_storeu_ps(row(r), acc[0]);
                    _mm512_storeu_ps(row(r).add(16), acc[1]);
                }
            }
        }
    }

    impl super::Tiles for Dot512 {
        unsafe fn block(
            &self,
            a: *const u16,
            b: *const u16,
            steps: usize,
            c: *mut f32,
            c_stride: usize,
            load: bool,
        ) {
            // SAFETY: forwarded; `super::backend` chose this only after [`available`].
            unsafe { block(a, b, steps, c, c_stride, load) }
        }
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod amx {
    use std::arch::asm;

    /// The AMX tile unit: four f32 accumulator tiles (0-3), two for each operand (4-7).
    pub struct Amx;

    /// Palette 1: eight tiles of 16 rows x 64 bytes.
    #[repr(C, align(64))]
    struct TileConfig([u8; 64]);

    const CONFIG: TileConfig = {
        let mut c = [0u8; 64];
        c[0] = 1;
        let mut t = 0;
        while t < 8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = 16;
            t += 1;
        }
        TileConfig(c)
    };

    /// CPUID says AMX-TILE and AMX-BF16, and Linux grants this process the tile state.
    pub fn enable() -> bool {
        if std::arch::x86_64::__cpuid(0).eax < 7 {
            return false;
        }
        let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
        let (tile, bf16) = (leaf7.edx & (1 << 24) != 0, leaf7.edx & (1 << 22) != 0);
        if !(tile && bf16) {
            return false;
        }
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with these arguments only asks for a permission.
        let granted = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            ) == 0
        };
        if !granted {
            tracing::warn!("the CPU has AMX but Linux did not grant the tile state");
        }
        granted
    }

    impl super::Tiles for Amx {
        fn begin(&self) {
            // SAFETY: `available()` was checked before any product; the config is valid.
            unsafe { asm!("ldtilecfg [{}]", in(reg) CONFIG.0.as_ptr(), options(nostack)) };
        }

        unsafe fn block(
            &self,
            a: *const u16,
            b: *const u16,
            steps: usize,
            c: *mut f32,
            c_stride: usize,
            load: bool,
        ) {
            let cs = c_stride * 4;
            // SAFETY: the caller keeps every address inside its buffers (see the trait).
            unsafe {
                if load {
                    asm!(
                        "tileloadd tmm0, [{c} + {cs}*1]",
                        "tileloadd tmm1, [{c} + {cs}*1 + 64]",
                        "tileloadd tmm2, [{c2} + {cs}*1]",
                        "tileloadd tmm3, [{c2} + {cs}*1 + 64]",
                        c = in(reg) c, c2 = in(reg) c.add(16 * c_stride), cs = in(reg) cs,
                        options(nostack, readonly),
                    );
                } else {
                    asm!(
                        "tilezero tmm0",
                        "tilezero tmm1",
                        "tilezero tmm2",
                        "tilezero tmm3",
                        options(nostack, nomem)
                    );
                }
                // Loads interleaved with the products that wait on them.
                asm!(
                    "2:",
                    "tileloadd tmm4, [{a} + {s}*1]",
                    "tileloadd tmm6, [{b} + {s}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tileloadd tmm7, [{b} + {s}*1 + 1024]",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tileloadd tmm5, [{a} + {s}*1 + 1024]",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    "add {a}, 2048",
                    "add {b}, 2048",
                    "dec {n}",
                    "jnz 2b",
                    a = inout(reg) a => _, b = inout(reg) b => _, n = inout(reg) steps => _,
                    s = in(reg) 64usize,
                    options(nostack, readonly),
                );
                asm!(
                    "tilestored [{c} + {cs}*1], tmm0",
                    "tilestored [{c} + {cs}*1 + 64], tmm1",
                    "tilestored [{c2} + {cs}*1], tmm2",
                    "tilestored [{c2} + {cs}*1 + 64], tmm3",
                    c = in(reg) c, c2 = in(reg) c.add(16 * c_stride), cs = in(reg) cs,
                    options(nostack),
                );
            }
        }

        fn end(&self) {
            // SAFETY: releases the tile state this thread configured.
            unsafe { asm!("tilerelease", options(nostack, nomem)) };
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod amx {
    /// No AMX off x86_64 Linux.
    pub struct Amx;

    pub fn enable() -> bool {
        false
    }

    impl super::Tiles for Amx {
        unsafe fn block(
            &self,
            _: *const u16,
            _: *const u16,
            _: usize,
            _: *mut f32,
            _: usize,
            _: bool,
        ) {
            unreachable!("available() is false here")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `tdpbf16ps` computes, in plain Rust, on the same packed blocks.
    struct Emulated;

    impl Tiles for Emulated {
        unsafe fn block(
            &self,
            a: *const u16,
            b: *const u16,
            steps: usize,
            c: *mut f32,
            c_stride: usize,
            load: bool,
        ) {
            // SAFETY: forwarded from the caller.
            let (a, b) = unsafe {
                (
                    std::slice::from_raw_parts(a, steps * PACKED_BLOCK),
                    std::slice::from_raw_parts(b, steps * PACKED_BLOCK),
                )
            };
            for r in 0..BLOCK {
                for j in 0..BLOCK {
                    // SAFETY: inside the 32 x 32 block the caller vouches for.
                    let d = unsafe { &mut *c.add(r * c_stride + j) };
                    let mut acc = if load { *d } else { 0.0 };
                    for s in 0..steps {
                        let (ab, bb) = (&a[s * PACKED_BLOCK..], &b[s * PACKED_BLOCK..]);
                        for p in 0..BLOCK {
                            let bv = bb[(j / 16) * 512 + (p / 2) * BLOCK + (j % 16) * 2 + p % 2];
                            acc += from_bf16(ab[r * BLOCK + p]) * from_bf16(bv);
                        }
                    }
                    *d = acc;
                }
            }
        }
    }

    /// The product of the bf16-rounded operands, in f64.
    fn rounded_product(a: &[f32], b: &[f32], (m, n, k): (usize, usize, usize)) -> Vec<f32> {
        let r = |x: f32| from_bf16(to_bf16(x)) as f64;
        (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..k)
                    .map(|p| r(a[i * k + p]) * r(b[p * n + j]))
                    .sum::<f64>() as f32
            })
            .collect()
    }

    fn check(tiles: &impl Tiles, (m, n, k): (usize, usize, usize)) {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) / 9.3)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 17) as f32 - 8.0) / 7.1)
            .collect();
        let at: Vec<f32> = (0..m * k).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let expect = rounded_product(&a, &b, (m, n, k));
        let layouts = [
            (Operand::rows(&a, k), Operand::rows(&b, n)),
            (Operand::transposed(&at, m), Operand::transposed(&bt, k)),
        ];
        for (lhs, rhs) in &layouts {
            for accumulate in [false, true] {
                let mut c = vec![1f32; m * n];
                run(tiles, &mut c, (m, n, k), lhs, rhs, accumulate);
                let base = if accumulate { 1.0 } else { 0.0 };
                for (i, (x, y)) in c.iter().zip(&expect).enumerate() {
                    assert!(
                        (x - base - y).abs() <= 1e-4 * (1.0 + y.abs()),
                        "{m}x{n}x{k} acc {accumulate}, value {i}: {x} vs {}",
                        y + base
                    );
                }
            }
        }
    }

    #[test]
    fn bf16_rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between 1 and the next bf16: ties go to the even mantissa (1).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(-2.5), 0xc020);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_conversions_equal_the_portable_ones() {
        if !convert512::available() {
            eprintln!("skipped: this CPU has no AVX512-BF16 (the portable conversions are used)");
            return;
        }
        use convert512::Avx512;
        // Ties to even, NaN, infinities, large and small normal values (no subnormals: the
        // instruction flushes them, the portable rounding keeps them).
        let special = [
            1.0 + 1.0 / 256.0,
            1.0 + 3.0 / 256.0,
            -2.5,
            f32::INFINITY,
            -1e30,
            3e-30,
        ];
        let values: Vec<f32> = (0..64)
            .map(|i| match special.get(i % 9) {
                Some(&v) => v,
                None => ((i * 7919 % 1000) as f32 - 500.0) / 77.0,
            })
            .collect();
        let bits = |w: &[u32]| w.to_vec();
        for n in 0..=BLOCK {
            let src = &values[..n];
            // SAFETY: the features were just detected.
            let (a, b) = unsafe { (Avx512::line_words(src), Portable::line_words(src)) };
            assert_eq!(bits(&a), bits(&b), "line of {n}");
            let hi = &values[32..32 + n];
            for hi in [Some(hi), None] {
                let (a, b) = unsafe { (Avx512::row_pairs(src, hi), Portable::row_pairs(src, hi)) };
                assert_eq!(bits(&a), bits(&b), "rows of {n}");
            }
        }
        let nan = unsafe { Avx512::line_words(&[f32::NAN, 1.0]) }[0];
        assert!(from_bf16(nan as u16).is_nan());
    }

    #[test]
    fn packed_blocks_give_the_product_of_the_rounded_operands() {
        // Whole blocks, edges in every dimension, several passes over k, fewer column blocks
        // than threads, a right operand too large to sweep row panels over (columns outer).
        for shape in [
            (64, 64, 64),
            (37, 53, 129),
            (70, 20, 1100),
            (5, 3, 2),
            (33, 1100, 1024),
        ] {
            check(&Emulated, shape);
        }
    }

    /// Shapes that the hardware kernels are checked at: whole blocks, edges in every dimension,
    /// several passes over k, a right operand too large to sweep row panels over.
    const KERNEL_SHAPES: [(usize, usize, usize); 4] = [
        (64, 64, 64),
        (37, 53, 129),
        (96, 256, 1100),
        (33, 1100, 1024),
    ];

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_dot_products_match_the_emulated_tiles() {
        if !dot512::available() {
            eprintln!("skipped: this CPU has no AVX512-BF16 (the emulated tiles are tested above)");
            return;
        }
        for shape in KERNEL_SHAPES {
            check(&dot512::Dot512, shape);
        }
    }

    #[test]
    fn amx_tiles_match_the_emulated_ones() {
        if backend() != Some(Backend::Amx) {
            eprintln!("skipped: this CPU has no AMX-BF16 (the emulated tiles are tested above)");
            return;
        }
        for shape in KERNEL_SHAPES {
            check(&amx::Amx, shape);
        }
    }
}
