//! Hand-written forward and backward passes of a dense stack (the autoencoder) on reusable
//! buffers, calling gemm directly: the hot path of the masked methods, checked against autograd.

use candle_core::{Layout, Storage, StorageRef};
use rayon::prelude::*;

use std::ops::Range;

use crate::data::CsrMatrix;
use crate::model::kernels::cpu_slice;
use crate::model::matmul::{Operand, matmul};
use crate::model::mlp::Dense;
use crate::model::random::{fill_dropout_mask, mix};
use crate::model::transpose::{unblock, weight_block};
use crate::model::vector::{SPARSE_BLOCK, sparse_block_row, sum_of, with_avx2};
use crate::model::{Autoencoder, Encoder, ModelError};

/// The largest share of non-zero entries for which the first layer multiplies an input row as
/// a sparse row instead of through gemm (a cell's expression, masked or not, is mostly zeros).
const SPARSE_INPUT_DENSITY: f64 = 0.2;

/// Rows per parallel chunk of the fused loss and gradient (fixed, so the loss repeats exactly).
const LOSS_ROWS: usize = 16;

/// Writes the non-zeros of each row of a dense row-major matrix.
fn gather_nonzeros(input: &[f32], cols: usize, rows: usize, out: &mut Vec<Vec<(u32, f32)>>) {
    out.resize_with(rows, Vec::new);
    out.par_iter_mut()
        .zip(input.par_chunks(cols))
        .for_each(|(nz, row)| {
            nz.clear();
            // Room for a full row once, so later batches never grow it.
            nz.reserve(cols);
            with_avx2(
                #[inline(always)]
                || {
                    // Eight entries at a time: a bit mask of the non-zeros, then its set bits.
                    for (c, chunk) in row.chunks(8).enumerate() {
                        let mut bits = chunk
                            .iter()
                            .enumerate()
                            .fold(0u32, |b, (k, &v)| b | (u32::from(v != 0.0) << k));
                        while bits != 0 {
                            let k = bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            nz.push(((8 * c + k) as u32, chunk[k]));
                        }
                    }
                },
            );
        });
}

/// Columns per parallel task of [`column_sums_into`].
const SUM_BAND: usize = 64;

/// `out` = the column sums of a row-major matrix: bands of columns in parallel, each summed
/// over the rows in order (reproducible, no scratch buffers).
fn column_sums_into(values: &[f32], cols: usize, out: &mut Vec<f32>) {
    out.resize(cols, 0.0);
    out.par_chunks_mut(SUM_BAND).enumerate().for_each(|(b, o)| {
        with_avx2(
            #[inline(always)]
            || {
                o.fill(0.0);
                for row in values.chunks_exact(cols) {
                    o.iter_mut()
                        .zip(&row[b * SUM_BAND..])
                        .for_each(|(o, &v)| *o += v);
                }
            },
        )
    });
}

/// Copies the non-zeros of rows `rows` of a CSR matrix into `out`, one list per row.
fn gather_csr_rows(x: &CsrMatrix, rows: Range<usize>, out: &mut Vec<Vec<(u32, f32)>>) {
    out.resize_with(rows.len(), Vec::new);
    out.par_iter_mut().zip(rows).for_each(|(nz, i)| {
        let (idx, val) = x.row(i);
        nz.clear();
        nz.extend(idx.iter().copied().zip(val.iter().copied()));
    });
}

/// The input batch of a forward pass.
#[derive(Clone, Copy)]
pub enum BatchInput<'a> {
    /// A dense row-major batch (rows x genes).
    Dense(&'a [f32]),
    /// Consecutive rows of a CSR matrix, from the given first row (read without densifying).
    Csr(&'a CsrMatrix, usize),
}

/// `z (rows x out) = X W^T` for the sparse rows `nz` of X (rows marked in `skip` are left as
/// they are): one task per block of [`SPARSE_BLOCK`] output columns, which first rearranges its
/// rows of W into `blocks` ([`weight_block`]) and then multiplies every row by the block while
/// it is in the core's cache (the rows pick weights at random: read cold, they wait on memory).
/// `block_out` holds each block's columns of z until they are copied in place.
fn sparse_rows_times(
    nz: &[Vec<(u32, f32)>],
    skip: &[bool],
    w: &[f32],
    (out, inp): (usize, usize),
    (blocks, block_out): (&mut Vec<f32>, &mut Vec<f32>),
    z: &mut [f32],
) {
    let (n_blocks, rows) = (out.div_ceil(SPARSE_BLOCK), nz.len());
    blocks.resize(n_blocks * inp * SPARSE_BLOCK, 0.0);
    block_out.resize(n_blocks * rows * SPARSE_BLOCK, 0.0);
    blocks
        .par_chunks_mut(inp * SPARSE_BLOCK)
        .zip(block_out.par_chunks_mut(rows * SPARSE_BLOCK))
        .enumerate()
        .for_each(|(b, (block, zb))| {
            weight_block(w, (out, inp), b, block);
            // `sparse_block_row` picks its FMA kernel itself; the rest is copies.
            for ((zr, row), _) in zb
                .chunks_exact_mut(SPARSE_BLOCK)
                .zip(nz)
                .zip(skip)
                .filter(|(_, skip)| !**skip)
            {
                zr.copy_from_slice(&sparse_block_row(row, block));
            }
        });
    let block_out: &[f32] = block_out;
    z.par_chunks_mut(out)
        .zip(skip)
        .enumerate()
        .filter(|(_, (_, skip))| !**skip)
        .for_each(|(r, (zr, _))| {
            for (b, zc) in zr.chunks_mut(SPARSE_BLOCK).enumerate() {
                let at = (b * rows + r) * SPARSE_BLOCK;
                zc.copy_from_slice(&block_out[at..at + zc.len()]);
            }
        });
}

/// The entries of the sparse rows of a batch by input column (the transpose of their
/// non-zeros): column `j`'s `(row, value)` pairs are `entries[starts[j]..starts[j + 1]]`.
#[derive(Debug, Default)]
struct Columns {
    starts: Vec<usize>,
    entries: Vec<(u32, f32)>,
}

impl Columns {
    /// Sorts the non-zeros `nz` of the rows not marked in `skip` by column (`inp` columns).
    fn fill(&mut self, nz: &[Vec<(u32, f32)>], skip: &[bool], inp: usize) {
        let kept = || {
            nz.iter()
                .enumerate()
                .zip(skip)
                .filter(|(_, skip)| !**skip)
                .map(|(row, _)| row)
        };
        self.starts.clear();
        self.starts.resize(inp + 1, 0);
        for (_, row) in kept() {
            for &(j, _) in row {
                self.starts[j as usize + 1] += 1;
            }
        }
        for j in 0..inp {
            self.starts[j + 1] += self.starts[j];
        }
        // Room for the most a batch of sparse rows can hold, once: later batches never grow it.
        let most = (SPARSE_INPUT_DENSITY * (nz.len() * inp) as f64).ceil() as usize;
        self.entries.clear();
        self.entries.reserve(most.max(self.starts[inp]));
        self.entries.resize(self.starts[inp], (0, 0.0));
        // `starts[j]` walks forward as column j fills, and is moved back afterwards.
        for (r, row) in kept() {
            for &(j, v) in row {
                let at = &mut self.starts[j as usize];
                self.entries[*at] = (r as u32, v);
                *at += 1;
            }
        }
        self.starts.copy_within(0..inp, 1);
        self.starts[0] = 0;
    }

    fn column(&self, j: usize) -> &[(u32, f32)] {
        &self.entries[self.starts[j]..self.starts[j + 1]]
    }
}

/// `gw (out x inp) = delta^T X` for the sparse rows of X in `columns`: one task per block of
/// [`SPARSE_BLOCK`] outputs copies its columns of `delta` (rows x outputs) into `deltas` (rows
/// x [`SPARSE_BLOCK`], small enough to stay in the core's cache), multiplies each input column
/// of X by it into `blocks` (the [`weight_block`] layout) and writes its rows of `gw`.
fn sparse_weight_grad(
    columns: &Columns,
    delta: &[f32],
    (rows, out, inp): (usize, usize, usize),
    (blocks, deltas): (&mut Vec<f32>, &mut Vec<f32>),
    gw: &mut [f32],
) {
    let n_blocks = out.div_ceil(SPARSE_BLOCK);
    blocks.resize(n_blocks * inp * SPARSE_BLOCK, 0.0);
    deltas.resize(n_blocks * rows * SPARSE_BLOCK, 0.0);
    blocks
        .par_chunks_mut(inp * SPARSE_BLOCK)
        .zip(deltas.par_chunks_mut(rows * SPARSE_BLOCK))
        .zip(gw.par_chunks_mut(SPARSE_BLOCK * inp))
        .enumerate()
        .for_each(|(b, ((block, db), gw_rows))| {
            let c0 = b * SPARSE_BLOCK;
            let width = SPARSE_BLOCK.min(out - c0);
            for (d, row) in db
                .chunks_exact_mut(SPARSE_BLOCK)
                .zip(delta.chunks_exact(out))
            {
                d[..width].copy_from_slice(&row[c0..c0 + width]);
            }
            // `sparse_block_row` picks its FMA kernel itself.
            for (j, gj) in block.chunks_exact_mut(SPARSE_BLOCK).enumerate() {
                gj.copy_from_slice(&sparse_block_row(columns.column(j), db));
            }
            unblock(block, (width, inp), gw_rows);
        });
}

/// The first layer's product and weight gradient with each input row taken as it comes: a row
/// with at most [`SPARSE_INPUT_DENSITY`] of its entries non-zero (a cell's expression) is
/// multiplied as a sparse row on the weights in blocks, a denser one (a view with noise added to
/// every gene) through gemm with the other dense rows.
#[derive(Debug, Default)]
struct FirstLayer {
    /// Non-zeros of each input row of the last forward pass.
    nonzeros: Vec<Vec<(u32, f32)>>,
    /// Per row: whether it runs dense.
    dense: Vec<bool>,
    /// The sparse rows' non-zeros by column, for the weight gradient.
    columns: Columns,
    /// The dense rows' indices, in order.
    dense_rows: Vec<usize>,
    /// The dense rows packed (dense rows x inputs), kept from the forward to the backward pass.
    packed_input: Vec<f32>,
    /// The dense rows' outputs, then their gradients (dense rows x outputs).
    packed_out: Vec<f32>,
    /// The weights (forward) or their gradient (backward) in blocks ([`weight_block`]), and
    /// each block's columns of the product (forward) or of the output gradient (backward).
    blocks: Vec<f32>,
    block_out: Vec<f32>,
}

impl FirstLayer {
    /// Reads the rows of a forward pass's input and chooses each row's path.
    fn split(&mut self, input: BatchInput, n_genes: usize, rows: usize) {
        match input {
            BatchInput::Dense(values) => gather_nonzeros(values, n_genes, rows, &mut self.nonzeros),
            BatchInput::Csr(x, first) => {
                gather_csr_rows(x, first..first + rows, &mut self.nonzeros)
            }
        }
        let limit = SPARSE_INPUT_DENSITY * n_genes as f64;
        let dense = matches!(input, BatchInput::Dense(_));
        self.dense.clear();
        self.dense.extend(
            self.nonzeros[..rows]
                .iter()
                .map(|nz| dense && nz.len() as f64 > limit),
        );
        self.dense_rows.clear();
        self.dense_rows.extend((0..rows).filter(|&r| self.dense[r]));
    }

    fn all_dense(&self) -> bool {
        self.dense_rows.len() == self.dense.len()
    }

    /// `z (rows x out) = X W^T` for the input `x` of the last [`FirstLayer::split`] (`x` is
    /// only read when some row runs dense).
    fn forward(
        &mut self,
        x: &[f32],
        w: &[f32],
        (rows, out, inp): (usize, usize, usize),
        z: &mut [f32],
    ) {
        if self.all_dense() {
            let (x, w) = (Operand::rows(x, inp), Operand::transposed(w, inp));
            matmul(z, (rows, out, inp), &x, &w, false);
            return;
        }
        sparse_rows_times(
            &self.nonzeros[..rows],
            &self.dense,
            w,
            (out, inp),
            (&mut self.blocks, &mut self.block_out),
            z,
        );
        if self.dense_rows.is_empty() {
            return;
        }
        let n = self.dense_rows.len();
        // Room for every row once: the number of dense rows changes from batch to batch.
        self.packed_input.reserve(rows * inp);
        self.packed_out.reserve(rows * out);
        pack_rows(x, inp, &self.dense_rows, &mut self.packed_input);
        self.packed_out.resize(n * out, 0.0);
        let (xd, w) = (
            Operand::rows(&self.packed_input, inp),
            Operand::transposed(w, inp),
        );
        matmul(&mut self.packed_out, (n, out, inp), &xd, &w, false);
        for (zd, &r) in self.packed_out.chunks_exact(out).zip(&self.dense_rows) {
            z[r * out..(r + 1) * out].copy_from_slice(zd);
        }
    }

    /// `gw (out x inp) = delta^T X` after [`FirstLayer::forward`] on the same input `x`.
    fn weight_grad(
        &mut self,
        x: &[f32],
        delta: &[f32],
        (rows, out, inp): (usize, usize, usize),
        gw: &mut Vec<f32>,
    ) {
        gw.resize(out * inp, 0.0);
        if self.all_dense() {
            let (d, x) = (Operand::transposed(delta, out), Operand::rows(x, inp));
            matmul(gw, (out, inp, rows), &d, &x, false);
            return;
        }
        self.columns.fill(&self.nonzeros[..rows], &self.dense, inp);
        sparse_weight_grad(
            &self.columns,
            delta,
            (rows, out, inp),
            (&mut self.blocks, &mut self.block_out),
            gw,
        );
        if self.dense_rows.is_empty() {
            return;
        }
        pack_rows(delta, out, &self.dense_rows, &mut self.packed_out);
        let n = self.dense_rows.len();
        let (d, xd) = (
            Operand::transposed(&self.packed_out, out),
            Operand::rows(&self.packed_input, inp),
        );
        matmul(gw, (out, inp, n), &d, &xd, true);
    }
}

/// `packed` = the rows `picked` of the row-major matrix `m` (rows of `cols`), in order.
fn pack_rows(m: &[f32], cols: usize, picked: &[usize], packed: &mut Vec<f32>) {
    packed.clear();
    for &r in picked {
        packed.extend_from_slice(&m[r * cols..(r + 1) * cols]);
    }
}

/// Reusable buffers of one training pass: per-layer pre-activations, outputs, dropout masks and
/// gradients (weight, bias per layer, in parameter order).
#[derive(Debug, Default)]
pub struct Workspace {
    z: Vec<Vec<f32>>,
    h: Vec<Vec<f32>>,
    masks: Vec<Vec<f32>>,
    delta: Vec<f32>,
    back: Vec<f32>,
    /// The first layer's scratch: its input rows split into sparse and dense ones.
    first: FirstLayer,
    /// Partial sums of the loss, one per chunk of rows.
    loss_parts: Vec<f64>,
    /// Gradients, one buffer per parameter (weight then bias of each layer).
    pub grads: Vec<Vec<f32>>,
    /// Seconds spent in forward (with the loss) and backward passes so far.
    pub forward_secs: f64,
    pub backward_secs: f64,
}

/// The f32 values behind a read lock on a CPU tensor.
pub(crate) fn values<'a>(guard: &'a (StorageRef<'a>, &'a Layout)) -> Result<&'a [f32], ModelError> {
    match &*guard.0 {
        Storage::Cpu(cpu) => Ok(cpu_slice(cpu, guard.1)?),
        _ => Err(candle_core::Error::Msg("the training pass runs on the CPU".into()).into()),
    }
}

/// A dense stack for one pass: its layers and, in training, the dropout seed of every layer
/// in each segment of the batch (equal runs of rows: the two views of a contrastive step each
/// draw the masks they would draw alone).
struct Stack<'a> {
    layers: Vec<&'a Dense>,
    /// `seeds[s][i]`: layer `i`'s dropout seed in segment `s`; empty in evaluation.
    seeds: Vec<Vec<u64>>,
}

/// The seeds `Mlp::forward(x, Some(seed))` gives its `n` layers.
fn mlp_seeds(n: usize, seed: u64) -> impl Iterator<Item = u64> {
    (0..n as u64).map(move |i| mix(seed, i))
}

/// The layers of an autoencoder in order with the dropout seeds of `Autoencoder::forward`.
fn autoencoder_stack(model: &Autoencoder, seed: u64) -> Stack<'_> {
    let (enc, dec) = (&model.encoder.mlp.layers, &model.decoder.layers);
    Stack {
        layers: enc.iter().chain(dec).collect(),
        seeds: vec![
            mlp_seeds(enc.len(), mix(seed, 1))
                .chain(mlp_seeds(dec.len(), mix(seed, 2)))
                .collect(),
        ],
    }
}

/// The encoder's layers; per segment `s` the dropout seeds `Encoder::forward(x, Some(seeds[s]))`
/// uses (no dropout when `seeds` is empty).
fn encoder_stack<'a>(encoder: &'a Encoder, seeds: &[u64]) -> Stack<'a> {
    let layers = &encoder.mlp.layers;
    Stack {
        layers: layers.iter().collect(),
        seeds: seeds
            .iter()
            .map(|&s| mlp_seeds(layers.len(), s).collect())
            .collect(),
    }
}

/// Borrowed parameter values, one slice per layer.
type Slices<'a> = Vec<&'a [f32]>;

/// Read locks on the weights and biases of a stack for the duration of one pass.
struct StackValues<'a> {
    weights: Vec<(StorageRef<'a>, &'a Layout)>,
    biases: Vec<(StorageRef<'a>, &'a Layout)>,
}

impl<'a> StackValues<'a> {
    fn lock(layers: &[&'a Dense]) -> Self {
        Self {
            weights: layers
                .iter()
                .map(|l| l.weight.storage_and_layout())
                .collect(),
            biases: layers.iter().map(|l| l.bias.storage_and_layout()).collect(),
        }
    }

    fn slices(&self) -> Result<(Slices<'_>, Slices<'_>), ModelError> {
        Ok((
            self.weights.iter().map(values).collect::<Result<_, _>>()?,
            self.biases.iter().map(values).collect::<Result<_, _>>()?,
        ))
    }
}

/// Forward pass of a dense stack on `rows` rows of `input`, keeping what the backward pass
/// needs in `ws`; dropout when the stack has seeds. The output is `ws.output()`.
fn stack_forward(
    stack: &Stack,
    input: BatchInput,
    rows: usize,
    ws: &mut Workspace,
) -> Result<(), ModelError> {
    let layers = &stack.layers;
    let locked = StackValues::lock(layers);
    let (w, b) = locked.slices()?;
    let n = layers.len();
    ws.z.resize_with(n, Vec::new);
    ws.h.resize_with(n, Vec::new);
    ws.masks.resize_with(n, Vec::new);
    ws.grads.resize_with(2 * n, Vec::new);
    let n_genes = layers[0].weight.dims2()?.1;
    ws.first.split(input, n_genes, rows);
    let dense = match input {
        BatchInput::Dense(values) => values,
        BatchInput::Csr(..) => &[],
    };
    for (i, layer) in layers.iter().enumerate() {
        let (out, inp) = layer.weight.dims2()?;
        let x: &[f32] = if i == 0 { dense } else { &ws.h[i - 1] };
        let mut z = std::mem::take(&mut ws.z[i]);
        z.resize(rows * out, 0.0);
        if i == 0 {
            ws.first.forward(dense, w[0], (rows, out, inp), &mut z);
        } else {
            matmul(
                &mut z,
                (rows, out, inp),
                &Operand::rows(x, inp),
                &Operand::transposed(w[i], inp),
                false,
            );
        }
        let dropout = layer.dropout();
        let mask = &mut ws.masks[i];
        if !stack.seeds.is_empty() && dropout > 0.0 {
            mask.resize(rows * out, 0.0);
            let segment = rows / stack.seeds.len() * out;
            for (m, seeds) in mask.chunks_mut(segment).zip(&stack.seeds) {
                fill_dropout_mask(m, out, dropout, seeds[i]);
            }
        } else {
            mask.clear();
        }
        let act = layer.activation();
        let bias = b[i];
        let h = &mut ws.h[i];
        h.resize(rows * out, 0.0);
        let mask: &[f32] = mask;
        z.par_chunks_mut(out)
            .zip(h.par_chunks_mut(out))
            .enumerate()
            .for_each(|(r, (z, h))| {
                with_avx2(
                    #[inline(always)]
                    || {
                        act.bias_apply_row(z, bias, h);
                        if !mask.is_empty() {
                            h.iter_mut()
                                .zip(&mask[r * out..(r + 1) * out])
                                .for_each(|(h, m)| *h *= m);
                        }
                    },
                )
            });
        ws.z[i] = z;
    }
    Ok(())
}

/// Backward pass of a dense stack after [`stack_forward`]: `ws.delta` holds dLoss/d(output)
/// on entry; the parameter gradients end in `ws.grads`.
fn stack_backward(
    layers: &[&Dense],
    input: &[f32],
    rows: usize,
    ws: &mut Workspace,
) -> Result<(), ModelError> {
    let locked = StackValues::lock(layers);
    let (w, _) = locked.slices()?;
    let n = layers.len();
    // The last layer is linear, so `delta` is already dLoss/dz there.
    for i in (0..n).rev() {
        let (out, inp) = layers[i].weight.dims2()?;
        let x: &[f32] = if i == 0 { input } else { &ws.h[i - 1] };
        let gw = &mut ws.grads[2 * i];
        if i == 0 {
            ws.first.weight_grad(input, &ws.delta, (rows, out, inp), gw);
        } else {
            gw.resize(out * inp, 0.0);
            matmul(
                gw,
                (out, inp, rows),
                &Operand::transposed(&ws.delta, out),
                &Operand::rows(x, inp),
                false,
            );
        }
        column_sums_into(&ws.delta, out, &mut ws.grads[2 * i + 1]);
        if i == 0 {
            break;
        }
        ws.back.resize(rows * inp, 0.0);
        matmul(
            &mut ws.back,
            (rows, inp, out),
            &Operand::rows(&ws.delta, out),
            &Operand::rows(w[i], inp),
            false,
        );
        // Through the previous layer's dropout and activation.
        let (act, keep) = (layers[i - 1].activation(), 1.0 - layers[i - 1].dropout());
        let (z, h) = (&ws.z[i - 1], &ws.h[i - 1]);
        let mask: &[f32] = &ws.masks[i - 1];
        ws.back.par_chunks_mut(inp).enumerate().for_each(|(r, g)| {
            let span = r * inp..(r + 1) * inp;
            let mr = if mask.is_empty() {
                mask
            } else {
                &mask[span.clone()]
            };
            with_avx2(
                #[inline(always)]
                || act.backward_row(g, &z[span.clone()], &h[span.clone()], mr, keep),
            )
        });
        std::mem::swap(&mut ws.delta, &mut ws.back);
    }
    Ok(())
}

impl Workspace {
    /// The output of the last forward pass (rows x output width).
    pub fn output(&self) -> &[f32] {
        self.h.last().map_or(&[], Vec::as_slice)
    }
}

/// Encoder forward pass on `rows` rows of `input` made of `seeds.len()` equal segments (one
/// for a single batch), segment `s` with the dropout of `Encoder::forward(x, Some(seeds[s]))`
/// (none when `seeds` is empty); returns the latent batch (rows x latent), kept in `ws` for
/// [`encoder_backward`].
pub fn encoder_forward<'w>(
    encoder: &Encoder,
    input: &[f32],
    rows: usize,
    seeds: &[u64],
    ws: &'w mut Workspace,
) -> Result<&'w [f32], ModelError> {
    let stack = encoder_stack(encoder, seeds);
    stack_forward(&stack, BatchInput::Dense(input), rows, ws)?;
    Ok(ws.output())
}

/// Eval-mode encoder pass over rows `rows` of a CSR matrix, read sparse (no densified copy);
/// returns the latent batch (rows x latent).
pub fn encoder_embed_csr<'w>(
    encoder: &Encoder,
    x: &CsrMatrix,
    rows: Range<usize>,
    ws: &'w mut Workspace,
) -> Result<&'w [f32], ModelError> {
    let stack = encoder_stack(encoder, &[]);
    stack_forward(&stack, BatchInput::Csr(x, rows.start), rows.len(), ws)?;
    Ok(ws.output())
}

/// Encoder backward pass after [`encoder_forward`] on the same `input` and `rows`, from the
/// gradient of the loss with respect to the latent batch; gradients end in `ws.grads`.
pub fn encoder_backward(
    encoder: &Encoder,
    input: &[f32],
    rows: usize,
    d_latent: &[f32],
    ws: &mut Workspace,
) -> Result<(), ModelError> {
    ws.delta.clear();
    ws.delta.extend_from_slice(d_latent);
    stack_backward(&encoder_stack(encoder, &[]).layers, input, rows, ws)
}

/// One forward and backward pass of the masked-MSE autoencoder loss on a dense batch
/// (`rows` x genes): returns the loss and leaves the gradients in `ws.grads`.
#[allow(clippy::too_many_arguments)]
pub fn autoencoder_pass(
    model: &Autoencoder,
    input: &[f32],
    target: &[f32],
    weight: &[f32],
    denom: f32,
    rows: usize,
    dropout_seed: u64,
    ws: &mut Workspace,
) -> Result<f32, ModelError> {
    let stack = autoencoder_stack(model, dropout_seed);
    let start = std::time::Instant::now();
    stack_forward(&stack, BatchInput::Dense(input), rows, ws)?;
    let cols = model
        .decoder
        .layers
        .last()
        .map_or(1, |l| l.weight.dims()[0]);
    let pred = ws.h.last().map_or(&[][..], Vec::as_slice);
    // Loss and its gradient in one pass, in fixed row chunks so the sum repeats exactly.
    let scale = 2.0 / denom.max(1.0);
    let mut delta = std::mem::take(&mut ws.delta);
    delta.resize(rows * cols, 0.0);
    delta
        .par_chunks_mut(LOSS_ROWS * cols)
        .enumerate()
        .map(|(c, d)| {
            let at = c * LOSS_ROWS * cols;
            with_avx2(
                #[inline(always)]
                || {
                    // Row by row: f32 partial sums over a row, f64 across rows.
                    d.chunks_exact_mut(cols)
                        .enumerate()
                        .map(|(r, d)| {
                            let span = at + r * cols..at + (r + 1) * cols;
                            let (p, t, w) =
                                (&pred[span.clone()], &target[span.clone()], &weight[span]);
                            sum_of(cols, |i| {
                                let e = p[i] - t[i];
                                d[i] = scale * w[i] * e;
                                w[i] * e * e
                            })
                        })
                        .sum::<f64>()
                },
            )
        })
        .collect_into_vec(&mut ws.loss_parts);
    let loss = ws.loss_parts.iter().sum::<f64>() / f64::from(denom.max(1.0));
    ws.delta = delta;
    let mid = std::time::Instant::now();
    ws.forward_secs += (mid - start).as_secs_f64();
    stack_backward(&stack.layers, input, rows, ws)?;
    ws.backward_secs += mid.elapsed().as_secs_f64();
    Ok(loss as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::model::kernels::{masked_mse, to_vec};
    use candle_core::{Device, Tensor};

    #[test]
    fn hand_written_pass_matches_candle_autograd_with_dropout_for_dense_and_sparse_input() {
        let cfg = ModelConfig {
            hidden: vec![12, 7],
            latent: 3,
            dropout: 0.2,
            ..ModelConfig::default()
        };
        let (rows, genes) = (6, 70);
        let model = Autoencoder::new(&cfg, genes, 4).unwrap();
        // Dense rows (every entry set) and sparse rows (~9% non-zero) take different paths:
        // all dense, all sparse, and a batch of both.
        for every in [[1; 6], [11; 6], [1, 11, 11, 1, 11, 1]] {
            let input: Vec<f32> = (0..rows * genes)
                .map(|i| {
                    if i % every[i / genes] == 0 {
                        ((i * 37 % 11) as f32 + 1.0) / 5.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let target: Vec<f32> = (0..rows * genes)
                .map(|i| ((i * 13 % 7) as f32) / 3.0)
                .collect();
            let weight: Vec<f32> = (0..rows * genes)
                .map(|i| (i % 3 == 0) as u8 as f32)
                .collect();
            let denom = weight.iter().sum::<f32>();
            let mut ws = Workspace::default();
            let loss = autoencoder_pass(&model, &input, &target, &weight, denom, rows, 99, &mut ws)
                .unwrap();
            let t = |v: &[f32]| Tensor::from_slice(v, (rows, genes), &Device::Cpu).unwrap();
            let pred = model.forward(&t(&input), Some(99)).unwrap();
            let reference = masked_mse(&pred, &t(&target), &t(&weight), denom).unwrap();
            assert!((reference.to_scalar::<f32>().unwrap() - loss).abs() < 1e-5);
            let grads = reference.backward().unwrap();
            for (k, var) in model.params.vars().iter().enumerate() {
                let expect = to_vec(grads.get(var).unwrap()).unwrap();
                assert_eq!(ws.grads[k].len(), expect.len());
                for (a, b) in ws.grads[k].iter().zip(&expect) {
                    assert!(
                        (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                        "every {every:?}, {}: {a} vs {b}",
                        model.params.names()[k]
                    );
                }
            }
        }
    }
}
