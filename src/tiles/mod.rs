//! Vector tiles (OGC API – Tiles, Mapbox Vector Tiles) over the published [`Catalog`]: the
//! WebMercatorQuad tile matrix set ([`TileId`], [`tile_bounds`]), per-collection and multi-layer
//! MVT encoding ([`encode`]), the property table of each layer ([`layers`]), the bounded tile cache
//! ([`cache`]) and the PMTiles archive of the whole map ([`archive`]).
//!
//! Zoom levels 0 to [`MAX_ZOOM`] (14) are served; at z14 a tile spans about 2.4 km, well below the
//! accuracy of the reference layers, and clients overzoom beyond it. Tiles are 4096 units square
//! ([`EXTENT`]) with a [`BUFFER`] of 64 units on each side.

pub mod archive;
pub mod cache;
pub mod encode;
pub mod layers;

use std::f64::consts::PI;

use thiserror::Error;

use crate::catalog::Catalog;
use crate::index::BBox;

pub use cache::TileCache;
pub use encode::{encode_layers, encode_tile};

/// The tile matrix set served.
pub const TMS_ID: &str = "WebMercatorQuad";
/// Its URI in the OGC definitions server.
pub const TMS_URI: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";
/// Its CRS.
pub const TMS_CRS: &str = "http://www.opengis.net/def/crs/EPSG/0/3857";
/// The highest zoom level served.
pub const MAX_ZOOM: u8 = 14;
/// Tile size in MVT units.
pub const EXTENT: u32 = 4096;
/// Units of geometry kept beyond each tile edge, so that lines and outlines join across tiles.
pub const BUFFER: u32 = 64;
/// The largest latitude of the Web Mercator square.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;
/// Half the side of the Web Mercator square, in metres (EPSG:3857).
pub const HALF_WORLD_M: f64 = 20_037_508.342_789_244;

/// Why a tile address is not one of ours.
#[derive(Debug, Error, PartialEq)]
pub enum TileError {
    #[error("zoom level {z} is outside this tileset's 0..={max}")]
    Zoom { z: u32, max: u8 },
    #[error("tile column {x} is outside 0..={max} at zoom level {z}")]
    Column { x: u64, z: u8, max: u32 },
    #[error("tile row {y} is outside 0..={max} at zoom level {z}")]
    Row { y: u64, z: u8, max: u32 },
    #[error("no collection {0:?} to tile")]
    NoCollection(String),
}

/// One tile of WebMercatorQuad: zoom `z`, column `x` (from the west), row `y` (from the north).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileId {
    /// Checks the address against the tile matrix limits and [`MAX_ZOOM`].
    pub fn new(z: u32, x: u64, y: u64) -> Result<Self, TileError> {
        if z > MAX_ZOOM as u32 {
            return Err(TileError::Zoom { z, max: MAX_ZOOM });
        }
        let z = z as u8;
        let max = (1u32 << z) - 1;
        if x > max as u64 {
            return Err(TileError::Column { x, z, max });
        }
        if y > max as u64 {
            return Err(TileError::Row { y, z, max });
        }
        Ok(TileId {
            z,
            x: x as u32,
            y: y as u32,
        })
    }

    /// The number of tiles along each side at this zoom level.
    pub fn matrix_size(z: u8) -> u32 {
        1u32 << z
    }
}

/// Fractional tile coordinates (column, row) of a point at zoom `z`; latitudes beyond
/// [`MAX_LAT`] are clamped.
pub fn lonlat_to_tile(lon: f64, lat: f64, z: u8) -> (f64, f64) {
    let n = (1u64 << z) as f64;
    let lat = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0 * n;
    (x, y)
}

/// Longitude and latitude of fractional tile coordinates at zoom `z`.
pub fn tile_to_lonlat(x: f64, y: f64, z: u8) -> (f64, f64) {
    let n = (1u64 << z) as f64;
    let lon = x / n * 360.0 - 180.0;
    let lat = (PI * (1.0 - 2.0 * y / n)).sinh().atan().to_degrees();
    (lon, lat)
}

/// [west, south, east, north] of a tile in degrees.
pub fn tile_bounds(t: TileId) -> [f64; 4] {
    let (west, north) = tile_to_lonlat(t.x as f64, t.y as f64, t.z);
    let (east, south) = tile_to_lonlat(t.x as f64 + 1.0, t.y as f64 + 1.0, t.z);
    [west, south, east, north]
}

/// The box to select features for a tile: the tile and its buffer, in degrees (clamped to the
/// world).
pub fn selection_bbox(t: TileId) -> BBox {
    let b = BUFFER as f64 / EXTENT as f64;
    let (west, north) = tile_to_lonlat(t.x as f64 - b, t.y as f64 - b, t.z);
    let (east, south) = tile_to_lonlat(t.x as f64 + 1.0 + b, t.y as f64 + 1.0 + b, t.z);
    let north = if t.y == 0 { 90.0 } else { north };
    let south = if t.y + 1 == TileId::matrix_size(t.z) {
        -90.0
    } else {
        south
    };
    BBox {
        west: west.max(-180.0),
        south: south.max(-90.0),
        east: east.min(180.0),
        north: north.min(90.0),
    }
}

/// The tiles at zoom `z` that cover [west, south, east, north] (degrees), in row-major order.
pub fn tiles_covering(bounds: [f64; 4], z: u8) -> impl Iterator<Item = TileId> {
    let (x0, y0) = lonlat_to_tile(bounds[0], bounds[3], z);
    let (x1, y1) = lonlat_to_tile(bounds[2], bounds[1], z);
    let max = TileId::matrix_size(z) - 1;
    let clamp = |v: f64| (v.floor().max(0.0) as u32).min(max);
    let (x0, x1, y0, y1) = (clamp(x0), clamp(x1), clamp(y0), clamp(y1));
    (y0..=y1).flat_map(move |y| (x0..=x1).map(move |x| TileId { z, x, y }))
}

/// [west, south, east, north] over every collection of the catalog, if any has features.
pub fn catalog_bounds(catalog: &Catalog) -> Option<[f64; 4]> {
    catalog
        .collections
        .iter()
        .filter_map(|c| c.extent)
        .reduce(|a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_limits() {
        assert!(TileId::new(0, 0, 0).is_ok());
        assert!(TileId::new(14, 16383, 16383).is_ok());
        assert_eq!(
            TileId::new(15, 0, 0),
            Err(TileError::Zoom { z: 15, max: 14 })
        );
        assert_eq!(
            TileId::new(3, 8, 0),
            Err(TileError::Column { x: 8, z: 3, max: 7 })
        );
        assert_eq!(
            TileId::new(3, 0, 8),
            Err(TileError::Row { y: 8, z: 3, max: 7 })
        );
        assert!(TileId::new(3, 7, 7).is_ok());
        assert!(
            TileError::Zoom { z: 15, max: 14 }
                .to_string()
                .contains("0..=14")
        );
    }

    #[test]
    fn tile_math_round_trips() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        for _ in 0..10_000 {
            let lon = rng.random_range(-180.0..180.0);
            let lat = rng.random_range(-MAX_LAT..MAX_LAT);
            let z = rng.random_range(0..=MAX_ZOOM);
            let (x, y) = lonlat_to_tile(lon, lat, z);
            let (lon2, lat2) = tile_to_lonlat(x, y, z);
            assert!((lon - lon2).abs() < 1e-9, "{lon} {lon2}");
            assert!((lat - lat2).abs() < 1e-9, "{lat} {lat2}");
            // The point lies in the bounds of the tile that holds it.
            let t = TileId::new(z as u32, x.floor() as u64, y.floor() as u64).unwrap();
            let [w, s, e, n] = tile_bounds(t);
            assert!(w <= lon && lon <= e && s <= lat && lat <= n);
        }
        assert_eq!(tile_bounds(TileId { z: 0, x: 0, y: 0 })[0], -180.0);
        let [_, s, _, n] = tile_bounds(TileId { z: 0, x: 0, y: 0 });
        assert!((n - MAX_LAT).abs() < 1e-9 && (s + MAX_LAT).abs() < 1e-9);
        // Mailuu-Suu at z7 is in tile 89/47 (as any slippy-map calculator says).
        let (x, y) = lonlat_to_tile(72.45, 41.27, 7);
        assert_eq!((x.floor(), y.floor()), (89.0, 47.0));
    }

    #[test]
    fn selection_box_holds_the_buffer() {
        let t = TileId { z: 7, x: 89, y: 47 };
        let [w, s, e, n] = tile_bounds(t);
        let b = selection_bbox(t);
        assert!(b.west < w && b.east > e && b.south < s && b.north > n);
        let world = selection_bbox(TileId { z: 0, x: 0, y: 0 });
        assert_eq!(
            (world.west, world.south, world.east, world.north),
            (-180.0, -90.0, 180.0, 90.0)
        );
    }

    #[test]
    fn covering_tiles() {
        let tiles: Vec<_> = tiles_covering([55.0, 34.0, 82.0, 50.0], 4).collect();
        assert!(tiles.iter().all(|t| t.z == 4));
        for t in &tiles {
            let [w, s, e, n] = tile_bounds(*t);
            assert!(w <= 82.0 && e >= 55.0 && s <= 50.0 && n >= 34.0);
        }
        assert_eq!(tiles_covering([-180.0, -90.0, 180.0, 90.0], 2).count(), 16);
    }
}
