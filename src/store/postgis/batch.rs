//! A chunk of puts in a few statements rather than a few per row: an import's chunk of a thousand
//! sites reads what is there in one query, inserts the new sites and every version in multi-row
//! `INSERT`s, and updates only the changed ones row by row. What it writes is what applying the
//! changes one at a time writes ([`PgStore::apply`]); a chunk with anything else (a restore, a
//! delete, a derived id, the same id twice) is applied one at a time.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use postgres::Transaction;
use postgres::types::ToSql;
use serde_json::Value;

use super::PgStore;
use super::rows::{Statements, insert_columns, select_list, site_params};
use crate::model::Site;
use crate::store::{Author, Change, Expect, Op, StoreError, Stored, Written, check_expect};

/// Rows per multi-row statement: well under PostgreSQL's 65,535 parameters for a site's ~30.
const ROWS_PER_STATEMENT: usize = 1000;

/// What one put of the chunk does.
enum Plan<'a> {
    /// The site as it is, with the revision and time of its current version.
    Unchanged(&'a Site, i64, Option<DateTime<Utc>>),
    Insert(&'a Site),
    Update(&'a Site),
}

impl PgStore {
    /// Applies `changes` in order inside `tx`, as [`PgStore::apply`] applied one at a time would.
    pub(super) fn apply_chunk(
        &self,
        tx: &mut Transaction<'_>,
        st: &Statements,
        changes: &[Change],
        at: &str,
        author: &Author,
    ) -> Result<Vec<Written>, StoreError> {
        let puts: Option<Vec<(&Site, Expect)>> = changes
            .iter()
            .map(|c| match c {
                Change::Put { site, expect } => Some((site, *expect)),
                _ => None,
            })
            .collect();
        let distinct = |puts: &[(&Site, Expect)]| {
            let mut seen = HashSet::with_capacity(puts.len());
            puts.iter().all(|(s, _)| seen.insert(s.id.as_str()))
        };
        let Some(puts) = puts.filter(|p| p.len() > 1 && distinct(p)) else {
            return changes
                .iter()
                .map(|c| self.apply(tx, st, c, at, author))
                .collect();
        };
        let ids: Vec<&str> = puts.iter().map(|(s, _)| s.id.as_str()).collect();
        let mut current: HashMap<String, Stored> = HashMap::with_capacity(ids.len());
        let sql = format!("SELECT {} FROM sites s WHERE s.id = ANY($1)", select_list());
        for row in tx.query(&sql, &[&ids]).map_err(|e| self.sql(e))? {
            let stored = self.row_to_site(&row)?;
            current.insert(stored.site.id.as_str().to_owned(), stored);
        }
        // Creates of ids that are gone but have a history are refused, as one at a time.
        let absent: Vec<&str> = puts
            .iter()
            .filter(|(s, e)| *e == Expect::Absent && !current.contains_key(s.id.as_str()))
            .map(|(s, _)| s.id.as_str())
            .collect();
        let with_history: HashSet<String> = if absent.is_empty() {
            HashSet::new()
        } else {
            tx.query(
                "SELECT DISTINCT site_id FROM site_versions WHERE site_id = ANY($1)",
                &[&absent],
            )
            .map_err(|e| self.sql(e))?
            .into_iter()
            .map(|r| r.get(0))
            .collect()
        };

        let mut plans = Vec::with_capacity(puts.len());
        for (site, expect) in &puts {
            let now = current.remove(site.id.as_str());
            check_expect(&site.id, now.as_ref(), *expect)?;
            if *expect == Expect::Absent && with_history.contains(site.id.as_str()) {
                return Err(StoreError::Deleted {
                    id: site.id.to_string(),
                });
            }
            plans.push(match now {
                Some(c) if c.site == **site => Plan::Unchanged(site, c.revision, c.updated),
                Some(_) => Plan::Update(site),
                None => Plan::Insert(site),
            });
        }

        let inserts: Vec<&Site> = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Insert(s) => Some(*s),
                _ => None,
            })
            .collect();
        for part in inserts.chunks(ROWS_PER_STATEMENT) {
            self.insert_sites(tx, part)?;
        }
        for plan in &plans {
            if let Plan::Update(site) = plan {
                let params = site_params(site);
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|b| b.as_ref()).collect();
                tx.execute(&st.update, &refs).map_err(|e| self.sql(e))?;
            }
        }
        let versioned: Vec<(&Site, Op)> = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Insert(s) => Some((*s, Op::Create)),
                Plan::Update(s) => Some((*s, Op::Update)),
                Plan::Unchanged(..) => None,
            })
            .collect();
        let mut revisions: HashMap<String, i64> = HashMap::with_capacity(versioned.len());
        for part in versioned.chunks(ROWS_PER_STATEMENT) {
            revisions.extend(self.insert_versions(tx, part, at, author)?);
        }

        let updated = crate::store::parse_time(at);
        Ok(plans
            .into_iter()
            .map(|plan| match plan {
                Plan::Unchanged(site, revision, updated) => Written {
                    id: site.id.clone(),
                    op: None,
                    revision,
                    updated,
                    site: Some(site.clone()),
                },
                Plan::Insert(site) | Plan::Update(site) => {
                    let op = if matches!(plan, Plan::Insert(_)) {
                        Op::Create
                    } else {
                        Op::Update
                    };
                    Written {
                        id: site.id.clone(),
                        op: Some(op),
                        revision: revisions.get(site.id.as_str()).copied().unwrap_or(0),
                        updated,
                        site: Some(site.clone()),
                    }
                }
            })
            .collect())
    }

    /// One multi-row `INSERT` of `sites`.
    fn insert_sites(&self, tx: &mut Transaction<'_>, sites: &[&Site]) -> Result<(), StoreError> {
        let (names, casts) = insert_columns();
        let per_row = casts.len() + 2;
        let mut values = Vec::with_capacity(sites.len());
        for i in 0..sites.len() {
            let base = i * per_row;
            let mut cols: Vec<String> = casts
                .iter()
                .enumerate()
                .map(|(j, cast)| format!("${}{cast}", base + j + 1))
                .collect();
            cols.push(format!(
                "ST_SetSRID(ST_MakePoint(${}, ${}), 4326)",
                base + casts.len() + 1,
                base + casts.len() + 2
            ));
            values.push(format!("({})", cols.join(", ")));
        }
        let sql = format!(
            "INSERT INTO sites ({}, geom) VALUES {}",
            names.join(", "),
            values.join(", ")
        );
        let params: Vec<Box<dyn ToSql + Sync>> =
            sites.iter().flat_map(|s| site_params(s)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|b| b.as_ref()).collect();
        tx.execute(&sql, &refs).map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// One multi-row `INSERT` of versions; each site's new version number.
    fn insert_versions(
        &self,
        tx: &mut Transaction<'_>,
        rows: &[(&Site, Op)],
        at: &str,
        author: &Author,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        // $1…$3: what every row shares; then the site, its op and its snapshot per row.
        let values: Vec<String> = (0..rows.len())
            .map(|i| {
                let b = 3 + i * 3;
                format!(
                    "(${}, ${}, $1::text::timestamptz, $2, $3, ${}::text::json)",
                    b + 1,
                    b + 2,
                    b + 3
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO site_versions (site_id, op, at, actor, reason, snapshot) VALUES {} \
             RETURNING site_id, version",
            values.join(", ")
        );
        let mut params: Vec<Box<dyn ToSql + Sync>> = vec![
            Box::new(at.to_owned()),
            Box::new(author.actor.clone()),
            Box::new(author.reason.clone()),
        ];
        for (site, op) in rows {
            params.push(Box::new(site.id.as_str().to_owned()));
            params.push(Box::new(op.as_str()));
            params.push(Box::new(Value::Object(site.properties()).to_string()));
        }
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|b| b.as_ref()).collect();
        let out = tx.query(&sql, &refs).map_err(|e| self.sql(e))?;
        Ok(out.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
