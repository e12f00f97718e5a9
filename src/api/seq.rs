//! `/collections/{id}/items?f=geojsonseq`: a page of features as GeoJSON Text Sequences (RFC 8142,
//! `application/geo+json-seq`): each feature preceded by the record separator 0x1E and followed by
//! a line feed, and nothing else (no collection, links or counts).
//!
//! The page is selected as the JSON page is (`bbox`, `bbox-crs`, `datetime`, filters, `sortby`,
//! `offset`, `limit`), then streamed, never built whole: the first batch of features is written with
//! the selection, under the same look at the published state (so an error in it, such as a feature
//! the requested `crs` cannot express, is still a 400), and the rest batch by batch, each under a
//! short read of the published state that is let go before the batch is sent, so a slow client holds
//! up no publish. Features are found again by id: one deleted meanwhile is left out, one changed
//! meanwhile is sent as it now is. An error after the status is sent cuts the body short, so the
//! client sees a broken sequence rather than a complete-looking one.

use actix_web::{HttpResponse, web};

use super::AppState;
use super::crs::Crs;
use super::error::ApiError;
use super::items::{reprojection, write_options};
use super::respond::{self, GEOJSON_SEQ};
use crate::catalog::write::{PropertySelection, WriteError, WriteOptions};
use crate::catalog::{Collection, FeatureRef};

/// Features per batch.
const BATCH: usize = 256;

/// The record separator that opens each record.
const RS: u8 = 0x1E;

/// Where the features after the first batch come from.
pub enum Source {
    /// The published collection `cid`: the page's features by id.
    Published { cid: String, ids: Vec<String> },
    /// A collection made for this request (`risk-hexagons` at another resolution) and the page's
    /// positions in it.
    Owned {
        collection: Box<Collection>,
        rows: Vec<usize>,
    },
}

/// A sequence to stream: its first batch, written, and how to write the rest.
pub struct Plan {
    pub source: Source,
    pub first: Vec<u8>,
    pub crs: Crs,
    pub selection: Option<PropertySelection>,
    pub skip_geometry: bool,
}

/// Appends one record: RS, the feature, LF.
fn record(
    out: &mut Vec<u8>,
    f: FeatureRef<'_>,
    options: &WriteOptions<'_>,
) -> Result<(), WriteError> {
    out.push(RS);
    f.write_json_with(out, options)?;
    out.push(b'\n');
    Ok(())
}

/// The records of the first batch of `rows`.
pub fn first_batch(
    c: &Collection,
    rows: &[usize],
    options: &WriteOptions<'_>,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(BATCH * 2048);
    for f in rows.iter().take(BATCH).filter_map(|&i| c.get(i)) {
        record(&mut out, f, options)?;
    }
    Ok(out)
}

/// Writes the batches after the first, handing each to `send` (which fails once the client is
/// gone).
fn rest(
    state: &AppState,
    plan: &Plan,
    send: &mut dyn FnMut(Vec<u8>) -> Result<(), ()>,
) -> Result<(), WriteError> {
    let reproject = reprojection(plan.crs);
    let options = write_options(
        plan.crs,
        &reproject,
        plan.selection.as_ref(),
        plan.skip_geometry,
    );
    match &plan.source {
        Source::Published { cid, ids } => {
            for chunk in ids.get(BATCH..).unwrap_or_default().chunks(BATCH) {
                let mut out = Vec::with_capacity(chunk.len() * 2048);
                {
                    let live = state.service.live();
                    let Some(c) = live.catalog.collection(cid) else {
                        return Ok(());
                    };
                    for f in chunk.iter().filter_map(|id| c.feature(id)) {
                        record(&mut out, f, &options)?;
                    }
                }
                if send(out).is_err() {
                    return Ok(());
                }
            }
        }
        Source::Owned { collection, rows } => {
            for chunk in rows.get(BATCH..).unwrap_or_default().chunks(BATCH) {
                let mut out = Vec::with_capacity(chunk.len() * 2048);
                for f in chunk.iter().filter_map(|&i| collection.get(i)) {
                    record(&mut out, f, &options)?;
                }
                if send(out).is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// The streamed response.
pub fn stream(state: web::Data<AppState>, mut plan: Plan) -> HttpResponse {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(4);
    let crs = plan.crs;
    actix_web::rt::task::spawn_blocking(move || {
        let mut send = |bytes: Vec<u8>| {
            if bytes.is_empty() {
                return Ok(());
            }
            tx.blocking_send(Ok(web::Bytes::from(bytes)))
                .map_err(|_| ())
        };
        if send(std::mem::take(&mut plan.first)).is_err() {
            return;
        }
        if let Err(e) = rest(&state, &plan, &mut send) {
            tracing::error!(error = %e, "a GeoJSON Text Sequence failed while streaming");
            let _ = tx.blocking_send(Err(std::io::Error::other("the sequence failed")));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let res = HttpResponse::Ok()
        .content_type(GEOJSON_SEQ)
        .insert_header((actix_web::http::header::VARY, "Accept"))
        .streaming(body);
    respond::content_crs(res, crs.uri())
}
