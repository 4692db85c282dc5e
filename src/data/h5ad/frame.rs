//! AnnData dataframes (obs, var, raw/var) in every on-disk flavour: legacy compound records
//! with `uns/<col>_categories`, 0.7 `__categories`, and >= 0.8 categorical/nullable groups,
//! including anndata >= 0.11 nullable strings (`nullable-string-array`) as index or categories.

use std::collections::BTreeMap;

use super::hdf::{FieldValues, Msg};
use super::store::{Scalar, Store, join};
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
pub(crate) fn read_frame(s: &dyn Store, name: &str) -> Result<Frame, Msg> {
    if s.is_array(name) {
        return read_legacy_frame(s, name);
    }
    if !s.is_group(name) {
        return Err(format!("{name}: no such dataframe"));
    }
    read_group_frame(s, name)
}

/// The number of rows of the dataframe at `name` without reading its columns.
pub(crate) fn frame_len(s: &dyn Store, name: &str) -> Result<usize, Msg> {
    if s.is_array(name) {
        return s.len(name);
    }
    if !s.is_group(name) {
        return Err(format!("{name}: no such dataframe"));
    }
    let index = join(name, &index_name(s, name));
    if s.is_group(&index) {
        s.len(&join(&index, "values"))
    } else {
        s.len(&index)
    }
}

fn index_name(s: &dyn Store, group: &str) -> String {
    s.attr_string(group, "_index")
        .unwrap_or_else(|| "_index".into())
}

fn read_legacy_frame(s: &dyn Store, name: &str) -> Result<Frame, Msg> {
    let mut frame = Frame::default();
    for (field, values) in s.records(name)? {
        let Some(values) = values else {
            frame.skipped.push(format!("{field}: not a scalar field"));
            continue;
        };
        if let (true, FieldValues::Str(v)) = (field == "index" || field == "_index", &values) {
            frame.index = v.clone();
            continue;
        }
        let categories_path = format!("/uns/{field}_categories");
        let values = match values {
            FieldValues::Int(codes) if s.is_array(&categories_path) => {
                categorical(&field, codes, s.strings(&categories_path)?)?
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

fn read_group_frame(s: &dyn Store, gname: &str) -> Result<Frame, Msg> {
    let index = index_name(s, gname);
    let mut frame = Frame {
        index: read_string_element(s, &join(gname, &index))?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect(),
        ..Frame::default()
    };
    let order = s.attr_strings(gname, "column-order").unwrap_or_else(|| {
        s.members(gname)
            .into_iter()
            .filter(|m| *m != index && m != "__categories")
            .collect()
    });
    for col in order {
        let path = join(gname, &col);
        if let Some(encoding) = s
            .is_group(&path)
            .then(|| s.attr_string(&path, "encoding-type"))
            .flatten()
        {
            frame.stored_as.insert(col.clone(), encoding);
        }
        match read_column(s, gname, &col) {
            Ok(values) => frame.columns.push(Column { name: col, values }),
            Err(ColumnProblem::Skip(why)) => {
                tracing::warn!("{path}: skipped: {why}");
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

fn read_column(s: &dyn Store, frame: &str, col: &str) -> Result<ColumnValues, ColumnProblem> {
    let path = join(frame, col);
    if s.is_group(&path) {
        return read_encoded_column(s, &path);
    }
    if !s.is_array(&path) {
        return Err(ColumnProblem::Fail(format!("{path}: no such column")));
    }
    // anndata 0.7: codes here, categories in __categories/<col>.
    let categories = join(frame, &format!("__categories/{col}"));
    if s.is_array(&categories) {
        return Ok(categorical(
            &path,
            s.all_i64s(&path)?,
            s.strings(&categories)?,
        )?);
    }
    plain_column(s, &path)
}

fn plain_column(s: &dyn Store, path: &str) -> Result<ColumnValues, ColumnProblem> {
    let ty = s.value_type(path)?;
    Ok(match ty.kind {
        Scalar::Str => ColumnValues::Str(s.strings(path)?),
        Scalar::Bool => ColumnValues::Bool(s.bools(path)?),
        Scalar::Int => ColumnValues::Int(s.all_i64s(path)?),
        Scalar::Float => ColumnValues::Float(s.f64s(path)?),
        Scalar::Other => {
            return Err(ColumnProblem::Skip(format!(
                "{path}: values of type {}",
                ty.name
            )));
        }
    })
}

fn read_encoded_column(s: &dyn Store, path: &str) -> Result<ColumnValues, ColumnProblem> {
    let part = |name: &str| join(path, name);
    let encoding = s.attr_string(path, "encoding-type").unwrap_or_default();
    match encoding.as_str() {
        "categorical" => {
            let codes = s.all_i64s(&part("codes"))?;
            let categories = read_string_element(s, &part("categories"))?
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect();
            Ok(categorical(path, codes, categories)?)
        }
        "nullable-integer" => {
            let values = s.all_i64s(&part("values"))?;
            let mask = s.bools(&part("mask"))?;
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
            let values = s.bools(&part("values"))?;
            let mask = s.bools(&part("mask"))?;
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
            let values = nullable_strings(s, path)?;
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

/// Reads a string element: a string array, or a `nullable-string-array` group (`values`
/// and a `mask` that is true where the value is missing), as anndata >= 0.11 writes pandas
/// `string` columns and indices with `allow_write_nullable_strings`. Missing entries are None.
fn read_string_element(s: &dyn Store, path: &str) -> Result<Vec<Option<String>>, Msg> {
    if s.is_group(path) {
        return match s
            .attr_string(path, "encoding-type")
            .unwrap_or_default()
            .as_str()
        {
            "nullable-string-array" => nullable_strings(s, path),
            other => Err(format!(
                "{path}: expected strings, found a group of encoding `{other}`"
            )),
        };
    }
    if !s.is_array(path) {
        return Err(format!("{path}: no such array"));
    }
    Ok(s.strings(path)?.into_iter().map(Some).collect())
}

/// The values of a `nullable-string-array` group, None where its mask is set.
fn nullable_strings(s: &dyn Store, path: &str) -> Result<Vec<Option<String>>, Msg> {
    let values = s.strings(&join(path, "values"))?;
    let mask = s.bools(&join(path, "mask"))?;
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
