//! Row blocks of a `.h5ad` X read on a background thread, at most one block ahead of the
//! consumer, so passes over (and training on) files larger than memory keep memory flat.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use crate::data::h5ad::H5adFile;
use crate::data::preprocess::RowBlocks;
use crate::data::{CsrMatrix, DataError};

/// What the reader does to each block before handing it over (e.g. preprocessing).
pub type BlockMap = Arc<dyn Fn(CsrMatrix) -> CsrMatrix + Send + Sync>;

/// Blocks held in the channel besides the one being read and the one being used.
const READ_AHEAD: usize = 1;

/// A background reader of row ranges of X, delivered in the order given.
pub struct BlockReader {
    rx: Receiver<Result<CsrMatrix, DataError>>,
}

impl BlockReader {
    /// Starts reading `ranges` of X from `path` in order, passing each block through `map`.
    pub fn spawn(path: &Path, ranges: Vec<Range<usize>>, map: BlockMap) -> Self {
        let (tx, rx) = sync_channel(READ_AHEAD);
        let path = path.to_path_buf();
        let reader = move || {
            let file = match H5adFile::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            for range in ranges {
                let block = file.read_x_rows(range).map(|b| map(b));
                let failed = block.is_err();
                // a dropped receiver means the consumer is done: stop reading
                if tx.send(block).is_err() || failed {
                    return;
                }
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("cellscope-blocks".into())
            .spawn(reader)
        {
            tracing::error!("cannot start the block reader: {e}");
        }
        Self { rx }
    }

    /// The next block; None once all ranges were delivered (or the reader could not start).
    pub fn next_block(&mut self) -> Option<Result<CsrMatrix, DataError>> {
        self.rx.recv().ok()
    }
}

/// Row ranges of `block_rows` rows covering `0..n_rows`.
pub fn block_ranges(n_rows: usize, block_rows: usize) -> Vec<Range<usize>> {
    let b = block_rows.max(1);
    (0..n_rows.div_ceil(b))
        .map(|k| k * b..((k + 1) * b).min(n_rows))
        .collect()
}

/// X of a `.h5ad` file as row blocks, each pass read ahead on a background thread.
#[derive(Debug, Clone)]
pub struct H5adBlocks {
    path: PathBuf,
    n_rows: usize,
    n_cols: usize,
    block_rows: usize,
}

impl H5adBlocks {
    /// Blocks of `block_rows` rows of the X of `file`.
    pub fn new(file: &H5adFile, block_rows: usize) -> Self {
        Self {
            path: file.path().to_path_buf(),
            n_rows: file.n_obs(),
            n_cols: file.n_vars(),
            block_rows: block_rows.max(1),
        }
    }

    /// Visits every block in row order after passing it through `map` on the reader thread.
    pub fn for_each_mapped(
        &self,
        map: BlockMap,
        f: &mut dyn FnMut(usize, &CsrMatrix) -> Result<(), DataError>,
    ) -> Result<(), DataError> {
        let ranges = block_ranges(self.n_rows, self.block_rows);
        let starts: Vec<usize> = ranges.iter().map(|r| r.start).collect();
        let mut reader = BlockReader::spawn(&self.path, ranges, map);
        for start in starts {
            let block = reader.next_block().ok_or_else(|| DataError::Invalid {
                path: self.path.clone(),
                what: format!("the block reader stopped before row {start}"),
            })??;
            f(start, &block)?;
        }
        Ok(())
    }
}

impl RowBlocks for H5adBlocks {
    fn n_cols(&self) -> usize {
        self.n_cols
    }

    fn for_each_block(
        &mut self,
        f: &mut dyn FnMut(usize, &CsrMatrix) -> Result<(), DataError>,
    ) -> Result<(), DataError> {
        self.for_each_mapped(Arc::new(|b| b), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_rows_in_order() {
        assert_eq!(block_ranges(10, 4), vec![0..4, 4..8, 8..10]);
        assert_eq!(block_ranges(8, 4), vec![0..4, 4..8]);
        assert!(block_ranges(0, 4).is_empty());
    }
}
