//! Integration tests: the real router in-process, and the real binary over TCP.

mod analysis;
mod binary;
mod common;
mod crs;
mod edit;
mod filter;
mod fuzz;
mod geojson_rules;
mod geojsonseq;
mod maps;
mod ogc;
mod ogc_errors;
mod ops;
mod pg;
mod properties;
mod replicas;
mod risk;
mod schema_docs;
mod sortby;
mod tiles;
mod transfer;
mod webmap;
