//! The PMTiles v3 archive of the whole map: every collection as one MVT layer per tile, over a zoom
//! range and the catalog's bounds. Tiles are encoded and gzip-compressed in parallel (rayon), in
//! batches taken in tile-id (Hilbert) order, and written by the `pmtiles` crate's writer in that
//! order. The archive is written to a temporary file beside the output and renamed at the end, so
//! a failed run leaves no partial archive.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression as Level;
use flate2::write::GzEncoder;
use pmtiles::{Compression, PmTilesWriter, TileCoord, TileType};
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use thiserror::Error;

use super::{MAX_ZOOM, TileId, catalog_bounds, encode_layers, layers, tiles_covering};
use crate::catalog::Catalog;

/// Tiles encoded in parallel before they are written.
const BATCH: usize = 256;

/// Why an archive could not be written.
#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error("--minzoom {min} is above --maxzoom {max}")]
    ZoomRange { min: u8, max: u8 },
    #[error("--maxzoom {0} is above the highest zoom level served, {MAX_ZOOM}")]
    MaxZoom(u8),
    #[error("nothing to tile: the catalog has no features")]
    Empty,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Pmtiles {
        path: PathBuf,
        source: pmtiles::PmtError,
    },
}

/// What to put in the archive.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveOptions {
    pub minzoom: u8,
    pub maxzoom: u8,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            minzoom: 0,
            maxzoom: 10,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveReport {
    /// Tiles looked at (every tile over the bounds at each zoom).
    pub tiles_considered: u64,
    /// Tiles with features, stored.
    pub tiles_written: u64,
    /// The archive's size.
    pub bytes: u64,
    pub bounds: [f64; 4],
}

/// The `vector_layers` of TileJSON and PMTiles metadata for these collections.
pub fn vector_layers(catalog: &Catalog, minzoom: u8, maxzoom: u8) -> Vec<Value> {
    let mut ids: Vec<&'static str> = catalog.collections.iter().map(|c| c.id()).collect();
    ids.sort_by_key(|id| layers::order(id));
    ids.into_iter()
        .map(|id| {
            let c = catalog.collection(id);
            let fields: Map<String, Value> = layers::fields(id)
                .iter()
                .map(|(name, t)| ((*name).to_owned(), Value::from(t.as_str())))
                .collect();
            json!({
                "id": id,
                "description": c.map(|c| c.spec.title).unwrap_or_default(),
                "minzoom": minzoom,
                "maxzoom": maxzoom,
                "fields": fields,
            })
        })
        .collect()
}

/// The attribution of the catalog's layers, once each.
pub fn attribution(catalog: &Catalog) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for c in &catalog.collections {
        for a in c.spec.attribution {
            if !seen.contains(&a.text) {
                seen.push(a.text);
            }
        }
    }
    seen.join(" ")
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut e = GzEncoder::new(Vec::with_capacity(data.len() / 2 + 64), Level::default());
    e.write_all(data)?;
    e.finish()
}

/// Every tile of the zoom range over `bounds`, in PMTiles tile-id order.
fn tile_list(bounds: [f64; 4], options: ArchiveOptions) -> Vec<TileId> {
    let mut tiles: Vec<(u64, TileId)> = (options.minzoom..=options.maxzoom)
        .flat_map(|z| tiles_covering(bounds, z))
        .map(|t| (pmtiles::TileId::from(coord(t)).value(), t))
        .collect();
    tiles.sort_unstable_by_key(|(id, _)| *id);
    tiles.into_iter().map(|(_, t)| t).collect()
}

fn coord(t: TileId) -> TileCoord {
    // In range by construction: z <= MAX_ZOOM and x, y within the matrix.
    TileCoord::new(t.z, t.x, t.y).expect("a tile of the matrix")
}

/// Writes the archive of `catalog` to `out`; `progress(done, total)` is called as tiles are
/// encoded (from the writing thread).
pub fn write_archive(
    catalog: &Catalog,
    out: &Path,
    options: ArchiveOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ArchiveReport, ArchiveError> {
    if options.minzoom > options.maxzoom {
        return Err(ArchiveError::ZoomRange {
            min: options.minzoom,
            max: options.maxzoom,
        });
    }
    if options.maxzoom > MAX_ZOOM {
        return Err(ArchiveError::MaxZoom(options.maxzoom));
    }
    let bounds = catalog_bounds(catalog).ok_or(ArchiveError::Empty)?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ArchiveError::Io { path, source }
    };
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "archive.pmtiles".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = write_to(catalog, &tmp, bounds, options, progress);
    match result {
        Ok(mut report) => {
            std::fs::rename(&tmp, out).map_err(io(out))?;
            report.bytes = std::fs::metadata(out).map_err(io(out))?.len();
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_to(
    catalog: &Catalog,
    tmp: &Path,
    bounds: [f64; 4],
    options: ArchiveOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ArchiveReport, ArchiveError> {
    let io = |source| ArchiveError::Io {
        path: tmp.to_owned(),
        source,
    };
    let pmt = |source| ArchiveError::Pmtiles {
        path: tmp.to_owned(),
        source,
    };
    let tiles = tile_list(bounds, options);
    let total = tiles.len() as u64;
    let center_zoom = options.minzoom.max(options.maxzoom.min(5));
    let metadata = json!({
        "name": "Syr Darya basin risk map",
        "description": "Tailings facilities and hazardous sites of the Syr Darya basin, with the basin's \
            countries, borders, rivers, lakes and the risk layers (tailings-atlas).",
        "attribution": attribution(catalog),
        "type": "overlay",
        "format": "pbf",
        "version": "1",
        "vector_layers": vector_layers(catalog, options.minzoom, options.maxzoom),
    });
    let file = std::fs::File::create(tmp).map_err(io)?;
    let mut writer = PmTilesWriter::new(TileType::Mvt)
        .precompressed(Compression::Gzip)
        .internal_compression(Compression::Gzip)
        .min_zoom(options.minzoom)
        .max_zoom(options.maxzoom)
        .bounds(bounds[0], bounds[1], bounds[2], bounds[3])
        .center((bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0)
        .center_zoom(center_zoom)
        .metadata(metadata.to_string())
        .create(file)
        .map_err(pmt)?;
    let (mut done, mut written) = (0u64, 0u64);
    progress(0, total);
    for batch in tiles.chunks(BATCH) {
        let encoded: Vec<(TileId, Vec<u8>)> = batch
            .par_iter()
            .map(|&t| {
                let mvt = encode_layers(catalog, t);
                let gz = if mvt.is_empty() {
                    Vec::new()
                } else {
                    gzip(&mvt)?
                };
                Ok((t, gz))
            })
            .collect::<std::io::Result<_>>()
            .map_err(io)?;
        for (t, gz) in encoded {
            if !gz.is_empty() {
                writer.add_tile(coord(t), &gz).map_err(pmt)?;
                written += 1;
            }
        }
        done += batch.len() as u64;
        progress(done, total);
    }
    writer.finalize().map_err(pmt)?;
    Ok(ArchiveReport {
        tiles_considered: total,
        tiles_written: written,
        bytes: 0,
        bounds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_come_in_tile_id_order_and_cover_every_zoom() {
        let opts = ArchiveOptions {
            minzoom: 0,
            maxzoom: 6,
        };
        let tiles = tile_list([55.0, 34.0, 82.0, 50.0], opts);
        let ids: Vec<u64> = tiles
            .iter()
            .map(|t| pmtiles::TileId::from(coord(*t)).value())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        for z in 0..=6 {
            assert!(tiles.iter().any(|t| t.z == z));
        }
        assert_eq!(tiles[0], TileId { z: 0, x: 0, y: 0 });
    }

    #[test]
    fn bad_zoom_ranges_are_refused_before_any_file_is_made() {
        let catalog = Catalog {
            collections: vec![],
            notices: None,
        };
        let dir = std::env::temp_dir().join(format!("atlas-archive-{}", std::process::id()));
        let out = dir.join("x.pmtiles");
        let mut p = |_: u64, _: u64| {};
        let e = write_archive(
            &catalog,
            &out,
            ArchiveOptions {
                minzoom: 5,
                maxzoom: 2,
            },
            &mut p,
        );
        assert!(matches!(e, Err(ArchiveError::ZoomRange { .. })));
        let e = write_archive(
            &catalog,
            &out,
            ArchiveOptions {
                minzoom: 0,
                maxzoom: 15,
            },
            &mut p,
        );
        assert!(matches!(e, Err(ArchiveError::MaxZoom(15))));
        let e = write_archive(&catalog, &out, ArchiveOptions::default(), &mut p);
        assert!(matches!(e, Err(ArchiveError::Empty)));
        assert!(!out.exists());
    }
}
