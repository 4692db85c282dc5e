//! `cellscope embed RUN [--data FILE] --out OUT.h5ad`: the data with the run's embedding, its
//! t-SNE layout and Leiden clusters (obsm/obs), readable by anndata: a copy of an anndata >= 0.8
//! input, or a fresh anndata file (X as read, obs, var, obsm) from any other input.

use clap::Args;
use std::path::{Path, PathBuf};

use crate::analysis::embed::{EvalInput, cluster, views_2d};
use crate::config::Config;
use crate::data::h5ad::fresh::write_fresh;
use crate::data::h5ad::write::{
    copy_for_writing, extends_in_place, same_file, write_obs_categorical, write_obsm_array,
};
use crate::data::h5ad::{Frame, H5adFile};
use crate::data::tenx::tenx_h5_var;
use crate::data::{DataFormat, data_format, read_dataset};

/// obsm key of the embedding.
pub const OBSM_EMBEDDING: &str = "X_cellscope";
/// obsm key of the 2-D layout.
pub const OBSM_LAYOUT: &str = "X_cellscope_2d";
/// obs column of the clusters.
pub const OBS_CLUSTER: &str = "cellscope_cluster";

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Run directory.
    pub run: PathBuf,
    /// Dataset to embed; the run's training data when omitted.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output .h5ad (the data with obsm['X_cellscope']); never the input file.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: EmbedArgs, _config: &Config) -> anyhow::Result<()> {
    let input = EvalInput::load(&args.run, args.data.as_deref())?;
    let source = input.data.path.clone();
    let (file, n_obs) = if extends_in_place(&source)? {
        copy_for_writing(&source, &args.out)?
    } else {
        write_fresh_output(&source, &args.out)?
    };
    let result = (|| -> anyhow::Result<usize> {
        let z = input.embedding(&mut |_, _| {})?;
        anyhow::ensure!(
            z.nrows() == n_obs,
            "{}: {n_obs} cells in the file but {} embedded rows",
            source.display(),
            z.nrows()
        );
        let config = &input.run.config;
        let (_, layout) = views_2d(z.view(), config)?;
        let clusters = cluster(z.view(), config, config.train.seed)?.leiden;
        let n_clusters = clusters.iter().max().map_or(0, |m| m + 1);
        let names: Vec<String> = (0..n_clusters).map(|c| c.to_string()).collect();
        let at = |e: hdf5::Error| anyhow::anyhow!("{}: {e}", args.out.display());
        write_obsm_array(&file, OBSM_EMBEDDING, z.view()).map_err(at)?;
        write_obsm_array(&file, OBSM_LAYOUT, layout.view()).map_err(at)?;
        write_obs_categorical(&file, OBS_CLUSTER, &clusters, &names).map_err(at)?;
        Ok(n_clusters)
    })();
    drop(file);
    match result {
        Ok(n_clusters) => {
            println!(
                "wrote {}: obsm['{OBSM_EMBEDDING}'] ({n_obs} x {}), obsm['{OBSM_LAYOUT}'] (t-SNE), \
                 obs['{OBS_CLUSTER}'] ({n_clusters} Leiden clusters)",
                args.out.display(),
                input.run.encoder.latent
            );
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&args.out);
            Err(e)
        }
    }
}

/// A fresh anndata file at `out` from an input that cannot be extended in place: its X as
/// read, obs, var and dense obsm arrays (other obsm elements are named on stderr).
fn write_fresh_output(source: &Path, out: &Path) -> anyhow::Result<(hdf5::File, usize)> {
    anyhow::ensure!(
        !same_file(source, out),
        "{}: is the input file; choose another --out (the input is never modified)",
        out.display()
    );
    let ds = read_dataset(source, "X")?;
    let format = data_format(source)?;
    if format == DataFormat::Zarr {
        eprintln!(
            "note: {} is a zarr store; cellscope writes .h5ad, so {} is a fresh anndata file \
             with its X, obs, var and obsm",
            source.display(),
            out.display()
        );
    }
    let (var, obsm, skipped) = match format {
        DataFormat::H5ad | DataFormat::Zarr => {
            let h5 = H5adFile::open(source)?;
            let (obsm, skipped) = h5.obsm_dense();
            (h5.var()?, obsm, skipped)
        }
        DataFormat::TenxH5 => {
            let columns = tenx_h5_var(source);
            let var = Frame {
                index: ds.var_names.clone(),
                columns,
                ..Frame::default()
            };
            (var, Vec::new(), Vec::new())
        }
        DataFormat::TenxMtx => (Frame::default(), Vec::new(), Vec::new()),
    };
    let var_columns = if var.index == ds.var_names {
        var.columns
    } else {
        Vec::new()
    };
    for note in skipped {
        eprintln!("note: obsm {note}: not copied");
    }
    for note in var.skipped {
        eprintln!("note: var column {note}: not copied");
    }
    let file = write_fresh(out, &ds, &var_columns, &obsm).map_err(|e| {
        let _ = std::fs::remove_file(out);
        anyhow::anyhow!("{}: cannot write: {e}", out.display())
    })?;
    Ok((file, ds.n_cells()))
}
