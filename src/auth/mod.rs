//! Who may do what: API tokens (made, hashed with argon2id and checked here; kept by a
//! [`TokenStore`]) and the rights they grant ([`policy`]). Free of HTTP: the API layer maps
//! [`AuthError`] to 401 and a [`policy::Denied`] to 403.
//!
//! A token reads `ta_<id>_<secret>`. The id is public (it names the token in `token list` and in the
//! history); only an argon2id hash of the secret is stored. A verified token is remembered as a
//! SHA-256 digest so that each request does not pay argon2's cost again; the digests are compared in
//! constant time, and the token's row is re-read on every request so a revocation applies at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::model::{Iso3, ModelError};
use crate::store::{Role, StoreError, TokenRecord, TokenStore};

pub mod policy;

pub use policy::{Denied, may_change};

/// Why a request is not authenticated.
#[derive(Debug, Error)]
pub enum AuthError {
    #[error("this request needs a bearer token (Authorization: Bearer ta_…)")]
    Missing,
    #[error("the bearer token is malformed: expected ta_<id>_<secret>")]
    Malformed,
    #[error("the bearer token is not valid")]
    Invalid,
    #[error("the bearer token was revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot hash the token: {0}")]
    Hash(String),
    /// A country of a new token is not an ISO3 code.
    #[error("--countries: {0}")]
    Country(#[source] ModelError),
    #[error("--countries: an editor needs at least one country (e.g. --countries KGZ,TJK)")]
    EditorWithoutCountries,
    #[error("--countries: only editors are limited to countries; a {} token is not", .0.as_str())]
    CountriesWithoutEditor(Role),
    #[error("--name: must not be empty")]
    EmptyName,
}

/// What an authenticated token may do.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub token_id: String,
    pub name: String,
    pub role: Role,
    pub countries: Vec<Iso3>,
}

impl Grant {
    /// The actor recorded in the history for this token's changes.
    pub fn actor(&self) -> String {
        format!("{} (token {})", self.name, self.token_id)
    }

    /// Whether this token may change sites in `country`.
    pub fn covers(&self, country: &Iso3) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Editor => self.countries.contains(country),
            Role::Reader => false,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new token for `name` with `role` over `countries` (ISO3 codes, any case; blank entries are
/// ignored): the record to store, and the token text to hand out once. An editor needs at least one
/// country and the other roles none; the name must not be blank.
pub fn new_token<S: AsRef<str>>(
    name: &str,
    role: Role,
    countries: &[S],
) -> Result<(TokenRecord, String), AuthError> {
    let countries = countries
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| !c.trim().is_empty())
        .map(|c| Iso3::parse(c, "countries"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(AuthError::Country)?;
    match (role, countries.is_empty()) {
        (Role::Editor, true) => return Err(AuthError::EditorWithoutCountries),
        (Role::Admin | Role::Reader, false) => return Err(AuthError::CountriesWithoutEditor(role)),
        _ => {}
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(AuthError::EmptyName);
    }
    let mut id = [0u8; 6];
    let mut secret = [0u8; 24];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    let (id, secret) = (hex(&id), hex(&secret));
    let hash = Argon2::default()
        .hash_password(secret.as_bytes())
        .map_err(|e| AuthError::Hash(e.to_string()))?
        .to_string();
    let record = TokenRecord {
        token_id: id.clone(),
        name: name.to_owned(),
        role,
        countries,
        hash,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        revoked_at: None,
    };
    Ok((record, format!("ta_{id}_{secret}")))
}

/// Checks bearer tokens against a [`TokenStore`].
pub struct Authenticator {
    store: Arc<dyn TokenStore>,
    /// token id → SHA-256 of a token text that argon2 accepted.
    verified: Mutex<HashMap<String, [u8; 32]>>,
    /// How many argon2 verifications ran (known or unknown id alike).
    verifications: AtomicU64,
}

/// An argon2id hash made with the same parameters as every token's, of a secret no token has:
/// verified against when a token id is unknown, so that an unknown id costs what a wrong secret
/// does and token ids cannot be told apart by timing.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = [0u8; 24];
        rand::rng().fill_bytes(&mut secret);
        Argon2::default()
            .hash_password(hex(&secret).as_bytes())
            .map(|h| h.to_string())
            // Hashing fresh bytes cannot fail; a constant PHC string keeps the cost if it ever did.
            .unwrap_or_else(|_| {
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                 8ALwR0yUp9iOBGTuTtMBRk9uO7kI9DzOQhxCGFyxv8M"
                    .to_owned()
            })
    })
}

impl Authenticator {
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        Authenticator {
            store,
            verified: Mutex::new(HashMap::new()),
            verifications: AtomicU64::new(0),
        }
    }

    /// How many argon2 verifications this authenticator has run.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Whether `token` was verified before (its check is then a store lookup, not an argon2 hash).
    pub fn is_verified(&self, token: &str) -> bool {
        let token = token.trim();
        let Some((id, _)) = token
            .strip_prefix("ta_")
            .and_then(|rest| rest.split_once('_'))
        else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .is_some_and(|known| bool::from(known.ct_eq(&digest)))
    }

    /// The grant of `token` (the text after `Bearer `).
    pub fn authenticate(&self, token: &str) -> Result<Grant, AuthError> {
        let token = token.trim();
        let rest = token.strip_prefix("ta_").ok_or(AuthError::Malformed)?;
        let (id, secret) = rest.split_once('_').ok_or(AuthError::Malformed)?;
        if id.is_empty() || secret.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::Malformed);
        }
        let record = self.store.token(id)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = record.as_ref().and_then(|_| {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
                .copied()
        });
        let ok = match cached {
            Some(known) if bool::from(known.ct_eq(&digest)) => true,
            // Not verified before, a wrong secret, or an unknown id: the same argon2 work each time.
            _ => {
                // argon2's own comparison is constant-time. One verification at a time: each takes
                // ~19 MiB and tens of milliseconds, so a flood of bad tokens costs one core, not all.
                static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
                let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
                let hash = record.as_ref().map_or(dummy_hash(), |r| r.hash.as_str());
                self.verifications.fetch_add(1, Ordering::Relaxed);
                let ok = Argon2::default()
                    .verify_password(secret.as_bytes(), hash)
                    .is_ok()
                    && record.is_some();
                if ok {
                    self.verified
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id.to_owned(), digest);
                }
                ok
            }
        };
        let Some(record) = record.filter(|_| ok) else {
            return Err(AuthError::Invalid);
        };
        if record.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        Ok(Grant {
            token_id: record.token_id,
            name: record.name,
            role: record.role,
            countries: record.countries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Memory(Mutex<Vec<TokenRecord>>);

    impl TokenStore for Memory {
        fn add_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(t.clone());
            Ok(())
        }
        fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
            Ok(self.0.lock().unwrap().clone())
        }
        fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|t| t.token_id == id)
                .cloned())
        }
        fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
            let mut v = self.0.lock().unwrap();
            match v.iter_mut().find(|t| t.token_id == id) {
                Some(t) => {
                    t.revoked_at = Some("now".into());
                    Ok(true)
                }
                None => Ok(false),
            }
        }
    }

    #[test]
    fn tokens_verify_and_revoke() {
        let store = Arc::new(Memory::default());
        let (record, token) = new_token("Alice", Role::Editor, &["kgz"]).unwrap();
        assert!(
            !record.hash.contains(&token[10..]),
            "the secret is not stored"
        );
        assert!(record.hash.starts_with("$argon2id$"));
        store.add_token(&record).unwrap();
        let auth = Authenticator::new(store.clone());
        let grant = auth.authenticate(&token).unwrap();
        let code = |c: &str| Iso3::parse(c, "country").unwrap();
        assert_eq!(grant.countries, vec![code("KGZ")]);
        assert!(grant.covers(&code("KGZ")) && !grant.covers(&code("UZB")));
        // Cached path gives the same answer; a changed secret fails on both paths.
        assert!(auth.authenticate(&token).is_ok());
        let mut wrong = token.clone();
        wrong.pop();
        wrong.push(if token.ends_with('0') { '1' } else { '0' });
        assert!(matches!(auth.authenticate(&wrong), Err(AuthError::Invalid)));
        assert!(matches!(
            Authenticator::new(store.clone()).authenticate(&wrong),
            Err(AuthError::Invalid)
        ));
        assert!(matches!(
            auth.authenticate("nonsense"),
            Err(AuthError::Malformed)
        ));
        assert!(matches!(
            auth.authenticate("ta_ffff_abc"),
            Err(AuthError::Invalid)
        ));
        store.revoke_token(&record.token_id).unwrap();
        assert!(matches!(auth.authenticate(&token), Err(AuthError::Revoked)));
    }

    #[test]
    fn new_tokens_follow_the_role_rules_with_the_cli_messages() {
        let err = |role, countries: &[&str], name| new_token(name, role, countries).unwrap_err();
        assert_eq!(
            err(Role::Editor, &[], "A").to_string(),
            "--countries: an editor needs at least one country (e.g. --countries KGZ,TJK)"
        );
        assert_eq!(
            err(Role::Editor, &[" ", ""], "A").to_string(),
            "--countries: an editor needs at least one country (e.g. --countries KGZ,TJK)"
        );
        assert_eq!(
            err(Role::Admin, &["KGZ"], "A").to_string(),
            "--countries: only editors are limited to countries; a admin token is not"
        );
        assert_eq!(
            err(Role::Reader, &["KGZ"], "A").to_string(),
            "--countries: only editors are limited to countries; a reader token is not"
        );
        assert!(
            err(Role::Editor, &["KG"], "A")
                .to_string()
                .starts_with("--countries: field `countries`")
        );
        assert_eq!(
            err(Role::Editor, &["KGZ"], "  ").to_string(),
            "--name: must not be empty"
        );
        let (record, _) = new_token(" Ainura ", Role::Editor, &["kgz", "TJK"]).unwrap();
        assert_eq!(record.name, "Ainura");
        let codes: Vec<&str> = record.countries.iter().map(Iso3::as_str).collect();
        assert_eq!(codes, ["KGZ", "TJK"]);
    }

    #[test]
    fn unknown_ids_and_wrong_secrets_cost_one_verification_each() {
        let store = Arc::new(Memory::default());
        let (record, token) = new_token::<&str>("Alice", Role::Admin, &[]).unwrap();
        store.add_token(&record).unwrap();
        let auth = Authenticator::new(store);
        let spent = |f: &dyn Fn()| {
            let before = auth.verifications();
            f();
            auth.verifications() - before
        };
        // An id no token has goes through the same argon2 verification as a wrong secret.
        assert_eq!(
            spent(&|| assert!(matches!(
                auth.authenticate("ta_0123456789ab_00112233"),
                Err(AuthError::Invalid)
            ))),
            1
        );
        let wrong = format!("ta_{}_00112233", record.token_id);
        assert_eq!(
            spent(&|| assert!(matches!(auth.authenticate(&wrong), Err(AuthError::Invalid)))),
            1
        );
        // The first good check pays once, later ones are remembered; a wrong secret still pays.
        assert_eq!(spent(&|| assert!(auth.authenticate(&token).is_ok())), 1);
        assert_eq!(spent(&|| assert!(auth.authenticate(&token).is_ok())), 0);
        assert_eq!(
            spent(&|| assert!(matches!(auth.authenticate(&wrong), Err(AuthError::Invalid)))),
            1
        );
        // The dummy hash has the parameters of a real one.
        let params = |h: &str| h.rsplitn(3, '$').last().unwrap().to_owned();
        assert_eq!(params(dummy_hash()), params(&record.hash));
    }
}
