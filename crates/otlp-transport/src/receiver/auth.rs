//! Bearer-token authentication of export requests, one token per tenant.
//!
//! A request must carry `authorization: Bearer <token>` (an HTTP header, or
//! gRPC metadata) with one of the configured tokens; the tenant it names
//! is handed to the handler ([`ReceivedRequest::tenant`]). Others are
//! refused before their body is read: HTTP `401 Unauthorized` with
//! `WWW-Authenticate: Bearer`, gRPC `UNAUTHENTICATED`. Health checks need
//! no token (load balancers probe them).
//!
//! Only SHA-256 digests of the tokens are kept, and a presented token is
//! compared with every digest in constant time, so neither the time taken
//! nor memory holds a token.
//!
//! [`ReceivedRequest::tenant`]: super::ReceivedRequest::tenant

use http::header::AUTHORIZATION;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::fmt;

/// The tokens a [`Receiver`](super::Receiver) accepts: see
/// [`ReceiverBuilder::with_auth`](super::ReceiverBuilder::with_auth).
///
/// ```
/// use otlp_transport::receiver::ReceiverAuth;
///
/// let auth = ReceiverAuth::new()
///     .with_token("team-a", "a-long-random-secret")
///     .with_token("team-b", "another-long-random-secret");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ReceiverAuth {
    /// (tenant, SHA-256 of its token)
    tokens: Vec<(String, [u8; 32])>,
    /// A token was empty: refused when the receiver starts.
    empty: bool,
}

/// Shows the tenants, never the tokens.
impl fmt::Debug for ReceiverAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenants: Vec<&str> = self.tokens.iter().map(|(t, _)| t.as_str()).collect();
        f.debug_struct("ReceiverAuth")
            .field("tenants", &tenants)
            .finish()
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthError {
    Missing,
    Malformed,
    Unknown,
}

impl AuthError {
    pub(super) fn message(self) -> &'static str {
        match self {
            AuthError::Missing => "authorization required: send `authorization: Bearer <token>`",
            AuthError::Malformed => "authorization is not `Bearer <token>`",
            AuthError::Unknown => "unknown bearer token",
        }
    }
}

impl ReceiverAuth {
    /// No tokens yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` as tenant `tenant`'s. Several tenants may share a
    /// token's value; the first added is the one reported.
    pub fn with_token(mut self, tenant: impl Into<String>, token: impl AsRef<[u8]>) -> Self {
        let token = token.as_ref();
        self.empty |= token.is_empty();
        self.tokens
            .push((tenant.into(), Sha256::digest(token).into()));
        self
    }

    /// A setting that cannot work, if any.
    pub(super) fn problem(&self) -> Option<&'static str> {
        if self.tokens.is_empty() {
            Some("authentication needs at least one token")
        } else if self.empty {
            Some("an authentication token must not be empty")
        } else {
            None
        }
    }

    /// The tenant whose token the request carries.
    pub(super) fn authenticate(&self, headers: &HeaderMap) -> Result<&str, AuthError> {
        let value = headers.get(AUTHORIZATION).ok_or(AuthError::Missing)?;
        let value = value.as_bytes();
        let token = match value.iter().position(|&b| b == b' ') {
            Some(at) if value[..at].eq_ignore_ascii_case(b"bearer") => value[at..].trim_ascii(),
            _ => return Err(AuthError::Malformed),
        };
        if token.is_empty() {
            return Err(AuthError::Malformed);
        }
        let digest: [u8; 32] = Sha256::digest(token).into();
        // Every digest is compared whole: the time taken does not depend
        // on which one matches, or on how much of one does.
        let mut found = None;
        for (tenant, known) in &self.tokens {
            let diff = known
                .iter()
                .zip(&digest)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 && found.is_none() {
                found = Some(tenant.as_str());
            }
        }
        found.ok_or(AuthError::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        h
    }

    #[test]
    fn bearer_tokens_name_their_tenant() {
        let auth = ReceiverAuth::new()
            .with_token("a", "secret-a")
            .with_token("b", "secret-b")
            .with_token("c", "secret-a");
        assert_eq!(auth.authenticate(&headers(b"Bearer secret-a")), Ok("a"));
        assert_eq!(auth.authenticate(&headers(b"bearer   secret-b ")), Ok("b"));
        assert_eq!(auth.authenticate(&headers(b"BEARER secret-b")), Ok("b"));
        assert_eq!(
            auth.authenticate(&HeaderMap::new()),
            Err(AuthError::Missing)
        );
        for malformed in [
            &b"secret-a"[..],
            b"Basic secret-a",
            b"Bearer ",
            b"Bearer",
            b"Bearersecret-a",
        ] {
            assert_eq!(
                auth.authenticate(&headers(malformed)),
                Err(AuthError::Malformed),
                "{:?}",
                String::from_utf8_lossy(malformed)
            );
        }
        for unknown in [
            &b"Bearer secret-c"[..],
            b"Bearer secret-",
            b"Bearer secret-aa",
            b"Bearer \xffsecret",
        ] {
            assert_eq!(
                auth.authenticate(&headers(unknown)),
                Err(AuthError::Unknown)
            );
        }
        assert!(!format!("{auth:?}").contains("secret"));
        assert_eq!(
            ReceiverAuth::new().problem(),
            Some("authentication needs at least one token")
        );
        assert!(ReceiverAuth::new().with_token("x", "").problem().is_some());
        assert_eq!(auth.problem(), None);
    }
}
