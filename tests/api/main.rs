//! Integration tests: the real router in-process, and the real binary over TCP.

mod analysis;
mod binary;
mod common;
mod edit;
mod filter;
mod geojson_rules;
mod maps;
mod ogc;
mod ogc_errors;
mod risk;
mod sortby;
mod tiles;
mod transfer;
mod webmap;
