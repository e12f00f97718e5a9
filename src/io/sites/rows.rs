//! Source values ([`Cell`]) converted to the fields of a [`SiteDraft`], and the check for repeated
//! ids.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::fields::{FieldKind, SiteField};
use super::import::ImportRow;
use super::mapping::vocabulary_key;
use crate::model::{CoordinatePrecision, DraftValue, ModelError, SiteDraft, SiteKind, SiteStatus};

/// A source value, whatever the field type it came from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
    Null,
    Text(String),
    Number(f64),
    List(Vec<String>),
}

impl Cell {
    pub(super) fn is_blank(&self) -> bool {
        match self {
            Cell::Null => true,
            Cell::Text(t) => t.trim().is_empty(),
            Cell::List(l) => l.iter().all(|s| s.trim().is_empty()),
            Cell::Number(_) => false,
        }
    }

    pub(super) fn from_json(v: &Value) -> Option<Cell> {
        match v {
            Value::String(s) => Some(Cell::Text(s.clone())),
            Value::Number(n) => n.as_f64().map(Cell::Number),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Cell::List),
            Value::Object(_) => Some(Cell::Text(v.to_string())),
            Value::Null | Value::Bool(_) => None,
        }
    }
}

/// The text of a value for a text field, translated through the field's vocabulary.
pub(super) fn text_of(cell: &Cell, vocabulary: Option<&HashMap<String, String>>) -> Option<String> {
    let text = match cell {
        Cell::Null => return None,
        Cell::Text(t) => t.trim().to_owned(),
        Cell::Number(n) => n.to_string(),
        Cell::List(l) => l.join("; "),
    };
    let text = translate(&text, vocabulary);
    (!text.is_empty()).then_some(text)
}

pub(super) fn translate(text: &str, vocabulary: Option<&HashMap<String, String>>) -> String {
    vocabulary
        .and_then(|v| v.get(&vocabulary_key(text)))
        .map_or_else(|| text.trim().to_owned(), |t| t.trim().to_owned())
}

pub(super) fn invalid(field: SiteField, value: impl Into<String>, reason: &str) -> ModelError {
    ModelError::Invalid {
        field: field.name(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Converts `cell` to `field`'s type and stores it in `draft`.
pub(super) fn assign(
    draft: &mut SiteDraft,
    field: SiteField,
    cell: Cell,
    vocabulary: Option<&HashMap<String, String>>,
) -> Result<(), ModelError> {
    match field.kind() {
        FieldKind::Text => {
            let mut text = text_of(&cell, vocabulary);
            // Our vocabularies are lower case; "Active" is a spelling, not another value. A value
            // that is not ours stays as given so the error quotes it.
            if let Some(t) = text.as_mut() {
                let lower = t.to_ascii_lowercase();
                let known = match field {
                    SiteField::KIND => lower.parse::<SiteKind>().is_ok(),
                    SiteField::STATUS => lower.parse::<SiteStatus>().is_ok(),
                    SiteField::PRECISION => lower.parse::<CoordinatePrecision>().is_ok(),
                    _ => false,
                };
                if known {
                    *t = lower;
                }
            }
            draft.set(field.index(), DraftValue::Text(text));
        }
        FieldKind::Number => {
            let value = match cell {
                Cell::Number(n) => Some(n),
                other => match text_of(&other, vocabulary) {
                    None => None,
                    Some(t) => Some(
                        t.parse::<f64>()
                            .map_err(|_| invalid(field, t, "expected a number"))?,
                    ),
                },
            };
            draft.set(field.index(), DraftValue::Number(value));
        }
        FieldKind::List => {
            let items: Vec<String> = match cell {
                Cell::Null => vec![],
                Cell::Number(n) => vec![n.to_string()],
                Cell::List(l) => l,
                Cell::Text(t) => {
                    let t = t.trim();
                    if t.starts_with('[') {
                        serde_json::from_str::<Vec<String>>(t).map_err(|e| {
                            invalid(field, t, &format!("not a JSON array of text: {e}"))
                        })?
                    } else {
                        t.split(';').map(str::to_owned).collect()
                    }
                }
            };
            let items = items
                .iter()
                .map(|i| translate(i, vocabulary))
                .filter(|i| !i.is_empty())
                .collect();
            draft.set(field.index(), DraftValue::List(items));
        }
        FieldKind::Object => {
            let object = match cell {
                Cell::Null => Map::new(),
                Cell::Text(t) if t.trim().is_empty() => Map::new(),
                Cell::Text(t) => serde_json::from_str::<Map<String, Value>>(t.trim())
                    .map_err(|e| invalid(field, t.trim(), &format!("not a JSON object: {e}")))?,
                Cell::Number(n) => return Err(invalid(field, n.to_string(), "not a JSON object")),
                Cell::List(l) => return Err(invalid(field, l.join("; "), "not a JSON object")),
            };
            draft.set(field.index(), DraftValue::Object(object));
        }
    }
    Ok(())
}

/// The row that first had each id read so far: a later row with an id already read is an error,
/// as the file does not say which one it means. Kept across the chunks of one reading (an id and a
/// row number per valid row: about 60 bytes, some 60 MB for a million rows).
#[derive(Debug, Default)]
pub(super) struct FirstRows(HashMap<Box<str>, usize>);

impl FirstRows {
    /// Marks `r` as a repeat if a valid row before it had its id.
    pub(super) fn check(&mut self, r: &mut ImportRow) {
        let Ok(site) = &r.site else { return };
        if let Some(earlier) = self.0.get(site.id.as_str()) {
            r.site = Err(format!(
                "field `id`: {} is already used by row {earlier}",
                site.id
            ));
        } else {
            self.0.insert(site.id.as_str().into(), r.row);
        }
    }
}
