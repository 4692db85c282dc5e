//! A fresh anndata (>= 0.8) `.h5ad` written from any input that cannot be extended in place
//! (anndata < 0.8 layouts, Cell Ranger output, zarr stores): X as read (CSR), obs and var with
//! every column kind, and the input's dense obsm arrays, encoded as anndata writes them.

use std::path::Path;

use hdf5::Group;
use hdf5::types::VarLenUnicode;
use ndarray::Array2;

use super::write::{set_encoding, unicode, write_categorical, write_obsm_array, write_strings};
use crate::data::{Column, ColumnValues, CsrMatrix, Dataset};

/// Creates `out` (replacing it) holding `ds` with the gene annotations `var` (columns of the
/// var dataframe, one value per gene) and `obsm`, and returns it open for writing more.
pub fn write_fresh(
    out: &Path,
    ds: &Dataset,
    var: &[Column],
    obsm: &[(String, Array2<f32>)],
) -> hdf5::Result<hdf5::File> {
    let file = hdf5::File::create(out)?;
    set_encoding(&file, "anndata", "0.1.0")?;
    write_csr(&file, "X", &ds.x)?;
    write_frame(&file, "obs", &ds.obs_names, &ds.obs)?;
    write_frame(&file, "var", &ds.var_names, var)?;
    for key in ["obsm", "layers", "obsp", "varm", "varp", "uns"] {
        let g = file.create_group(key)?;
        set_encoding(&g, "dict", "0.1.0")?;
    }
    for (key, values) in obsm {
        write_obsm_array(&file, key, values.view())?;
    }
    Ok(file)
}

/// X as `csr_matrix`: float32 data, int32 (or int64 when large) indices, int64 indptr.
fn write_csr(file: &hdf5::File, name: &str, x: &CsrMatrix) -> hdf5::Result<()> {
    let g = file.create_group(name)?;
    set_encoding(&g, "csr_matrix", "0.1.0")?;
    g.new_attr::<i64>()
        .shape(2)
        .create("shape")?
        .write_raw(&[x.n_rows as i64, x.n_cols as i64])?;
    let data = g.new_dataset::<f32>().shape(x.data.len()).create("data")?;
    data.write_raw(&x.data)?;
    if x.n_cols <= i32::MAX as usize {
        let idx: Vec<i32> = x.indices.iter().map(|&i| i as i32).collect();
        let ds = g.new_dataset::<i32>().shape(idx.len()).create("indices")?;
        ds.write_raw(&idx)?;
    } else {
        let idx: Vec<i64> = x.indices.iter().map(|&i| i64::from(i)).collect();
        let ds = g.new_dataset::<i64>().shape(idx.len()).create("indices")?;
        ds.write_raw(&idx)?;
    }
    let ptr: Vec<i64> = x.indptr.iter().map(|&p| p as i64).collect();
    let ds = g.new_dataset::<i64>().shape(ptr.len()).create("indptr")?;
    ds.write_raw(&ptr)
}

/// A `dataframe` group with its `_index` and `columns`, in order.
fn write_frame(
    file: &hdf5::File,
    name: &str,
    index: &[String],
    columns: &[Column],
) -> hdf5::Result<()> {
    let g = dataframe(file, name, index)?;
    for col in columns {
        write_column(&g, &col.name, &col.values)?;
    }
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    column_order(&g, &names)
}

/// A `dataframe` group with its `_index`.
fn dataframe(file: &hdf5::File, name: &str, index: &[String]) -> hdf5::Result<Group> {
    let g = file.create_group(name)?;
    set_encoding(&g, "dataframe", "0.2.0")?;
    g.new_attr::<VarLenUnicode>()
        .shape(())
        .create("_index")?
        .write_scalar(&unicode(&["_index".to_string()])?[0])?;
    write_strings(&g, "_index", index)?;
    Ok(g)
}

/// The dataframe's `column-order` attribute (anndata writes an empty one as float64).
fn column_order(g: &Group, names: &[String]) -> hdf5::Result<()> {
    if names.is_empty() {
        return g
            .new_attr::<f64>()
            .shape(0)
            .create("column-order")
            .map(drop);
    }
    let names = unicode(names)?;
    g.new_attr::<VarLenUnicode>()
        .shape(names.len())
        .create("column-order")?
        .write_raw(&names)
}

/// One dataframe column in anndata's encoding for its kind.
fn write_column(obs: &Group, name: &str, values: &ColumnValues) -> hdf5::Result<()> {
    fn array<T: hdf5::H5Type>(obs: &Group, name: &str, v: &[T]) -> hdf5::Result<()> {
        let ds = obs.new_dataset::<T>().shape(v.len()).create(name)?;
        ds.write_raw(v)?;
        set_encoding(&ds, "array", "0.2.0")
    }
    match values {
        ColumnValues::Categorical { codes, categories } => {
            let codes: Vec<i64> = codes.iter().map(|&c| i64::from(c)).collect();
            write_categorical(obs, name, &codes, categories)
        }
        ColumnValues::Str(v) => write_strings(obs, name, v),
        ColumnValues::Int(v) => array(obs, name, v),
        ColumnValues::Float(v) => array(obs, name, v),
        ColumnValues::Bool(v) => array(obs, name, v),
    }
}
