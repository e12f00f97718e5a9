//! tailings-atlas: the inventory of tailings facilities and hazardous sites of the Syr Darya basin,
//! indexed in R-trees, analysed for transboundary exposure and published to GIS clients through
//! OGC API – Features.
//!
//! Where things are, from the bottom up (each module uses only those above it in this list; the
//! test `tests/architecture.rs` checks it from the source):
//! - [`schema`]: every site and analysis field, once: name, type, unit, description, Shapefile short
//!   name, text limit, queryable.
//! - [`geodesy`]: geodesic distances and nearest points on WGS 84, in metres.
//! - [`model`]: a [`model::Site`] and the newtypes that validate it (`Iso3`, `SiteId`, slugs,
//!   text limits).
//! - [`index`]: R-trees over features and over line segments, and the [`index::BBox`] type.
//! - [`reference`]: the reference layers' types, terms and files, and the seed file.
//! - [`analysis`]: country, nearest river and border, the river network and downstream crossings,
//!   runout screening: typed results, written out as flat fields only at the edge.
//! - [`risk`]: the risk model (`config/risk-model.toml`), each site's score and factors, and the
//!   basin risk layers (reach loads, border crossings, H3 hexagons, country summaries).
//! - [`filter`]: CQL2 filters (text and JSON, via the `cql2` crate) compiled into typed predicates
//!   over a collection's queryables, with geodesic `S_DWITHIN`.
//! - [`catalog`]: the published collections, serialised and indexed; sorting and time selection.
//! - [`tiles`]: vector tiles (WebMercatorQuad, MVT), the tile cache and the PMTiles archive.
//! - [`store`]: the [`store::SiteStore`] and [`store::TokenStore`] boundaries, [`store::open`] by
//!   location, the change feed, one way of applying a change over each backend's row operations,
//!   and the GeoPackage and PostGIS backends (a conformance suite every backend runs).
//! - [`auth`]: API tokens and the policy: who may change which site.
//! - [`io`]: everything through GDAL: reference layers, points to analyse, result files, site files
//!   in and out.
//! - [`service`]: start-up, the live published state, edits, queries, imports and exports, bulk
//!   analysis: the typed functions the HTTP API and the CLI both call.
//! - [`api`]: actix-web handlers; the one place HTTP statuses are chosen ([`api::error`]); HTML
//!   pages from the askama templates in `templates/`.
//!
//! The core (`schema`, `geodesy`, `model`, `index`, `reference`, `analysis`, `risk`, `filter`, `catalog`,
//! `tiles`, `render`) uses
//! neither actix-web, GDAL nor SQLite. The binary's subcommands live in `src/cli/`.

pub mod analysis;
pub mod api;
pub mod auth;
pub mod catalog;
pub mod filter;
pub mod geodesy;
pub mod index;
pub mod io;
pub mod metrics;
pub mod model;
pub mod reference;
pub mod render;
pub mod risk;
pub mod schema;
pub mod service;
pub mod store;
pub mod tiles;
