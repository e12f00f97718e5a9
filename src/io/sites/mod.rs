//! Inventory files in and out through GDAL: reading sites for import (any vector format, with a field
//! mapping) and writing the published sites for export.
//!
//! # Export ([`write_sites`])
//!
//! One `sites` point layer in EPSG:4326, one column per property key (first-seen order). A column is
//! Real when every non-null value is a number, otherwise text; booleans are written `true`/`false`,
//! lists and objects as compact JSON text. The file is written into a private temporary directory
//! next to the target and renamed into place, so a failed export leaves nothing behind and a reader
//! never sees half a file.
//!
//! Per-format choices (each one keeps the data readable back by [`read_sites`]):
//! - GeoPackage, FlatGeobuf: native types, exact doubles. FlatGeobuf is written without a spatial
//!   index, which would reorder the features; the inventory is small enough not to need one. (An
//!   empty export keeps the index: without it GDAL 3.6 writes an empty layer as a 0-byte file.)
//! - GeoJSON: 17 significant digits (GDAL prints the shortest form that reads back exactly), a
//!   `crs` member naming CRS84. `RFC7946=YES` is not used: it rounds coordinates to 7 decimals.
//!   GDAL tidies binary noise such as `0.30000000000000004` to `0.3` (a 1-ulp change); values that
//!   came from decimal text are not affected.
//! - CSV: every column is text, numbers in their shortest exact form (GDAL's own Real formatting
//!   keeps 15 digits); no geometry column, as `lon` and `lat` are properties (`X`/`Y` columns are
//!   added only when they are not).
//! - KML: GDAL's `KML` driver; `name` becomes the placemark name, the rest `ExtendedData`. KML keeps
//!   15 significant digits of numbers and coordinates, and only GDAL's `LIBKML` driver reads the
//!   `ExtendedData` back.
//! - Shapefile, written as `sites.shp.zip` (GDAL ≥ 3.1 zips it itself), UTF-8 `.cpg`. DBF limits are
//!   worked around without losing data:
//!   - column names have at most 10 bytes: keys longer than that take the short name in
//!     [`shapefile_names`] (from the schema), other long keys a deterministic truncation (`_1`, `_2`… on clashes);
//!   - Real columns get the width and decimals their values need to read back exactly (a column
//!     whose numbers do not fit in 255 characters is written as text);
//!   - a text longer than 254 bytes is cut at UTF-8 character boundaries into continuation columns
//!     `<name>`, `<name>_2`, `<name>_3`… (the base truncated so the name still fits: `attributes`,
//!     `attribut_2`); no cut is next to a blank, because DBF readers strip leading and trailing
//!     blanks. The importer joins the parts back.
//!
//! # Import ([`read_sites`])
//!
//! Reads the `sites` layer (or the first one) of any file GDAL opens; a `.zip` is read through
//! `/vsizip/`. A [`Mapping`] says which column feeds which site field, which fields are constants,
//! how source vocabularies translate and how to derive ids. The default mapping matches columns
//! named like the site fields (case-insensitively), their shapefile short names and their 10-byte
//! truncations (what GDAL and ArcGIS make of long names). Every row is validated with
//! [`Site::try_from`](crate::model::Site::try_from); a bad row becomes an error naming the field
//! and value, and reading goes on; a missing required field says how to supply it (a column, a
//! mapping, a constant). A repeated id is an error of the later row. A file with no `id` column
//! and no mapping for one gets ids as `POST` derives them, `{country}_{name}` transliterated
//! ([`crate::model::slug::site_id_base`]), made unique within the file in row order (`-2`, `-3`,
//! …), so importing the same file again gives the same ids and changes nothing. Empty rows
//! (spreadsheet padding) are skipped. Texts longer than their limit in [`crate::model::limits`]
//! are row errors too, so that every site stored can be exported in every format.
//!
//! [`read_sites_chunked`] hands the rows out a chunk at a time ([`IMPORT_CHUNK_ROWS`] by default)
//! as they are read, keeping only the ids seen so far, so a file of any size is read in bounded
//! memory; [`read_sites`] collects them all, for small files and tests.
//!
//! Limits ([`ReadOptions`]): reading stops once a layer has more than [`DEFAULT_MAX_ROWS`]
//! features (configurable). For uploads, a zip archive whose entries expand to more than a limit
//! is refused before GDAL reads it, and so is a GeoPackage holding an SQL view or a virtual table
//! (other than its R-tree indexes). Messages name the file as its user knows it
//! ([`ReadOptions::shown_name`]), never a server's temporary path or GDAL's function names.
//!
//! The point is the feature's geometry when it has one (reprojected to WGS 84 if the layer has
//! another CRS), otherwise the `lon`/`lat` columns. For CSV, GDAL builds the geometry from
//! `lon`/`longitude`/`x`… columns (and the mapping's `lon`/`lat` columns) or a `wkt`/`geometry`
//! column; it parses those coordinates itself, so a coordinate that is not a number leaves the row
//! without a point and is reported as a missing `lon`/`lat`. Spreadsheets (XLSX, ODS) are read with
//! their first row as the header.
//!
//! Mapping file (JSON; every key optional, unknown keys and unknown site fields are errors):
//!
//! ```json
//! {
//!   "description": "free text",
//!   "layer": "Sheet1",
//!   "columns":   { "name": "TSF Name", "lat": "Latitude", "volume_m3": "Storage Volume (m3)" },
//!   "constants": { "kind": "tailings", "sources": "Global Tailings Portal, https://tailing.grida.no/" },
//!   "values":    { "status": { "Active": "active", "Closed": "inactive" } },
//!   "id":        { "from": "TSF Name", "prefix": "gtp-" }
//! }
//! ```
//!
//! - `columns`: site field → source column (exact name, else case-insensitive). A mapped column
//!   missing from the file is an error, except `lon`/`lat` when the layer has geometry.
//! - `constants`: site field → value for every row (text, number, or a list of text for
//!   `substances`/`sources`). A field cannot be both a column and a constant.
//! - `values`: site field → { source value → our value }, matched trimmed and case-insensitively;
//!   values not listed pass through unchanged (and fail validation if they are not ours).
//! - `id`: derive the id from one column (or a list of columns, joined with `-`): `prefix` + a slug
//!   of the value (lower case, transliterated to `a-z 0-9 _ -`).
//! - `layer`: the layer to read, when it is neither `sites` nor the first.
//!
//! Fields the mapping does not mention are matched by name as in the default mapping. Numbers
//! accept numeric text (trimmed; empty is null); `substances` and `sources` accept a JSON array, text
//! split on `;`, or a list-typed field; `attributes` accepts a JSON object or text holding one.
//! Source columns nothing reads are listed in [`ImportRead::ignored_columns`].

mod dbf;
mod export;
mod fields;
mod formats;
mod guard;
mod import;
mod mapping;
mod rows;
#[cfg(test)]
mod test_support;

/// The id slug lives in the model now; kept here for the callers of the old path.
pub use crate::model::slug::derive_id;
pub use dbf::shapefile_names;
pub use export::{ExportFeature, ExportSource, write_sites, write_sites_from};
pub use formats::ExportFormat;
pub use guard::UNZIP_FACTOR;
pub use import::{
    DEFAULT_MAX_ROWS, IMPORT_CHUNK_ROWS, ImportLayer, ImportRead, ImportRow, ReadOptions,
    read_sites, read_sites_chunked, read_sites_with,
};
pub use mapping::Mapping;

/// The layer an export writes and an import reads first.
const LAYER: &str = "sites";
