//! Writing cellscope results into a copy of an AnnData (>= 0.8) file: dense `obsm` arrays and
//! categorical `obs` columns, encoded as anndata writes them. Never opens an input read-write.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::{Group, Location};
use ndarray::ArrayView2;

use super::hdf::{attr_strings, first_line};
use super::{Flavour, H5adFile};
use crate::data::{DataError, DataFormat, data_format};

/// Copies `input` to `out` after checking it is a modern AnnData file that is not `out` itself,
/// then opens the copy read-write. Returns the copy and its number of cells.
pub fn copy_for_writing(input: &Path, out: &Path) -> Result<(hdf5::File, usize), DataError> {
    let invalid = |path: &Path, what: String| DataError::Invalid {
        path: path.to_path_buf(),
        what,
    };
    if same_file(input, out) {
        return Err(invalid(
            out,
            "is the input file; choose another --out (the input is never modified)".into(),
        ));
    }
    if data_format(input)? != DataFormat::H5ad {
        return Err(invalid(
            input,
            "is a Cell Ranger output, not AnnData; convert it with anndata >= 0.8 \
             (e.g. scanpy.read_10x_h5(...).write_h5ad(...)) and embed that"
                .into(),
        ));
    }
    let h5 = H5adFile::open(input)?;
    if h5.flavour() != Flavour::Modern {
        return Err(invalid(
            input,
            format!(
                "uses the {} layout; re-save it with anndata >= 0.8 \
                 (anndata.read_h5ad(f).write_h5ad(f2)) to write into it",
                h5.flavour()
            ),
        ));
    }
    let n_obs = h5.n_obs();
    drop(h5);
    std::fs::copy(input, out).map_err(|e| invalid(out, format!("cannot copy the input: {e}")))?;
    let file = hdf5::File::open_rw(out).map_err(|e| invalid(out, first_line(&e.to_string())))?;
    Ok((file, n_obs))
}

/// Whether `input` can be copied and extended in place: a modern (>= 0.8) AnnData file.
/// Other inputs get a fresh file (`fresh::write_fresh`).
pub fn extends_in_place(input: &Path) -> Result<bool, DataError> {
    Ok(data_format(input)? == DataFormat::H5ad
        && H5adFile::open(input)?.flavour() == Flavour::Modern)
}

/// Whether two paths name one file: the same canonical path or (hard links) the same inode.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(x), Ok(y)) = (a.canonicalize(), b.canonicalize())
        && x == y
    {
        return true;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Writes a dense f32 array as `obsm/<key>` (creating `obsm`), replacing any existing one.
pub fn write_obsm_array(file: &hdf5::File, key: &str, values: ArrayView2<f32>) -> hdf5::Result<()> {
    let obsm = match file.group("obsm") {
        Ok(g) => g,
        Err(_) => {
            let g = file.create_group("obsm")?;
            set_encoding(&g, "dict", "0.1.0")?;
            g
        }
    };
    unlink_if_present(&obsm, key)?;
    let data: Vec<f32> = values.iter().copied().collect();
    let ds = obsm
        .new_dataset::<f32>()
        .shape((values.nrows(), values.ncols()))
        .create(key)?;
    ds.write_raw(&data[..])?;
    set_encoding(&ds, "array", "0.2.0")
}

/// Writes `obs/<name>` as a categorical column (codes index `categories`) and lists it last
/// in obs's `column-order`, replacing any existing column of that name.
pub fn write_obs_categorical(
    file: &hdf5::File,
    name: &str,
    codes: &[usize],
    categories: &[String],
) -> hdf5::Result<()> {
    let obs = file.group("obs")?;
    unlink_if_present(&obs, name)?;
    let codes: Vec<i64> = codes.iter().map(|&c| c as i64).collect();
    write_categorical(&obs, name, &codes, categories)?;
    let mut order = attr_strings(&obs, "column-order").unwrap_or_default();
    order.retain(|c| c != name);
    order.push(name.to_string());
    if obs.attr("column-order").is_ok() {
        obs.delete_attr("column-order")?;
    }
    let order = unicode(&order)?;
    obs.new_attr::<VarLenUnicode>()
        .shape(order.len())
        .create("column-order")?
        .write_raw(&order[..])
}

/// Writes `group/<name>` as a `categorical` element: codes (-1 = missing) in the smallest
/// integer type anndata would use, and string categories.
pub(crate) fn write_categorical(
    group: &Group,
    name: &str,
    codes: &[i64],
    categories: &[String],
) -> hdf5::Result<()> {
    let col = group.create_group(name)?;
    set_encoding(&col, "categorical", "0.2.0")?;
    col.new_attr::<bool>()
        .shape(())
        .create("ordered")?
        .write_scalar(&false)?;
    let codes_ds = if categories.len() <= i8::MAX as usize {
        let c: Vec<i8> = codes.iter().map(|&c| c as i8).collect();
        let ds = col.new_dataset::<i8>().shape(c.len()).create("codes")?;
        ds.write_raw(&c[..])?;
        ds
    } else if categories.len() <= i16::MAX as usize {
        let c: Vec<i16> = codes.iter().map(|&c| c as i16).collect();
        let ds = col.new_dataset::<i16>().shape(c.len()).create("codes")?;
        ds.write_raw(&c[..])?;
        ds
    } else {
        let c: Vec<i32> = codes.iter().map(|&c| c as i32).collect();
        let ds = col.new_dataset::<i32>().shape(c.len()).create("codes")?;
        ds.write_raw(&c[..])?;
        ds
    };
    set_encoding(&codes_ds, "array", "0.2.0")?;
    write_strings(&col, "categories", categories)
}

/// Writes `group/<name>` as a `string-array` of variable-length UTF-8 strings.
pub(crate) fn write_strings(group: &Group, name: &str, values: &[String]) -> hdf5::Result<()> {
    let values = unicode(values)?;
    let ds = group
        .new_dataset::<VarLenUnicode>()
        .shape(values.len())
        .create(name)?;
    ds.write_raw(&values[..])?;
    set_encoding(&ds, "string-array", "0.2.0")
}

/// Sets anndata's `encoding-type` and `encoding-version` attributes.
pub(crate) fn set_encoding(loc: &Location, kind: &str, version: &str) -> hdf5::Result<()> {
    for (attr, value) in [("encoding-type", kind), ("encoding-version", version)] {
        if loc.attr(attr).is_ok() {
            loc.delete_attr(attr)?;
        }
        loc.new_attr::<VarLenUnicode>()
            .shape(())
            .create(attr)?
            .write_scalar(&unicode(&[value.to_string()])?[0])?;
    }
    Ok(())
}

fn unlink_if_present(group: &Group, name: &str) -> hdf5::Result<()> {
    if group.link_exists(name) {
        group.unlink(name)?;
    }
    Ok(())
}

/// Strings as HDF5 variable-length UTF-8 (they fail only on an interior NUL).
pub(crate) fn unicode(values: &[String]) -> hdf5::Result<Vec<VarLenUnicode>> {
    values
        .iter()
        .map(|s| {
            s.parse::<VarLenUnicode>()
                .map_err(|e| hdf5::Error::from(format!("string {s:?}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ColumnValues;
    use ndarray::Array2;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/h5ad")
            .join(name)
    }

    /// Writes a column and two obsm arrays into a copy of `name`; returns the reopened copy.
    fn write_into_copy(name: &str, dir: &Path) -> H5adFile {
        let out = dir.join("out.h5ad");
        let (file, n) = copy_for_writing(&fixture(name), &out).unwrap();
        let codes: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let cats: Vec<String> = ["a", "b", "ü"].map(String::from).to_vec();
        write_obs_categorical(&file, "clu", &codes, &cats).unwrap();
        let z = Array2::from_shape_fn((n, 3), |(i, j)| (i * 3 + j) as f32);
        write_obsm_array(&file, "X_z", z.view()).unwrap();
        // Writing again replaces rather than duplicates.
        write_obs_categorical(&file, "clu", &codes, &cats).unwrap();
        write_obsm_array(&file, "X_z", z.view()).unwrap();
        drop(file);
        H5adFile::open(&out).unwrap()
    }

    fn check_column(h5: &H5adFile, before: usize) {
        let obs = h5.obs().unwrap();
        assert_eq!(obs.columns.len(), before + 1);
        let last = obs.columns.last().unwrap();
        assert_eq!(last.name, "clu");
        match &last.values {
            ColumnValues::Categorical { codes, categories } => {
                assert_eq!(codes.len(), h5.n_obs());
                assert_eq!(codes[..3], [0, 1, 2]);
                assert_eq!(categories[2], "ü");
            }
            other => panic!("not categorical: {other:?}"),
        }
        assert_eq!(h5.obsm_keys(), ["X_z"]);
    }

    #[test]
    fn writes_into_a_file_with_an_empty_float_column_order() {
        let dir = tempfile::tempdir().unwrap();
        let h5 = write_into_copy("no_x.h5ad", dir.path());
        check_column(&h5, 0);
    }

    #[test]
    fn appends_to_existing_columns() {
        let dir = tempfile::tempdir().unwrap();
        let h5 = write_into_copy("dense_f32.h5ad", dir.path());
        check_column(&h5, 8);
        assert_eq!(h5.obs().unwrap().columns[0].name, "cell_type");
    }

    #[test]
    fn refuses_the_input_itself_and_non_anndata_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.h5ad");
        std::fs::copy(fixture("dense_f32.h5ad"), &input).unwrap();
        let e = copy_for_writing(&input, &input).unwrap_err().to_string();
        assert!(e.contains("is the input file"), "{e}");
        let e = copy_for_writing(&fixture("not_hdf5.h5ad"), &dir.path().join("o.h5ad"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an HDF5 file"), "{e}");
    }
}
