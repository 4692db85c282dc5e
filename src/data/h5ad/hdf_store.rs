//! An HDF5 file as a [`Store`]: datasets are arrays, with HDF5 converting numeric types.

use std::ops::Range;

use hdf5::types::TypeDescriptor;
use ndarray::s;

use super::hdf::{self, FieldValues, Msg, at, descriptor};
use super::store::{NodeKind, Scalar, Store, ValueType};

impl Store for hdf5::File {
    fn kind(&self, path: &str) -> Option<NodeKind> {
        match hdf::kind(self, path)? {
            hdf5::LocationType::Group => Some(NodeKind::Group),
            hdf5::LocationType::Dataset => Some(NodeKind::Array),
            _ => None,
        }
    }

    fn members(&self, path: &str) -> Vec<String> {
        hdf::members(self, path)
    }

    fn attr_string(&self, path: &str, name: &str) -> Option<String> {
        with_location(self, path, |l| hdf::attr_string(l, name))
    }

    fn attr_strings(&self, path: &str, name: &str) -> Option<Vec<String>> {
        with_location(self, path, |l| hdf::attr_strings(l, name))
    }

    fn attr_ints(&self, path: &str, name: &str) -> Option<Vec<i64>> {
        with_location(self, path, |l| hdf::attr_ints(l, name))
    }

    fn shape(&self, path: &str) -> Result<Vec<usize>, Msg> {
        Ok(dataset(self, path)?.shape())
    }

    fn value_type(&self, path: &str) -> Result<ValueType, Msg> {
        let desc = descriptor(&dataset(self, path)?)?;
        let kind = match desc {
            TypeDescriptor::VarLenUnicode
            | TypeDescriptor::VarLenAscii
            | TypeDescriptor::FixedAscii(_)
            | TypeDescriptor::FixedUnicode(_) => Scalar::Str,
            TypeDescriptor::Boolean => Scalar::Bool,
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => Scalar::Int,
            TypeDescriptor::Float(_) => Scalar::Float,
            _ => Scalar::Other,
        };
        Ok(ValueType {
            kind,
            name: desc.to_string(),
        })
    }

    fn strings(&self, path: &str) -> Result<Vec<String>, Msg> {
        hdf::read_strings(&dataset(self, path)?)
    }

    fn bools(&self, path: &str) -> Result<Vec<bool>, Msg> {
        hdf::read_bool(&dataset(self, path)?)
    }

    fn f64s(&self, path: &str) -> Result<Vec<f64>, Msg> {
        hdf::read_f64(&dataset(self, path)?)
    }

    fn i64s(&self, path: &str, range: Range<usize>) -> Result<Vec<i64>, Msg> {
        let ds = dataset(self, path)?;
        ds.read_slice_1d::<i64, _>(range)
            .map(into_vec)
            .map_err(|e| at(path, e))
    }

    fn f32s(&self, path: &str, range: Range<usize>) -> Result<Vec<f32>, Msg> {
        let ds = dataset(self, path)?;
        ds.read_slice_1d::<f32, _>(range)
            .map(into_vec)
            .map_err(|e| at(path, e))
    }

    fn f32_rows(&self, path: &str, rows: Range<usize>, n_cols: usize) -> Result<Vec<f32>, Msg> {
        if n_cols == 0 || rows.is_empty() {
            return Ok(Vec::new());
        }
        let ds = dataset(self, path)?;
        ds.read_slice_2d::<f32, _>(s![rows, ..])
            .map(|a| {
                if a.is_standard_layout() {
                    a.into_raw_vec_and_offset().0
                } else {
                    a.iter().copied().collect()
                }
            })
            .map_err(|e| at(path, e))
    }

    fn records(&self, path: &str) -> Result<Vec<(String, Option<FieldValues>)>, Msg> {
        hdf::read_records(&dataset(self, path)?)
    }

    fn record_fields(&self, path: &str) -> Vec<String> {
        match dataset(self, path).and_then(|d| descriptor(&d)) {
            Ok(TypeDescriptor::Compound(c)) => c.fields.into_iter().map(|f| f.name).collect(),
            _ => Vec::new(),
        }
    }

    fn touch(&self, path: &str) {
        if let Ok(ds) = dataset(self, path) {
            let _ = ds.storage_size();
        }
    }
}

fn dataset(file: &hdf5::File, path: &str) -> Result<hdf5::Dataset, Msg> {
    file.dataset(path).map_err(|e| at(path, e))
}

/// `read` applied to the group or dataset at `path` (attributes live on either).
fn with_location<T>(
    file: &hdf5::File,
    path: &str,
    read: impl Fn(&hdf5::Location) -> Option<T>,
) -> Option<T> {
    match hdf::kind(file, path)? {
        hdf5::LocationType::Group => {
            let g = file.group(path).ok()?;
            read(&g)
        }
        hdf5::LocationType::Dataset => {
            let d = file.dataset(path).ok()?;
            read(&d)
        }
        _ => None,
    }
}

/// The buffer of a freshly read 1-D array, without copying it.
fn into_vec<T: Clone>(a: ndarray::Array1<T>) -> Vec<T> {
    if a.is_standard_layout() {
        a.into_raw_vec_and_offset().0
    } else {
        a.to_vec()
    }
}
