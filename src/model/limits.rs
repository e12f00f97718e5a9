//! The longest text each field of a site may hold.
//!
//! Lengths are **bytes of UTF-8** after trimming (a Cyrillic letter is 2 bytes), because the byte is
//! what file formats limit. Lists (`substances`, `sources`) are limited per item and as a whole, and
//! the whole of a list and the free `attributes` are measured as the compact JSON text the flat
//! export formats (Shapefile, CSV, KML) write.
//!
//! The limits keep every site exportable in every format. The tightest is a Shapefile: one DBF
//! record holds at most 65,535 bytes, and a text longer than 254 bytes continues in `_2`, `_3`…
//! columns of at most 254 bytes each. The cutter never cuts next to a blank, so in the worst case two
//! consecutive parts hold only 252 bytes; a text of `n` bytes takes at most `2·⌈n/252⌉ + 1` columns.
//! With every field at its limit the site texts fill at most about 49,000 bytes of a record
//! (about 22,000 in practice), which leaves more than 16,000 bytes for the identifiers, the numbers
//! and the analysis fields. A test exports such a site in every format and reads it back.
//!
//! The limits themselves are part of each field's definition in [`crate::schema`].

use crate::schema::{FieldDef, SITE_FIELDS};

/// The fields with a limit and their limit in bytes (for `substances` and `sources`: the whole list
/// as JSON text; for `attributes`: the object as compact JSON text).
pub fn limited() -> impl Iterator<Item = (&'static str, usize)> {
    SITE_FIELDS
        .iter()
        .filter_map(|f| Some((f.name, f.max_bytes?)))
}

/// The list fields and the most bytes of one item.
pub fn limited_items() -> impl Iterator<Item = (&'static str, usize)> {
    SITE_FIELDS
        .iter()
        .filter_map(|f| Some((f.name, f.max_item_bytes?)))
}

fn def(field: &str) -> Option<&'static FieldDef> {
    SITE_FIELDS.iter().find(|f| f.name == field)
}

/// The limit of `field`, if it has one.
pub fn max_bytes(field: &str) -> Option<usize> {
    def(field)?.max_bytes
}

/// The per-item limit of list `field`, if it has one.
pub fn max_item_bytes(field: &str) -> Option<usize> {
    def(field)?.max_item_bytes
}
