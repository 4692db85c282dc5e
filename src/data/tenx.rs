//! Cell Ranger outputs: `filtered_*_bc_matrix.h5` (v1/v2 per-genome groups, v3 `matrix`) and
//! mtx folders (matrix.mtx, genes/features.tsv, barcodes.tsv, optionally gzipped).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::data::h5ad::hdf::{self, Msg, at, read_strings};
use crate::data::h5ad::{ElementError, MatrixElement, MatrixEncoding};
use crate::data::{Column, ColumnValues, CsrMatrix, DataError, DataFormat, Dataset};

/// Whether an open HDF5 file has a Cell Ranger layout.
pub(crate) fn is_tenx_h5(file: &hdf5::File) -> bool {
    genome_groups(file).is_ok_and(|g| !g.is_empty())
}

/// The groups holding matrices: `matrix` (v3) or one per genome (v1/v2).
fn genome_groups(file: &hdf5::File) -> Result<Vec<String>, Msg> {
    let names = file.member_names().map_err(|e| at("/", e))?;
    Ok(names
        .into_iter()
        .filter(|n| {
            file.group(n)
                .is_ok_and(|g| g.link_exists("indptr") && g.link_exists("barcodes"))
        })
        .collect())
}

/// Reads a Cell Ranger .h5 as cells x genes; several genomes are joined gene-wise.
pub fn read_tenx_h5(path: &Path) -> Result<Dataset, DataError> {
    let file = hdf::open_read_only(path)?;
    let fail = |what: Msg| DataError::Invalid {
        path: path.to_path_buf(),
        what,
    };
    let groups = genome_groups(&file).map_err(fail)?;
    if groups.is_empty() {
        return Err(fail(
            "no Cell Ranger matrix group (expected `matrix` or per-genome groups with indptr/barcodes)"
                .into(),
        ));
    }
    let mut parts = Vec::new();
    for name in &groups {
        parts.push(read_genome(&file, name).map_err(|e| match e {
            ElementError::Invalid(what) => fail(what),
            ElementError::Unsupported { group, what } => DataError::Unsupported {
                path: path.to_path_buf(),
                group,
                what,
            },
        })?);
    }
    let (barcodes, mut x, mut genes) = parts.remove(0);
    for (other_barcodes, other_x, other_genes) in parts {
        if other_barcodes != barcodes {
            return Err(fail(
                "genomes have different cell barcodes; cannot join them".into(),
            ));
        }
        x = hstack(&x, &other_x);
        genes.extend(other_genes);
    }
    Ok(Dataset {
        path: path.to_path_buf(),
        x,
        obs_names: barcodes,
        var_names: genes,
        obs: Vec::new(),
    })
}

/// One genome group: (barcodes, cells x genes counts, gene symbols).
fn read_genome(
    file: &hdf5::File,
    name: &str,
) -> Result<(Vec<String>, CsrMatrix, Vec<String>), ElementError> {
    let (barcodes, m, genes) = genome_parts(file, name)?;
    Ok((barcodes, m.read_all(file)?, genes))
}

/// Makes the reads of [`read_tenx_h5`], sampling a large matrix, ignoring errors (for the
/// crash probe, see `data::probe`).
pub(crate) fn sample_reads(path: &Path, budget: usize, windows: usize) {
    let Ok(file) = hdf::open_read_only(path) else {
        return;
    };
    for name in genome_groups(&file).unwrap_or_default() {
        if let Ok((_, m, _)) = genome_parts(&file, &name) {
            m.sample_reads(&file, budget, windows);
        }
    }
}

/// One genome group's barcodes, matrix (cells x genes, not yet read) and gene symbols.
fn genome_parts(
    file: &hdf5::File,
    name: &str,
) -> Result<(Vec<String>, MatrixElement, Vec<String>), ElementError> {
    let g = file.group(name).map_err(|e| at(name, e))?;
    let strings = |p: &str| -> Result<Vec<String>, Msg> {
        read_strings(&g.dataset(p).map_err(|e| at(&format!("{name}/{p}"), e))?)
    };
    let barcodes = strings("barcodes")?;
    let genes = if g.link_exists("features") {
        strings("features/name")?
    } else {
        strings("gene_names").or_else(|_| strings("genes"))?
    };
    // Stored genes x cells in CSC: its columns are cells, i.e. CSR rows of cells x genes.
    let layout = (MatrixEncoding::Csr, (barcodes.len(), genes.len()));
    let m = MatrixElement::sparse(file, &format!("/{name}"), Some(layout))?;
    Ok((barcodes, m, genes))
}

/// The gene annotations of a Cell Ranger .h5 as scanpy's `read_10x_h5` names them:
/// `gene_ids`, and for Cell Ranger 3 `feature_types` and `genome` (genomes joined gene-wise).
/// Empty when the file cannot be read; a column absent from any genome is left out.
pub(crate) fn tenx_h5_var(path: &Path) -> Vec<Column> {
    let Ok(file) = hdf::open_read_only(path) else {
        return Vec::new();
    };
    let groups = genome_groups(&file).unwrap_or_default();
    let fields = [
        ("gene_ids", ["features/id", "genes"]),
        ("feature_types", ["features/feature_type", ""]),
        ("genome", ["features/genome", ""]),
    ];
    let read = |group: &str, sources: &[&str]| {
        sources
            .iter()
            .filter(|p| !p.is_empty())
            .find_map(|p| file.dataset(&format!("{group}/{p}")).ok())
            .and_then(|ds| read_strings(&ds).ok())
    };
    fields
        .iter()
        .filter_map(|(name, sources)| {
            let parts: Option<Vec<Vec<String>>> = groups.iter().map(|g| read(g, sources)).collect();
            Some(Column {
                name: (*name).to_string(),
                values: ColumnValues::Str(parts?.concat()),
            })
        })
        .collect()
}

/// Joins two matrices with the same rows side by side.
fn hstack(a: &CsrMatrix, b: &CsrMatrix) -> CsrMatrix {
    let mut indptr = vec![0];
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    for i in 0..a.n_rows {
        let (ia, va) = a.row(i);
        let (ib, vb) = b.row(i);
        indices.extend_from_slice(ia);
        data.extend_from_slice(va);
        indices.extend(ib.iter().map(|&j| j + a.n_cols as u32));
        data.extend_from_slice(vb);
        indptr.push(data.len());
    }
    CsrMatrix {
        n_rows: a.n_rows,
        n_cols: a.n_cols + b.n_cols,
        indptr,
        indices,
        data,
    }
}

/// The value type Cell Ranger stored: the HDF5 dtype of `data`, or the Matrix Market field.
pub(crate) fn stored_dtype(path: &Path, format: DataFormat) -> Option<String> {
    if format == DataFormat::TenxMtx {
        let dir = mtx_dir(path).ok()?;
        let mtx = find(&dir, &["matrix.mtx"])?;
        let header = open_text(&mtx).ok()?.lines().next()?.ok()?;
        return header.split_whitespace().nth(3).map(str::to_lowercase);
    }
    let file = hdf::open_read_only(path).ok()?;
    let group = genome_groups(&file).ok()?.into_iter().next()?;
    let data = file.dataset(&format!("{group}/data")).ok()?;
    hdf::descriptor(&data).ok().map(|d| d.to_string())
}

/// The folder holding matrix.mtx: `path` itself, the folder of a matrix.mtx file, or the
/// single genome subfolder of a Cell Ranger 2 `filtered_gene_bc_matrices/` folder.
pub(crate) fn mtx_dir(path: &Path) -> Result<PathBuf, DataError> {
    if !path.exists() {
        return Err(DataError::Missing {
            path: path.to_path_buf(),
        });
    }
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().unwrap_or(path).to_path_buf()
    };
    if find(&dir, &["matrix.mtx"]).is_some() {
        return Ok(dir);
    }
    let mut genomes: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir() && find(p, &["matrix.mtx"]).is_some())
                .collect()
        })
        .unwrap_or_default();
    genomes.sort();
    match genomes.len() {
        1 => Ok(genomes.remove(0)),
        0 => Err(DataError::Invalid {
            path: dir,
            what: "not a Cell Ranger mtx folder: no matrix.mtx(.gz)".into(),
        }),
        _ => Err(DataError::Invalid {
            path: dir,
            what: format!(
                "several genome folders ({}); pass one of them",
                genomes
                    .iter()
                    .filter_map(|g| g.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find(dir: &Path, stems: &[&str]) -> Option<PathBuf> {
    stems
        .iter()
        .flat_map(|s| [dir.join(s), dir.join(format!("{s}.gz"))])
        .find(|p| p.is_file())
}

fn open_text(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::Invalid {
        path: path.to_path_buf(),
        what: format!("cannot open: {e}"),
    })?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(Box::new(BufReader::new(reader)))
}

fn read_lines(path: &Path) -> Result<Vec<String>, DataError> {
    open_text(path)?
        .lines()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DataError::Invalid {
            path: path.to_path_buf(),
            what: format!("cannot read: {e}"),
        })
        .map(|v| v.into_iter().filter(|l| !l.is_empty()).collect())
}

/// Reads a Cell Ranger mtx folder (genes x cells Matrix Market) as cells x genes.
/// Gene symbols (second column of genes/features.tsv) name the genes, as scanpy does.
pub fn read_mtx_dir(path: &Path) -> Result<Dataset, DataError> {
    let dir = &mtx_dir(path)?;
    let missing = |what: &str| DataError::Invalid {
        path: dir.to_path_buf(),
        what: format!("not a Cell Ranger mtx folder: no {what}"),
    };
    let mtx = find(dir, &["matrix.mtx"]).ok_or_else(|| missing("matrix.mtx(.gz)"))?;
    let genes_file = find(dir, &["features.tsv", "genes.tsv"])
        .ok_or_else(|| missing("genes.tsv/features.tsv"))?;
    let barcodes_file = find(dir, &["barcodes.tsv"]).ok_or_else(|| missing("barcodes.tsv"))?;
    let genes: Vec<String> = read_lines(&genes_file)?
        .iter()
        .map(|l| {
            let mut cols = l.split('\t');
            let id = cols.next().unwrap_or_default();
            cols.next().unwrap_or(id).to_string()
        })
        .collect();
    let barcodes = read_lines(&barcodes_file)?;
    let x = read_mtx(&mtx, genes.len(), barcodes.len())?;
    Ok(Dataset {
        path: dir.to_path_buf(),
        x,
        obs_names: barcodes,
        var_names: genes,
        obs: Vec::new(),
    })
}

/// Parses a coordinate Matrix Market file of genes x cells into cells x genes CSR.
fn read_mtx(path: &Path, n_genes: usize, n_cells: usize) -> Result<CsrMatrix, DataError> {
    let bad = |what: String| DataError::Invalid {
        path: path.to_path_buf(),
        what,
    };
    let mut lines = open_text(path)?.lines().enumerate();
    let mut next_line = || -> Result<Option<(usize, String)>, DataError> {
        lines
            .next()
            .map(|(i, l)| {
                l.map(|l| (i + 1, l))
                    .map_err(|e| bad(format!("cannot read: {e}")))
            })
            .transpose()
    };
    let (_, header) = next_line()?.ok_or_else(|| bad("empty file".into()))?;
    let header = header.to_lowercase();
    if !header.starts_with("%%matrixmarket matrix coordinate") {
        return Err(bad(format!(
            "not a coordinate Matrix Market file: `{header}`"
        )));
    }
    if header.contains("complex") || header.contains("pattern") {
        return Err(bad(
            "complex/pattern Matrix Market values are not supported".into(),
        ));
    }
    let size_line = loop {
        match next_line()? {
            Some((_, l)) if l.starts_with('%') || l.trim().is_empty() => continue,
            Some((_, l)) => break l,
            None => return Err(bad("no size line".into())),
        }
    };
    let dims: Vec<usize> = size_line
        .split_whitespace()
        .map(|t| {
            t.parse()
                .map_err(|_| bad(format!("bad size line `{size_line}`")))
        })
        .collect::<Result<_, _>>()?;
    let [rows, cols, nnz] = dims[..] else {
        return Err(bad(format!("bad size line `{size_line}`")));
    };
    if rows != n_genes || cols != n_cells {
        return Err(bad(format!(
            "matrix is {rows} x {cols} but there are {n_genes} genes and {n_cells} barcodes"
        )));
    }
    let mut triples: Vec<(u32, u32, f32)> = Vec::with_capacity(nnz.min(1 << 26));
    while let Some((line_no, l)) = next_line()? {
        if l.trim().is_empty() || l.starts_with('%') {
            continue;
        }
        let mut t = l.split_whitespace();
        let parse_index = |s: Option<&str>, n: usize| -> Option<u32> {
            let v: usize = s?.parse().ok()?;
            (1..=n).contains(&v).then(|| (v - 1) as u32)
        };
        let gene = parse_index(t.next(), rows);
        let cell = parse_index(t.next(), cols);
        let value = t.next().and_then(|v| v.parse::<f32>().ok());
        match (gene, cell, value) {
            (Some(g), Some(c), Some(v)) => triples.push((c, g, v)),
            _ => return Err(bad(format!("line {line_no}: bad entry `{l}`"))),
        }
    }
    if triples.len() != nnz {
        return Err(bad(format!(
            "header promises {nnz} entries, found {}",
            triples.len()
        )));
    }
    triples.sort_unstable_by_key(|&(c, g, _)| (c, g));
    let mut indptr = vec![0usize; n_cells + 1];
    for &(c, _, _) in &triples {
        indptr[c as usize + 1] += 1;
    }
    for i in 0..n_cells {
        indptr[i + 1] += indptr[i];
    }
    let indices = triples.iter().map(|t| t.1).collect();
    let data = triples.iter().map(|t| t.2).collect();
    CsrMatrix::new(n_cells, n_genes, indptr, indices, data).map_err(|e| bad(e.to_string()))
}
