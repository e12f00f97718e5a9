//! The GeoPackage geometry encoding (GeoPackage 1.3, §2.1.3) for points, and the `ST_*` SQL functions
//! the spatial-index triggers GDAL puts on a layer call, so that a plain SQLite connection can write to
//! the layer and keep its R-tree right.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

/// WGS 84, as registered in every GeoPackage's `gpkg_spatial_ref_sys`.
pub const SRS_ID: i32 = 4326;

/// A point as a GeoPackage blob: little-endian header without envelope, then WKB.
pub fn encode_point(lon: f64, lat: f64) -> Vec<u8> {
    let mut b = Vec::with_capacity(29);
    b.extend_from_slice(b"GP");
    b.push(0); // version 1
    b.push(0b0000_0001); // standard binary, not empty, no envelope, little endian
    b.extend_from_slice(&SRS_ID.to_le_bytes());
    b.push(1); // WKB little endian
    b.extend_from_slice(&1u32.to_le_bytes()); // Point
    b.extend_from_slice(&lon.to_le_bytes());
    b.extend_from_slice(&lat.to_le_bytes());
    b
}

/// The flags byte and the length of the header (with its envelope), if `blob` is a GeoPackage blob.
fn header(blob: &[u8]) -> Option<(u8, usize)> {
    if blob.len() < 8 || &blob[..2] != b"GP" {
        return None;
    }
    let flags = blob[3];
    let envelope = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        _ => return None,
    };
    Some((flags, 8 + envelope))
}

/// The `i`-th f64 of `bytes`, in little- or big-endian order.
fn f64_at(bytes: &[u8], i: usize, le: bool) -> Option<f64> {
    let b: [u8; 8] = bytes.get(i..i + 8)?.try_into().ok()?;
    Some(if le {
        f64::from_le_bytes(b)
    } else {
        f64::from_be_bytes(b)
    })
}

/// The blob's envelope as (min x, max x, min y, max y), or `None` if it is empty or not a blob we can
/// read (anything but points needs its envelope in the header, which GDAL always writes for them).
pub fn envelope(blob: &[u8]) -> Option<[f64; 4]> {
    let (flags, len) = header(blob)?;
    if flags & 0b0001_0000 != 0 {
        return None; // empty geometry
    }
    let le = flags & 1 == 1;
    if len > 8 {
        return Some([
            f64_at(blob, 8, le)?,
            f64_at(blob, 16, le)?,
            f64_at(blob, 24, le)?,
            f64_at(blob, 32, le)?,
        ]);
    }
    let (x, y) = point(blob)?;
    Some([x, x, y, y])
}

/// The coordinates of a point blob.
pub fn point(blob: &[u8]) -> Option<(f64, f64)> {
    let (_, len) = header(blob)?;
    let wkb = blob.get(len..)?;
    let le = *wkb.first()? == 1;
    let b: [u8; 4] = wkb.get(1..5)?.try_into().ok()?;
    let kind = if le {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    };
    // Point, Point Z, Point M, Point ZM in ISO numbering: the first two ordinates are x and y.
    if !matches!(kind, 1 | 1001 | 2001 | 3001) {
        return None;
    }
    let (x, y) = (f64_at(wkb, 5, le)?, f64_at(wkb, 13, le)?);
    (x.is_finite() && y.is_finite()).then_some((x, y))
}

/// Registers `ST_IsEmpty`, `ST_MinX`, `ST_MaxX`, `ST_MinY` and `ST_MaxY` on `conn`.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("ST_IsEmpty", 1, flags, |ctx| {
        let blob: Option<Vec<u8>> = ctx.get(0)?;
        Ok(blob.map(|b| envelope(&b).is_none() as i64))
    })?;
    for (name, k) in [
        ("ST_MinX", 0),
        ("ST_MaxX", 1),
        ("ST_MinY", 2),
        ("ST_MaxY", 3),
    ] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            let blob: Option<Vec<u8>> = ctx.get(0)?;
            Ok(blob.and_then(|b| envelope(&b)).map(|e| e[k]))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_round_trips() {
        let b = encode_point(72.448, 41.246);
        assert_eq!(point(&b), Some((72.448, 41.246)));
        assert_eq!(envelope(&b), Some([72.448, 72.448, 41.246, 41.246]));
    }

    #[test]
    fn reads_a_header_envelope() {
        let mut b = b"GP".to_vec();
        b.push(0);
        b.push(0b0000_0011); // envelope [minx, maxx, miny, maxy], little endian
        b.extend_from_slice(&SRS_ID.to_le_bytes());
        for v in [1.0f64, 2.0, 3.0, 4.0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(envelope(&b), Some([1.0, 2.0, 3.0, 4.0]));
        assert_eq!(envelope(b"nonsense"), None);
    }
}
