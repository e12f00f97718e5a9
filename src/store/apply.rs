//! One change applied inside a backend's write transaction: the rules every backend shares (what a
//! change expects, a deleted id is not re-created, an unchanged put writes no version, a derived id
//! is the first free one) written once, over the few row operations a backend provides.

use crate::model::{Site, SiteDraft, SiteId};
use crate::store::{Author, Change, Expect, Op, StoreError, Stored, Written, check_expect};

/// The row operations of one open write transaction of a backend.
pub(crate) trait WriteTx {
    /// The site `id` as it is now, if it is live.
    fn current(&mut self, id: &str) -> Result<Option<Stored>, StoreError>;
    /// Whether `id` has any recorded version (it exists, or did and was deleted).
    fn has_history(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Whether a site, live or deleted, has the id `id`.
    fn id_taken(&mut self, id: &str) -> Result<bool, StoreError>;
    /// The JSON text that `version` of `id` recorded, if there is such a version.
    fn snapshot_text(&mut self, id: &SiteId, version: i64) -> Result<Option<String>, StoreError>;
    /// Writes the site's row: an `UPDATE` of the live one when `replace`, else an `INSERT`.
    fn write_row(&mut self, site: &Site, replace: bool) -> Result<(), StoreError>;
    /// Removes the live row of `id`.
    fn delete_row(&mut self, id: &SiteId) -> Result<(), StoreError>;
    /// Records a version of `id` holding `snapshot`; its number.
    fn insert_version(
        &mut self,
        id: &SiteId,
        op: Op,
        at: &str,
        author: &Author,
        snapshot: &Site,
    ) -> Result<i64, StoreError>;
    /// An error of this backend (it names the store as the backend shows it).
    fn error(&self, message: String) -> StoreError;
}

/// Applies one change in `tx` at time `at`.
pub(crate) fn apply(
    tx: &mut impl WriteTx,
    change: &Change,
    at: &str,
    author: &Author,
) -> Result<Written, StoreError> {
    match change {
        Change::Put { site, expect } => {
            let current = tx.current(site.id.as_str())?;
            check_expect(&site.id, current.as_ref(), *expect)?;
            if *expect == Expect::Absent && tx.has_history(site.id.as_str())? {
                return Err(StoreError::Deleted {
                    id: site.id.to_string(),
                });
            }
            let op = if current.is_some() {
                Op::Update
            } else {
                Op::Create
            };
            let rev = put(tx, site, current.as_ref(), op, at, author)?;
            Ok(kept(site.id.clone(), site.clone(), op, rev, at, current))
        }
        Change::Restore {
            id,
            version,
            expect,
        } => {
            let current = tx.current(id.as_str())?;
            check_expect(id, current.as_ref(), *expect)?;
            let site = snapshot(tx, id, *version)?;
            let rev = put(tx, &site, current.as_ref(), Op::Restore, at, author)?;
            Ok(kept(id.clone(), site, Op::Restore, rev, at, current))
        }
        Change::CreateDerived { site } => {
            // Inside the write transaction: no other writer can take the id between the look and
            // the insert.
            let base = site.id.as_str();
            let mut n = 1;
            let id = loop {
                let candidate = match n {
                    1 => base.to_owned(),
                    n => format!("{base}-{n}"),
                };
                if !tx.id_taken(&candidate)? {
                    break SiteId::parse(&candidate).map_err(|_| StoreError::Exists {
                        id: base.to_owned(),
                    })?;
                }
                n += 1;
            };
            let site = Site { id, ..site.clone() };
            let rev = put(tx, &site, None, Op::Create, at, author)?;
            Ok(kept(site.id.clone(), site, Op::Create, rev, at, None))
        }
        Change::Delete { id, expect } => {
            let Some(current) = tx.current(id.as_str())? else {
                return Err(StoreError::NotFound { id: id.to_string() });
            };
            check_expect(id, Some(&current), *expect)?;
            tx.delete_row(id)?;
            let rev = tx.insert_version(id, Op::Delete, at, author, &current.site)?;
            Ok(Written {
                id: id.clone(),
                op: Some(Op::Delete),
                updated: crate::store::parse_time(at),
                revision: rev,
                site: None,
            })
        }
    }
}

/// Writes `site` (replacing `current`, if any) and its version; `None` if nothing changed.
fn put(
    tx: &mut impl WriteTx,
    site: &Site,
    current: Option<&Stored>,
    op: Op,
    at: &str,
    author: &Author,
) -> Result<Option<i64>, StoreError> {
    if current.is_some_and(|c| c.site == *site) {
        return Ok(None);
    }
    tx.write_row(site, current.is_some())?;
    tx.insert_version(&site.id, op, at, author, site).map(Some)
}

/// The outcome of a put or restore that leaves `site` live: `rev` is its new version, or `None`
/// when nothing changed and the current one stands.
fn kept(
    id: SiteId,
    site: Site,
    op: Op,
    rev: Option<i64>,
    at: &str,
    current: Option<Stored>,
) -> Written {
    let updated = match rev {
        Some(_) => crate::store::parse_time(at),
        None => current.as_ref().and_then(|c| c.updated),
    };
    Written {
        id,
        op: rev.map(|_| op),
        updated,
        revision: rev.or(current.map(|c| c.revision)).unwrap_or(0),
        site: Some(site),
    }
}

/// The site recorded by `version` of `id`.
fn snapshot(tx: &mut impl WriteTx, id: &SiteId, version: i64) -> Result<Site, StoreError> {
    let text = tx
        .snapshot_text(id, version)?
        .ok_or_else(|| StoreError::NoSuchVersion {
            id: id.to_string(),
            version,
        })?;
    let draft: SiteDraft = serde_json::from_str(&text)
        .map_err(|e| tx.error(format!("version {version} of {id}: unreadable: {e}")))?;
    Site::try_from(draft).map_err(|e| tx.error(format!("version {version} of {id}: {e}")))
}
