//! Checks of an uploaded file before GDAL reads it, so that the size of an upload bounds the work
//! of importing it:
//!
//! - a zip archive (by its first bytes, so XLSX, ODS and KMZ files too) is refused when its entries would expand to more than a limit in all (their
//!   sizes as the archive's central directory declares them, which is what GDAL's `/vsizip/`
//!   reads by);
//! - a GeoPackage (any SQLite file, whatever its name) is refused when it holds an SQL view or a
//!   virtual table other than the R-tree spatial indexes GeoPackages have: a recursive view of a
//!   few lines can produce any number of rows. A GeoPackage inside a zip is checked the same way
//!   once GDAL has opened it, before any layer is read.
//!
//! The number of rows read is bounded separately, while reading.

use std::path::Path;

use gdal::Dataset;
use gdal::vector::LayerAccess;

use super::ReadOptions;

/// How many times the request body limit an uploaded zip archive (a zipped Shapefile or CSV, but
/// also an XLSX, ODS or KMZ file, which are zip archives) may expand to.
pub const UNZIP_FACTOR: u64 = 10;

/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// A schema object of an SQLite file: `type`, `name`, `sql` as in `sqlite_master`.
pub(crate) struct SchemaEntry {
    pub kind: String,
    pub name: String,
    pub sql: String,
}

/// Whether the file at `path` is an SQLite database (a GeoPackage), by its first bytes.
pub(crate) fn is_sqlite(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == SQLITE_MAGIC
}

/// Reads the schema of the SQLite file at `path` (read-only, without running anything in it).
pub(crate) fn sqlite_schema(path: &Path) -> Result<Vec<SchemaEntry>, String> {
    use rusqlite::{Connection, OpenFlags};
    let unreadable = |_| "cannot be read as a GeoPackage (SQLite) file".to_owned();
    // `immutable`: no journal or WAL files are looked for or created next to it.
    let path_text = path.to_string_lossy();
    let encoded: String =
        percent_encoding::utf8_percent_encode(&path_text, URI_PATH).collect::<String>();
    let conn = Connection::open_with_flags(
        format!("file:{encoded}?immutable=1"),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(unreadable)?;
    let mut stmt = conn
        .prepare("SELECT type, name, COALESCE(sql, '') FROM sqlite_master")
        .map_err(unreadable)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SchemaEntry {
                kind: r.get(0)?,
                name: r.get(1)?,
                sql: r.get(2)?,
            })
        })
        .map_err(unreadable)?;
    rows.collect::<Result<_, _>>().map_err(unreadable)
}

/// Characters escaped in the path of an SQLite `file:` URI.
const URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b'%')
    .add(b'?')
    .add(b'#')
    .add(b' ');

/// Refuses a schema with an SQL view or a virtual table other than a GeoPackage R-tree index.
pub(crate) fn refuse_views(schema: &[SchemaEntry]) -> Result<(), String> {
    for e in schema {
        let sql = e.sql.trim_start().to_ascii_lowercase();
        let what = if e.kind.eq_ignore_ascii_case("view") {
            "an SQL view"
        } else if e.kind.eq_ignore_ascii_case("table")
            && sql.starts_with("create virtual table")
            && !(e.name.starts_with("rtree_") && sql.contains("using rtree("))
        {
            "a virtual table"
        } else {
            continue;
        };
        return Err(format!(
            "layer {:?} is {what}; an uploaded GeoPackage may hold only tables (a view can \
             produce any number of rows), so save the layer as a table and upload it again",
            e.name
        ));
    }
    Ok(())
}

/// Refuses the zip archive at `path` when its entries would expand to more than `max_bytes`.
pub(crate) fn check_zip(path: &Path, max_bytes: u64) -> Result<(), ZipRefusal> {
    let bytes = std::fs::read(path).map_err(|_| ZipRefusal::Unreadable)?;
    let entries = zip_entries(&bytes).ok_or(ZipRefusal::Unreadable)?;
    let total: u64 = entries
        .iter()
        .map(|(_, size)| *size)
        .fold(0, u64::saturating_add);
    if total > max_bytes {
        return Err(ZipRefusal::TooLarge { total });
    }
    Ok(())
}

/// Why a zip archive is refused.
#[derive(Debug, PartialEq)]
pub(crate) enum ZipRefusal {
    /// Not a zip archive whose directory can be read.
    Unreadable,
    /// Its entries expand to `total` bytes, over the limit.
    TooLarge { total: u64 },
}

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(
        b.get(at..at + 4)?.try_into().ok()?,
    )))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The entries of a zip archive and their uncompressed sizes, from its central directory (zip64
/// included); `None` when the directory cannot be read.
fn zip_entries(b: &[u8]) -> Option<Vec<(String, u64)>> {
    const EOCD: u64 = 0x0605_4b50;
    const ZIP64_LOCATOR: u64 = 0x0706_4b50;
    const ZIP64_EOCD: u64 = 0x0606_4b50;
    const ENTRY: u64 = 0x0201_4b50;
    // The end record is 22 bytes plus a comment of up to 65,535.
    let last = b.len().checked_sub(22)?;
    let eocd = (last.saturating_sub(65_535)..=last)
        .rev()
        .find(|&i| u32_at(b, i) == Some(EOCD))?;
    let (mut count, mut offset) = (u16_at(b, eocd + 10)?, u32_at(b, eocd + 16)?);
    if count == 0xFFFF || offset == 0xFFFF_FFFF {
        let locator = eocd.checked_sub(20)?;
        if u32_at(b, locator)? != ZIP64_LOCATOR {
            return None;
        }
        let end64 = usize::try_from(u64_at(b, locator + 8)?).ok()?;
        if u32_at(b, end64)? != ZIP64_EOCD {
            return None;
        }
        count = u64_at(b, end64 + 32)?;
        offset = u64_at(b, end64 + 48)?;
    }
    let mut at = usize::try_from(offset).ok()?;
    let mut entries = Vec::new();
    for _ in 0..count {
        if u32_at(b, at)? != ENTRY {
            return None;
        }
        let mut size = u32_at(b, at + 24)?;
        let name_len = usize::try_from(u16_at(b, at + 28)?).ok()?;
        let extra_len = usize::try_from(u16_at(b, at + 30)?).ok()?;
        let comment_len = usize::try_from(u16_at(b, at + 32)?).ok()?;
        let name = String::from_utf8_lossy(b.get(at + 46..at + 46 + name_len)?).into_owned();
        if size == 0xFFFF_FFFF {
            // The zip64 extra field (id 1) starts with the uncompressed size.
            let extra = b.get(at + 46 + name_len..at + 46 + name_len + extra_len)?;
            let mut e = 0;
            let mut found = None;
            while e + 4 <= extra.len() {
                let (id, len) = (
                    u16_at(extra, e)?,
                    usize::try_from(u16_at(extra, e + 2)?).ok()?,
                );
                if id == 1 {
                    found = u64_at(extra, e + 4);
                    break;
                }
                e += 4 + len;
            }
            size = found?;
        }
        entries.push((name, size));
        at += 46 + name_len + extra_len + comment_len;
    }
    Some(entries)
}

/// Why [`check_before_gdal`] refused a file.
pub(super) enum Refused {
    /// Over a limit on the work an import may do.
    TooLarge(String),
    /// Not a file an upload may be.
    Invalid(String),
}

/// The checks made before GDAL opens the file: a zip's unzipped size, a GeoPackage's views.
pub(super) fn check_before_gdal(path: &Path, options: &ReadOptions<'_>) -> Result<(), Refused> {
    if let Some(max) = options.max_unzipped_bytes
        && is_zip(path)
    {
        check_zip(path, max).map_err(|e| match e {
            ZipRefusal::Unreadable => {
                Refused::Invalid("is not a zip archive whose directory can be read".into())
            }
            ZipRefusal::TooLarge { total } => Refused::TooLarge(format!(
                "the zip archive expands to {total} bytes, more than the {max} bytes an upload may \
                 expand to ({UNZIP_FACTOR} times serve --max-body-mb)"
            )),
        })?;
    }
    if options.refuse_views && is_sqlite(path) {
        let schema = sqlite_schema(path).map_err(Refused::Invalid)?;
        refuse_views(&schema).map_err(Refused::Invalid)?;
    }
    Ok(())
}

/// Whether the file is a zip archive, by its first bytes (whatever its name).
pub(super) fn is_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && (head == *b"PK\x03\x04" || head == *b"PK\x05\x06")
}

/// [`refuse_views`] on a GeoPackage GDAL has opened (one inside a zip).
pub(super) fn refuse_views_in(ds: &Dataset) -> Result<(), String> {
    let unreadable = |_| "cannot read the GeoPackage's schema".to_owned();
    let mut result = ds
        .execute_sql(
            "SELECT type, name, COALESCE(sql, '') FROM sqlite_master",
            None,
            gdal::vector::sql::Dialect::DEFAULT,
        )
        .map_err(unreadable)?
        .ok_or("cannot read the GeoPackage's schema")?;
    let mut schema = Vec::new();
    for f in result.features() {
        let text = |i: usize| f.field_as_string(i).ok().flatten().unwrap_or_default();
        schema.push(SchemaEntry {
            kind: text(0),
            name: text(1),
            sql: text(2),
        });
    }
    refuse_views(&schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_directory_sizes_are_read() {
        // A zipped shapefile as GDAL writes it.
        let dir = std::env::temp_dir().join(format!("atlas-guard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("sites.shp.zip");
        let props = serde_json::json!({"id": "a", "note": "x".repeat(5000)});
        crate::io::sites_file::write_sites(
            &out,
            crate::io::sites_file::ExportFormat::Shp,
            &[crate::io::sites_file::ExportFeature {
                lon: 72.0,
                lat: 41.0,
                properties: props.as_object().unwrap(),
            }],
        )
        .unwrap();
        let zip = std::fs::read(&out).unwrap();
        let entries = zip_entries(&zip).unwrap();
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names.contains(&"sites.dbf") && names.contains(&"sites.shp"),
            "{names:?}"
        );
        let total: u64 = entries.iter().map(|(_, s)| s).sum();
        assert!(total > 5000 && total > zip.len() as u64, "{entries:?}");
        assert_eq!(check_zip(&out, total), Ok(()));
        assert_eq!(
            check_zip(&out, total - 1),
            Err(ZipRefusal::TooLarge { total })
        );
        assert_eq!(zip_entries(b"not a zip at all, just some text"), None);
        assert_eq!(zip_entries(&zip[..zip.len() - 30]), None);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn views_and_virtual_tables_are_refused_but_rtree_indexes_are_not() {
        let entry = |kind: &str, name: &str, sql: &str| SchemaEntry {
            kind: kind.into(),
            name: name.into(),
            sql: sql.into(),
        };
        let gpkg = vec![
            entry(
                "table",
                "sites",
                "CREATE TABLE sites (fid INTEGER PRIMARY KEY)",
            ),
            entry(
                "table",
                "rtree_sites_geom",
                "CREATE VIRTUAL TABLE \"rtree_sites_geom\" USING rtree(id, minx, maxx, miny, maxy)",
            ),
            entry("trigger", "rtree_sites_geom_insert", "CREATE TRIGGER …"),
        ];
        assert_eq!(refuse_views(&gpkg), Ok(()));
        let mut with_view = gpkg;
        with_view.push(entry(
            "view",
            "many",
            "CREATE VIEW many AS WITH RECURSIVE …",
        ));
        let err = refuse_views(&with_view).unwrap_err();
        assert!(err.contains("\"many\"") && err.contains("view"), "{err}");
        let fts = [entry(
            "table",
            "notes",
            "CREATE VIRTUAL TABLE notes USING fts5(body)",
        )];
        let err = refuse_views(&fts).unwrap_err();
        assert!(
            err.contains("\"notes\"") && err.contains("virtual table"),
            "{err}"
        );
    }
}
