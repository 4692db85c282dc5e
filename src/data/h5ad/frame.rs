//! AnnData dataframes (obs, var, raw/var) in every on-disk flavour: legacy compound records
//! with `uns/<col>_categories`, 0.7 `__categories`, and >= 0.8 categorical/nullable groups,
//! including anndata >= 0.11 nullable strings (`nullable-string-array`) as index or categories.

use std::collections::BTreeMap;

use hdf5::types::TypeDescriptor;
use hdf5::{Dataset, File, Group};

use super::hdf::{
    FieldValues, Msg, at, attr_string, attr_strings, descriptor, is_dataset, read_bool, read_f64,
    read_i64, read_records, read_strings,
};
use crate::data::{Column, ColumnValues};

/// A dataframe: its index (cell barcodes or gene names) and its columns.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub index: Vec<String>,
    pub columns: Vec<Column>,
    /// Columns left out because their encoding is not understood, with the reason.
    pub skipped: Vec<String>,
    /// The on-disk encoding of each column stored as an encoded group (`categorical`,
    /// `nullable-integer`, `nullable-boolean`, `nullable-string-array`), by column name.
    pub stored_as: BTreeMap<String, String>,
}

/// Reads the dataframe stored at `name` (a group, or a legacy compound dataset).
pub(crate) fn read_frame(file: &File, name: &str) -> Result<Frame, Msg> {
    if is_dataset(file, name) {
        let ds = file.dataset(name).map_err(|e| at(name, e))?;
        return read_legacy_frame(file, &ds);
    }
    let group = file.group(name).map_err(|e| at(name, e))?;
    read_group_frame(&group)
}

/// The number of rows of the dataframe at `name` without reading its columns.
pub(crate) fn frame_len(file: &File, name: &str) -> Result<usize, Msg> {
    if is_dataset(file, name) {
        return Ok(file.dataset(name).map_err(|e| at(name, e))?.size());
    }
    let group = file.group(name).map_err(|e| at(name, e))?;
    let index = index_name(&group);
    let ds = match group.group(&index) {
        Ok(nullable) => nullable.dataset("values"),
        Err(_) => group.dataset(&index),
    };
    Ok(ds.map_err(|e| at(&format!("{name}/{index}"), e))?.size())
}

fn index_name(group: &Group) -> String {
    attr_string(group, "_index").unwrap_or_else(|| "_index".into())
}

fn read_legacy_frame(file: &File, ds: &Dataset) -> Result<Frame, Msg> {
    let mut frame = Frame::default();
    for (field, values) in read_records(ds)? {
        let Some(values) = values else {
            frame.skipped.push(format!("{field}: not a scalar field"));
            continue;
        };
        if let (true, FieldValues::Str(v)) = (field == "index" || field == "_index", &values) {
            frame.index = v.clone();
            continue;
        }
        let categories_path = format!("uns/{field}_categories");
        let values = match values {
            FieldValues::Int(codes) if is_dataset(file, &categories_path) => {
                let cats = file
                    .dataset(&categories_path)
                    .map_err(|e| at(&categories_path, e))?;
                categorical(&field, codes, read_strings(&cats)?)?
            }
            FieldValues::Int(v) => ColumnValues::Int(v),
            FieldValues::Float(v) => ColumnValues::Float(v),
            FieldValues::Bool(v) => ColumnValues::Bool(v),
            FieldValues::Str(v) => ColumnValues::Str(v),
        };
        frame.columns.push(Column {
            name: field,
            values,
        });
    }
    Ok(frame)
}

fn read_group_frame(group: &Group) -> Result<Frame, Msg> {
    let gname = group.name();
    let index = index_name(group);
    let mut frame = Frame {
        index: read_string_element(group, &index)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect(),
        ..Frame::default()
    };
    let order = attr_strings(group, "column-order").unwrap_or_else(|| {
        group
            .member_names()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| *m != index && m != "__categories")
            .collect()
    });
    for col in order {
        if let Some(encoding) = group
            .group(&col)
            .ok()
            .and_then(|g| attr_string(&g, "encoding-type"))
        {
            frame.stored_as.insert(col.clone(), encoding);
        }
        match read_column(group, &col) {
            Ok(values) => frame.columns.push(Column { name: col, values }),
            Err(ColumnProblem::Skip(why)) => {
                tracing::warn!("{gname}/{col}: skipped: {why}");
                frame.stored_as.remove(&col);
                frame.skipped.push(format!("{col}: {why}"));
            }
            Err(ColumnProblem::Fail(msg)) => return Err(msg),
        }
        if let Some(last) = frame
            .columns
            .last()
            .filter(|c| c.len() != frame.index.len())
        {
            return Err(format!(
                "{gname}/{}: {} values for {} rows",
                last.name,
                last.len(),
                frame.index.len()
            ));
        }
    }
    Ok(frame)
}

enum ColumnProblem {
    /// An encoding we do not understand: leave the column out.
    Skip(String),
    /// A malformed file.
    Fail(Msg),
}

impl From<Msg> for ColumnProblem {
    fn from(m: Msg) -> Self {
        Self::Fail(m)
    }
}

fn read_column(frame: &Group, col: &str) -> Result<ColumnValues, ColumnProblem> {
    let path = format!("{}/{col}", frame.name());
    if let Ok(sub) = frame.group(col) {
        return read_encoded_column(&sub, &path);
    }
    let ds = frame.dataset(col).map_err(|e| at(&path, e))?;
    // anndata 0.7: codes here, categories in __categories/<col>.
    if let Ok(cats) = frame.dataset(&format!("__categories/{col}")) {
        return Ok(categorical(&path, read_i64(&ds)?, read_strings(&cats)?)?);
    }
    plain_column(&ds, &path)
}

fn plain_column(ds: &Dataset, path: &str) -> Result<ColumnValues, ColumnProblem> {
    Ok(match descriptor(ds)? {
        TypeDescriptor::VarLenUnicode
        | TypeDescriptor::VarLenAscii
        | TypeDescriptor::FixedAscii(_)
        | TypeDescriptor::FixedUnicode(_) => ColumnValues::Str(read_strings(ds)?),
        TypeDescriptor::Boolean => ColumnValues::Bool(read_bool(ds)?),
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
            ColumnValues::Int(read_i64(ds)?)
        }
        TypeDescriptor::Float(_) => ColumnValues::Float(read_f64(ds)?),
        other => {
            return Err(ColumnProblem::Skip(format!(
                "{path}: values of type {other}"
            )));
        }
    })
}

fn read_encoded_column(g: &Group, path: &str) -> Result<ColumnValues, ColumnProblem> {
    let part = |name: &str| {
        g.dataset(name)
            .map_err(|e| at(&format!("{path}/{name}"), e))
    };
    let encoding = attr_string(g, "encoding-type").unwrap_or_default();
    match encoding.as_str() {
        "categorical" => {
            let codes = read_i64(&part("codes")?)?;
            let categories = read_string_element(g, "categories")?
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect();
            Ok(categorical(path, codes, categories)?)
        }
        "nullable-integer" => {
            let values = read_i64(&part("values")?)?;
            let mask = read_bool(&part("mask")?)?;
            if mask.iter().any(|&m| m) {
                Ok(ColumnValues::Float(
                    values
                        .iter()
                        .zip(&mask)
                        .map(|(&v, &m)| if m { f64::NAN } else { v as f64 })
                        .collect(),
                ))
            } else {
                Ok(ColumnValues::Int(values))
            }
        }
        "nullable-boolean" => {
            let values = read_bool(&part("values")?)?;
            let mask = read_bool(&part("mask")?)?;
            if mask.iter().any(|&m| m) {
                let codes = values
                    .iter()
                    .zip(&mask)
                    .map(|(&v, &m)| if m { -1 } else { i64::from(v) })
                    .collect();
                Ok(categorical(
                    path,
                    codes,
                    vec!["False".into(), "True".into()],
                )?)
            } else {
                Ok(ColumnValues::Bool(values))
            }
        }
        "nullable-string-array" => {
            let values = nullable_strings(g, path)?;
            let mut categories: Vec<String> = values.iter().flatten().cloned().collect();
            categories.sort();
            categories.dedup();
            let codes = values
                .iter()
                .map(|v| match v {
                    Some(v) => categories.binary_search(v).map_or(-1, |i| i as i64),
                    None => -1,
                })
                .collect();
            Ok(categorical(path, codes, categories)?)
        }
        "" => Err(ColumnProblem::Skip(
            "a group without an `encoding-type` attribute".into(),
        )),
        other => Err(ColumnProblem::Skip(format!(
            "column encoding `{other}` is not supported"
        ))),
    }
}

/// Reads a string element: a string dataset, or a `nullable-string-array` group (`values`
/// and a `mask` that is true where the value is missing), as anndata >= 0.11 writes pandas
/// `string` columns and indices with `allow_write_nullable_strings`. Missing entries are None.
fn read_string_element(parent: &Group, name: &str) -> Result<Vec<Option<String>>, Msg> {
    let path = format!("{}/{name}", parent.name());
    if let Ok(g) = parent.group(name) {
        return match attr_string(&g, "encoding-type")
            .unwrap_or_default()
            .as_str()
        {
            "nullable-string-array" => nullable_strings(&g, &path),
            other => Err(format!(
                "{path}: expected strings, found a group of encoding `{other}`"
            )),
        };
    }
    let ds = parent.dataset(name).map_err(|e| at(&path, e))?;
    Ok(read_strings(&ds)?.into_iter().map(Some).collect())
}

/// The values of a `nullable-string-array` group, None where its mask is set.
fn nullable_strings(g: &Group, path: &str) -> Result<Vec<Option<String>>, Msg> {
    let part = |name: &str| {
        g.dataset(name)
            .map_err(|e| at(&format!("{path}/{name}"), e))
    };
    let values = read_strings(&part("values")?)?;
    let mask = read_bool(&part("mask")?)?;
    if mask.len() != values.len() {
        return Err(format!(
            "{path}: {} values but a mask of {}",
            values.len(),
            mask.len()
        ));
    }
    Ok(values
        .into_iter()
        .zip(mask)
        .map(|(v, missing)| (!missing).then_some(v))
        .collect())
}

/// Builds a categorical column, checking that every code is -1 (missing) or a valid category.
fn categorical(path: &str, codes: Vec<i64>, categories: Vec<String>) -> Result<ColumnValues, Msg> {
    if let Some(bad) = codes
        .iter()
        .find(|&&c| c < -1 || c >= categories.len() as i64)
    {
        return Err(format!(
            "{path}: category code {bad} is out of range for {} categories",
            categories.len()
        ));
    }
    Ok(ColumnValues::Categorical {
        codes: codes.into_iter().map(|c| c as i32).collect(),
        categories,
    })
}
