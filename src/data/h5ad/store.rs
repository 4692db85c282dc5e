//! `Store`: what the AnnData reader needs of a hierarchy of groups and arrays with attributes,
//! so one element decoder (dataframes, matrices) reads `.h5ad` files and `.zarr` stores alike.
//! Paths are absolute (`/obs/_index`); `/` is the root.

use std::ops::Range;

use super::hdf::{FieldValues, Msg};

/// What lives at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Group,
    Array,
}

/// The kind of values an array holds, for choosing how to decode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    Str,
    Int,
    Float,
    Bool,
    /// Anything else (compound records, complex numbers, opaque bytes).
    Other,
}

/// An array's value kind and its stored type's name (e.g. `float32`), for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValueType {
    pub kind: Scalar,
    pub name: String,
}

/// A read-only hierarchical store of groups and arrays. Reads convert any numeric type to the
/// one asked for; errors name the path.
pub(crate) trait Store: Send + Sync {
    /// Whether `path` is a group, an array, or absent.
    fn kind(&self, path: &str) -> Option<NodeKind>;
    /// Names of the members of the group at `path` (empty when absent).
    fn members(&self, path: &str) -> Vec<String>;
    /// A string attribute, or None when absent or not a string.
    fn attr_string(&self, path: &str, name: &str) -> Option<String>;
    /// A string-array attribute, or None when absent or not strings.
    fn attr_strings(&self, path: &str, name: &str) -> Option<Vec<String>>;
    /// An integer-array attribute, or None when absent or not integers.
    fn attr_ints(&self, path: &str, name: &str) -> Option<Vec<i64>>;
    /// The shape of the array at `path`.
    fn shape(&self, path: &str) -> Result<Vec<usize>, Msg>;
    /// The value type of the array at `path`.
    fn value_type(&self, path: &str) -> Result<ValueType, Msg>;
    /// A 1-D array of strings (integers are formatted as text).
    fn strings(&self, path: &str) -> Result<Vec<String>, Msg>;
    /// A 1-D array of booleans (integers: non-zero is true).
    fn bools(&self, path: &str) -> Result<Vec<bool>, Msg>;
    /// A whole numeric array as f64 (booleans become 0/1).
    fn f64s(&self, path: &str) -> Result<Vec<f64>, Msg>;
    /// Elements `range` of a 1-D integer array.
    fn i64s(&self, path: &str, range: Range<usize>) -> Result<Vec<i64>, Msg>;
    /// Elements `range` of a 1-D numeric array as f32.
    fn f32s(&self, path: &str, range: Range<usize>) -> Result<Vec<f32>, Msg>;
    /// Rows `rows` of a 2-D numeric array with `n_cols` columns as f32, row-major.
    fn f32_rows(&self, path: &str, rows: Range<usize>, n_cols: usize) -> Result<Vec<f32>, Msg>;

    /// The fields of a compound record array (legacy anndata obs/var); only HDF5 has them.
    fn records(&self, path: &str) -> Result<Vec<(String, Option<FieldValues>)>, Msg> {
        Err(format!("{path}: record arrays exist only in HDF5 files"))
    }

    /// The field names of a compound record array (legacy obsm), empty when not one.
    fn record_fields(&self, _path: &str) -> Vec<String> {
        Vec::new()
    }

    /// Walks the array's storage index without reading values (for the crash probe).
    fn touch(&self, _path: &str) {}

    /// Whether `path` is a group.
    fn is_group(&self, path: &str) -> bool {
        self.kind(path) == Some(NodeKind::Group)
    }

    /// Whether `path` is an array.
    fn is_array(&self, path: &str) -> bool {
        self.kind(path) == Some(NodeKind::Array)
    }

    /// The number of elements of the array at `path`.
    fn len(&self, path: &str) -> Result<usize, Msg> {
        Ok(self.shape(path)?.iter().product())
    }

    /// A whole 1-D integer array.
    fn all_i64s(&self, path: &str) -> Result<Vec<i64>, Msg> {
        let n = self.len(path)?;
        self.i64s(path, 0..n)
    }
}

/// `parent/name` as an absolute path.
pub(crate) fn join(parent: &str, name: &str) -> String {
    format!("{}/{name}", parent.trim_end_matches('/'))
}
