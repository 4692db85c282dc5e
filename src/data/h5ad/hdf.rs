//! Thin helpers over hdf5-metno that read any on-disk type AnnData and Cell Ranger use:
//! strings (variable or fixed length, ASCII or UTF-8), numbers, compound records, attributes.

use std::path::Path;

use hdf5::types::{FixedAscii, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, Location};

use crate::data::DataError;

/// A message describing what failed; callers attach the file path.
pub(crate) type Msg = String;

/// The HDF5 file signature, found at offset 0 or a power of two >= 512 (user block).
const SIGNATURE: [u8; 8] = [0x89, b'H', b'D', b'F', b'\r', b'\n', 0x1a, b'\n'];

/// Opens an HDF5 file read-only, turning a missing file, a directory or a non-HDF5 file
/// into a clear error before HDF5 sees it, and a file that crashes HDF5 into an error too
/// (see `data::probe`).
pub(crate) fn open_read_only(path: &Path) -> Result<hdf5::File, DataError> {
    if !path.exists() {
        return Err(DataError::Missing {
            path: path.to_path_buf(),
        });
    }
    if path.is_dir() {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            what: "is a directory, not an HDF5 file".into(),
        });
    }
    if !has_signature(path) {
        return Err(DataError::NotHdf5 {
            path: path.to_path_buf(),
            detail: "no HDF5 signature at the start of the file".into(),
        });
    }
    crate::data::probe::guard(path)?;
    hdf5::File::open(path).map_err(|e| DataError::NotHdf5 {
        path: path.to_path_buf(),
        detail: first_line(&e.to_string()),
    })
}

fn has_signature(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut offset = 0u64;
    while offset + 8 <= len {
        let mut buf = [0u8; 8];
        if f.seek(SeekFrom::Start(offset)).is_err() || f.read_exact(&mut buf).is_err() {
            return false;
        }
        if buf == SIGNATURE {
            return true;
        }
        offset = if offset == 0 { 512 } else { offset * 2 };
    }
    false
}

/// The first line of a (possibly multi-line HDF5 stack) message.
pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_string()
}

/// Formats an HDF5 error with the object it concerns.
pub(crate) fn at(node: &str, e: impl std::fmt::Display) -> Msg {
    format!("{node}: {}", first_line(&e.to_string()))
}

/// The type of a dataset, as a descriptor.
pub(crate) fn descriptor(ds: &Dataset) -> Result<TypeDescriptor, Msg> {
    ds.dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| at(&ds.name(), e))
}

/// Reads a dataset of strings in any string encoding (integers are formatted as text).
pub(crate) fn read_strings(ds: &Dataset) -> Result<Vec<String>, Msg> {
    let name = ds.name();
    let desc = descriptor(ds)?;
    let owned = |v: Vec<String>| Ok(v);
    match desc {
        TypeDescriptor::VarLenUnicode => owned(
            ds.read_raw::<VarLenUnicode>()
                .map_err(|e| at(&name, e))?
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        ),
        TypeDescriptor::VarLenAscii => owned(
            ds.read_raw::<VarLenAscii>()
                .map_err(|e| at(&name, e))?
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        ),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) => {
            let bytes = read_bytes(ds, &desc)?;
            Ok(bytes.chunks(n.max(1)).map(fixed_str).collect())
        }
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
            owned(read_i64(ds)?.iter().map(ToString::to_string).collect())
        }
        other => Err(format!("{name}: expected strings, found {other}")),
    }
}

/// Decodes a NUL-padded fixed-length string.
pub(crate) fn fixed_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Reads a numeric dataset as f64 (booleans become 0/1).
pub(crate) fn read_f64(ds: &Dataset) -> Result<Vec<f64>, Msg> {
    match descriptor(ds)? {
        TypeDescriptor::Boolean => Ok(read_bool(ds)?
            .into_iter()
            .map(|b| f64::from(u8::from(b)))
            .collect()),
        _ => ds.read_raw::<f64>().map_err(|e| at(&ds.name(), e)),
    }
}

/// Reads an integer dataset as i64.
pub(crate) fn read_i64(ds: &Dataset) -> Result<Vec<i64>, Msg> {
    ds.read_raw::<i64>().map_err(|e| at(&ds.name(), e))
}

/// Reads a boolean dataset (h5py's FALSE/TRUE enum, or integers).
pub(crate) fn read_bool(ds: &Dataset) -> Result<Vec<bool>, Msg> {
    match descriptor(ds)? {
        TypeDescriptor::Boolean => ds.read_raw::<bool>().map_err(|e| at(&ds.name(), e)),
        _ => Ok(read_i64(ds)?.into_iter().map(|v| v != 0).collect()),
    }
}

/// Reads the raw bytes of a dataset whose type has no variable-length parts
/// (fixed strings, numbers, compound records), in native byte order.
pub(crate) fn read_bytes(ds: &Dataset, desc: &TypeDescriptor) -> Result<Vec<u8>, Msg> {
    let name = ds.name();
    if has_varlen(desc) {
        return Err(format!(
            "{name}: variable-length members are not supported here"
        ));
    }
    let mem = hdf5::Datatype::from_descriptor(desc).map_err(|e| at(&name, e))?;
    let n = ds.size();
    let mut buf = vec![0u8; n * mem.size()];
    if buf.is_empty() {
        return Ok(buf);
    }
    let status = {
        // HDF5 is not thread-safe: hold the same global lock hdf5-metno takes.
        let _guard = hdf5_sys::LOCK.lock();
        // SAFETY: `buf` holds exactly `n` elements of the memory type `mem`, which has no
        // variable-length members, and the whole dataspace (H5S_ALL) has `n` elements.
        unsafe {
            hdf5_sys::h5d::H5Dread(
                ds.id(),
                mem.id(),
                hdf5_sys::h5s::H5S_ALL,
                hdf5_sys::h5s::H5S_ALL,
                hdf5_sys::h5p::H5P_DEFAULT,
                buf.as_mut_ptr().cast(),
            )
        }
    };
    if status < 0 {
        return Err(format!("{name}: HDF5 could not read the records"));
    }
    Ok(buf)
}

fn has_varlen(desc: &TypeDescriptor) -> bool {
    match desc {
        TypeDescriptor::VarLenAscii
        | TypeDescriptor::VarLenUnicode
        | TypeDescriptor::VarLenArray(_)
        | TypeDescriptor::Reference(_) => true,
        TypeDescriptor::FixedArray(inner, _) => has_varlen(inner),
        TypeDescriptor::Compound(c) => c.fields.iter().any(|f| has_varlen(&f.ty)),
        _ => false,
    }
}

/// One column of a compound record array, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldValues {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

/// A compound (record) dataset read whole: field names in order and their decoded values.
/// Fields of other types (e.g. fixed arrays in legacy obsm) are listed with `None`.
pub(crate) fn read_records(ds: &Dataset) -> Result<Vec<(String, Option<FieldValues>)>, Msg> {
    let desc = descriptor(ds)?;
    let TypeDescriptor::Compound(ct) = &desc else {
        return Err(format!("{}: expected a compound record array", ds.name()));
    };
    let bytes = read_bytes(ds, &desc)?;
    let n = ds.size();
    let stride = bytes.len().checked_div(n).unwrap_or(0);
    let records = |offset: usize, width: usize| {
        (0..n)
            .map(move |i| i * stride + offset)
            .map(move |o| o..o + width)
    };
    let fields = ct
        .fields
        .iter()
        .map(|f| {
            let width = f.ty.size();
            let at = records(f.offset, width);
            let values = match f.ty {
                TypeDescriptor::Integer(_) => Some(FieldValues::Int(
                    at.map(|r| int_ne(&bytes[r], true)).collect(),
                )),
                TypeDescriptor::Unsigned(_) => Some(FieldValues::Int(
                    at.map(|r| int_ne(&bytes[r], false)).collect(),
                )),
                TypeDescriptor::Float(_) => Some(FieldValues::Float(
                    at.map(|r| float_ne(&bytes[r])).collect(),
                )),
                TypeDescriptor::Boolean => {
                    Some(FieldValues::Bool(at.map(|r| bytes[r.start] != 0).collect()))
                }
                TypeDescriptor::FixedAscii(_) | TypeDescriptor::FixedUnicode(_) => {
                    Some(FieldValues::Str(at.map(|r| fixed_str(&bytes[r])).collect()))
                }
                _ => None,
            };
            (f.name.clone(), values)
        })
        .collect();
    Ok(fields)
}

fn int_ne(b: &[u8], signed: bool) -> i64 {
    match (b.len(), signed) {
        (1, true) => i64::from(b[0] as i8),
        (1, false) => i64::from(b[0]),
        (2, true) => i64::from(i16::from_ne_bytes([b[0], b[1]])),
        (2, false) => i64::from(u16::from_ne_bytes([b[0], b[1]])),
        (4, true) => i64::from(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        (4, false) => i64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        _ => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[..8]);
            i64::from_ne_bytes(a)
        }
    }
}

fn float_ne(b: &[u8]) -> f64 {
    if b.len() == 4 {
        f64::from(f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    } else {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        f64::from_ne_bytes(a)
    }
}

/// A string attribute (variable or fixed length), or None when absent or not a string.
pub(crate) fn attr_string(loc: &Location, name: &str) -> Option<String> {
    attr_strings(loc, name).and_then(|v| v.into_iter().next())
}

/// A string-array attribute (e.g. `column-order`). None when absent or not strings
/// (anndata writes an empty `column-order` as a zero-length float64 array).
pub(crate) fn attr_strings(loc: &Location, name: &str) -> Option<Vec<String>> {
    let attr = loc.attr(name).ok()?;
    let desc = attr.dtype().ok()?.to_descriptor().ok()?;
    match desc {
        TypeDescriptor::VarLenUnicode => Some(
            attr.read_raw::<VarLenUnicode>()
                .ok()?
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        ),
        TypeDescriptor::VarLenAscii => Some(
            attr.read_raw::<VarLenAscii>()
                .ok()?
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        ),
        TypeDescriptor::FixedAscii(_) | TypeDescriptor::FixedUnicode(_) => Some(
            attr.read_raw::<FixedAscii<1024>>()
                .ok()?
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        ),
        _ => None,
    }
}

/// An integer-array attribute (e.g. `shape`), or None when absent or not integers.
pub(crate) fn attr_ints(loc: &Location, name: &str) -> Option<Vec<i64>> {
    let attr = loc.attr(name).ok()?;
    match attr.dtype().ok()?.to_descriptor().ok()? {
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => attr.read_raw::<i64>().ok(),
        _ => None,
    }
}

/// The member names of a group, or an empty list when it is absent.
pub(crate) fn members(file: &hdf5::File, group: &str) -> Vec<String> {
    file.group(group)
        .and_then(|g| g.member_names())
        .unwrap_or_default()
}

/// The kind of object at `name` (a path), or None when any part of the path is absent.
pub(crate) fn kind(file: &hdf5::File, name: &str) -> Option<hdf5::LocationType> {
    let mut prefix = String::new();
    for part in name.split('/').filter(|p| !p.is_empty()) {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        if !file.link_exists(&prefix) {
            return None;
        }
    }
    file.loc_type_by_name(name).ok()
}
