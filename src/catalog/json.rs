//! GeoJSON written straight from a site's typed record: no `serde_json::Map` in between. Scalars go
//! through serde_json's own formatter, so the text is byte for byte what serialising the record's
//! properties as a map gives (a test in [`super::sites`] checks it on the seed and on 10,000 sites).

use serde::Serialize;

use crate::analysis::Field;
use crate::model::SiteValue;
use crate::risk::score::RiskValue;
use crate::schema::{ANALYSIS_FIELDS, RISK_FIELDS, SITE_FIELDS};

use super::sites::SiteRecord;

/// Appends `v` as JSON. Writing to a `Vec` cannot fail, and every value here serialises.
fn put<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    if let Err(e) = serde_json::to_writer(&mut *out, v) {
        // Unreachable for strings, numbers and maps of JSON values; never a broken document.
        tracing::error!(error = %e, "cannot write a JSON value");
        out.extend_from_slice(b"null");
    }
}

pub(super) fn number(out: &mut Vec<u8>, v: f64) {
    // As `Value::from(f64)`: a value that is not finite is `null`.
    if v.is_finite() {
        put(out, &v);
    } else {
        out.extend_from_slice(b"null");
    }
}

pub(super) fn site_value(out: &mut Vec<u8>, v: SiteValue<'_>) {
    match v {
        SiteValue::Null => out.extend_from_slice(b"null"),
        SiteValue::Text(t) => put(out, t),
        SiteValue::Number(n) => number(out, n),
        SiteValue::List(items) => put(out, items),
        SiteValue::Object(m) => put(out, m),
    }
}

pub(super) fn field_value(out: &mut Vec<u8>, v: &Field<'_>) {
    match v {
        Field::Null => out.extend_from_slice(b"null"),
        Field::Text(t) => put(out, t.as_ref()),
        Field::Number(n) => number(out, *n),
    }
}

/// Appends the properties object of a published site: the site's fields, then the analysis fields,
/// then the risk fields, in schema order.
pub fn write_properties(out: &mut Vec<u8>, record: &SiteRecord) {
    let site = &record.site;
    out.push(b'{');
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        put(out, name);
        out.push(b':');
    };
    for (f, v) in SITE_FIELDS.iter().zip(site.values()) {
        key(out, f.name);
        site_value(out, v);
    }
    for (f, v) in ANALYSIS_FIELDS.iter().zip(record.fields().values()) {
        key(out, f.name);
        field_value(out, &v);
    }
    for (f, v) in RISK_FIELDS
        .iter()
        .zip(record.risk.typed_values(site, &record.analysis))
    {
        key(out, f.name);
        match v {
            RiskValue::Number(n) => number(out, n),
            RiskValue::Text(t) => put(out, t),
            RiskValue::Factors(factors) => put(out, &factors),
        }
    }
    out.push(b'}');
}

/// Appends `record` as a GeoJSON Feature, as the items and item pages serve it.
pub fn write_feature(out: &mut Vec<u8>, record: &SiteRecord) {
    let site = &record.site;
    out.extend_from_slice(b"{\"type\":\"Feature\",\"id\":");
    put(out, site.id.as_str());
    out.extend_from_slice(b",\"geometry\":{\"type\":\"Point\",\"coordinates\":[");
    number(out, site.location.lon());
    out.push(b',');
    number(out, site.location.lat());
    out.extend_from_slice(b"]},\"properties\":");
    write_properties(out, record);
    out.push(b'}');
}

/// Appends `extra` properties to a site feature made by [`write_feature`] (which always ends with
/// its non-empty properties object, then the feature's own `}`): the text is what adding them to
/// the parsed feature and serialising it again gives.
pub fn append_properties(feature: &mut String, extra: &[(&str, serde_json::Value)]) {
    if !feature.ends_with("}}") || extra.is_empty() {
        return;
    }
    feature.truncate(feature.len() - 2);
    let mut out = std::mem::take(feature).into_bytes();
    for (k, v) in extra {
        out.push(b',');
        put(&mut out, *k);
        out.push(b':');
        put(&mut out, v);
    }
    out.extend_from_slice(b"}}");
    // Only JSON text was written.
    *feature = String::from_utf8(out).unwrap_or_default();
}
