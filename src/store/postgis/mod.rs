//! The PostGIS backend: a `sites` table with a `geometry(Point, 4326)` column and the schema's fields
//! as typed columns, a `site_versions` table with every change, `atlas_tokens` and `atlas_meta`, laid
//! out by numbered migrations ([`migrations`]) and guarded by CHECK constraints that mirror the
//! model's validation, so a row written by another tool (QGIS, psql) cannot break the service.
//!
//! Every write is one transaction under one shared advisory lock
//! (`pg_advisory_xact_lock(`[`WRITE_LOCK`]`)`): writers from any number of processes serialise as
//! SQLite's single writer does, so versions (an identity column) are committed in the order they are
//! numbered and the latest revision only grows. A writer that waits longer than `lock_timeout` for it
//! gets [`StoreError::Busy`]. Each committing write also sends `NOTIFY atlas_changes, '<revision>'`.
//!
//! Calls are synchronous (the `postgres` crate) on an `r2d2` pool: the service already runs store
//! calls on the blocking pool. Connections are plain (no TLS): use a unix socket or a trusted network.
//!
//! One concern per file: this one connects and seeds; [`migrations`] lays out and upgrades the
//! schema; [`rows`] reads and writes single site rows and their versions; [`sites`] is the
//! [`SiteStore`] and [`tokens`] the [`TokenStore`].

mod batch;
mod migrations;
mod rows;
mod sites;
mod split;
mod tokens;

pub use split::ReadSplit;

#[cfg(test)]
pub mod testdb;

use std::str::FromStr;
use std::time::Duration;

use postgres::{Config, NoTls, Transaction};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;

use super::{Author, Change, Expect, Seed, StoreError, now, shown_location};

/// The advisory lock every write takes for its transaction.
pub(crate) const WRITE_LOCK: i64 = 0x6174_6c61_7301; // "atlas" 1
/// The advisory lock migrations run under (a session lock, held across their transactions).
pub(crate) const MIGRATION_LOCK: i64 = 0x6174_6c61_7302;
/// How long a writer waits for another one before giving up with [`StoreError::Busy`].
const LOCK_TIMEOUT: &str = "30s";
/// How long a connection may take to make, and a call may wait for a pooled one, unless the URL
/// says otherwise (`?connect_timeout=<seconds>`): while the database is away, calls fail with
/// [`StoreError::Unavailable`] after this long instead of hanging.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The channel each committing write notifies, with its highest revision as the payload.
pub(crate) const CHANNEL: &str = "atlas_changes";

type Manager = PostgresConnectionManager<NoTls>;

/// A PostGIS database holding the inventory.
pub struct PgStore {
    /// The location without any password: what messages and logs name.
    shown: String,
    config: Config,
    pool: Pool<Manager>,
    /// How long a writer waits for the write lock (a PostgreSQL interval).
    lock_timeout: String,
    /// Opened on a hot standby ([`PgStore::open_read_only`]).
    standby: bool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.shown)
            .finish_non_exhaustive()
    }
}

/// The URL as shown, and as the driver's configuration, with our defaults (application name,
/// [`DEFAULT_TIMEOUT`]).
fn parse(url: &str) -> Result<(String, Config), StoreError> {
    let shown = shown_location(url);
    // The driver knows the scheme in lower case only.
    let url = match url.split_once("://") {
        Some((_, rest)) => format!("postgresql://{rest}"),
        None => url.to_owned(),
    };
    let mut config = Config::from_str(&url).map_err(|e| StoreError::Backend {
        path: shown.clone(),
        message: format!("not a PostgreSQL URL this build can use: {e}"),
    })?;
    if config.get_application_name().is_none() {
        config.application_name("tailings-atlas");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_TIMEOUT);
    }
    Ok((shown, config))
}

fn connect(shown: &str, config: &Config) -> Result<postgres::Client, StoreError> {
    connect_within(config).map_err(|reason| StoreError::Unavailable {
        path: shown.to_owned(),
        reason: format!("cannot connect: {reason}"),
    })
}

/// Connects, waiting at most the URL's `connect_timeout` for the whole of it. The driver's own
/// timeout bounds only the TCP connect, so a server that accepts and never answers (another
/// service on that port, a wedged PostgreSQL) would hang the caller: the handshake runs on a
/// thread of its own, which is left to finish or fail by itself when the wait is over.
pub(crate) fn connect_within(config: &Config) -> Result<postgres::Client, String> {
    let timeout = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(DEFAULT_TIMEOUT);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let config = config.clone();
    std::thread::Builder::new()
        .name("pg-connect".into())
        .spawn(move || {
            let _ = tx.send(config.connect(NoTls).map_err(|e| describe(&e)));
        })
        .map_err(|e| format!("cannot start a thread to connect: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no answer from the server within {} s (connect_timeout)",
            timeout.as_secs_f64()
        )),
    }
}

impl PgStore {
    /// Opens the database at `url` (`postgresql://…` or `postgres://…`), brings its schema up to
    /// date ([`migrations`]) and, if it holds no inventory yet (no sites, no versions, no seed
    /// recorded), seeds it with what `seed` returns, in one transaction, each site recorded as
    /// created by `seed`. Several processes may open one database at once: migrations and seeding
    /// each happen once.
    pub fn open<F, E>(url: &str, seed: F) -> Result<Self, StoreError>
    where
        F: FnOnce() -> Result<Seed, E>,
        E: std::fmt::Display,
    {
        let (shown, config) = parse(url)?;
        let mut client = connect(&shown, &config)?;
        migrations::migrate(&mut client).map_err(|e| match e {
            migrations::MigrationError::Busy => StoreError::Busy {
                path: shown.clone(),
            },
            other => StoreError::Backend {
                path: shown.clone(),
                message: other.to_string(),
            },
        })?;
        drop(client);
        let store = PgStore::pooled(shown, config, false);
        store.seed_if_empty(seed)?;
        Ok(store)
    }

    /// Opens the database at `url` to read only, as the read store of a primary ([`ReadSplit`]):
    /// typically a hot standby of it. Nothing is migrated or seeded; its schema must already be the
    /// one this build writes (the primary's service migrates it, and replication brings it here).
    pub fn open_read_only(url: &str) -> Result<Self, StoreError> {
        let (shown, config) = parse(url)?;
        let mut client = connect(&shown, &config)?;
        migrations::check_current(&mut client).map_err(|e| StoreError::Backend {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let standby: bool = client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .map_err(|e| sql_error(&shown, &e))?
            .get(0);
        drop(client);
        Ok(PgStore::pooled(shown, config, standby))
    }

    /// Whether this database is a standby (in recovery): it cannot be written to, nor LISTEN for
    /// its primary's notifications.
    pub fn is_standby(&self) -> bool {
        self.standby
    }

    fn pooled(shown: String, config: Config, standby: bool) -> Self {
        // The longest any call waits for a connection: the URL's connect_timeout.
        let timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_TIMEOUT)
            .max(Duration::from_millis(250));
        let manager = PostgresConnectionManager::new(config.clone(), NoTls);
        let pool = Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(timeout)
            .build_unchecked(manager);
        PgStore {
            shown,
            config,
            pool,
            lock_timeout: LOCK_TIMEOUT.to_owned(),
            standby,
        }
    }

    fn seed_if_empty<F, E>(&self, seed: F) -> Result<(), StoreError>
    where
        F: FnOnce() -> Result<Seed, E>,
        E: std::fmt::Display,
    {
        const EMPTY: &str = "SELECT NOT EXISTS (SELECT 1 FROM atlas_meta WHERE key = 'seed_origin') \
             AND NOT EXISTS (SELECT 1 FROM site_versions) AND NOT EXISTS (SELECT 1 FROM sites)";
        let empty: bool = self
            .conn()?
            .query_one(EMPTY, &[])
            .map_err(|e| self.sql(e))?
            .get(0);
        if !empty {
            return Ok(());
        }
        let seed = seed().map_err(|e| self.err(format!("cannot seed: {e}")))?;
        let author = Author {
            actor: "seed".into(),
            reason: Some("seeded from the data directory".into()),
        };
        let changes: Vec<Change> = seed
            .sites
            .iter()
            .map(|s| Change::Put {
                site: s.clone(),
                expect: Expect::Any,
            })
            .collect();
        let seeded = self.in_write(|tx| {
            // Another process may have seeded while `seed` ran: look again under the write lock.
            if !tx
                .query_one(EMPTY, &[])
                .map_err(|e| self.sql(e))?
                .get::<_, bool>(0)
            {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO atlas_meta (key, value) VALUES ('seed_origin', $1)",
                &[&seed.origin],
            )
            .map_err(|e| self.sql(e))?;
            let statements = rows::Statements::prepare(self, tx)?;
            let at = now();
            let mut written = Vec::with_capacity(changes.len());
            for change in &changes {
                written.push(self.apply(tx, &statements, change, &at, &author)?);
            }
            self.notify(tx, written.iter().map(|w| w.revision).max())?;
            Ok(true)
        })?;
        if seeded {
            tracing::info!(store = %self.shown, sites = seed.sites.len(), "seeded store");
        }
        Ok(())
    }

    /// A pooled connection.
    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool.get().map_err(|e| StoreError::Unavailable {
            path: self.shown.clone(),
            reason: format!("no database connection: {e}"),
        })
    }

    /// Runs `f` in one transaction holding the write lock, and commits if it succeeds; any error
    /// rolls everything back.
    fn in_write<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(|e| self.sql(e))?;
        tx.execute(
            "SELECT set_config('lock_timeout', $1, true)",
            &[&self.lock_timeout],
        )
        .map_err(|e| self.sql(e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .map_err(|e| self.sql(e))?;
        let out = f(&mut tx)?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(out)
    }

    /// Tells listeners of `atlas_changes` of a write's highest revision (sent at its commit).
    fn notify(&self, tx: &mut Transaction<'_>, revision: Option<i64>) -> Result<(), StoreError> {
        if let Some(r) = revision.filter(|&r| r > 0) {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &r.to_string()])
                .map_err(|e| self.sql(e))?;
        }
        Ok(())
    }

    fn err(&self, message: impl Into<String>) -> StoreError {
        StoreError::Backend {
            path: self.shown.clone(),
            message: message.into(),
        }
    }

    fn sql(&self, e: postgres::Error) -> StoreError {
        sql_error(&self.shown, &e)
    }
}

/// A database error as a store error: a lock wait that timed out is [`StoreError::Busy`]; a lost
/// connection or a server shutting down is [`StoreError::Unavailable`].
pub(crate) fn sql_error(shown: &str, e: &postgres::Error) -> StoreError {
    use postgres::error::SqlState;
    match e.code() {
        Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE || *c == SqlState::T_R_DEADLOCK_DETECTED => {
            StoreError::Busy {
                path: shown.to_owned(),
            }
        }
        _ if connection_lost(e) => StoreError::Unavailable {
            path: shown.to_owned(),
            reason: describe(e),
        },
        _ => StoreError::Backend {
            path: shown.to_owned(),
            message: describe(e),
        },
    }
}

/// Whether `e` says the database went away (rather than refusing a statement).
pub(crate) fn connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        // Class 08: connection exception; 57P01–57P03: shutting down, crashed, starting up.
        return c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A database error's message (and, for a server error, its constraint), without the rows it
/// quotes: a check violation's detail would echo a whole row.
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.constraint() {
            Some(c) => format!("{} (constraint {c})", db.message()),
            None => db.message().to_owned(),
        },
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let s = s.to_string();
                if !text.contains(&s) {
                    text.push_str(": ");
                    text.push_str(&s);
                }
                source = s_source(source);
            }
            text
        }
    }
}

fn s_source<'a>(
    e: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    e.and_then(std::error::Error::source)
}

#[cfg(test)]
mod tests;
