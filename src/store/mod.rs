//! Durable storage of the inventory of record. [`SiteStore`] is the boundary for sites and their
//! history, [`TokenStore`] for API tokens; [`GpkgStore`] implements both on one GeoPackage file, so
//! the file itself opens in QGIS; [`PgStore`] implements both on a PostGIS database, which several
//! service replicas can share. [`open`] picks the backend from the store's location.
//!
//! Every write is one transaction; every change to a site is kept as a [`Version`] (who, when, what
//! changed, why), so nothing is ever lost: a deleted site stays in its history and can be restored.
//! A store also tells of changes made by any process ([`SiteStore::changes`]).
//!
//! [`conformance`] holds the tests every backend must pass.

mod apply;
mod gpkg;
mod gpkg_blob;
mod postgis;
mod timed;

pub use gpkg::GpkgStore;
pub use postgis::{PgStore, ReadSplit};
pub use timed::Timed;

use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::model::{Iso3, ModelError, Site, SiteId};

/// Why the store failed or refused a write.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store {path}: {message}")]
    Backend { path: String, message: String },
    #[error("store {path}: site {id:?} cannot be read: {source}")]
    InvalidRow {
        path: String,
        id: String,
        source: ModelError,
    },
    #[error("store {path}: duplicate site id {id:?}")]
    DuplicateId { path: String, id: String },
    /// The site changed since the revision the writer last saw.
    #[error("site {id:?} is at revision {actual}, not {expected}: it was changed by someone else")]
    Conflict {
        id: String,
        expected: i64,
        actual: i64,
    },
    #[error("no site {id:?}")]
    NotFound { id: String },
    #[error("site {id:?} already exists")]
    Exists { id: String },
    /// Creating a site under the id of a deleted one would splice two sites into one history.
    #[error("site {id:?} existed and was deleted; restore it, or choose another id")]
    Deleted { id: String },
    #[error("site {id:?} has no version {version}")]
    NoSuchVersion { id: String, version: i64 },
    /// Another process held the store's write lock for too long.
    #[error("store {path} is busy (another process is writing); try again")]
    Busy { path: String },
    /// The database cannot be reached (down, restarting, or cut off by the network): nothing was
    /// written; the same call may succeed once it is back.
    #[error("store {path} is unavailable: {reason}")]
    Unavailable { path: String, reason: String },
    /// The location names a kind of store this build cannot open.
    #[error("store {location}: {reason}")]
    Unsupported { location: String, reason: String },
    /// The source of a streamed write gave up ([`Abandon`]): nothing was written.
    #[error("the write was abandoned by its source; nothing was written")]
    Abandoned,
}

/// Opens the store at `location`: a `postgresql://` or `postgres://` URL (any case) names a
/// PostGIS database ([`PgStore::open`]: migrated, and seeded with what `seed` returns if it holds no
/// inventory yet); anything else is the path of a GeoPackage, created and seeded with what `seed`
/// returns if it does not exist (see [`GpkgStore::open_or_create`]). Messages name the location as
/// [`shown_location`] does, never with its password.
pub fn open<F, E>(location: &str, seed: F) -> Result<Arc<dyn Store>, StoreError>
where
    F: FnOnce() -> Result<Seed, E>,
    E: std::fmt::Display,
{
    let scheme = location
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("postgresql" | "postgres") => Ok(Arc::new(PgStore::open(location, seed)?)),
        Some(other)
            if !other.is_empty()
                && other
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+') =>
        {
            Err(StoreError::Unsupported {
                location: format!("{other}:// URL"),
                reason: "not a kind of store this build knows; use a GeoPackage path or a \
                         postgresql:// URL"
                    .into(),
            })
        }
        _ => Ok(Arc::new(GpkgStore::open_or_create(
            Path::new(location),
            seed,
        )?)),
    }
}

/// [`open`], reading in bulk from the database at `read` ([`ReadSplit`]): `location` and `read`
/// must both be PostgreSQL URLs, `read` typically a hot standby of `location`.
pub fn open_with_read_store<F, E>(
    location: &str,
    read: &str,
    seed: F,
) -> Result<Arc<dyn Store>, StoreError>
where
    F: FnOnce() -> Result<Seed, E>,
    E: std::fmt::Display,
{
    let is_pg = |l: &str| {
        l.split_once("://").is_some_and(|(s, _)| {
            s.eq_ignore_ascii_case("postgresql") || s.eq_ignore_ascii_case("postgres")
        })
    };
    if !is_pg(location) {
        return Err(StoreError::Unsupported {
            location: shown_location(location),
            reason: "a read store needs a postgresql:// store to write to (its primary)".into(),
        });
    }
    if !is_pg(read) {
        return Err(StoreError::Unsupported {
            location: shown_location(read),
            reason: "a read store must be a postgresql:// URL (a standby of the store)".into(),
        });
    }
    let primary = PgStore::open(location, seed)?;
    let read = PgStore::open_read_only(read)?;
    Ok(Arc::new(ReadSplit::new(primary, read)))
}

/// A store location as messages and logs may show it: a URL without the password of its user
/// information (`postgresql://atlas:secret@db/atlas` is shown as `postgresql://atlas@db/atlas`) or
/// of a `password=` parameter; a path as it is.
pub fn shown_location(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| {
                    let key = p.split('=').next().unwrap_or("");
                    !key.eq_ignore_ascii_case("password")
                })
                .collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The time of a write, as every backend records it (RFC 3339, UTC, milliseconds).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Checks what a change expects against the site's current state (inside the write's transaction).
pub(crate) fn check_expect(
    id: &SiteId,
    current: Option<&Stored>,
    expect: Expect,
) -> Result<(), StoreError> {
    match (expect, current) {
        (Expect::Any, _) | (Expect::Absent, None) => Ok(()),
        (Expect::Absent, Some(_)) => Err(StoreError::Exists { id: id.to_string() }),
        (Expect::Revision(_), None) => Err(StoreError::NotFound { id: id.to_string() }),
        (Expect::Revision(r), Some(c)) if c.revision != r => Err(StoreError::Conflict {
            id: id.to_string(),
            expected: r,
            actual: c.revision,
        }),
        (Expect::Revision(_), Some(_)) => Ok(()),
    }
}

/// One stored version as a backend reads it: number, op, time, actor, reason, snapshot (JSON text).
pub(crate) type VersionRow = (i64, String, String, String, Option<String>, String);

/// A site's history, newest first, from its versions oldest first: what changed is not stored but
/// is the difference between consecutive snapshots, which keeps each version small (imports write
/// one per site). `bad_op` makes the error for an unknown operation.
pub(crate) fn history_from(
    id: &SiteId,
    rows: impl IntoIterator<Item = Result<VersionRow, StoreError>>,
    bad_op: impl Fn(String) -> StoreError,
) -> Result<Vec<Version>, StoreError> {
    let object = |text: &str| match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut out = Vec::new();
    let mut previous: Option<Map<String, Value>> = None;
    for row in rows {
        let (version, op, at, actor, reason, snapshot) = row?;
        let op = Op::parse(&op).ok_or_else(|| bad_op(format!("unknown op {op:?}")))?;
        let properties = object(&snapshot);
        let changes = match op {
            Op::Delete => {
                previous = None;
                diff_properties(Some(&properties), None)
            }
            _ => {
                let c = diff_properties(previous.as_ref(), Some(&properties));
                previous = Some(properties.clone());
                c
            }
        };
        out.push(Version {
            version,
            site_id: id.to_string(),
            op,
            at,
            actor,
            reason,
            changes,
            properties,
        });
    }
    out.reverse();
    Ok(out)
}

/// Tells of changes to a store, from whichever process: an iterator that blocks until the store's
/// latest revision (see [`SiteStore::latest_revision`]) has grown past the last one it gave, then
/// yields the new one (or an error, after which it goes on trying). Made by [`SiteStore::changes`].
pub struct ChangeFeed {
    next: Box<dyn FnMut() -> Result<i64, StoreError> + Send>,
}

impl ChangeFeed {
    /// A feed whose `next` blocks until the next change and returns its revision (for a backend
    /// that is told of changes, such as PostgreSQL's `LISTEN`).
    pub fn new(next: impl FnMut() -> Result<i64, StoreError> + Send + 'static) -> Self {
        ChangeFeed {
            next: Box::new(next),
        }
    }

    /// A feed that asks `latest` every `interval` and yields when the answer grows past `seen`.
    pub fn polling(
        interval: Duration,
        mut seen: i64,
        mut latest: impl FnMut() -> Result<i64, StoreError> + Send + 'static,
    ) -> Self {
        ChangeFeed::new(move || {
            loop {
                std::thread::sleep(interval);
                let now = latest()?;
                if now > seen {
                    seen = now;
                    return Ok(now);
                }
            }
        })
    }
}

impl Iterator for ChangeFeed {
    type Item = Result<i64, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some((self.next)())
    }
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed").finish_non_exhaustive()
    }
}

/// The sites a new store starts with, and a fingerprint of where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    pub sites: Vec<Site>,
    /// Identifies the seed file's content (e.g. `sha256:…`), kept so a later start can tell whether the
    /// data directory's seed has changed since.
    pub origin: String,
}

/// A site as stored, with the number of its latest version: it changes with every write to the
/// site, so it serves as the site's ETag.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub site: Site,
    pub revision: i64,
    /// When that version was written; `None` for a site with no version yet.
    pub updated: Option<DateTime<Utc>>,
}

/// A version's time as the stores write it (RFC 3339), read back; `None` if it is not one.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What a version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Update,
    Delete,
    Restore,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Restore => "restore",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "create" => Op::Create,
            "update" => Op::Update,
            "delete" => Op::Delete,
            "restore" => Op::Restore,
            _ => return None,
        })
    }
}

/// One recorded change of one site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    pub version: i64,
    pub site_id: String,
    pub op: Op,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    pub reason: Option<String>,
    /// `{field: {"old": …, "new": …}}` for every field that changed.
    pub changes: Map<String, Value>,
    /// The site's properties after the change (before it, for a delete).
    pub properties: Map<String, Value>,
}

/// Who writes, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Author {
    pub actor: String,
    pub reason: Option<String>,
}

/// What the writer believes about the site's current state; checked inside the transaction, so two
/// editors can never silently overwrite each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Whatever is there (imports: upsert by id).
    Any,
    /// The site must not exist (create).
    Absent,
    /// The site must exist at exactly this revision.
    Revision(i64),
}

/// One change in a write.
// Puts dominate (imports are all puts), so boxing the site would cost an allocation per row for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Create or replace the site. A site equal to the stored one is left alone and gets no version.
    Put {
        site: Site,
        expect: Expect,
    },
    /// Put back the state a site had at `version` (also after a delete).
    Restore {
        id: SiteId,
        version: i64,
        expect: Expect,
    },
    Delete {
        id: SiteId,
        expect: Expect,
    },
    /// Create the site under the first id of `site.id`, `site.id-2`, `site.id-3`, … that no site,
    /// live or deleted, has: chosen inside the write's transaction, so concurrent creates of the same
    /// name each get their own id. [`Written::id`] tells which.
    CreateDerived {
        site: Site,
    },
}

/// The outcome of one change.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub id: SiteId,
    /// `None` when the change changed nothing.
    pub op: Option<Op>,
    /// The site's revision after the write (that of the delete, for a delete).
    pub revision: i64,
    /// When that revision was written.
    pub updated: Option<DateTime<Utc>>,
    /// The site after the write; `None` once deleted.
    pub site: Option<Site>,
}

/// What the source of a streamed write returns to give it up: [`SiteStore::write_stream`] then
/// rolls back and fails with [`StoreError::Abandoned`] (the source keeps its own reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abandon;

/// The source of a streamed write ([`SiteStore::write_stream`]): each call gives the next chunk of
/// changes, `Ok(None)` at the end, or `Err(Abandon)` to roll everything back.
pub type NextChunk<'a> = dyn FnMut() -> Result<Option<Vec<Change>>, Abandon> + 'a;

/// What a streamed write did, counted (nothing per change is kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Streamed {
    /// Changes applied.
    pub changes: usize,
    pub created: usize,
    pub updated: usize,
    pub restored: usize,
    pub deleted: usize,
    /// Changes that changed nothing (a site equal to the stored one).
    pub unchanged: usize,
    /// The lowest and highest version the write made (`None` if it changed nothing): every
    /// version it made lies between them (a backend whose writers interleave their versions may
    /// have others' there too).
    pub revisions: Option<(i64, i64)>,
}

impl Streamed {
    /// Counts one change's outcome.
    pub fn count(&mut self, w: &Written) {
        self.changes += 1;
        match w.op {
            None => self.unchanged += 1,
            Some(op) => {
                match op {
                    Op::Create => self.created += 1,
                    Op::Update => self.updated += 1,
                    Op::Restore => self.restored += 1,
                    Op::Delete => self.deleted += 1,
                }
                self.revisions = Some(match self.revisions {
                    None => (w.revision, w.revision),
                    Some((lo, hi)) => (lo.min(w.revision), hi.max(w.revision)),
                });
            }
        }
    }
}

/// Where sites and their history are kept.
pub trait SiteStore: Send + Sync {
    /// Every current site, ordered by id.
    fn load_sites(&self) -> Result<Vec<Stored>, StoreError>;

    /// Every current site, ordered by id, handed to `f` at most `chunk` (at least one) at a time;
    /// an error of `f` stops the reading and is returned. The sites are one consistent state of
    /// the store where the backend can (the GeoPackage reads them in one read transaction). `f`
    /// may use the store. The default loads them all first: a backend overrides it to keep only a
    /// chunk in memory.
    fn for_each_site_chunk(
        &self,
        chunk: usize,
        f: &mut dyn FnMut(Vec<Stored>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut sites = self.load_sites()?.into_iter().peekable();
        while sites.peek().is_some() {
            f(sites.by_ref().take(chunk.max(1)).collect())?;
        }
        Ok(())
    }

    /// The current state of one site.
    fn get(&self, id: &SiteId) -> Result<Option<Stored>, StoreError>;

    /// Applies `changes` in one transaction: all of them or, on any error, none. `progress` is told of
    /// each change applied.
    fn write(
        &self,
        changes: &[Change],
        author: &Author,
        progress: &(dyn Fn() + Sync),
    ) -> Result<Vec<Written>, StoreError>;

    /// Applies the changes `next_chunk` gives, chunk after chunk, in one transaction: all of them
    /// or, on any error (of a change, of the store, or an [`Abandon`] from `next_chunk`), none.
    /// `progress` is told of each change applied, `on_written` gets each chunk's outcomes once it
    /// is applied (before the commit: a caller publishes them only once this returns `Ok`). Nothing
    /// per change is kept: memory is that of a chunk, whatever the number of chunks.
    fn write_stream(
        &self,
        next_chunk: &mut NextChunk<'_>,
        author: &Author,
        progress: &(dyn Fn() + Sync),
        on_written: &mut dyn FnMut(&[Written]),
    ) -> Result<Streamed, StoreError>;

    /// Every version of one site, newest first (empty if the site never existed).
    fn history(&self, id: &SiteId) -> Result<Vec<Version>, StoreError>;

    /// The number of the newest version of any site (0 for none): it grows with every write, from
    /// whichever process.
    fn latest_revision(&self) -> Result<i64, StoreError>;

    /// The sites changed by versions newer than `revision`, each with its newest version number.
    fn changed_since(&self, revision: i64) -> Result<Vec<(SiteId, i64)>, StoreError>;

    /// The [`Seed::origin`] the store was created from, if it recorded one.
    fn seed_origin(&self) -> Result<Option<String>, StoreError>;

    /// A feed of the changes after revision `since` (say, the one the caller last read, so that
    /// nothing written in between is missed), by this process or another; `interval` is how often a
    /// backend that must poll looks (the GeoPackage does, on a connection of its own).
    fn changes(&self, since: i64, interval: Duration) -> Result<ChangeFeed, StoreError>;

    /// How far the store's reads are behind its writes, for a store that reads from a replica
    /// ([`ReadSplit`]); `None` for one that reads where it writes.
    fn read_lag(&self) -> Option<Result<ReadLag, StoreError>> {
        None
    }
}

/// How far a read store is behind its primary, as [`SiteStore::read_lag`] measures it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadLag {
    /// The read store's location (as [`shown_location`] shows it).
    pub location: String,
    /// Whether it is a standby in recovery.
    pub standby: bool,
    /// WAL the read store has still to replay.
    #[serde(rename = "lag_bytes")]
    pub bytes: i64,
    /// Seconds since the last transaction it replayed, while it has WAL to replay; else 0.
    #[serde(rename = "lag_s")]
    pub seconds: f64,
    /// Revisions the primary has that the read store has not.
    #[serde(rename = "revisions_behind")]
    pub revisions: i64,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read when reads are not public.
    Reader,
    /// Create, change and delete sites in the granted countries.
    Editor,
    /// Everything, including imports.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "reader" => Ok(Role::Reader),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: expected reader, editor or admin"
            )),
        }
    }
}

/// A stored API token: its public id and a hash of its secret, never the secret itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRecord {
    pub token_id: String,
    pub name: String,
    pub role: Role,
    /// The countries an editor may change sites in.
    pub countries: Vec<Iso3>,
    /// PHC string (argon2id).
    #[serde(skip)]
    pub hash: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Where API tokens are kept.
pub trait TokenStore: Send + Sync {
    fn add_token(&self, token: &TokenRecord) -> Result<(), StoreError>;
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Marks a token revoked; false if there is no such (unrevoked) token.
    fn revoke_token(&self, token_id: &str) -> Result<bool, StoreError>;
}

/// Both halves of the store, as the service needs them.
pub trait Store: SiteStore + TokenStore {}

impl<T: SiteStore + TokenStore> Store for T {}

/// `{field: {"old": …, "new": …}}` between two states of a site's flat properties (either may
/// be absent).
pub fn diff_properties(
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let empty = Map::new();
    let a = old.unwrap_or(&empty);
    let b = new.unwrap_or(&empty);
    let mut out = Map::new();
    for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        let x = a.get(key).unwrap_or(&Value::Null);
        let y = b.get(key).unwrap_or(&Value::Null);
        let is_empty = |v: &Value| match v {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if x != y && !(is_empty(x) && is_empty(y)) {
            let mut change = Map::new();
            change.insert("old".into(), x.clone());
            change.insert("new".into(), y.clone());
            out.insert(key.clone(), Value::Object(change));
        }
    }
    out
}

// Last in the file: code after the first `#[cfg(test)]` counts as tests (tests/architecture.rs).
#[cfg(test)]
pub mod conformance;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_picks_the_backend_from_the_location() {
        let dir = std::env::temp_dir().join(format!("atlas-store-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("atlas.gpkg");
        let seed = || {
            Ok::<_, String>(Seed {
                sites: vec![conformance::site("a", 71.0)],
                origin: "test".into(),
            })
        };
        let store = open(path.to_str().unwrap(), seed).unwrap();
        assert_eq!(store.load_sites().unwrap().len(), 1);
        assert_eq!(store.seed_origin().unwrap().as_deref(), Some("test"));
        drop(store);
        // A PostGIS URL (any case of the scheme) is tried as one: here, a socket directory that
        // does not exist, so the error is the connection's, and never shows the password.
        let nowhere = dir.join("no-socket-here");
        for scheme in ["postgresql", "postgres", "PostgreSQL"] {
            let url = format!("{scheme}://atlas:s3cret@/atlas?host={}", nowhere.display());
            let e = open(&url, || Err::<Seed, _>("must not seed"))
                .err()
                .unwrap();
            let text = e.to_string();
            assert!(matches!(e, StoreError::Unavailable { .. }), "{text}");
            assert!(text.contains("cannot connect"), "{text}");
            assert!(text.contains(&format!("{scheme}://atlas@/atlas")), "{text}");
            assert!(!text.contains("s3cret"), "{text}");
        }
        let e = open("ftp://host/atlas.gpkg", || Err::<Seed, _>("must not seed"))
            .err()
            .unwrap();
        assert!(matches!(e, StoreError::Unsupported { .. }), "{e}");
        assert!(!dir.join("ftp:").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shown_locations_never_carry_a_password() {
        for (location, shown) in [
            (
                "postgresql://atlas:s3cret@db.example.org:5433/atlas",
                "postgresql://atlas@db.example.org:5433/atlas",
            ),
            (
                "postgres://atlas:p%40ss@db/atlas?sslmode=disable&password=again",
                "postgres://atlas@db/atlas?sslmode=disable",
            ),
            (
                "postgresql://atlas@/atlas?PASSWORD=x&host=/run/pg",
                "postgresql://atlas@/atlas?host=/run/pg",
            ),
            ("postgresql://a:b:c@h", "postgresql://a@h"),
            ("postgresql://db/atlas?password=x", "postgresql://db/atlas"),
            ("postgresql://db/atlas", "postgresql://db/atlas"),
            ("data/atlas.gpkg", "data/atlas.gpkg"),
            ("/srv/a:b@c.gpkg", "/srv/a:b@c.gpkg"),
        ] {
            assert_eq!(shown_location(location), shown, "{location}");
        }
    }
}
