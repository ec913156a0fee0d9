//! Basic authentication against the web config file's `basic_auth_users` (user -> bcrypt
//! hash), as exporter-toolkit does it, and the one answer every refusal gets.
//!
//! - **No user enumeration.** A wrong password and an unknown user get the same 401, and cost
//!   the same: an unknown user's password is checked against a dummy hash of the highest cost
//!   in the file.
//! - **No stalled server.** bcrypt takes tens of milliseconds by design; it runs on the
//!   blocking pool, one verification at a time (an attacker gets one core, not all of them),
//!   never on the async workers that answer the other requests.
//! - **Cheap scrapes.** A successful verification is cached, keyed by a SHA-256 of user,
//!   password and stored hash (never the password itself), so a scraper pays bcrypt once;
//!   a changed hash in the file is a different key. Failures are not cached: each one costs
//!   its bcrypt, so guessing stays slow.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::sync::Semaphore;

/// The realm named in `WWW-Authenticate`.
const CHALLENGE: &str = "Basic realm=\"iam-key-exporter\"";

/// A valid bcrypt hash that no password is known to match; its cost digits (`04`) are
/// replaced by the cost of the dearest configured hash, so that checking an unknown user costs
/// what checking a known one does.
const DUMMY_HASH: &str = "$2b$04$wKwdO/rI6pJ9y2CeVTprm.XiQ0KFgTpSGveHJ4/byEkbWf74Z336i";

/// Verified credentials remembered; far above any real number of scrapers, and when reached
/// the cache starts over (which costs one bcrypt per scraper).
const MAX_CACHED: usize = 1024;

/// The users of one version of the web config file.
pub(crate) struct Users {
    /// User name -> bcrypt hash, checked to be well-formed when the file was read.
    hashes: BTreeMap<String, String>,
    /// What an unknown user's password is checked against.
    dummy: String,
}

impl Users {
    /// `hashes` must be well-formed bcrypt hashes (see [`check_hash`]).
    pub(crate) fn new(hashes: BTreeMap<String, String>) -> Users {
        let cost = hashes
            .values()
            .filter_map(|hash| hash.get(4..6)?.parse::<u32>().ok())
            .max()
            .unwrap_or(4);
        let dummy = format!("{}{cost:02}{}", &DUMMY_HASH[..4], &DUMMY_HASH[6..]);
        Users { hashes, dummy }
    }
}

/// The names only: hashes are secrets, kept out of logs.
impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.hashes.keys()).finish()
    }
}

/// Whether `hash` is a bcrypt hash the verifier can use; the reason when not (never the hash,
/// which is a secret).
pub(crate) fn check_hash(hash: &str) -> Result<(), String> {
    let parts = hash.parse::<bcrypt::HashParts>().map_err(|err| {
        format!(
            "not a bcrypt hash ({err}); expected 60 characters like `$2y$10$...`, made with \
             `htpasswd -nbBC 10 \"\" PASSWORD | tr -d ':\\n'`"
        )
    })?;
    let cost = parts.get_cost();
    if !(4..=31).contains(&cost) {
        return Err(format!(
            "the bcrypt cost is {cost}; bcrypt allows 4 to 31 (10 is usual)"
        ));
    }
    Ok(())
}

/// Checks credentials; shared by every version of the file, so that the cache survives a
/// reload (its keys include the stored hash, so a changed hash never matches an old entry).
pub(crate) struct Verifier {
    /// SHA-256 of (user, password, stored hash) of verified credentials.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// One bcrypt at a time, as exporter-toolkit does.
    bcrypt: Arc<Semaphore>,
    /// Failed attempts per client address in the current window: past the limit, an address's
    /// uncached credentials are refused without a bcrypt, so a flood from a few addresses
    /// cannot hold the one bcrypt slot that other clients' first logins wait for.
    failures: Mutex<Failures>,
}

/// Failed attempts by client address since the window began.
#[derive(Default)]
struct Failures {
    since: Option<std::time::Instant>,
    by_address: std::collections::HashMap<std::net::IpAddr, u32>,
}

/// Failed attempts an address may make per window before its uncached credentials are refused
/// without being checked.
const MAX_FAILURES: u32 = 20;

/// The window the failures are counted in.
const FAILURE_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// The most addresses counted at once; past it the window starts over.
const MAX_ADDRESSES: usize = 10_000;

impl Failures {
    /// The count for `address` in the current window, starting a new window when it is over.
    fn count(&mut self, address: std::net::IpAddr) -> &mut u32 {
        let now = std::time::Instant::now();
        let over = self
            .since
            .is_none_or(|since| now.duration_since(since) >= FAILURE_WINDOW);
        if over || self.by_address.len() >= MAX_ADDRESSES {
            self.by_address.clear();
            self.since = Some(now);
        }
        self.by_address.entry(address).or_default()
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            verified: Mutex::new(HashSet::new()),
            bcrypt: Arc::new(Semaphore::new(1)),
            failures: Mutex::default(),
        }
    }
}

impl Verifier {
    /// Whether the `Authorization` header holds the credentials of one of `users`; `peer`, the
    /// client's address, counts its failures.
    pub(crate) async fn allows(
        &self,
        users: &Users,
        authorization: Option<&HeaderValue>,
        peer: std::net::IpAddr,
    ) -> bool {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let (stored, known) = match users.hashes.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (users.dummy.clone(), false),
        };
        let key = cache_key(&user, &password, &stored);
        if known && self.lock().contains(&key) {
            return true;
        }
        if *self.failures().count(peer) >= MAX_FAILURES {
            return false;
        }
        let Ok(permit) = self.bcrypt.clone().acquire_owned().await else {
            return false;
        };
        // The permit goes with the work: a client that hangs up does not free the slot while
        // its bcrypt still runs.
        let verified = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bcrypt::verify(&password, &stored).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if verified && known {
            let mut cache = self.lock();
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(key);
        } else {
            *self.failures().count(peer) += 1;
        }
        verified && known
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// User and password of a `Basic` `Authorization` header; `None` for anything else.
fn basic_credentials(value: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = value.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// Each part length-prefixed, so that no two different triples hash the same input.
fn cache_key(user: &str, password: &[u8], stored: &str) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user.as_bytes(), password, stored.as_bytes()] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

/// The answer to missing or wrong credentials, the same whatever was wrong; in whatever body
/// type the server sends.
pub(crate) fn unauthorized<B: From<Bytes>>() -> Response<B> {
    let mut response = Response::new(B::from(Bytes::from_static(b"Unauthorized\n")));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(CHALLENGE),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn an_address_past_its_failures_is_refused_without_a_bcrypt_but_cached_logins_pass() {
        let verifier = Verifier::default();
        let users = users(&[("alice", "secret")]);
        assert!(
            verifier
                .allows(&users, Some(&header("alice", "secret")), LOCAL)
                .await
        );
        for _ in 0..MAX_FAILURES {
            assert!(
                !verifier
                    .allows(&users, Some(&header("alice", "wrong")), LOCAL)
                    .await
            );
        }
        // Past the limit: refused at once, so the bcrypt slot stays free for others...
        let permits = verifier.bcrypt.available_permits();
        assert!(
            !verifier
                .allows(&users, Some(&header("bob", "x")), LOCAL)
                .await
        );
        assert_eq!(verifier.bcrypt.available_permits(), permits);
        // ...while credentials verified before still pass from that address, and another
        // address is not held back.
        assert!(
            verifier
                .allows(&users, Some(&header("alice", "secret")), LOCAL)
                .await
        );
        let other = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
        assert!(
            !verifier
                .allows(&users, Some(&header("alice", "wrong")), other)
                .await
        );
        assert_eq!(*verifier.failures().count(other), 1);
    }

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn users(pairs: &[(&str, &str)]) -> Users {
        Users::new(
            pairs
                .iter()
                .map(|(user, password)| ((*user).to_owned(), bcrypt::hash(password, 4).unwrap()))
                .collect(),
        )
    }

    #[test]
    fn the_dummy_hash_is_valid_and_takes_the_highest_configured_cost() {
        check_hash(DUMMY_HASH).unwrap();
        let mut hashes = BTreeMap::new();
        hashes.insert("a".to_owned(), bcrypt::hash("x", 4).unwrap());
        hashes.insert("b".to_owned(), bcrypt::hash("y", 5).unwrap());
        let users = Users::new(hashes);
        assert!(users.dummy.starts_with("$2b$05$"), "{}", users.dummy);
        check_hash(&users.dummy).unwrap();
        assert!(!bcrypt::verify("x", &users.dummy).unwrap());
    }

    #[test]
    fn credentials_are_read_from_a_basic_header_only() {
        assert_eq!(
            basic_credentials(&header("alice", "pa:ss")),
            Some(("alice".to_owned(), b"pa:ss".to_vec()))
        );
        let lower = HeaderValue::from_static("basic YTpi");
        assert_eq!(
            basic_credentials(&lower),
            Some(("a".to_owned(), b"b".to_vec()))
        );
        for bad in ["Bearer YTpi", "Basic", "Basic !!!", "Basic YWJj"] {
            assert_eq!(
                basic_credentials(&HeaderValue::from_static(bad)),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn malformed_hashes_and_costs_are_refused_without_showing_the_hash() {
        let message = check_hash("$2y$10$short").unwrap_err();
        assert!(message.contains("not a bcrypt hash"), "{message}");
        assert!(!message.contains("short"), "{message}");
        let high = DUMMY_HASH.replace("$04$", "$32$");
        assert!(check_hash(&high).unwrap_err().contains("cost is 32"));
    }

    #[tokio::test]
    async fn the_right_password_passes_and_is_cached_while_others_fail() {
        let verifier = Verifier::default();
        let users = users(&[("alice", "secret")]);
        assert!(
            verifier
                .allows(&users, Some(&header("alice", "secret")), LOCAL)
                .await
        );
        assert_eq!(verifier.lock().len(), 1);
        assert!(
            verifier
                .allows(&users, Some(&header("alice", "secret")), LOCAL)
                .await
        );
        assert!(
            !verifier
                .allows(&users, Some(&header("alice", "wrong")), LOCAL)
                .await
        );
        assert!(
            !verifier
                .allows(&users, Some(&header("bob", "secret")), LOCAL)
                .await
        );
        assert!(!verifier.allows(&users, None, LOCAL).await);
        assert_eq!(verifier.lock().len(), 1, "failures are not cached");
    }

    #[tokio::test]
    async fn a_changed_hash_is_not_answered_from_the_cache() {
        let verifier = Verifier::default();
        let before = users(&[("alice", "old")]);
        assert!(
            verifier
                .allows(&before, Some(&header("alice", "old")), LOCAL)
                .await
        );
        let after = users(&[("alice", "new")]);
        assert!(
            !verifier
                .allows(&after, Some(&header("alice", "old")), LOCAL)
                .await
        );
        assert!(
            verifier
                .allows(&after, Some(&header("alice", "new")), LOCAL)
                .await
        );
    }
}
