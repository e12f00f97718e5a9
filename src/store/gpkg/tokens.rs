//! The GeoPackage as a [`TokenStore`]: the `atlas_tokens` table.

use rusqlite::{OptionalExtension, params};

use super::{GpkgStore, now};
use crate::model::Iso3;
use crate::store::{Role, StoreError, TokenRecord, TokenStore};

impl TokenStore for GpkgStore {
    fn add_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO atlas_tokens (token_id, name, role, countries, hash, created_at, revoked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                t.token_id,
                t.name,
                t.role.as_str(),
                t.countries
                    .iter()
                    .map(Iso3::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                t.hash,
                t.created_at,
                t.revoked_at
            ],
        )
        .map_err(|e| self.sql(e))?;
        Ok(())
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(
                "SELECT token_id, name, role, countries, hash, created_at, revoked_at FROM atlas_tokens \
                 ORDER BY fid",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], token_row)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        rows.into_iter()
            .map(|r| r.map_err(|e| self.err(e)))
            .collect()
    }

    fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.read();
        let row = conn
            .prepare_cached(
                "SELECT token_id, name, role, countries, hash, created_at, revoked_at FROM atlas_tokens \
                 WHERE token_id = ?1",
            )
            .and_then(|mut s| s.query_row([token_id], token_row).optional())
            .map_err(|e| self.sql(e))?;
        row.transpose().map_err(|e| self.err(e))
    }

    fn revoke_token(&self, token_id: &str) -> Result<bool, StoreError> {
        let conn = self.lock();
        let n = conn
            .execute(
                "UPDATE atlas_tokens SET revoked_at = ?1 WHERE token_id = ?2 AND revoked_at IS NULL",
                params![now(), token_id],
            )
            .map_err(|e| self.sql(e))?;
        Ok(n > 0)
    }
}

fn token_row(r: &rusqlite::Row) -> rusqlite::Result<Result<TokenRecord, String>> {
    let role: String = r.get(2)?;
    let countries: String = r.get(3)?;
    let countries = countries
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|c| Iso3::parse(c, "countries").map_err(|e| format!("token: {e}")))
        .collect::<Result<Vec<_>, _>>();
    Ok(role.parse::<Role>().and_then(|role| {
        Ok(TokenRecord {
            token_id: r.get(0).unwrap_or_default(),
            name: r.get(1).unwrap_or_default(),
            role,
            countries: countries?,
            hash: r.get(4).unwrap_or_default(),
            created_at: r.get(5).unwrap_or_default(),
            revoked_at: r.get(6).unwrap_or_default(),
        })
    }))
}
