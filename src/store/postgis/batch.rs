//! A chunk of puts in a few statements rather than a few per row: an import's chunk of a thousand
//! sites reads what is there in one query, inserts the new sites and every version in multi-row
//! `INSERT`s, and updates only the changed ones row by row. What it writes is what applying the
//! changes one at a time writes ([`PgStore::apply`]); a chunk with anything else (a restore, a
//! delete, a derived id, the same id twice) is applied one at a time.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use postgres::Transaction;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::ToSql;
use postgres::types::Type;
use serde_json::Value;

use super::PgStore;
use super::rows::{Statements, insert_columns, select_list, site_params};
use crate::model::Site;
use crate::schema::FieldType;
use crate::store::{Author, Change, Expect, Op, StoreError, Stored, Written, check_expect};

/// The type of each staged column, as [`site_params`] binds it: what the column holds, but text
/// for `json` (cast when inserted).
fn staged_types() -> Vec<Type> {
    crate::schema::SITE_FIELDS
        .iter()
        .filter_map(|f| super::migrations::column_type(f).map(|_| f.ty))
        .map(|ty| match ty {
            FieldType::Number => Type::FLOAT8,
            FieldType::TextList => Type::TEXT_ARRAY,
            _ => Type::TEXT,
        })
        .collect()
}

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
        if !inserts.is_empty() {
            self.insert_sites(tx, &inserts)?;
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

    /// The new `sites` of a chunk: binary `COPY` into a staging table of the transaction's own, then
    /// one `INSERT … SELECT` with the casts and the point (a multi-row `VALUES` with ~30 parameters
    /// a row costs the server far more to parse and plan).
    fn insert_sites(&self, tx: &mut Transaction<'_>, sites: &[&Site]) -> Result<(), StoreError> {
        let (names, casts) = insert_columns();
        let types = staged_types();
        let staged: Vec<String> = names
            .iter()
            .zip(&types)
            .map(|(n, t)| format!("{n} {}", t.name()))
            .collect();
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS atlas_staged_sites ({}, lon float8, lat float8) \
             ON COMMIT DROP; TRUNCATE atlas_staged_sites",
            staged.join(", ")
        ))
        .map_err(|e| self.sql(e))?;
        let sink = tx
            .copy_in("COPY atlas_staged_sites FROM STDIN (FORMAT binary)")
            .map_err(|e| self.sql(e))?;
        let mut all_types = types.clone();
        all_types.extend([Type::FLOAT8, Type::FLOAT8]);
        let mut rows = BinaryCopyInWriter::new(sink, &all_types);
        for site in sites {
            let params = site_params(site);
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|b| b.as_ref()).collect();
            rows.write(&refs).map_err(|e| self.sql(e))?;
        }
        rows.finish().map_err(|e| self.sql(e))?;
        let select: Vec<String> = names
            .iter()
            .zip(&casts)
            .map(|(n, cast)| format!("{n}{cast}"))
            .collect();
        tx.batch_execute(&format!(
            "INSERT INTO sites ({}, geom) SELECT {}, ST_SetSRID(ST_MakePoint(lon, lat), 4326) \
             FROM atlas_staged_sites",
            names.join(", "),
            select.join(", ")
        ))
        .map_err(|e| self.sql(e))?;
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
