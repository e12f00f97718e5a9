//! The PostGIS database as a [`TokenStore`]: the `atlas_tokens` table.

use postgres::Row;

use super::{PgStore, now};
use crate::model::Iso3;
use crate::store::{Role, StoreError, TokenRecord, TokenStore};

const COLUMNS: &str = "token_id, name, role, countries, hash, created_at, revoked_at";

impl PgStore {
    fn token_row(&self, r: &Row) -> Result<TokenRecord, StoreError> {
        let bad = |e: postgres::Error| self.err(format!("unreadable token row: {e}"));
        let role: String = r.try_get(2).map_err(bad)?;
        let role = role
            .parse::<Role>()
            .map_err(|e| self.err(format!("token: {e}")))?;
        let countries: Vec<String> = r.try_get(3).map_err(bad)?;
        let countries = countries
            .iter()
            .map(|c| Iso3::parse(c, "countries").map_err(|e| self.err(format!("token: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TokenRecord {
            token_id: r.try_get(0).map_err(bad)?,
            name: r.try_get(1).map_err(bad)?,
            role,
            countries,
            hash: r.try_get(4).map_err(bad)?,
            created_at: r.try_get(5).map_err(bad)?,
            revoked_at: r.try_get(6).map_err(bad)?,
        })
    }
}

impl TokenStore for PgStore {
    fn add_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let countries: Vec<&str> = t.countries.iter().map(Iso3::as_str).collect();
        self.conn()?
            .execute(
                &format!(
                    "INSERT INTO atlas_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ),
                &[
                    &t.token_id,
                    &t.name,
                    &t.role.as_str(),
                    &countries,
                    &t.hash,
                    &t.created_at,
                    &t.revoked_at,
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = self
            .conn()?
            .query(
                &format!("SELECT {COLUMNS} FROM atlas_tokens ORDER BY fid"),
                &[],
            )
            .map_err(|e| self.sql(e))?;
        rows.iter().map(|r| self.token_row(r)).collect()
    }

    fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row = self
            .conn()?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM atlas_tokens WHERE token_id = $1"),
                &[&token_id],
            )
            .map_err(|e| self.sql(e))?;
        row.map(|r| self.token_row(&r)).transpose()
    }

    fn revoke_token(&self, token_id: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()?
            .execute(
                "UPDATE atlas_tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL",
                &[&now(), &token_id],
            )
            .map_err(|e| self.sql(e))?;
        Ok(n > 0)
    }
}
