//! AnnData `.zarr` stores (directories, zarr v2 and v3, as `anndata.write_zarr` writes them)
//! read with the `zarrs` crate, as a [`Store`] the AnnData element decoder reads from.
//! The hierarchy is listed from the directory itself, never from consolidated metadata, which
//! may be stale.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use zarrs::array::{Array, ArrayMetadata, ArraySubset, ElementOwned};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::{Group, GroupMetadata};
use zarrs::node::{Node, NodeMetadata, NodePath, get_child_nodes};
use zarrs::plugin::{ExtensionName, ZarrVersion};

use crate::data::DataError;
use crate::data::h5ad::hdf::Msg;
use crate::data::h5ad::store::{NodeKind, Scalar, Store, ValueType};

/// Whether `path` is a directory holding zarr metadata at its root (v3 `zarr.json`, v2
/// `.zgroup`).
pub fn is_store(path: &Path) -> bool {
    path.is_dir()
        && ["zarr.json", ".zgroup"]
            .iter()
            .any(|m| path.join(m).is_file())
}

/// Whether `path` is named like a zarr store (`*.zarr`).
pub fn looks_like_store(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zarr"))
}

/// An open zarr store: every node's metadata, listed once, and the storage to read chunks from.
pub struct ZarrStore {
    storage: Arc<FilesystemStore>,
    nodes: HashMap<String, NodeMetadata>,
    children: HashMap<String, Vec<String>>,
}

impl ZarrStore {
    /// Opens the store at `path` and lists its hierarchy.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let invalid = |what: String| DataError::Invalid {
            path: path.to_path_buf(),
            what,
        };
        if !is_store(path) {
            return Err(not_a_store(path));
        }
        let storage = Arc::new(
            FilesystemStore::new(path)
                .map_err(|e| invalid(format!("cannot open the store: {e}")))?,
        );
        let root = guarded(|| Group::open(storage.clone(), "/").map_err(|e| format!("/: {e}")))
            .map_err(&invalid)?;
        let listed = guarded(|| {
            get_child_nodes(&storage, &NodePath::root(), true)
                .map_err(|e| format!("cannot list the store: {e}"))
        })
        .map_err(&invalid)?;
        let mut this = Self {
            storage,
            nodes: HashMap::new(),
            children: HashMap::new(),
        };
        let root_meta: GroupMetadata = root.metadata().clone();
        this.nodes
            .insert("/".into(), NodeMetadata::Group(root_meta));
        this.add("/", listed);
        Ok(this)
    }

    fn add(&mut self, parent: &str, nodes: Vec<Node>) {
        for node in nodes {
            let path = node.path().as_str().to_string();
            let name = path.rsplit('/').next().unwrap_or_default().to_string();
            self.children.entry(parent.into()).or_default().push(name);
            self.add(&path, node.children().to_vec());
            self.nodes.insert(path, node.metadata().clone());
        }
    }

    fn attributes(&self, path: &str) -> Option<&serde_json::Map<String, serde_json::Value>> {
        Some(match self.nodes.get(path)? {
            NodeMetadata::Array(ArrayMetadata::V3(m)) => &m.attributes,
            NodeMetadata::Array(ArrayMetadata::V2(m)) => &m.attributes,
            NodeMetadata::Group(GroupMetadata::V3(m)) => &m.attributes,
            NodeMetadata::Group(GroupMetadata::V2(m)) => &m.attributes,
        })
    }

    fn array(&self, path: &str) -> Result<Array<FilesystemStore>, Msg> {
        let Some(NodeMetadata::Array(meta)) = self.nodes.get(path) else {
            return Err(format!("{path}: no such array"));
        };
        guarded(|| {
            Array::new_with_metadata(self.storage.clone(), path, meta.clone())
                .map_err(|e| format!("{path}: {e}"))
        })
    }

    /// Elements `range` of the 1-D array at `path`, or all of it, converted by `convert`.
    fn read_1d<T>(
        &self,
        path: &str,
        range: Option<Range<usize>>,
        convert: impl Fn(Values) -> Result<Vec<T>, String>,
    ) -> Result<Vec<T>, Msg> {
        let array = self.array(path)?;
        let shape = array.shape().to_vec();
        if shape.len() != 1 {
            return Err(format!(
                "{path}: expected a 1-D array, found {} dimensions",
                shape.len()
            ));
        }
        let range = range.unwrap_or(0..shape[0] as usize);
        if range.end as u64 > shape[0] || range.start > range.end {
            return Err(format!(
                "{path}: elements {}..{} are outside 0..{}",
                range.start, range.end, shape[0]
            ));
        }
        let subset = ArraySubset::new_with_ranges(std::slice::from_ref(
            &(range.start as u64..range.end as u64),
        ));
        read_values(&array, &subset)
            .and_then(convert)
            .map_err(|e| format!("{path}: {e}"))
    }
}

/// The error for a directory that is not a zarr store.
pub fn not_a_store(path: &Path) -> DataError {
    DataError::Invalid {
        path: path.to_path_buf(),
        what: "a directory that is not a zarr store (no zarr.json or .zgroup at its root)".into(),
    }
}

/// Runs a zarrs call, turning a panic inside it into an error message.
fn guarded<T>(f: impl FnOnce() -> Result<T, Msg>) -> Result<T, Msg> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err("the zarr reader failed on this store (corrupt metadata or chunk)".into())
    })
}

/// The decoded values of an array, in their stored type.
enum Values {
    Str(Vec<String>),
    Bool(Vec<bool>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// The kind and name of a zarr data type.
fn value_type(array: &Array<FilesystemStore>) -> ValueType {
    let name = array
        .data_type()
        .name(ZarrVersion::V3)
        .map(|n| n.into_owned())
        .unwrap_or_else(|| array.data_type().to_string());
    let kind = match name.as_str() {
        "string" => Scalar::Str,
        "bool" => Scalar::Bool,
        "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32" | "uint64" => {
            Scalar::Int
        }
        "float16" | "float32" | "float64" => Scalar::Float,
        _ => Scalar::Other,
    };
    ValueType { kind, name }
}

fn retrieve<T: ElementOwned>(
    array: &Array<FilesystemStore>,
    subset: &ArraySubset,
) -> Result<Vec<T>, String> {
    guarded(|| {
        array
            .retrieve_array_subset::<Vec<T>>(subset)
            .map_err(|e| e.to_string())
    })
}

/// Reads `subset` of `array` in its stored type (integers widened to 64 bits).
fn read_values(array: &Array<FilesystemStore>, subset: &ArraySubset) -> Result<Values, String> {
    let widen = |v: Vec<i64>| Ok(Values::I64(v));
    macro_rules! ints {
        ($t:ty) => {
            widen(
                retrieve::<$t>(array, subset)?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
            )
        };
    }
    match value_type(array).name.as_str() {
        "string" => Ok(Values::Str(retrieve(array, subset)?)),
        "bool" => Ok(Values::Bool(retrieve(array, subset)?)),
        "int8" => ints!(i8),
        "int16" => ints!(i16),
        "int32" => ints!(i32),
        "int64" => ints!(i64),
        "uint8" => ints!(u8),
        "uint16" => ints!(u16),
        "uint32" => ints!(u32),
        "uint64" => Ok(Values::U64(retrieve(array, subset)?)),
        "float32" => Ok(Values::F32(retrieve(array, subset)?)),
        "float64" => Ok(Values::F64(retrieve(array, subset)?)),
        other => Err(format!("values of type {other} are not supported")),
    }
}

impl Values {
    fn into_f64(self) -> Result<Vec<f64>, String> {
        Ok(match self {
            Self::Bool(v) => v.into_iter().map(|b| f64::from(u8::from(b))).collect(),
            Self::I64(v) => v.into_iter().map(|x| x as f64).collect(),
            Self::U64(v) => v.into_iter().map(|x| x as f64).collect(),
            Self::F32(v) => v.into_iter().map(f64::from).collect(),
            Self::F64(v) => v,
            Self::Str(_) => return Err("expected numbers, found strings".into()),
        })
    }

    fn into_f32(self) -> Result<Vec<f32>, String> {
        match self {
            Self::F32(v) => Ok(v),
            other => Ok(other.into_f64()?.into_iter().map(|x| x as f32).collect()),
        }
    }

    fn into_i64(self) -> Result<Vec<i64>, String> {
        match self {
            Self::I64(v) => Ok(v),
            Self::U64(v) => v
                .into_iter()
                .map(|x| i64::try_from(x).map_err(|_| format!("integer {x} is too large")))
                .collect(),
            Self::Bool(v) => Ok(v.into_iter().map(i64::from).collect()),
            _ => Err("expected integers".into()),
        }
    }

    fn into_bool(self) -> Result<Vec<bool>, String> {
        match self {
            Self::Bool(v) => Ok(v),
            other => Ok(other.into_i64()?.into_iter().map(|x| x != 0).collect()),
        }
    }

    fn into_strings(self) -> Result<Vec<String>, String> {
        match self {
            Self::Str(v) => Ok(v),
            Self::I64(v) => Ok(v.iter().map(ToString::to_string).collect()),
            Self::U64(v) => Ok(v.iter().map(ToString::to_string).collect()),
            _ => Err("expected strings".into()),
        }
    }
}

impl Store for ZarrStore {
    fn kind(&self, path: &str) -> Option<NodeKind> {
        match self.nodes.get(path)? {
            NodeMetadata::Array(_) => Some(NodeKind::Array),
            NodeMetadata::Group(_) => Some(NodeKind::Group),
        }
    }

    fn members(&self, path: &str) -> Vec<String> {
        self.children.get(path).cloned().unwrap_or_default()
    }

    fn attr_string(&self, path: &str, name: &str) -> Option<String> {
        self.attributes(path)?
            .get(name)?
            .as_str()
            .map(str::to_string)
    }

    fn attr_strings(&self, path: &str, name: &str) -> Option<Vec<String>> {
        self.attributes(path)?
            .get(name)?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    fn attr_ints(&self, path: &str, name: &str) -> Option<Vec<i64>> {
        self.attributes(path)?
            .get(name)?
            .as_array()?
            .iter()
            .map(serde_json::Value::as_i64)
            .collect()
    }

    fn shape(&self, path: &str) -> Result<Vec<usize>, Msg> {
        Ok(self
            .array(path)?
            .shape()
            .iter()
            .map(|&n| n as usize)
            .collect())
    }

    fn value_type(&self, path: &str) -> Result<ValueType, Msg> {
        Ok(value_type(&self.array(path)?))
    }

    fn strings(&self, path: &str) -> Result<Vec<String>, Msg> {
        self.read_1d(path, None, Values::into_strings)
    }

    fn bools(&self, path: &str) -> Result<Vec<bool>, Msg> {
        self.read_1d(path, None, Values::into_bool)
    }

    fn f64s(&self, path: &str) -> Result<Vec<f64>, Msg> {
        self.read_1d(path, None, Values::into_f64)
    }

    fn i64s(&self, path: &str, range: Range<usize>) -> Result<Vec<i64>, Msg> {
        self.read_1d(path, Some(range), Values::into_i64)
    }

    fn f32s(&self, path: &str, range: Range<usize>) -> Result<Vec<f32>, Msg> {
        self.read_1d(path, Some(range), Values::into_f32)
    }

    fn f32_rows(&self, path: &str, rows: Range<usize>, n_cols: usize) -> Result<Vec<f32>, Msg> {
        let array = self.array(path)?;
        let shape = array.shape();
        if shape.len() != 2 || shape[1] != n_cols as u64 || rows.end as u64 > shape[0] {
            return Err(format!(
                "{path}: rows {}..{} of {n_cols} columns are not in an array of shape {shape:?}",
                rows.start, rows.end
            ));
        }
        if rows.is_empty() || n_cols == 0 {
            return Ok(Vec::new());
        }
        let subset =
            ArraySubset::new_with_ranges(&[rows.start as u64..rows.end as u64, 0..n_cols as u64]);
        read_values(&array, &subset)
            .and_then(Values::into_f32)
            .map_err(|e| format!("{path}: {e}"))
    }
}
