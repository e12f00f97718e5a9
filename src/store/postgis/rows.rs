//! Single `sites` rows and their versions: the column lists (derived from the schema), reading a row
//! as a site, and the row operations a change is applied with inside a write's transaction
//! ([`PgTx`]).

use std::sync::OnceLock;

use postgres::types::ToSql;
use postgres::{GenericClient, Row, Statement, Transaction};
use serde_json::{Map, Value};

use super::PgStore;
use crate::model::{Site, SiteDraft, SiteId, SiteValue};
use crate::schema::{FieldDef, FieldType, SITE_FIELDS};
use crate::store::apply::WriteTx;
use crate::store::{Author, Change, Op, StoreError, Stored, Written};

/// The schema fields that are columns of their own (all but the coordinates), in schema order.
fn column_fields() -> impl Iterator<Item = &'static FieldDef> {
    SITE_FIELDS
        .iter()
        .filter(|f| super::migrations::column_type(f).is_some())
}

/// A version's time as the stores write it: RFC 3339, UTC, milliseconds.
pub(super) fn time_text(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// What reads of sites select from `sites s`: the columns, the coordinates, then the site's
/// revision and its time (see [`PgStore::row_to_site`]).
pub(super) fn select_list() -> &'static str {
    static LIST: OnceLock<String> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut cols: Vec<String> = column_fields()
            .map(|f| match f.ty {
                FieldType::Object => format!("s.{}::text", f.name),
                _ => format!("s.{}", f.name),
            })
            .collect();
        cols.push("ST_X(s.geom)".into());
        cols.push("ST_Y(s.geom)".into());
        cols.push("(SELECT max(v.version) FROM site_versions v WHERE v.site_id = s.id)".into());
        cols.push(format!(
            "(SELECT {} FROM site_versions v WHERE v.site_id = s.id ORDER BY v.version DESC LIMIT 1)",
            time_text("v.at")
        ));
        cols.join(", ")
    })
}

/// `INSERT` of a site: the columns as `$1…`, then the coordinates.
fn insert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let (names, values) = placeholders();
        let n = names.len();
        format!(
            "INSERT INTO sites ({}, geom) VALUES ({}, ST_SetSRID(ST_MakePoint(${}, ${}), 4326))",
            names.join(", "),
            values.join(", "),
            n + 1,
            n + 2
        )
    })
}

/// `UPDATE` of a site by its id (`$1`: the id is the schema's first field).
fn update_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let (names, values) = placeholders();
        assert_eq!(names[0], "id", "the id is the schema's first field");
        let n = names.len();
        let sets: Vec<String> = names
            .iter()
            .zip(&values)
            .skip(1)
            .map(|(c, v)| format!("{c} = {v}"))
            .collect();
        format!(
            "UPDATE sites SET {}, geom = ST_SetSRID(ST_MakePoint(${}, ${}), 4326) WHERE id = $1",
            sets.join(", "),
            n + 1,
            n + 2
        )
    })
}

/// The columns an insert names (all but `geom`) and the cast each one's parameter takes.
pub(super) fn insert_columns() -> (Vec<&'static str>, Vec<&'static str>) {
    column_fields()
        .map(|f| match f.ty {
            FieldType::Object => (f.name, "::text::json"),
            _ => (f.name, ""),
        })
        .unzip()
}

fn placeholders() -> (Vec<&'static str>, Vec<String>) {
    let (names, casts) = insert_columns();
    let values = casts
        .iter()
        .enumerate()
        .map(|(i, cast)| format!("${}{cast}", i + 1))
        .collect();
    (names, values)
}

/// The parameters of [`insert_sql`] and [`update_sql`] for `site`.
pub(super) fn site_params(site: &Site) -> Vec<Box<dyn ToSql + Sync>> {
    let values = site.values();
    let mut out: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(values.len());
    for (f, v) in SITE_FIELDS.iter().zip(values) {
        if super::migrations::column_type(f).is_none() {
            continue;
        }
        out.push(match (f.ty, v) {
            (FieldType::Number, SiteValue::Number(x)) => Box::new(Some(x)),
            (FieldType::Number, _) => Box::new(None::<f64>),
            (FieldType::TextList, SiteValue::List(items)) => Box::new(items.to_vec()),
            (FieldType::TextList, _) => Box::new(Vec::<String>::new()),
            (FieldType::Object, SiteValue::Object(m)) => {
                Box::new(Value::Object(m.clone()).to_string())
            }
            (FieldType::Object, _) => Box::new("{}".to_owned()),
            (_, SiteValue::Text(t)) => Box::new(Some(t.to_owned())),
            (_, _) => Box::new(None::<String>),
        });
    }
    out.push(Box::new(site.location.lon()));
    out.push(Box::new(site.location.lat()));
    out
}

fn refs(params: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|b| b.as_ref()).collect()
}

/// The statements one write uses, prepared once for it (an import applies them per row).
pub(super) struct Statements {
    get: Statement,
    has_history: Statement,
    id_taken: Statement,
    snapshot: Statement,
    insert: Statement,
    pub(super) update: Statement,
    delete: Statement,
    version: Statement,
}

impl Statements {
    pub(super) fn prepare(store: &PgStore, tx: &mut Transaction<'_>) -> Result<Self, StoreError> {
        let mut p = |sql: &str| tx.prepare(sql).map_err(|e| store.sql(e));
        Ok(Statements {
            get: p(&format!(
                "SELECT {} FROM sites s WHERE s.id = $1",
                select_list()
            ))?,
            has_history: p("SELECT EXISTS (SELECT 1 FROM site_versions WHERE site_id = $1)")?,
            id_taken: p("SELECT EXISTS (SELECT 1 FROM sites WHERE id = $1) \
                 OR EXISTS (SELECT 1 FROM site_versions WHERE site_id = $1)")?,
            snapshot: p(
                "SELECT snapshot::text FROM site_versions WHERE site_id = $1 AND version = $2",
            )?,
            insert: p(insert_sql())?,
            update: p(update_sql())?,
            delete: p("DELETE FROM sites WHERE id = $1")?,
            version: p(
                "INSERT INTO site_versions (site_id, op, at, actor, reason, snapshot) \
                 VALUES ($1, $2, $3::text::timestamptz, $4, $5, $6::text::json) RETURNING version",
            )?,
        })
    }
}

impl PgStore {
    /// A row of [`select_list`] as a site; one that fails the model's validation (written by
    /// another tool past the constraints) is [`StoreError::InvalidRow`].
    pub(super) fn row_to_site(&self, r: &Row) -> Result<Stored, StoreError> {
        let bad = |e: postgres::Error| self.err(format!("unreadable site row: {e}"));
        let mut props = Map::new();
        let mut i = 0;
        for f in column_fields() {
            let value = match f.ty {
                FieldType::Number => r
                    .try_get::<_, Option<f64>>(i)
                    .map_err(bad)?
                    .map_or(Value::Null, Value::from),
                FieldType::TextList => Value::from(
                    r.try_get::<_, Option<Vec<Option<String>>>>(i)
                        .map_err(bad)?
                        .unwrap_or_default()
                        .into_iter()
                        .flatten()
                        .collect::<Vec<String>>(),
                ),
                FieldType::Object => match r.try_get::<_, Option<String>>(i).map_err(bad)? {
                    Some(text) => match serde_json::from_str(&text) {
                        Ok(Value::Object(m)) => Value::Object(m),
                        _ => Value::Object(Map::new()),
                    },
                    None => Value::Object(Map::new()),
                },
                FieldType::Text | FieldType::CountryCode => r
                    .try_get::<_, Option<String>>(i)
                    .map_err(bad)?
                    .map_or(Value::Null, Value::String),
            };
            props.insert(f.name.to_owned(), value);
            i += 1;
        }
        for name in ["lon", "lat"] {
            let v = r.try_get::<_, Option<f64>>(i).map_err(bad)?;
            props.insert(name.to_owned(), v.map_or(Value::Null, Value::from));
            i += 1;
        }
        let revision = r.try_get::<_, Option<i64>>(i).map_err(bad)?.unwrap_or(0);
        let updated = r
            .try_get::<_, Option<String>>(i + 1)
            .map_err(bad)?
            .as_deref()
            .and_then(crate::store::parse_time);
        let id = props
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let draft: SiteDraft = serde_json::from_value(Value::Object(props))
            .map_err(|e| self.err(format!("site {id:?}: unreadable row: {e}")))?;
        let site = Site::try_from(draft).map_err(|source| StoreError::InvalidRow {
            path: self.shown.clone(),
            id,
            source,
        })?;
        Ok(Stored {
            site,
            revision,
            updated,
        })
    }

    pub(super) fn get_with(
        &self,
        client: &mut impl GenericClient,
        st: Option<&Statements>,
        id: &str,
    ) -> Result<Option<Stored>, StoreError> {
        let row = match st {
            Some(st) => client.query_opt(&st.get, &[&id]),
            None => client.query_opt(
                &format!("SELECT {} FROM sites s WHERE s.id = $1", select_list()),
                &[&id],
            ),
        }
        .map_err(|e| self.sql(e))?;
        row.map(|r| self.row_to_site(&r)).transpose()
    }

    /// Applies one change inside the write transaction `tx`, with `st` prepared in it.
    pub(super) fn apply(
        &self,
        tx: &mut Transaction<'_>,
        st: &Statements,
        change: &Change,
        at: &str,
        author: &Author,
    ) -> Result<Written, StoreError> {
        crate::store::apply::apply(
            &mut PgTx {
                store: self,
                tx,
                st,
            },
            change,
            at,
            author,
        )
    }
}

/// A write transaction of the PostGIS store, for [`apply`](crate::store::apply::apply).
struct PgTx<'a, 't> {
    store: &'a PgStore,
    tx: &'a mut Transaction<'t>,
    st: &'a Statements,
}

impl PgTx<'_, '_> {
    fn exists(&mut self, st: &Statement, id: &str) -> Result<bool, StoreError> {
        self.tx
            .query_one(st, &[&id])
            .map(|r| r.get(0))
            .map_err(|e| self.store.sql(e))
    }
}

impl WriteTx for PgTx<'_, '_> {
    fn current(&mut self, id: &str) -> Result<Option<Stored>, StoreError> {
        self.store.get_with(&mut *self.tx, Some(self.st), id)
    }

    fn has_history(&mut self, id: &str) -> Result<bool, StoreError> {
        let st = self.st;
        self.exists(&st.has_history, id)
    }

    fn id_taken(&mut self, id: &str) -> Result<bool, StoreError> {
        let st = self.st;
        self.exists(&st.id_taken, id)
    }

    fn snapshot_text(&mut self, id: &SiteId, version: i64) -> Result<Option<String>, StoreError> {
        self.tx
            .query_opt(&self.st.snapshot, &[&id.as_str(), &version])
            .map(|row| row.map(|r| r.get(0)))
            .map_err(|e| self.store.sql(e))
    }

    fn write_row(&mut self, site: &Site, replace: bool) -> Result<(), StoreError> {
        let params = site_params(site);
        let statement = if replace {
            &self.st.update
        } else {
            &self.st.insert
        };
        self.tx
            .execute(statement, &refs(&params))
            .map(drop)
            .map_err(|e| self.store.sql(e))
    }

    fn delete_row(&mut self, id: &SiteId) -> Result<(), StoreError> {
        self.tx
            .execute(&self.st.delete, &[&id.as_str()])
            .map(drop)
            .map_err(|e| self.store.sql(e))
    }

    fn insert_version(
        &mut self,
        id: &SiteId,
        op: Op,
        at: &str,
        author: &Author,
        snapshot: &Site,
    ) -> Result<i64, StoreError> {
        let snapshot = Value::Object(snapshot.properties()).to_string();
        self.tx
            .query_one(
                &self.st.version,
                &[
                    &id.as_str(),
                    &op.as_str(),
                    &at,
                    &author.actor,
                    &author.reason,
                    &snapshot,
                ],
            )
            .map(|r| r.get(0))
            .map_err(|e| self.store.sql(e))
    }

    fn error(&self, message: String) -> StoreError {
        self.store.err(message)
    }
}
