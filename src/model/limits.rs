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
//! The tables are plain constants so a schema module can take them over.

/// The most bytes of each text field (for `substances` and `sources`: the whole list as JSON text;
/// for `attributes`: the object as compact JSON text).
pub const MAX_BYTES: &[(&str, usize)] = &[
    ("name", 500),
    ("local_name", 500),
    ("activity", 500),
    ("status_note", 2_000),
    ("receiving_river", 500),
    ("substances", 2_000),
    ("sources", 8_000),
    ("attributes", 8_000),
];

/// The most bytes of one item of a list field.
pub const MAX_ITEM_BYTES: &[(&str, usize)] = &[("substances", 200), ("sources", 2_000)];

/// The limit of `field` in [`MAX_BYTES`], if it has one.
pub fn max_bytes(field: &str) -> Option<usize> {
    lookup(MAX_BYTES, field)
}

/// The per-item limit of list `field` in [`MAX_ITEM_BYTES`], if it has one.
pub fn max_item_bytes(field: &str) -> Option<usize> {
    lookup(MAX_ITEM_BYTES, field)
}

fn lookup(table: &[(&str, usize)], field: &str) -> Option<usize> {
    table.iter().find(|(f, _)| *f == field).map(|(_, n)| *n)
}
