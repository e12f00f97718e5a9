//! The database's schema, as numbered migrations recorded in `atlas_schema_migrations`, applied at
//! open under a session advisory lock ([`super::MIGRATION_LOCK`]), so replicas starting together
//! apply each exactly once. A database whose schema is newer than this build knows is refused.
//!
//! Migration 1 needs `CREATE EXTENSION IF NOT EXISTS postgis`: the role must be allowed to create it
//! (a superuser, or the database owner where PostGIS is a trusted extension), or it must exist.
//!
//! The `sites` columns and their CHECK constraints are derived from [`crate::schema::SITE_FIELDS`]
//! and the model's vocabularies, so they cannot drift from the model's validation: a row another
//! tool writes is held to the same rules as one the service writes. (A later change of a limit
//! needs a new migration that replaces the constraint; migration 1 is only ever applied once.)

use postgres::Client;
use thiserror::Error;

use super::MIGRATION_LOCK;
use crate::model::{CoordinatePrecision, SiteKind, SiteStatus};
use crate::schema::{FieldDef, FieldType, SITE_FIELDS};

#[derive(Debug, Error)]
pub enum MigrationError {
    #[error(
        "the database's schema is at version {found}, newer than this build knows ({known}); \
         use a newer tailings-atlas"
    )]
    Newer { found: i32, known: i32 },
    #[error(
        "the read store's schema is at version {found}, this build needs {known}: start the \
         service on the primary first (it migrates the schema, and replication brings it here)"
    )]
    NotMigrated { found: i32, known: i32 },
    #[error("another process held the migration lock for too long; try again")]
    Busy,
    #[error("migration {version} failed: {message}")]
    Failed { version: i32, message: String },
    #[error("cannot read the schema version: {0}")]
    Read(String),
}

/// The SQL of each migration, in order: migration `n` is `migrations()[n - 1]`.
pub fn migrations() -> Vec<String> {
    vec![initial()]
}

/// The longest site id ([`crate::model::SiteId::parse`]).
const ID_MAX_CHARS: usize = 128;

/// The values of a closed vocabulary field, if it is one.
pub fn vocabulary(field: &str) -> Option<Vec<&'static str>> {
    Some(match field {
        "kind" => SiteKind::ALL.iter().map(|v| v.as_str()).collect(),
        "status" => SiteStatus::ALL.iter().map(|v| v.as_str()).collect(),
        "precision" => CoordinatePrecision::ALL
            .iter()
            .map(|v| v.as_str())
            .collect(),
        _ => return None,
    })
}

/// The `sites` column of a schema field (`None` for the coordinates, which are the geometry).
pub fn column_type(f: &FieldDef) -> Option<&'static str> {
    if matches!(f.name, "lon" | "lat") {
        return None;
    }
    Some(match f.ty {
        FieldType::Text | FieldType::CountryCode => "text",
        FieldType::Number => "double precision",
        FieldType::TextList => "text[]",
        // `json`, not `jsonb`: it keeps the keys' order, which round trips must preserve.
        FieldType::Object => "json",
    })
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The CHECK conditions on field `f`'s column, mirroring what [`crate::model::Site::try_from`]
/// accepts for it.
pub fn checks(f: &FieldDef) -> Vec<String> {
    let c = f.name;
    let mut out = Vec::new();
    match f.name {
        "id" => out.push(format!("{c} ~ '^[a-z0-9_-]{{1,{ID_MAX_CHARS}}}$'")),
        "lon" => out.push("ST_X(geom) BETWEEN -180 AND 180".into()),
        "lat" => out.push("ST_Y(geom) BETWEEN -90 AND 90".into()),
        _ => {}
    }
    if let Some(values) = vocabulary(c) {
        let list: Vec<String> = values.iter().map(|v| quote(v)).collect();
        out.push(format!("{c} IN ({})", list.join(", ")));
    }
    match f.ty {
        FieldType::Text => {
            if f.required && c != "id" && vocabulary(c).is_none() {
                out.push(format!("btrim({c}) <> ''"));
            }
            if let Some(max) = f.max_bytes {
                out.push(format!("octet_length({c}) <= {max}"));
            }
        }
        FieldType::CountryCode => out.push(format!("{c} ~ '^[A-Z]{{3}}$'")),
        FieldType::Number if column_type(f).is_some() => {
            // NaN compares greater than every number in PostgreSQL, so `< 'Infinity'` refuses it.
            out.push(format!("{c} >= 0 AND {c} < 'Infinity'::float8"));
        }
        FieldType::Number => {}
        FieldType::TextList => {
            out.push(format!("array_position({c}, NULL) IS NULL"));
            if f.required {
                out.push(format!("cardinality({c}) >= 1"));
            }
            if let Some(max) = f.max_item_bytes {
                out.push(format!("atlas_longest_item_bytes({c}) <= {max}"));
            }
            if let Some(max) = f.max_bytes {
                // The whole list as compact JSON text, as the model measures it.
                out.push(format!("octet_length(array_to_json({c})::text) <= {max}"));
            }
        }
        FieldType::Object => {
            out.push(format!("json_typeof({c}) = 'object'"));
            if let Some(max) = f.max_bytes {
                out.push(format!("octet_length({c}::text) <= {max}"));
            }
        }
    }
    out
}

/// The `sites` table, its indexes, the history, tokens and meta tables.
fn initial() -> String {
    let mut columns = vec!["fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY".to_owned()];
    for f in &SITE_FIELDS {
        let Some(ty) = column_type(f) else { continue };
        let mut col = format!("{} {ty}", f.name);
        match f.ty {
            FieldType::TextList if f.required => col.push_str(" NOT NULL"),
            FieldType::TextList => col.push_str(" NOT NULL DEFAULT '{}'"),
            FieldType::Object => col.push_str(" NOT NULL DEFAULT '{}'"),
            _ if f.required => col.push_str(" NOT NULL"),
            _ => {}
        }
        if f.name == "id" {
            col.push_str(" UNIQUE");
        }
        columns.push(col);
    }
    columns.push("geom geometry(Point, 4326) NOT NULL CHECK (NOT ST_IsEmpty(geom))".into());
    for f in &SITE_FIELDS {
        let conditions = checks(f);
        if !conditions.is_empty() {
            columns.push(format!(
                "CONSTRAINT sites_{}_valid CHECK ({})",
                f.name,
                conditions.join(" AND ")
            ));
        }
    }
    format!(
        "CREATE EXTENSION IF NOT EXISTS postgis;
CREATE FUNCTION atlas_longest_item_bytes(items text[]) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT coalesce(max(octet_length(i)), 0) FROM unnest(items) AS i $$;
CREATE TABLE sites (
    {}
);
CREATE INDEX sites_geom ON sites USING gist (geom);
COMMENT ON TABLE sites IS 'Tailings facilities and hazardous sites (tailings-atlas inventory of record)';
CREATE TABLE site_versions (
    version bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id text NOT NULL,
    op text NOT NULL CHECK (op IN ('create', 'update', 'delete', 'restore')),
    at timestamptz NOT NULL,
    actor text NOT NULL,
    reason text,
    snapshot json NOT NULL CHECK (json_typeof(snapshot) = 'object')
);
CREATE INDEX site_versions_site ON site_versions (site_id, version);
COMMENT ON TABLE site_versions IS 'Every change to the sites: version, site, operation, time, actor, reason, the site after it';
CREATE TABLE atlas_tokens (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_id text NOT NULL UNIQUE,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('reader', 'editor', 'admin')),
    countries text[] NOT NULL DEFAULT '{{}}',
    hash text NOT NULL,
    created_at text NOT NULL,
    revoked_at text
);
COMMENT ON TABLE atlas_tokens IS 'API tokens (argon2 hashes only)';
CREATE TABLE atlas_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
",
        columns.join(",\n    ")
    )
}

/// Brings the database's schema up to date, under the migration lock.
pub fn migrate(client: &mut Client) -> Result<(), MigrationError> {
    let read = |e: postgres::Error| MigrationError::Read(super::describe(&e));
    client
        .batch_execute("SET lock_timeout = '60s'")
        .map_err(read)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| match e.code() {
            Some(c) if *c == postgres::error::SqlState::LOCK_NOT_AVAILABLE => MigrationError::Busy,
            _ => read(e),
        })?;
    let result = migrate_locked(client);
    // Also released when the connection closes, which the caller does next.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result
}

/// Checks, without writing, that the database's schema is the one this build writes (for a read
/// store, which cannot be migrated).
pub fn check_current(client: &mut Client) -> Result<(), MigrationError> {
    let read = |e: postgres::Error| MigrationError::Read(super::describe(&e));
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('atlas_schema_migrations') IS NOT NULL",
            &[],
        )
        .map_err(read)?
        .get(0);
    let found: i32 = if exists {
        client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM atlas_schema_migrations",
                &[],
            )
            .map_err(read)?
            .get(0)
    } else {
        0
    };
    let known = migrations().len() as i32;
    if found > known {
        return Err(MigrationError::Newer { found, known });
    }
    if found < known {
        return Err(MigrationError::NotMigrated { found, known });
    }
    Ok(())
}

fn migrate_locked(client: &mut Client) -> Result<(), MigrationError> {
    let read = |e: postgres::Error| MigrationError::Read(super::describe(&e));
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS atlas_schema_migrations (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .map_err(read)?;
    let found: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM atlas_schema_migrations",
            &[],
        )
        .map_err(read)?
        .get(0);
    let all = migrations();
    let known = all.len() as i32;
    if found > known {
        return Err(MigrationError::Newer { found, known });
    }
    for (i, sql) in all.iter().enumerate().skip(found as usize) {
        let version = i as i32 + 1;
        let failed = |e: postgres::Error| MigrationError::Failed {
            version,
            message: super::describe(&e),
        };
        let mut tx = client.transaction().map_err(failed)?;
        tx.batch_execute(sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO atlas_schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(version, "store schema migrated");
    }
    Ok(())
}
