//! Rate limits on what costs the service most or can do most harm: token verifications per client
//! address (each is an argon2 hash: a flood of guessed tokens must not take a core) and writes per
//! token (a runaway script must not fill the history). A client over a limit gets 429 with
//! `Retry-After`. Both are GCRA limiters from `governor`, a minute's quota with a burst of the same
//! size; 0 turns a limit off.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;

/// The default token verifications a minute per client address (`serve --token-checks-per-minute`).
pub const DEFAULT_TOKEN_CHECKS_PER_MINUTE: u32 = 60;
/// The default writes a minute per token (`serve --writes-per-minute`).
pub const DEFAULT_WRITES_PER_MINUTE: u32 = 600;

/// Past this many keys, keys whose quota is whole again are forgotten.
const KEYS_KEPT: usize = 10_000;

/// The two limits.
pub struct Throttle {
    token_checks: Option<DefaultKeyedRateLimiter<IpAddr>>,
    writes: Option<DefaultKeyedRateLimiter<String>>,
    per_minute: (u32, u32),
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("token_checks_per_minute", &self.per_minute.0)
            .field("writes_per_minute", &self.per_minute.1)
            .finish()
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(DEFAULT_TOKEN_CHECKS_PER_MINUTE, DEFAULT_WRITES_PER_MINUTE)
    }
}

fn limiter<K: Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

/// One cell of `key`'s quota, or the seconds until there is one.
fn take<K: Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), u64> {
    if limiter.len() > KEYS_KEPT {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    })
}

impl Throttle {
    /// Limits of `token_checks` verifications a minute per address and `writes` a minute per token.
    pub fn new(token_checks: u32, writes: u32) -> Self {
        Throttle {
            token_checks: limiter(token_checks),
            writes: limiter(writes),
            per_minute: (token_checks, writes),
        }
    }

    /// Takes one token verification from `peer`'s quota (no address, as in-process tests: no
    /// limit).
    pub fn token_check(&self, peer: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(limiter), Some(peer)) = (&self.token_checks, peer) else {
            return Ok(());
        };
        // An IPv6 client usually holds a whole /64: one quota for it, not one per address.
        let key = match peer {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
            v4 => v4,
        };
        take(limiter, &key).map_err(|wait| {
            ApiError::too_many(
                format!(
                    "too many token checks from this address: {} a minute are allowed \
                     (a token once accepted is not checked again); try again in {wait} s",
                    self.per_minute.0
                ),
                wait,
            )
        })
    }

    /// Takes one write from token `token_id`'s quota.
    pub fn write(&self, token_id: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.writes else {
            return Ok(());
        };
        take(limiter, &token_id.to_owned()).map_err(|wait| {
            ApiError::too_many(
                format!(
                    "too many writes with token {token_id}: {} a minute are allowed; \
                     try again in {wait} s",
                    self.per_minute.1
                ),
                wait,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;

    #[test]
    fn a_burst_passes_then_429_with_a_wait_until_a_cell_is_back() {
        let t = Throttle::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            t.token_check(Some(a)).unwrap();
        }
        let e = t.token_check(Some(a)).unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        // One cell comes back every 60 / 3 = 20 s.
        assert!((1..=20).contains(&e.retry_after_s), "{}", e.retry_after_s);
        assert!(e.description.contains("3 a minute"), "{}", e.description);
        // Another address has its own quota; so does a request without one.
        t.token_check(Some(b)).unwrap();
        // Addresses of one IPv6 /64 share a quota.
        for i in 1..=3 {
            let v6: IpAddr = format!("2001:db8:1:2::{i}").parse().unwrap();
            t.token_check(Some(v6)).unwrap();
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!(t.token_check(Some(same_64)).is_err());
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        t.token_check(Some(other_64)).unwrap();
        for _ in 0..10 {
            t.token_check(None).unwrap();
        }
        t.write("t1").unwrap();
        t.write("t1").unwrap();
        let e = t.write("t1").unwrap_err();
        assert!(e.description.contains("token t1"), "{}", e.description);
        t.write("t2").unwrap();
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let t = Throttle::new(0, 0);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..1_000 {
            t.token_check(Some(a)).unwrap();
            t.write("t").unwrap();
        }
    }
}
