//! tailings-atlas: the inventory of tailings facilities and hazardous sites of the Syr Darya basin,
//! indexed in R-trees and published to GIS clients through OGC API – Features.
//!
//! Where things are:
//! - [`model`]: a [`model::Site`] and the newtypes that validate it.
//! - [`reference`]: the reference layers (countries, borders, rivers, water bodies) and the seed file.
//! - [`index`]: R-trees over features and over line segments, and the [`index::BBox`] type.
//! - [`catalog`]: the published collections, serialised and indexed once at start-up.
//! - [`store`]: the [`store::SiteStore`] and [`store::TokenStore`] boundaries, versions, and their
//!   GeoPackage implementation.
//! - [`auth`]: API tokens and the rights they grant.
//! - [`transfer`]: imports (validate all, then one upsert transaction) and exports.
//! - [`api`]: actix-web handlers for OGC API – Features, errors as OGC exception JSON.
//! - [`app`]: start-up: load, seed, build, serve.
//!
//! `model`, `index` and `catalog` know nothing of HTTP or GDAL.

pub mod analysis;
pub mod api;
pub mod auth;
pub mod catalog;
pub mod geodesy;
pub mod index;
pub mod io;
pub mod model;
pub mod reference;
pub mod schema;
pub mod service;
pub mod store;
