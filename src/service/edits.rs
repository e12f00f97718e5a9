//! Changes to the inventory as library functions, free of HTTP: create, replace, patch, delete and
//! restore a site, and read its history. Each takes who asks (a [`Grant`]), the input as sent and
//! the `If-Match` precondition, and does the whole job: parse and validate the input (a [`Site`]),
//! check the rights ([`auth::may_change`]) and the precondition, and write through the store in one
//! transaction. The API layer only reads the request, calls one of them on the blocking pool and
//! turns the result (or [`EditError`]) into a response.
//!
//! The checks run in a fixed order, so that a request with several faults always gets the same
//! answer: the site must exist (404), then the input must be valid (400), then the rights (403),
//! then `If-Match` (428, 412), then the reason (400), then the write (409, 412 on a race).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::auth::{self, Denied, Grant};
use crate::model::{Iso3, Site, SiteDraft, SiteId, Wgs84Point};
use crate::store::{
    Author, Change, Expect, Op, Role, Store, StoreError, TokenRecord, Version, Written,
};

/// Why an edit was refused or failed.
#[derive(Debug, Error)]
pub enum EditError {
    /// The input is not a valid change (the message names the field).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Denied(#[from] Denied),
    /// A change to an existing site needs `If-Match`.
    #[error("{0}")]
    PreconditionRequired(String),
    /// `If-Match` does not name the current version.
    #[error("{0}")]
    PreconditionFailed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(message: impl Into<String>) -> EditError {
    EditError::Invalid(message.into())
}

/// The `If-Match` header as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Missing,
    /// Present but not text (non-ASCII bytes).
    Unreadable,
    /// The header's text: `*` or a list of entity tags.
    Tags(String),
}

impl IfMatch {
    /// From the header's raw value, if there is one.
    pub fn from_header(value: Option<&[u8]>) -> IfMatch {
        match value {
            None => IfMatch::Missing,
            Some(v) if v.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\t') => {
                IfMatch::Tags(String::from_utf8_lossy(v).into_owned())
            }
            Some(_) => IfMatch::Unreadable,
        }
    }

    /// The revision to expect when the site is at `current`: `current` if the header names it (or is
    /// `*`). A weak tag never matches: RFC 9110 compares If-Match strongly.
    pub fn expect(&self, current: i64) -> Result<i64, EditError> {
        let value = match self {
            IfMatch::Missing => {
                return Err(EditError::PreconditionRequired(
                    "If-Match is required to change a site: send the ETag of the version you edited"
                        .into(),
                ));
            }
            IfMatch::Unreadable => {
                return Err(invalid(
                    "If-Match: not a list of ETags (only visible ASCII is allowed); send the ETag as \
                     the site's GET gave it, such as \"28\"",
                ));
            }
            IfMatch::Tags(value) => value,
        };
        if value.trim() == "*" {
            return Ok(current);
        }
        let mut weak = false;
        for tag in value.split(',') {
            let tag = tag.trim();
            if tag.starts_with("W/") {
                weak = true;
                continue;
            }
            if let Ok(r) = tag.trim_matches('"').parse::<i64>()
                && r == current
            {
                return Ok(r);
            }
        }
        if weak {
            return Err(EditError::PreconditionFailed(format!(
                "If-Match: {value}: a weak ETag (W/…) never matches, as If-Match compares strongly \
                 (RFC 9110); send the ETag \"{current}\" of the current version if that is what you edited"
            )));
        }
        Err(EditError::PreconditionFailed(format!(
            "If-Match: {value} is not the current version of this site (ETag \"{current}\"); it was changed \
             by someone else: fetch it again and re-apply your change"
        )))
    }
}

/// The header that carries a change's reason into the history.
pub const REASON_HEADER: &str = "X-Change-Reason";

/// A change's reason as sent (`X-Change-Reason`): UTF-8, so reasons in Russian, Kyrgyz, Kazakh,
/// Tajik or Uzbek are kept; blank means none.
pub fn reason_text(raw: Option<&[u8]>) -> Result<Option<String>, EditError> {
    match raw {
        None => Ok(None),
        Some(v) => Ok(Some(
            std::str::from_utf8(v)
                .map_err(|_| invalid(format!("{REASON_HEADER}: not UTF-8 text")))?
                .trim()
                .to_owned(),
        )
        .filter(|s| !s.is_empty())),
    }
}

/// Who asks for a change, on what condition, and why.
#[derive(Debug, Clone)]
pub struct EditRequest {
    pub grant: Grant,
    pub if_match: IfMatch,
    /// The reason as sent (see [`reason_text`]).
    pub reason: Option<Vec<u8>>,
}

impl EditRequest {
    fn author(&self) -> Result<Author, EditError> {
        Ok(Author {
            actor: self.grant.actor(),
            reason: reason_text(self.reason.as_deref())?,
        })
    }
}

/// Writes changes in one transaction (and publishes them): the running service's write, or a
/// store's own.
pub type WriteFn<'a> = dyn Fn(&[Change], &Author) -> Result<Vec<Written>, StoreError> + 'a;
/// The country a position falls in, if any.
pub type LocateFn<'a> = dyn Fn(&Wgs84Point) -> Option<Iso3> + 'a;

/// What the edits need: the store to read, how to write, and where countries are. The analysis's
/// properties (read-only, ignored in bodies) are the schema's [`crate::schema::ANALYSIS_FIELDS`].
pub struct Edits<'a> {
    pub store: &'a dyn Store,
    pub write: &'a WriteFn<'a>,
    pub locate: &'a LocateFn<'a>,
}

impl Edits<'_> {
    fn write_one(&self, change: Change, author: &Author) -> Result<Written, EditError> {
        let written = (self.write)(&[change], author)?;
        written.into_iter().next().ok_or_else(|| {
            EditError::Store(StoreError::Backend {
                path: String::new(),
                message: "a write answered no change".into(),
            })
        })
    }

    fn authorize(
        &self,
        grant: &Grant,
        old: Option<&Site>,
        new: Option<&Site>,
    ) -> Result<(), EditError> {
        Ok(auth::may_change(grant, old, new, |p| (self.locate)(p))?)
    }

    /// The live site and its revision.
    fn current(&self, id: &str) -> Result<(Site, i64), EditError> {
        let sid = SiteId::parse(id).map_err(|_| EditError::NotFound(format!("no site {id:?}")))?;
        match self.store.get(&sid)? {
            Some(s) => Ok((s.site, s.revision)),
            None => Err(EditError::NotFound(format!(
                "no site {id:?} (a deleted site can be restored from its history)"
            ))),
        }
    }

    /// Creates a site from a GeoJSON Feature. Without an id (neither `id` nor `properties.id`), one
    /// is derived from country and name, and the store picks the first free one of `base`,
    /// `base-2`, … inside its write.
    pub fn create(&self, request: &EditRequest, feature: &[u8]) -> Result<Written, EditError> {
        let (fid, mut props) = feature_properties(feature)?;
        let prop_id = props.get("id").and_then(Value::as_str).map(str::to_owned);
        let (id, derived) = match (fid, prop_id) {
            (Some(a), Some(b)) if a != b => {
                return Err(invalid(format!(
                    "id: the feature id {a:?} and properties.id {b:?} differ"
                )));
            }
            (Some(a), _) | (None, Some(a)) => (a, false),
            (None, None) => (derive_base(&props)?, true),
        };
        props.insert("id".into(), id.into());
        let site = site_from(props)?;
        self.authorize(&request.grant, None, Some(&site))?;
        let change = if derived {
            Change::CreateDerived { site }
        } else {
            Change::Put {
                site,
                expect: Expect::Absent,
            }
        };
        self.write_one(change, &request.author()?)
    }

    /// Replaces site `id` by a GeoJSON Feature (whose id, if it has one, must be `id`).
    pub fn replace(
        &self,
        request: &EditRequest,
        id: &str,
        feature: &[u8],
    ) -> Result<Written, EditError> {
        let (old, revision) = self.current(id)?;
        let (fid, mut props) = feature_properties(feature)?;
        for given in [
            fid,
            props.get("id").and_then(Value::as_str).map(str::to_owned),
        ]
        .into_iter()
        .flatten()
        {
            if given != id {
                return Err(invalid(format!(
                    "id: the body's id {given:?} is not the site {id:?} of the URL; ids cannot change"
                )));
            }
        }
        props.insert("id".into(), id.into());
        let site = site_from(props)?;
        self.replace_checked(request, (old, revision), site)
    }

    /// Applies a JSON merge patch (RFC 7396) of the feature to site `id`: `null` clears an optional
    /// property, objects merge member by member, `geometry` moves the site.
    pub fn patch(
        &self,
        request: &EditRequest,
        id: &str,
        patch: &[u8],
    ) -> Result<Written, EditError> {
        let (old, revision) = self.current(id)?;
        let patch = json_body(patch)?;
        let Value::Object(patch) = patch else {
            return Err(invalid(
                "the body must be a JSON object (a merge patch of the feature)",
            ));
        };
        let mut props = old.properties();
        for (k, v) in &patch {
            match k.as_str() {
                "type" | "links" => {}
                "id" if v.as_str() == Some(id) => {}
                "id" => return Err(invalid("id: ids cannot change")),
                "properties" => {
                    let Value::Object(p) = v else {
                        return Err(invalid("properties: must be an object"));
                    };
                    for (pk, pv) in p {
                        if pk == "id" && pv.as_str() != Some(id) {
                            return Err(invalid("properties.id: ids cannot change"));
                        }
                        match (props.get_mut(pk), pv) {
                            // RFC 7396: objects merge member by member, `null` removes a member.
                            (Some(Value::Object(target)), Value::Object(patch)) => {
                                merge_patch(target, patch)
                            }
                            _ => {
                                props.insert(pk.clone(), pv.clone());
                            }
                        }
                    }
                }
                "geometry" => match point_geometry(Some(v))? {
                    Some((lon, lat)) => {
                        props.insert("lon".into(), lon.into());
                        props.insert("lat".into(), lat.into());
                    }
                    None => return Err(invalid("geometry: a site cannot lose its point")),
                },
                other => {
                    return Err(invalid(format!(
                        "{other}: not a member of a feature patch (use properties, geometry)"
                    )));
                }
            }
        }
        let site = site_from(props)?;
        self.replace_checked(request, (old, revision), site)
    }

    /// Replaces `old` (at `revision`) by `site`: rights first, then `If-Match`, then the write.
    fn replace_checked(
        &self,
        request: &EditRequest,
        (old, revision): (Site, i64),
        site: Site,
    ) -> Result<Written, EditError> {
        self.authorize(&request.grant, Some(&old), Some(&site))?;
        let expected = request.if_match.expect(revision)?;
        let change = Change::Put {
            site,
            expect: Expect::Revision(expected),
        };
        self.write_one(change, &request.author()?)
    }

    /// Deletes site `id`: it leaves the items but stays in its history.
    pub fn delete(&self, request: &EditRequest, id: &str) -> Result<Written, EditError> {
        let (old, revision) = self.current(id)?;
        self.authorize(&request.grant, Some(&old), None)?;
        let expected = request.if_match.expect(revision)?;
        let change = Change::Delete {
            id: old.id.clone(),
            expect: Expect::Revision(expected),
        };
        self.write_one(change, &request.author()?)
    }

    /// Puts back the state site `id` had at `version` (default: the state before the latest delete,
    /// or the previous version) as a new version. The rights are judged on the restored state and on
    /// the one it replaces: the live site, or the one the latest delete removed.
    pub fn restore(
        &self,
        request: &EditRequest,
        id: &str,
        version: Option<i64>,
    ) -> Result<Written, EditError> {
        let sid = SiteId::parse(id).map_err(|_| EditError::NotFound(format!("no site {id:?}")))?;
        let versions = self.store.history(&sid)?;
        if versions.is_empty() {
            return Err(EditError::NotFound(format!(
                "no site {id:?} has ever existed"
            )));
        }
        let live = self.store.get(&sid)?;
        // By default: the newest version that is not the current state (a delete records the state it
        // removed, so after a delete that is the deleted site).
        let chosen = match version {
            Some(v) => versions
                .iter()
                .find(|x| x.version == v)
                .ok_or_else(|| EditError::NotFound(format!("site {id:?} has no version {v}")))?,
            None => match &live {
                None => &versions[0],
                Some(_) => versions.get(1).ok_or_else(|| {
                    invalid("version: the site has only one version; nothing to restore")
                })?,
            },
        };
        let site_of = |v: &Version| {
            site_from(v.properties.clone())
                .map_err(|e| invalid(format!("version {}: {e}", v.version)))
        };
        let target = site_of(chosen)?;
        let replaced = match &live {
            Some(s) => Some(s.site.clone()),
            None => versions
                .iter()
                .find(|v| v.op == Op::Delete)
                .map(site_of)
                .transpose()?,
        };
        let expect = match &live {
            None => Expect::Absent,
            Some(s) => Expect::Revision(request.if_match.expect(s.revision)?),
        };
        self.authorize(&request.grant, replaced.as_ref(), Some(&target))?;
        let change = Change::Restore {
            id: sid,
            version: chosen.version,
            expect,
        };
        self.write_one(change, &request.author()?)
    }

    /// Every version of site `id`, newest first. Token holders are named only when `named` (the
    /// reader is authenticated); otherwise actors are shown as [`public_actor`] does.
    pub fn history(&self, id: &str, named: bool) -> Result<Vec<Version>, EditError> {
        let sid = SiteId::parse(id).map_err(|_| EditError::NotFound(format!("no site {id:?}")))?;
        let mut versions = self.store.history(&sid)?;
        if versions.is_empty() {
            return Err(EditError::NotFound(format!(
                "no site {id:?} has ever existed"
            )));
        }
        if !named {
            let tokens = self.store.tokens()?;
            for v in &mut versions {
                v.actor = public_actor(&v.actor, &tokens);
            }
        }
        Ok(versions)
    }
}

/// A JSON body, refusing a key repeated in any object (`properties.name: duplicate key`) rather than
/// silently keeping the last value.
fn json_body(body: &[u8]) -> Result<Value, EditError> {
    parse_json(body).map_err(|e| {
        if e.is_data() {
            invalid(e.to_string())
        } else {
            invalid(format!("the body is not valid JSON: {e}"))
        }
    })
}

/// The flat site properties of a GeoJSON Feature body, with the position from its Point geometry.
fn feature_properties(body: &[u8]) -> Result<(Option<String>, Map<String, Value>), EditError> {
    let value = json_body(body)?;
    let Value::Object(mut feature) = value else {
        return Err(invalid("the body must be a GeoJSON Feature object"));
    };
    match feature.get("type") {
        Some(Value::String(t)) if t == "Feature" => {}
        other => {
            return Err(invalid(format!(
                "type: expected \"Feature\", got {}",
                other.map_or("nothing".to_owned(), Value::to_string)
            )));
        }
    }
    let id = match feature.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(invalid(format!("id: must be a string, got {other}")));
        }
    };
    let mut props = match feature.remove("properties") {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => Map::new(),
        Some(other) => {
            return Err(invalid(format!(
                "properties: must be an object, got {other}"
            )));
        }
    };
    if let Some((lon, lat)) = point_geometry(feature.get("geometry"))? {
        props.insert("lon".into(), lon.into());
        props.insert("lat".into(), lat.into());
    }
    Ok((id, props))
}

/// A Point geometry's position; `None` if there is no geometry.
fn point_geometry(g: Option<&Value>) -> Result<Option<(f64, f64)>, EditError> {
    let g = match g {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(g)) => g,
        Some(other) => {
            return Err(invalid(format!(
                "geometry: must be a GeoJSON geometry object, got {other}"
            )));
        }
    };
    match g.get("type").and_then(Value::as_str) {
        Some("Point") => {}
        Some(other) => {
            return Err(invalid(format!(
                "geometry: sites are points; expected a Point, got {other}"
            )));
        }
        None => return Err(invalid("geometry.type: missing")),
    }
    let coords = g
        .get("coordinates")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("geometry.coordinates: missing or not an array"))?;
    match coords.as_slice() {
        [_, _, z] if !z.is_number() => Err(invalid(format!(
            "geometry.coordinates: a third value is an elevation and must be a number, got {z}"
        ))),
        [x, y] | [x, y, _] => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => Ok(Some((x, y))),
            _ => Err(invalid(
                "geometry.coordinates: longitude and latitude must be numbers",
            )),
        },
        _ => Err(invalid(format!(
            "geometry.coordinates: a Point has 2 (or 3) numbers, got {}",
            coords.len()
        ))),
    }
}

/// A valid site from flat properties: analysis fields are dropped, unknown ones refused.
pub fn site_from(props: Map<String, Value>) -> Result<Site, EditError> {
    let mut clean = Map::new();
    for (k, v) in props {
        // The site fields a client may send; what the analysis adds is read-only and ignored.
        if Site::FIELDS.contains(&k.as_str()) || k == "lon" || k == "lat" {
            clean.insert(k, v);
        } else if !crate::schema::is_analysis_field(&k) && k != "distance_m" {
            return Err(invalid(format!(
                "properties.{k}: unknown field; a site has: {} (analysis fields are computed and ignored)",
                Site::FIELDS.join(", ")
            )));
        }
    }
    // Lists and the free attributes: null means empty.
    for k in ["substances", "sources"] {
        if clean.get(k).is_some_and(Value::is_null) {
            clean.insert(k.into(), Value::Array(vec![]));
        }
    }
    if clean.get("attributes").is_some_and(Value::is_null) {
        clean.insert("attributes".into(), Value::Object(Map::new()));
    }
    for (k, v) in &clean {
        // What each field holds is the schema's.
        use crate::schema::FieldType;
        let ty = crate::schema::field(k).map_or(FieldType::Text, |f| f.ty);
        let expected = match ty {
            FieldType::Number => (!(v.is_null() || v.is_number())).then_some("a number"),
            FieldType::TextList => (!v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
                .then_some("a list of strings"),
            FieldType::Object => (!v.is_object()).then_some("an object"),
            FieldType::Text | FieldType::CountryCode => {
                (!(v.is_null() || v.is_string())).then_some("a string")
            }
        };
        if let Some(expected) = expected {
            return Err(invalid(format!(
                "properties.{k}: expected {expected}, got {v}"
            )));
        }
    }
    let draft: SiteDraft = serde_json::from_value(Value::Object(clean))
        .map_err(|e| invalid(format!("properties: {e}")))?;
    Site::try_from(draft).map_err(|e| invalid(format!("properties.{e}")))
}

/// `{country}_{name}` as an id (transliterated): the base from which the store picks the first
/// free id (`base`, `base-2`, …) inside its write.
pub fn derive_base(props: &Map<String, Value>) -> Result<String, EditError> {
    let text = |k: &str| props.get(k).and_then(Value::as_str).unwrap_or("").trim();
    let (country, name) = (text("country"), text("name"));
    if country.is_empty() || name.is_empty() {
        return Err(invalid(
            "id: missing, and no country and name to derive one from",
        ));
    }
    crate::model::slug::site_id_base(country, name)
        .map_err(|e| invalid(format!("id: missing, and {e}")))
}

/// Applies a JSON merge patch (RFC 7396) to an object.
fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match (target.get_mut(k), v) {
            (_, Value::Null) => {
                target.remove(k);
            }
            (Some(Value::Object(t)), Value::Object(p)) => merge_patch(t, p),
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// How the history shows `actor` to a reader without a token: a token's holder is not named, only
/// the role and, for an editor, the countries of the token (`editor (KGZ, TJK)`, `admin`); the
/// store's own actors (`seed`, `migration`) stay as they are; a command-line import (`cli:$USER`
/// or `--actor NAME`, which may name a person) shows as `cli`.
pub fn public_actor(actor: &str, tokens: &[TokenRecord]) -> String {
    if let Some(token_id) = token_of(actor) {
        return match tokens.iter().find(|t| t.token_id == token_id) {
            Some(t) if t.role == Role::Editor => {
                let countries: Vec<&str> = t.countries.iter().map(Iso3::as_str).collect();
                format!("editor ({})", countries.join(", "))
            }
            Some(t) => t.role.as_str().to_owned(),
            None => "token".to_owned(),
        };
    }
    match actor {
        "seed" | "migration" => actor.to_owned(),
        _ => "cli".to_owned(),
    }
}

/// The token id of an actor recorded for a token (`Ainura (token 1a2b3c4d5e6f)`).
fn token_of(actor: &str) -> Option<&str> {
    let (_, id) = actor.strip_suffix(')')?.rsplit_once(" (token ")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// JSON text as a value, refusing a key repeated in any object: the error (a data error, see
/// [`serde_json::Error::is_data`]) names it by its path, as in `properties.name: duplicate key`.
pub fn parse_json(text: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = Strict {
        path: String::new(),
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Builds a [`Value`] as serde_json does, but with the path of the value being read (`a.b.` or
/// `a[0].`), to name a repeated key.
struct Strict {
    path: String,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        let base = self.path.strip_suffix('.').unwrap_or(&self.path);
        while let Some(v) = seq.next_element_seed(Strict {
            path: format!("{base}[{}].", out.len()),
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "{}{key}: duplicate key",
                    self.path
                )));
            }
            let path = format!("{}{key}.", self.path);
            let value = map.next_value_seed(Strict { path })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_is_compared_strongly() {
        let tags = |v: &str| IfMatch::from_header(Some(v.as_bytes()));
        assert_eq!(tags("\"28\"").expect(28).unwrap(), 28);
        assert_eq!(tags("*").expect(28).unwrap(), 28);
        assert_eq!(tags("W/\"1\", \"28\"").expect(28).unwrap(), 28);
        assert!(matches!(
            tags("W/\"28\"").expect(28),
            Err(EditError::PreconditionFailed(m)) if m.contains("weak")
        ));
        assert!(matches!(
            tags("\"27\"").expect(28),
            Err(EditError::PreconditionFailed(m)) if m.contains("changed by someone else")
        ));
        assert!(matches!(
            IfMatch::from_header(None).expect(28),
            Err(EditError::PreconditionRequired(_))
        ));
        let unreadable = IfMatch::from_header(Some("\"ä\"".as_bytes()));
        assert_eq!(unreadable, IfMatch::Unreadable);
        assert!(
            matches!(unreadable.expect(28), Err(EditError::Invalid(m)) if m.starts_with("If-Match:"))
        );
    }

    #[test]
    fn reasons_are_utf8_and_blank_is_none() {
        assert_eq!(
            reason_text(Some("уточнение ".as_bytes()))
                .unwrap()
                .as_deref(),
            Some("уточнение")
        );
        assert_eq!(reason_text(Some(b"  ")).unwrap(), None);
        assert!(reason_text(Some(&[0xff, 0xfe])).is_err());
    }

    #[test]
    fn public_actors_name_no_person() {
        let token = |id: &str, role: Role, countries: &[&str]| TokenRecord {
            token_id: id.into(),
            name: "Ainura (MChS)".into(),
            role,
            countries: countries
                .iter()
                .map(|c| Iso3::parse(c, "country").unwrap())
                .collect(),
            hash: String::new(),
            created_at: String::new(),
            revoked_at: None,
        };
        let tokens = [
            token("0a1b", Role::Editor, &["KGZ", "TJK"]),
            token("ffff", Role::Admin, &[]),
        ];
        let shown = |a: &str| public_actor(a, &tokens);
        assert_eq!(shown("Ainura (MChS) (token 0a1b)"), "editor (KGZ, TJK)");
        assert_eq!(shown("Basin secretariat (token ffff)"), "admin");
        assert_eq!(shown("Gone (token 1234)"), "token");
        assert_eq!(shown("seed"), "seed");
        assert_eq!(shown("migration"), "migration");
        assert_eq!(shown("cli:alice"), "cli");
        assert_eq!(shown("Bakyt Asanov"), "cli");
    }

    #[test]
    fn parses_as_serde_json_does_and_names_repeated_keys() {
        let text = r#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "c": {"d": 1e300}}"#;
        assert_eq!(
            parse_json(text.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        let err = |t: &str| parse_json(t.as_bytes()).unwrap_err();
        let e = err(r#"{"properties": {"name": "a", "name": "b"}}"#);
        assert!(e.is_data(), "{e}");
        assert!(
            e.to_string().starts_with("properties.name: duplicate key"),
            "{e}"
        );
        let e = err(r#"{"a": [{"x": 1}, {"y": 1, "y": 2}]}"#);
        assert!(e.to_string().starts_with("a[1].y: duplicate key"), "{e}");
        assert!(err(r#"{"a": 1,}"#).is_syntax());
        assert!(err(r#"{"a": 1} 2"#).is_syntax());
    }
}
