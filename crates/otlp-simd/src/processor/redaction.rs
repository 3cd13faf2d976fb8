//! Redaction with the semantics of the Collector's `redactionprocessor`:
//! the attributes of resources, scopes, spans and span events, log records
//! and metric data points, and log bodies.
//!
//! For each attribute, in this order (the Collector's `processAttrs`):
//!
//! 0. the summary attributes below are never masked or counted: with a
//!    summary on they are merged into, and with `silent` they are removed
//!    unless allowed (so a strict processor strips an upstream summary);
//! 1. a key in `ignored_keys` or matching `ignored_key_patterns` is left
//!    alone (counted in `redaction.ignored.count`);
//! 2. unless `allow_all_keys`, a key not in `allowed_keys` is removed:
//!    with neither set, every attribute goes (the processor fails closed);
//!    as in the Collector, the last attribute moves into a removed one's
//!    place, so the output's order is the Collector's too;
//! 3. a string value (any scalar with `redact_all_types`) matching an
//!    `allowed_values` regex is kept as is;
//! 4. a key matching a `blocked_key_patterns` regex has its whole value
//!    masked;
//! 5. each `blocked_values` regex in turn replaces its matches with `****`
//!    (or `masking_string`), or with the hex of their hash when
//!    `hash_function` is set;
//! 6. (this crate's addition) the built-in patterns named in
//!    `blocked_patterns` (`email`, `card`, `bearer`, `api_key`) and the
//!    `blocked_literals` are found with the SIMD scanner
//!    ([`crate::scan`]) and masked or hashed the same way;
//! 7. with `url_sanitizer`, a value of one of its `attributes` goes
//!    through [`cluster_url`](super::url::cluster_url) (identifier-like
//!    path segments become `*`, the query string goes); a change counts as
//!    masking;
//! 8. with `db_sanitizer`, a value of an attribute an enabled obfuscator
//!    lists, in a list whose `db.system.name` (or `db.system`) it handles,
//!    or in a list of logs (a record's, scope's or resource's) without
//!    one, has the literals of its statement taken out ([`super::db`]); a
//!    change counts as masking.
//!
//! With `url_sanitizer` (and `sanitize_span_name`, on unless turned off),
//! the name of a client or server span that has an HTTP attribute
//! (`http.route`, `http.request.method`, `url.full`, ...) or a `/` in it is
//! sanitized too, after its attributes, unless an `allowed_values` regex
//! matches the name or nothing but `*` and `/` would be left; and every
//! value of a log body goes through it, whatever its key. With
//! `db_sanitizer` (and its `sanitize_span_name`, on unless turned off),
//! the name of a client, server or internal span whose attributes name a
//! database system is obfuscated for that system when the URL sanitizer
//! left it as it was, and every string of a log body goes through each
//! enabled obfuscator.
//!
//! With `summary = "debug"` the sorted keys go into
//! `redaction.redacted.keys`, `redaction.masked.keys` and
//! `redaction.allowed.keys`, and with `info` or `debug` the counts into
//! `redaction.redacted.count`, `redaction.masked.count`,
//! `redaction.allowed.count` and `redaction.ignored.count`. Along a chain
//! of redactions the removed and masked keys and counts add up (each is
//! work a later redaction cannot see again), while the allowed and
//! ignored ones are counted afresh by each redaction, replacing what an
//! earlier one wrote, or removing it when there are none. `silent`, the
//! default, writes none.
//!
//! A log body that is a map has its entries taken through the same steps,
//! nested maps and lists included, each named by its path (`payment.card`,
//! `items.[0]`); another body is one value, named `body`, read as text
//! whatever its type (bytes in base64). Their summary goes into the
//! record's attributes as `redaction.body.redacted.keys`, `.count` and so
//! on; with `debug`, the keys listed for one body stop at 64 KiB of paths
//! (the first of each list is always listed, and the counts cover every
//! key), where the Collector lists every path however deep and many.
//!
//! Key lookups use [`crate::keyset::KeySet`].
//!
//! A blocked or allowed value given as a pattern
//! ([`RedactionBuilder::with_blocked_value_pattern`],
//! [`RedactionBuilder::with_allowed_value_pattern`], as every pattern of
//! the TOML configuration is) also tells, from its syntax, bytes of which
//! every match holds one and how short its shortest match is. When such
//! patterns, blocked key patterns and the built-in patterns and literals
//! are the only value rules (no URL or database sanitizer), a list's
//! values first go through one vector pass of the scanner, with those
//! bytes among its candidates: a string value of up to 64 bytes without
//! any, and any value shorter than every shortest match and finding, is
//! left as it is without running a value regex, unless a blocked key
//! pattern matches its key (then the allowed values' regexes still run).
//! (A longer string value goes to the regexes, and so does a number or
//! boolean formatted with `redact_all_types` unless it is too short; in a
//! list of more than 64 attributes, only the values' lengths are looked
//! at.) A `Regex` handed to the builder may have been built with options
//! its pattern does not show, so with one every value is read.
//!
//! Patterns written in the TOML configuration are read as Go's `regexp`
//! reads them ([`crate::config`]: ASCII `\d`, `\w`, `\s`, `\b`, `\Q...\E`,
//! octal escapes), as the Collector reads them; a `Regex` handed to the
//! builder is the `regex` crate's, with its Unicode classes.
//!
//! Differences from the Collector: the hash functions are
//! `hmac-sha256` and `hmac-sha512` (the Collector's `md5`, `sha1` and
//! `sha3` are refused at configuration time); the database sanitizer reads
//! the SQL of span attributes without a dialect, where the Collector's
//! pooled obfuscator may keep the dialect of the last span name it
//! sanitized, and it refuses `attributes` for `opensearch` and `es`,
//! which the Collector ignores (see [`super::db`]); the URL sanitizer's
//! results can differ only for a word whose letter-pair score is within a rounding of its threshold (see
//! [`super::url`]); the built-in
//! patterns of step 6 do not exist there. With `redact_all_types`, map and
//! list values are read as the JSON pdata writes for them, as there.

use super::attrs::{remove_in_order, AttrList, Few};
use super::db::{Db, DbContext, DbSanitizer, DbSanitizerError};
use super::key_memo::{self, MemoCell};
use super::span::{EndingSpan, SpanStep, Verdict};
use super::url::cluster_url;
use super::{Outcome, Processor};
use crate::hex::append_hex;
use crate::keyset::KeySet;
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{any_value, AnyValue, KeyValue};
use crate::scan::{Finding, Kind, Prefix, Scanner};
use crate::Isa;
use opentelemetry::InstrumentationScope;
use regex::Regex;
use sha2::{Digest, Sha256, Sha512};
use std::borrow::Cow;
use thiserror::Error;

/// What replaces a blocked match unless `masking_string` says otherwise.
const MASK: &str = "****";

/// What a pattern's syntax says of its matches: every match holds at
/// least one of some bytes, and is at least so many bytes long.
#[derive(Clone, Debug)]
struct MatchNeeds {
    bytes: Bytes,
    shortest: usize,
}

impl MatchNeeds {
    /// A pattern that matches nothing.
    const NOTHING: MatchNeeds = MatchNeeds {
        bytes: Bytes([0; 4]),
        shortest: usize::MAX,
    };

    /// `pattern` as `Regex::new` parses it, or `None` when a match needs
    /// no particular byte (it can be empty, or each of its parts can be).
    fn of(pattern: &str) -> Option<MatchNeeds> {
        let hir = regex_syntax::parse(pattern).ok()?;
        // (Not `regex-syntax`'s `minimum_len`, which is `None` for
        // `secret|[^\s\S]` as for a pattern that matches nothing.)
        let shortest = match shortest(&hir) {
            // Its language is empty.
            None => return Some(MatchNeeds::NOTHING),
            Some(0) => return None,
            Some(n) => n,
        };
        Some(MatchNeeds {
            bytes: needed(&hir)?,
            shortest,
        })
    }

    /// What a match of either needs.
    fn union(self, other: MatchNeeds) -> MatchNeeds {
        MatchNeeds {
            bytes: self.bytes.union(other.bytes),
            shortest: self.shortest.min(other.shortest),
        }
    }

    /// The bytes of which every match holds one.
    fn bytes(&self) -> impl Iterator<Item = u8> {
        self.bytes.iter()
    }
}

/// A set of bytes, as a bit per byte.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Bytes([u64; 4]);

impl Bytes {
    fn one(b: u8) -> Bytes {
        let mut s = Bytes::default();
        s.0[usize::from(b / 64)] |= 1 << (b % 64);
        s
    }

    fn range(lo: u8, hi: u8) -> Bytes {
        (lo..=hi).fold(Bytes::default(), |s, b| s.union(Bytes::one(b)))
    }

    fn union(self, o: Bytes) -> Bytes {
        Bytes(std::array::from_fn(|i| self.0[i] | o.0[i]))
    }

    fn len(self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    fn iter(self) -> impl Iterator<Item = u8> {
        (0..=255u8).filter(move |&b| self.0[usize::from(b / 64)] >> (b % 64) & 1 == 1)
    }

    /// How often these bytes turn up in attribute values, roughly: the
    /// smaller, the fewer values hold one.
    fn commonness(self) -> (u32, u32) {
        let rank = |b: u8| match b {
            b'a'..=b'z' | b'0'..=b'9' | b' ' | b'.' | b'/' | b'-' | b'_' | b':' | b'=' => 3,
            b'A'..=b'Z' | b',' | b';' | b'&' | b'?' => 2,
            _ => 1,
        };
        (self.len(), self.iter().map(rank).sum())
    }
}

/// The length in bytes of the shortest match of `hir`, `None` when it
/// matches nothing: a part that matches nothing takes its alternation
/// branch, or its concatenation, with it, but not a repetition that may
/// take it no times.
fn shortest(hir: &regex_syntax::hir::Hir) -> Option<usize> {
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(0),
        HirKind::Literal(l) => Some(l.0.len()),
        HirKind::Class(c) => c.minimum_len(),
        HirKind::Repetition(r) if r.min == 0 => Some(0),
        HirKind::Repetition(r) => {
            shortest(&r.sub).map(|n| n.saturating_mul(r.min.try_into().unwrap_or(usize::MAX)))
        }
        HirKind::Capture(c) => shortest(&c.sub),
        HirKind::Concat(parts) => parts
            .iter()
            .try_fold(0usize, |sum, p| Some(sum.saturating_add(shortest(p)?))),
        HirKind::Alternation(branches) => branches.iter().filter_map(shortest).min(),
    }
}

/// Bytes of which every match of `hir` holds at least one, or `None`
/// when a match may hold none in particular (an empty match). Exact
/// bytes for literals; for a class, the first bytes of the UTF-8 forms of
/// its characters (a range's lie between its ends' first bytes); the
/// union over an alternation's branches; the least common of a
/// concatenation's parts. Look-arounds match no byte.
fn needed(hir: &regex_syntax::hir::Hir) -> Option<Bytes> {
    use regex_syntax::hir::{Class, HirKind};
    let lead = |c: char| {
        let mut buf = [0u8; 4];
        c.encode_utf8(&mut buf).as_bytes()[0]
    };
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => None,
        HirKind::Literal(l) => {
            l.0.iter()
                .map(|&b| Bytes::one(b))
                .min_by_key(|s| s.commonness())
        }
        HirKind::Class(Class::Unicode(c)) => Some(c.iter().fold(Bytes::default(), |s, r| {
            s.union(Bytes::range(lead(r.start()), lead(r.end())))
        })),
        HirKind::Class(Class::Bytes(c)) => Some(c.iter().fold(Bytes::default(), |s, r| {
            s.union(Bytes::range(r.start(), r.end()))
        })),
        HirKind::Repetition(r) if r.min == 0 => None,
        HirKind::Repetition(r) => needed(&r.sub),
        HirKind::Capture(c) => needed(&c.sub),
        HirKind::Concat(parts) => parts
            .iter()
            .filter_map(needed)
            .min_by_key(|s| s.commonness()),
        HirKind::Alternation(branches) => branches
            .iter()
            .map(needed)
            .try_fold(Bytes::default(), |s, b| Some(s.union(b?))),
    }
}
const REDACTED_KEYS: &str = "redaction.redacted.keys";
const REDACTED_COUNT: &str = "redaction.redacted.count";
const MASKED_KEYS: &str = "redaction.masked.keys";
const MASKED_COUNT: &str = "redaction.masked.count";
const ALLOWED_KEYS: &str = "redaction.allowed.keys";
const ALLOWED_COUNT: &str = "redaction.allowed.count";
const IGNORED_COUNT: &str = "redaction.ignored.count";
const BODY_REDACTED_KEYS: &str = "redaction.body.redacted.keys";
const BODY_REDACTED_COUNT: &str = "redaction.body.redacted.count";
const BODY_MASKED_KEYS: &str = "redaction.body.masked.keys";
const BODY_MASKED_COUNT: &str = "redaction.body.masked.count";
const BODY_ALLOWED_KEYS: &str = "redaction.body.allowed.keys";
const BODY_ALLOWED_COUNT: &str = "redaction.body.allowed.count";
const BODY_IGNORED_COUNT: &str = "redaction.body.ignored.count";
/// Keys the processor writes: never masked or counted (with a summary
/// on, merged into; silent, removed unless allowed).
const SUMMARY_KEYS: [&str; 14] = [
    REDACTED_KEYS,
    REDACTED_COUNT,
    MASKED_KEYS,
    MASKED_COUNT,
    ALLOWED_KEYS,
    ALLOWED_COUNT,
    IGNORED_COUNT,
    BODY_REDACTED_KEYS,
    BODY_REDACTED_COUNT,
    BODY_MASKED_KEYS,
    BODY_MASKED_COUNT,
    BODY_ALLOWED_KEYS,
    BODY_ALLOWED_COUNT,
    BODY_IGNORED_COUNT,
];

/// Why a redaction configuration was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedactionError {
    /// Unknown or unsupported hash function.
    #[error("unsupported hash function {0:?} (hmac-sha256 or hmac-sha512)")]
    HashFunction(String),
    /// An HMAC function without a key.
    #[error("hash function {0} needs an hmac_key")]
    HmacKey(&'static str),
    /// Unknown summary level.
    #[error("unknown summary {0:?} (debug, info or silent)")]
    Summary(String),
    /// Unknown built-in pattern.
    #[error("unknown blocked pattern {0:?} (email, card, bearer or api_key)")]
    Pattern(String),
    /// A database sanitizer setting that cannot be honoured.
    #[error(transparent)]
    DbSanitizer(#[from] DbSanitizerError),
}

/// What replaces a blocked value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashFunction {
    /// `****`.
    None,
    /// Hex of HMAC-SHA256 with the configured key.
    HmacSha256,
    /// Hex of HMAC-SHA512 with the configured key.
    HmacSha512,
}

impl std::str::FromStr for HashFunction {
    type Err = RedactionError;
    fn from_str(s: &str) -> Result<HashFunction, RedactionError> {
        match s {
            "" | "none" => Ok(HashFunction::None),
            "hmac-sha256" => Ok(HashFunction::HmacSha256),
            "hmac-sha512" => Ok(HashFunction::HmacSha512),
            _ => Err(RedactionError::HashFunction(s.to_owned())),
        }
    }
}

/// Which summary attributes are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Summary {
    /// Keys and counts.
    Debug,
    /// Counts.
    Info,
    /// Nothing.
    Silent,
}

impl std::str::FromStr for Summary {
    type Err = RedactionError;
    fn from_str(s: &str) -> Result<Summary, RedactionError> {
        match s {
            "debug" => Ok(Summary::Debug),
            "info" => Ok(Summary::Info),
            "" | "silent" => Ok(Summary::Silent),
            _ => Err(RedactionError::Summary(s.to_owned())),
        }
    }
}

/// Builds a [`Redaction`].
#[derive(Clone, Debug)]
pub struct RedactionBuilder {
    allow_all_keys: bool,
    allowed_keys: Vec<String>,
    ignored_keys: Vec<String>,
    ignored_key_patterns: Vec<Regex>,
    blocked_key_patterns: Vec<Regex>,
    blocked_values: Vec<Regex>,
    /// What the value patterns (blocked and allowed) say of their
    /// matches, `None` once a `Regex` came without its pattern or a
    /// pattern's matches need no particular byte (see
    /// [`RedactionBuilder::with_blocked_value_pattern`]).
    value_needs: Option<MatchNeeds>,
    allowed_values: Vec<Regex>,
    hash: HashFunction,
    hmac_key: Vec<u8>,
    masking_string: String,
    summary: Summary,
    redact_all_types: bool,
    scanner: crate::scan::ScannerBuilder,
    scanning: bool,
    url: Option<UrlSanitizer>,
    db: DbSanitizer,
    isa: Option<Isa>,
}

/// The URL sanitizer's settings: which attributes' values are sanitized,
/// and whether span names are.
#[derive(Clone, Debug)]
struct UrlSanitizer {
    attributes: Vec<String>,
    span_names: bool,
}

impl RedactionBuilder {
    /// Keep every key (step 2 off).
    pub fn with_allow_all_keys(mut self, on: bool) -> Self {
        self.allow_all_keys = on;
        self
    }
    /// Keys that are kept.
    pub fn with_allowed_keys<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.allowed_keys.extend(keys.into_iter().map(Into::into));
        self
    }
    /// Keys left untouched.
    pub fn with_ignored_keys<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.ignored_keys.extend(keys.into_iter().map(Into::into));
        self
    }
    /// Key patterns left untouched.
    pub fn with_ignored_key_pattern(mut self, re: Regex) -> Self {
        self.ignored_key_patterns.push(re);
        self
    }
    /// Key patterns whose values are masked whole.
    pub fn with_blocked_key_pattern(mut self, re: Regex) -> Self {
        self.blocked_key_patterns.push(re);
        self
    }
    /// Value patterns whose matches are masked.
    ///
    /// A `Regex` may have been built with options its pattern does not
    /// show, so every value goes through it. A pattern given as text
    /// ([`Self::with_blocked_value_pattern`], as the TOML configuration
    /// gives them) also tells which values it cannot match.
    pub fn with_blocked_value(mut self, re: Regex) -> Self {
        self.blocked_values.push(re);
        self.value_needs = None;
        self
    }
    /// A value pattern whose matches are masked, compiled with
    /// `Regex::new`. From its syntax the redaction also works out bytes of
    /// which every match holds one (`4` for `4[0-9]{12}`, `@` for
    /// `.+@example\.com`) and the length of the shortest match: when the
    /// value rules are such patterns (blocked and allowed), blocked key
    /// patterns and the built-in patterns and literals, a string value of
    /// up to 64 bytes without any of those bytes and candidates, or any
    /// value shorter than every shortest match and finding, is told apart
    /// in one vector pass over a list's values and is left as it is
    /// without running a value regex (with the exceptions the module docs
    /// name). A pattern whose matches need no particular byte (one that
    /// can match an empty string, say) leaves every value to the regexes.
    pub fn with_blocked_value_pattern(mut self, pattern: &str) -> Result<Self, regex::Error> {
        let re = Regex::new(pattern)?;
        self.blocked_values.push(re);
        self.needs(pattern);
        Ok(self)
    }
    /// Value patterns that keep a value as is.
    ///
    /// As with [`Self::with_blocked_value`], every value goes through a
    /// `Regex`; see [`Self::with_allowed_value_pattern`].
    pub fn with_allowed_value(mut self, re: Regex) -> Self {
        self.allowed_values.push(re);
        self.value_needs = None;
        self
    }
    /// A value pattern that keeps a value as is, compiled with
    /// `Regex::new`; what its syntax tells is used as for
    /// [`Self::with_blocked_value_pattern`].
    pub fn with_allowed_value_pattern(mut self, pattern: &str) -> Result<Self, regex::Error> {
        let re = Regex::new(pattern)?;
        self.allowed_values.push(re);
        self.needs(pattern);
        Ok(self)
    }
    /// Adds what `pattern`'s matches need to what the value patterns'
    /// matches need.
    fn needs(&mut self, pattern: &str) {
        self.value_needs = match (self.value_needs.take(), MatchNeeds::of(pattern)) {
            (Some(all), Some(this)) => Some(all.union(this)),
            _ => None,
        };
    }
    /// Hash instead of masking; HMAC functions need [`Self::with_hmac_key`].
    pub fn with_hash_function(mut self, f: HashFunction) -> Self {
        self.hash = f;
        self
    }
    /// What replaces each blocked match when nothing is hashed: `****`
    /// by default (and when empty).
    pub fn with_masking_string(mut self, mask: impl Into<String>) -> Self {
        let mask = mask.into();
        // As the Collector's `masking_string`: empty means the default.
        self.masking_string = if mask.is_empty() {
            MASK.to_owned()
        } else {
            mask
        };
        self
    }
    /// The key of the `hmac-sha256` and `hmac-sha512` hash functions.
    pub fn with_hmac_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.hmac_key = key.into();
        self
    }
    /// The summary level (default silent).
    pub fn with_summary(mut self, s: Summary) -> Self {
        self.summary = s;
        self
    }
    /// Check the string form of non-string scalars too.
    pub fn with_redact_all_types(mut self, on: bool) -> Self {
        self.redact_all_types = on;
        self
    }
    /// A built-in pattern: `email`, `card`, `bearer` or `api_key`.
    pub fn with_blocked_pattern(mut self, name: &str) -> Result<Self, RedactionError> {
        self.scanner = match name {
            "email" => self.scanner.with_emails(true),
            "card" => self.scanner.with_cards(true),
            "bearer" => self
                .scanner
                .with_prefix(Prefix::new("Bearer ", 8).with_visible_prefix())
                .with_prefix(Prefix::new("bearer ", 8).with_visible_prefix()),
            "api_key" => crate::scan::default_prefixes()
                .into_iter()
                .filter(|p| !p.text().ends_with(' '))
                .fold(self.scanner, |s, p| s.with_prefix(p)),
            _ => return Err(RedactionError::Pattern(name.to_owned())),
        };
        self.scanning = true;
        Ok(self)
    }
    /// A literal masked wherever it appears.
    pub fn with_blocked_literal(mut self, literal: impl Into<String>) -> Self {
        self.scanner = self.scanner.with_literal(literal);
        self.scanning = true;
        self
    }
    /// The Collector's `url_sanitizer`: the values of `attributes` (and
    /// every string of a log body) go through
    /// [`cluster_url`](super::url::cluster_url) after the blocked values
    /// and patterns, and with `span_names` so do the names of client and
    /// server spans that have HTTP attributes or a `/` in their name
    /// (unless an allowed value matches the name, or sanitizing would
    /// leave nothing but `*` and `/`). A changed attribute value counts as
    /// masked.
    pub fn with_url_sanitizer<S: Into<String>>(
        mut self,
        attributes: impl IntoIterator<Item = S>,
        span_names: bool,
    ) -> Self {
        self.url = Some(UrlSanitizer {
            attributes: attributes.into_iter().map(Into::into).collect(),
            span_names,
        });
        self
    }
    /// The Collector's `db_sanitizer`: database statements in the
    /// attributes each obfuscator lists (in lists whose `db.system.name`
    /// or `db.system` it handles; in log records, without one too), in
    /// every string of a log body, and in the names of database spans.
    /// See [`super::db`]. A changed attribute value counts as masked.
    pub fn with_db_sanitizer(mut self, db: DbSanitizer) -> Self {
        self.db = db;
        self
    }
    /// Run the kernels on this instruction set instead of the detected one.
    pub fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = Some(isa);
        self
    }

    /// The processor.
    pub fn build(self) -> Result<Redaction, RedactionError> {
        match self.hash {
            HashFunction::HmacSha256 if self.hmac_key.is_empty() => {
                return Err(RedactionError::HmacKey("hmac-sha256"))
            }
            HashFunction::HmacSha512 if self.hmac_key.is_empty() => {
                return Err(RedactionError::HmacKey("hmac-sha512"))
            }
            _ => {}
        }
        let allowed = KeySet::new(&self.allowed_keys);
        let db = self.db.build()?;
        let scanner = self.scanner.clone().build();
        let scanner = (self.scanning && !scanner.is_empty()).then_some(scanner);
        let ignores = !self.ignored_keys.is_empty() || !self.ignored_key_patterns.is_empty();
        let reads_values = !self.allowed_values.is_empty()
            || !self.blocked_key_patterns.is_empty()
            || !self.blocked_values.is_empty()
            || scanner.is_some()
            || self.url.is_some()
            || db.as_ref().is_some_and(Db::reads_attributes);
        // The value rules are the value patterns and the scanner, with
        // nothing else reading values (a key pattern reads none).
        let only_patterns = self.url.is_none() && db.is_none();
        // Only the scanner reads values.
        let scan_only = scanner.is_some()
            && only_patterns
            && self.blocked_key_patterns.is_empty()
            && self.blocked_values.is_empty()
            && self.allowed_values.is_empty();
        // What a value needs for a rule to change or allow it: a
        // candidate of the scanner or a byte a pattern's match needs, and
        // the length of the shortest finding or match.
        let prefilter = match (&self.value_needs, only_patterns) {
            (Some(needs), true) if reads_values => {
                let mut b = if self.scanning {
                    self.scanner.clone()
                } else {
                    Scanner::builder()
                };
                if !self.blocked_values.is_empty() || !self.allowed_values.is_empty() {
                    b = b.with_trigger_bytes(needs.bytes(), needs.shortest);
                }
                Some(b.build())
            }
            _ => None,
        };
        let shortest_value = prefilter.as_ref().map_or(0, Scanner::shortest_finding);
        Ok(Redaction {
            allow_all_keys: self.allow_all_keys,
            allowed,
            ignored: KeySet::new(&self.ignored_keys),
            ignored_key_patterns: self.ignored_key_patterns,
            blocked_key_patterns: self.blocked_key_patterns,
            blocked_values: self.blocked_values,
            allowed_values: self.allowed_values,
            hash: self.hash,
            hmac_key: self.hmac_key,
            masking_string: self.masking_string,
            summary: self.summary,
            redact_all_types: self.redact_all_types,
            scanner,
            url_keys: self.url.as_ref().map(|u| KeySet::new(&u.attributes)),
            url_span_names: self.url.as_ref().is_some_and(|u| u.span_names),
            db,
            isa: self.isa.unwrap_or_else(Isa::detect),
            ignores,
            reads_values,
            shortest_value,
            scan_only,
            prefilter,
            memo: key_memo::owner(),
        })
    }
}

/// Attribute redaction; see the module docs.
#[derive(Clone, Debug)]
pub struct Redaction {
    allow_all_keys: bool,
    allowed: KeySet,
    ignored: KeySet,
    ignored_key_patterns: Vec<Regex>,
    blocked_key_patterns: Vec<Regex>,
    blocked_values: Vec<Regex>,
    allowed_values: Vec<Regex>,
    hash: HashFunction,
    hmac_key: Vec<u8>,
    masking_string: String,
    summary: Summary,
    redact_all_types: bool,
    scanner: Option<Scanner>,
    /// With the URL sanitizer, the attributes whose values it sanitizes.
    url_keys: Option<KeySet>,
    /// The URL sanitizer sanitizes span names.
    url_span_names: bool,
    /// The database sanitizer, when some obfuscator is enabled.
    db: Option<Db>,
    isa: Isa,
    /// Some key is ignored (by name or pattern).
    ignores: bool,
    /// Some rule reads values (steps 3 to 6).
    reads_values: bool,
    /// No value rule changes or counts a value shorter than this (as
    /// text), unless its key matches a blocked key pattern: no value
    /// pattern matches it, and the scanner finds nothing in it.
    shortest_value: usize,
    /// The scanner is the only value rule: values are scanned and masked
    /// without the other steps (see [`Redaction::step`]).
    scan_only: bool,
    /// When the value patterns (blocked and allowed, given as text) and
    /// the scanner are the only value rules: a scanner whose candidates
    /// are the scanner's and the bytes the patterns' matches need. On the
    /// counting path a list's values first go through its one pass
    /// ([`Scanner::may_find`]), which clears most of them.
    prefilter: Option<Scanner>,
    /// The number under which this redaction's decisions by keys are
    /// remembered (see [`KeyDecisions`]).
    memo: u64,
}

fn hmac<D: Digest + Clone>(key: &[u8], block: usize, msg: &[u8]) -> Vec<u8> {
    let mut k = if key.len() > block {
        D::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(block, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = D::new().chain_update(&ipad).chain_update(msg).finalize();
    D::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

impl Redaction {
    /// A builder with nothing allowed: every attribute is removed until
    /// keys are allowed (the Collector's fail-closed default).
    pub fn builder() -> RedactionBuilder {
        RedactionBuilder {
            allow_all_keys: false,
            allowed_keys: Vec::new(),
            ignored_keys: Vec::new(),
            ignored_key_patterns: Vec::new(),
            blocked_key_patterns: Vec::new(),
            blocked_values: Vec::new(),
            value_needs: Some(MatchNeeds::NOTHING),
            allowed_values: Vec::new(),
            hash: HashFunction::None,
            hmac_key: Vec::new(),
            masking_string: MASK.to_owned(),
            summary: Summary::Silent,
            redact_all_types: false,
            scanner: Scanner::builder(),
            scanning: false,
            url: None,
            db: DbSanitizer::new(),
            isa: None,
        }
    }

    /// What replaces one blocked match.
    fn replacement(&self, matched: &str) -> String {
        let digest = match self.hash {
            HashFunction::None => return self.masking_string.clone(),
            HashFunction::HmacSha256 => hmac::<Sha256>(&self.hmac_key, 64, matched.as_bytes()),
            HashFunction::HmacSha512 => hmac::<Sha512>(&self.hmac_key, 128, matched.as_bytes()),
        };
        let mut out = Vec::with_capacity(digest.len() * 2);
        append_hex(&digest, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn ignore_key(&self, k: &str) -> bool {
        self.ignores && self.ignored.contains_with(self.isa, k.as_bytes())
            || self.ignored_key_patterns.iter().any(|re| re.is_match(k))
    }

    fn redact_key(&self, k: &str) -> bool {
        !self.allow_all_keys && !self.allowed.contains_with(self.isa, k.as_bytes())
    }

    /// Steps 5 and 6 on one value; `None` when nothing changes (the common
    /// case, which then allocates nothing).
    fn process_value(&self, value: &str) -> Option<String> {
        let mut changed: Option<String> = None;
        for re in &self.blocked_values {
            let cur = changed.as_deref().unwrap_or(value);
            if re.is_match(cur) {
                let next = re
                    .replace_all(cur, |c: &regex::Captures<'_>| self.replacement(&c[0]))
                    .into_owned();
                changed = Some(next);
            }
        }
        if let Some(scanner) = &self.scanner {
            let cur = changed.as_deref().unwrap_or(value);
            if let Some(out) = self.scan(scanner, cur) {
                changed = Some(out);
            }
        }
        changed.filter(|c| c != value)
    }

    /// `text` with what `scanner` finds in it replaced, or `None` when it
    /// finds nothing.
    #[inline]
    fn scan(&self, scanner: &Scanner, text: &str) -> Option<String> {
        // Holds findings only: nothing is allocated for a value without
        // any.
        let mut findings: Vec<Finding> = Vec::new();
        if scanner.find_with(self.isa, text, &mut findings) == 0 {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in &findings {
            let mut start = f.start;
            if let Kind::Prefix(i) = f.kind {
                let p = &scanner.prefixes()[i];
                if p.text().ends_with(' ') {
                    start += p.text().len();
                }
            }
            out.push_str(&text[at..start]);
            out.push_str(&self.replacement(&text[start..f.end]));
            at = f.end;
        }
        out.push_str(&text[at..]);
        Some(out)
    }

    /// [`value_step`](Self::value_step) on the value `text` of an
    /// attribute with `key`. When the scanner is the only value rule, it
    /// is called here: a value without findings (most) costs the scan
    /// alone.
    #[inline]
    /// `key_masks`: a blocked key pattern matches `key`.
    fn step(&self, key: &str, key_masks: bool, text: &str, db: Option<&DbContext>) -> ValueStep {
        match &self.scanner {
            Some(scanner) if self.scan_only => self
                .scan(scanner, text)
                .filter(|new| new != text)
                .map_or(ValueStep::Kept, ValueStep::Masked),
            _ => self.value_step_by(Some(key), key_masks, text, db),
        }
    }

    /// The Collector's `processAttrs` on one attribute list (of a decoded
    /// request, or of an SDK span as it ends).
    pub(crate) fn process_attrs<L: AttrList>(&self, attrs: &mut L) {
        self.process_attrs_in(attrs, false);
    }

    /// [`process_attrs`](Self::process_attrs) on a list of a log record,
    /// its scope or its resource (`logs`): the database sanitizer then
    /// works without a `db.system` too.
    pub(crate) fn process_attrs_in<L: AttrList>(&self, attrs: &mut L, logs: bool) {
        let db = self.db_context(attrs, logs);
        if attrs.count() <= 64 {
            self.process_attrs_counting(attrs, db.as_ref());
        } else {
            self.process_attrs_by_name(attrs, db.as_ref());
        }
    }

    /// What the database sanitizer needs to know of list `attrs` (of logs
    /// with `logs`), when it reads attributes at all.
    fn db_context<L: AttrList>(&self, attrs: &L, logs: bool) -> Option<DbContext> {
        self.db
            .as_ref()
            .filter(|db| db.reads_attributes())
            .map(|_| Db::context(Db::system_of(|k| attrs.get_text(k)), logs))
    }

    /// [`process_attrs`](Self::process_attrs) on a list of at most 64
    /// attributes: the decisions by key are remembered for the SDK's
    /// lists, the removed attributes are marked by bit, and with the
    /// `info` and `silent` summaries the others are only counted, so
    /// nothing is kept aside, and the counts are appended without a search
    /// when the list had no summary attribute. With `debug`, the removed,
    /// masked and allowed keys are written by name.
    fn process_attrs_counting<L: AttrList>(&self, attrs: &mut L, db: Option<&DbContext>) {
        let by_keys = attrs.decided_by_keys(&BY_KEYS, self.memo, || self.by_keys(&*attrs));
        let KeyDecisions {
            redacted,
            ignored,
            has_summary,
            ..
        } = by_keys;
        // How many are masked and allowed, and which, by bit.
        let (mut masked, mut allowed) = (0i64, 0i64);
        let (mut masked_bits, mut allowed_bits) = (0u64, 0u64);
        let mut values = if self.reads_values { by_keys.values } else { 0 };
        let forced = values & by_keys.forced;
        if let Some(prefilter) = &self.prefilter {
            // The values' texts scanned in one pass: only those it cannot
            // clear go through the step below, with those a key pattern
            // masks.
            values = self.may_change(prefilter, &*attrs, values & !forced) | forced;
        }
        while values != 0 {
            let i = values.trailing_zeros() as usize;
            values &= values - 1;
            let text = attrs.text_at(i, self.redact_all_types);
            if text.len() < self.shortest_value && forced >> i & 1 == 0 {
                continue;
            }
            match self.step(attrs.key_at(i), forced >> i & 1 == 1, &text, db) {
                ValueStep::Allowed => {
                    allowed += 1;
                    allowed_bits |= 1 << i;
                }
                ValueStep::Masked(new) => {
                    masked += 1;
                    masked_bits |= 1 << i;
                    attrs.set_text(i, new);
                }
                ValueStep::Kept => {}
            }
        }
        // With the debug summary, the keys by name, before the removed
        // ones go.
        let lists = (self.summary == Summary::Debug).then(|| {
            [redacted, masked_bits, allowed_bits].map(|mut bits| {
                let mut keys = Few::new();
                while bits != 0 {
                    keys.push(attrs.key_handle(bits.trailing_zeros() as usize));
                    bits &= bits - 1;
                }
                keys
            })
        });
        remove_marked(attrs, redacted);
        if let Some([removed, masked, allowed]) = lists {
            let mut ignored_keys = Few::counting(false);
            for _ in 0..ignored {
                ignored_keys.count_only();
            }
            self.summarize(attrs, &removed, Some(REDACTED_KEYS), REDACTED_COUNT, true);
            self.summarize(attrs, &masked, Some(MASKED_KEYS), MASKED_COUNT, true);
            self.summarize(attrs, &allowed, Some(ALLOWED_KEYS), ALLOWED_COUNT, false);
            self.summarize(attrs, &ignored_keys, None, IGNORED_COUNT, false);
            return;
        }
        if self.summary == Summary::Silent {
            return;
        }
        let ignored = i64::from(ignored);
        // Removing and masking add to what an earlier redaction counted;
        // allowing and ignoring are counted afresh, replacing its counts
        // (and, when there are none, removing them with the allowed keys).
        let counts = [
            (REDACTED_COUNT, None, i64::from(redacted.count_ones())),
            (MASKED_COUNT, None, masked),
            (ALLOWED_COUNT, Some(Some(ALLOWED_KEYS)), allowed),
            (IGNORED_COUNT, Some(None), ignored),
        ];
        for (key, afresh, count) in counts {
            if !has_summary {
                if count != 0 {
                    attrs.push_int(key, count);
                }
                continue;
            }
            match (afresh, count) {
                (None, 0) => {}
                (None, _) => attrs.add_int(key, count),
                (Some(keys), 0) => {
                    if let Some(keys) = keys {
                        attrs.remove_key(keys);
                    }
                    attrs.remove_key(key);
                }
                (Some(_), _) => attrs.put_int(key, count),
            }
        }
    }

    /// Of the attributes whose bits are set in `items`, those whose values
    /// the prefilter cannot clear. A value of another type reads as "" or,
    /// with `redact_all_types`, is formatted: then the step looks at it.
    #[inline]
    fn may_change<L: AttrList>(&self, prefilter: &Scanner, attrs: &L, items: u64) -> u64 {
        let all = self.redact_all_types;
        prefilter.may_find(self.isa, items, |i| match attrs.str_at(i) {
            Some(text) => Some(text),
            None if all => None,
            None => Some(""),
        })
    }

    /// What the counting path decides from the keys of `attrs` (of at
    /// most 64) alone.
    fn by_keys<L: AttrList>(&self, attrs: &L) -> KeyDecisions {
        let mut d = KeyDecisions {
            redacted: 0,
            values: 0,
            forced: 0,
            ignored: 0,
            has_summary: false,
        };
        let forcing = !self.blocked_key_patterns.is_empty();
        for i in 0..attrs.count() {
            let key = attrs.key_at(i);
            if is_summary_key(key) {
                d.has_summary = true;
                if self.summary == Summary::Silent && self.redact_key(key) {
                    d.redacted |= 1 << i;
                }
            } else if self.ignore_key(key) {
                d.ignored += 1;
            } else if self.redact_key(key) {
                d.redacted |= 1 << i;
            } else {
                d.values |= 1 << i;
                if forcing && self.key_masks_value(key) {
                    d.forced |= 1 << i;
                }
            }
        }
        d
    }

    /// A blocked key pattern matches `key`: its value is masked whatever
    /// it holds (unless an allowed value matches it).
    fn key_masks_value(&self, key: &str) -> bool {
        self.blocked_key_patterns.iter().any(|re| re.is_match(key))
    }

    /// [`process_attrs`](Self::process_attrs) keeping the keys it
    /// removes, masks and allows by name: the Collector's steps as they
    /// are written, for lists of more than 64 attributes (and the tests'
    /// reference for the counting path).
    fn process_attrs_by_name<L: AttrList>(&self, attrs: &mut L, db: Option<&DbContext>) {
        // Only the removed keys and, with the debug summary, the masked
        // and allowed ones are needed by name; the rest are counted.
        let names = self.summary == Summary::Debug;
        let (mut redacted, mut masked, mut allowed, mut ignored) = (
            Few::new(),
            Few::counting(names),
            Few::counting(names),
            Few::counting(false),
        );
        // A long list's removals are replayed from the indices (removing
        // key by key, a search of the list each, is quadratic).
        let many = attrs.count() > 64;
        let mut removed = Vec::new();
        for i in 0..attrs.count() {
            let key = attrs.key_at(i);
            if is_summary_key(key) {
                // Never masked or counted; with the summary on, they are
                // merged into below; silent, they are data like any other.
                if self.summary == Summary::Silent && self.redact_key(key) {
                    redacted.push(attrs.key_handle(i));
                    if many {
                        removed.push(i);
                    }
                }
                continue;
            }
            if self.ignore_key(key) {
                ignored.push_with(|| attrs.key_handle(i));
                continue;
            }
            if self.redact_key(key) {
                redacted.push(attrs.key_handle(i));
                if many {
                    removed.push(i);
                }
                continue;
            }
            if !self.reads_values {
                continue;
            }
            let text = attrs.text_at(i, self.redact_all_types);
            // A value too short for any value rule is left as it is,
            // unless a key pattern masks it.
            let key_masks = self.key_masks_value(key);
            if text.len() < self.shortest_value && !key_masks {
                continue;
            }
            match self.step(key, key_masks, &text, db) {
                ValueStep::Allowed => allowed.push_with(|| attrs.key_handle(i)),
                ValueStep::Masked(new) => {
                    masked.push_with(|| attrs.key_handle(i));
                    attrs.set_text(i, new);
                }
                ValueStep::Kept => {}
            }
        }
        if redacted.len() == attrs.count() {
            attrs.clear_all();
        } else if many {
            remove_in_order(attrs, &removed);
        } else {
            // As pdata's `Map.Remove` does: the last attribute takes the
            // removed one's place, so the order comes out as the
            // Collector's does.
            for key in redacted.iter() {
                attrs.remove_key(L::handle_str(key));
            }
        }
        self.summarize(attrs, &redacted, Some(REDACTED_KEYS), REDACTED_COUNT, true);
        self.summarize(attrs, &masked, Some(MASKED_KEYS), MASKED_COUNT, true);
        self.summarize(attrs, &allowed, Some(ALLOWED_KEYS), ALLOWED_COUNT, false);
        self.summarize(attrs, &ignored, None, IGNORED_COUNT, false);
    }

    /// Steps 3 to 8 on the value `text` of an attribute with `key` (one
    /// whose key is neither ignored nor removed), in a list whose database
    /// context is `db`. A value in a log body comes without a key: the
    /// walk looked at it before reaching the value.
    fn value_step(&self, key: Option<&str>, text: &str, db: Option<&DbContext>) -> ValueStep {
        let key_masks = key.is_some_and(|k| self.key_masks_value(k));
        self.value_step_by(key, key_masks, text, db)
    }

    /// [`value_step`](Self::value_step) when whether a blocked key pattern
    /// matches the key (`key_masks`) is known.
    fn value_step_by(
        &self,
        key: Option<&str>,
        key_masks: bool,
        text: &str,
        db: Option<&DbContext>,
    ) -> ValueStep {
        if self.allowed_values.iter().any(|re| re.is_match(text)) {
            return ValueStep::Allowed;
        }
        let new = if key_masks {
            Some(self.replacement(text))
        } else {
            let new = self.process_value(text);
            let new = match &self.url_keys {
                // A body's values have no key: every one is sanitized.
                Some(keys) if key.is_none_or(|k| keys.contains_with(self.isa, k.as_bytes())) => {
                    match cluster_url(new.as_deref().unwrap_or(text)) {
                        Cow::Owned(url) => Some(url).filter(|u| u != text),
                        Cow::Borrowed(_) => new,
                    }
                }
                _ => new,
            };
            match (&self.db, key) {
                (Some(d), None) => d.body(new.as_deref().unwrap_or(text)).or(new),
                (Some(d), Some(k)) => db
                    .and_then(|cx| d.attribute(self.isa, cx, k, new.as_deref().unwrap_or(text)))
                    .or(new),
                (None, _) => new,
            }
            .filter(|n| n != text)
        };
        new.map_or(ValueStep::Kept, ValueStep::Masked)
    }

    /// The Collector's `addMetaAttrs`. With `accumulate` (removed and
    /// masked keys: work a later redaction cannot see again), the keys
    /// and count are added to an earlier redaction's; without it (allowed
    /// and ignored keys, counted afresh by every redaction) they replace
    /// them, and none removes them.
    fn summarize<L: AttrList>(
        &self,
        attrs: &mut L,
        keys: &Few<L::Key>,
        keys_attr: Option<&'static str>,
        count_attr: &'static str,
        accumulate: bool,
    ) {
        if keys.is_empty() {
            if !accumulate && self.summary != Summary::Silent {
                if let Some(ka) = keys_attr {
                    attrs.remove_key(ka);
                }
                attrs.remove_key(count_attr);
            }
            return;
        }
        let count = keys.len() as i64;
        if let (Summary::Debug, Some(ka)) = (self.summary, keys_attr) {
            let mut names: Vec<String> = keys.iter().map(|k| L::handle_str(k).to_owned()).collect();
            if accumulate {
                if let Some(old) = attrs.get_text(ka) {
                    if !old.is_empty() {
                        names.extend(old.split(',').map(str::to_owned));
                    }
                }
            }
            names.sort();
            attrs.put_text(ka, names.join(","));
        }
        if self.summary != Summary::Silent {
            if accumulate {
                // Go's int64 addition, as the Collector's.
                attrs.add_int(count_attr, count);
            } else {
                attrs.put_int(count_attr, count);
            }
        }
    }
}

/// What [`Redaction::value_step`] decided for one value.
enum ValueStep {
    /// An allowed value: left as it is, counted as allowed.
    Allowed,
    /// Masked: the new text.
    Masked(String),
    /// Nothing to mask.
    Kept,
}

/// What [`Redaction`]'s counting path decides from an attribute list's
/// keys alone, by bit (attribute `i` is bit `i`).
#[derive(Clone, Copy, Debug)]
struct KeyDecisions {
    /// Removed.
    redacted: u64,
    /// Neither a summary attribute, ignored nor removed: their values are
    /// read when some rule reads values.
    values: u64,
    /// Of `values`, those whose keys match a blocked key pattern: their
    /// values are masked whatever they hold (unless an allowed value
    /// matches), so the prefilter does not clear them.
    forced: u64,
    /// How many are ignored.
    ignored: u32,
    /// The list has a summary attribute.
    has_summary: bool,
}

thread_local! {
    /// Each thread's [`KeyDecisions`] of the SDK's lists, by their keys'
    /// identity.
    static BY_KEYS: std::cell::RefCell<MemoCell<KeyDecisions>> =
        const { std::cell::RefCell::new(MemoCell::new()) };
}

/// Removes the attributes whose bits are set in `marked` (of a list of at
/// most 64) as removing their keys one by one in the list's order does:
/// each removal takes the first attribute left with that key, and the
/// last attribute takes its place (pdata's `Map.Remove`). Every attribute
/// with a marked attribute's key is marked too (the steps decide by key).
fn remove_marked<L: AttrList>(attrs: &mut L, marked: u64) {
    let n = attrs.count();
    if marked == 0 {
        return;
    }
    // Every attribute marked (`marked` has bits below `n` only): told
    // without counting the bits.
    let all = u64::MAX.checked_shr(64u32.saturating_sub(n.min(64) as u32));
    if all == Some(marked) {
        attrs.clear_all();
        return;
    }
    if marked.is_power_of_two() {
        attrs.swap_remove(marked.trailing_zeros() as usize);
        return;
    }
    // Each marked attribute's group: the first marked attribute with its
    // key.
    let mut group = [0u8; 64];
    let mut rest = marked;
    while rest != 0 {
        let j = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        group[j] = j as u8;
        let mut before = marked & ((1u64 << j) - 1);
        while before != 0 {
            let i = before.trailing_zeros() as usize;
            before &= before - 1;
            if attrs.key_at(i) == attrs.key_at(j) {
                group[j] = group[i];
                break;
            }
        }
    }
    // Where each attribute now is: `at[p]` is the original index of the
    // attribute at position `p`.
    let mut at: [u8; 64] = std::array::from_fn(|i| i as u8);
    let mut len = n;
    let mut present = marked;
    let mut order = marked;
    while order != 0 {
        let j = order.trailing_zeros() as usize;
        order &= order - 1;
        let g = group[j];
        let found = (0..len).find(|&p| {
            let o = usize::from(at[p]);
            present >> o & 1 == 1 && group[o] == g
        });
        if let Some(p) = found {
            attrs.swap_remove(p);
            present &= !(1u64 << at[p]);
            at[p] = at[len - 1];
            len -= 1;
        }
    }
}

/// The attributes that mark a span as an HTTP one for span-name
/// sanitizing (the Collector's `httpAttributeKeys`).
const HTTP_KEYS: [&str; 9] = [
    "http.route",
    "http.request.method",
    "http.request.method_original",
    "http.response.status_code",
    "url.full",
    "http.scheme",
    "http.target",
    "http.method",
    "http.url",
];

/// Whether a sanitized name is nothing but `*` and `/` (with a `*`).
fn fully_redacted(s: &str) -> bool {
    s.split('/').all(|p| p.is_empty() || p == "*") && s.split('/').any(|p| p == "*")
}

/// What [`Redaction::span_name`] needs to know of a span besides its
/// name, read only when needed.
struct SpanFacts<H, S> {
    /// A client or server span.
    client_or_server: bool,
    /// An internal span.
    internal: bool,
    /// Whether it has an HTTP attribute.
    http: H,
    /// The database system its attributes name (see [`Db::system_of`]).
    system: S,
}

impl Redaction {
    /// Whether span names may change.
    fn sanitizes_span_names(&self) -> bool {
        self.url_span_names || self.db.as_ref().is_some_and(|d| d.span_names)
    }

    /// The Collector's `sanitizeSpanName`: the new name of a span named
    /// `name`, if any. Unless an allowed value matches the name, the URL
    /// sanitizer has it first (a client or server span with HTTP
    /// attributes, or with a `/` in its name), and when it changes
    /// nothing the database sanitizer (a client, server or internal span
    /// whose attributes name a system).
    fn span_name<'a>(
        &self,
        name: &str,
        span: SpanFacts<impl FnOnce() -> bool, impl FnOnce() -> Cow<'a, str>>,
    ) -> Option<String> {
        if !self.sanitizes_span_names() || self.allowed_values.iter().any(|re| re.is_match(name)) {
            return None;
        }
        if self.url_span_names && span.client_or_server && ((span.http)() || name.contains('/')) {
            if let Cow::Owned(new) = cluster_url(name) {
                if new != name && !fully_redacted(&new) {
                    // The URL sanitizer's: kept unless nothing is left.
                    return (!new.is_empty() && new != "...").then_some(new);
                }
            }
        }
        let db = self.db.as_ref()?;
        if !db.span_names || !(span.client_or_server || span.internal) {
            return None;
        }
        db.span_name(name, &(span.system)())
    }
}

/// One of the attributes the processor writes (see [`SUMMARY_KEYS`]).
#[inline]
fn is_summary_key(key: &str) -> bool {
    // The shortest of SUMMARY_KEYS ("redaction.masked.keys") has 21 bytes.
    // Most keys differ in the first byte or the length: no call to memcmp.
    key.len() >= 21
        && key.as_bytes()[0] == b'r'
        && key.starts_with("redaction.")
        && SUMMARY_KEYS.contains(&key)
}

/// Scopes with attributes seen by a [`RedactionStep`], and what they
/// become; at most this many are kept.
const SCOPES_KEPT: usize = 64;

/// [`Redaction`] on each span as it ends: the span's and its events'
/// attributes in place, the scope's through a small cache (the SDK does
/// not let a scope's attributes be edited in place, and one scope serves
/// many spans), and the resource once.
#[derive(Debug)]
struct RedactionStep {
    redaction: Redaction,
    scopes: std::sync::RwLock<Vec<(InstrumentationScope, InstrumentationScope)>>,
}

/// Two SDK values alike, doubles by their bits (so that a NaN matches
/// itself).
fn same_value(a: &opentelemetry::Value, b: &opentelemetry::Value) -> bool {
    use opentelemetry::{Array, Value as V};
    match (a, b) {
        (V::F64(x), V::F64(y)) => x.to_bits() == y.to_bits(),
        (V::Array(Array::F64(x)), V::Array(Array::F64(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits())
        }
        _ => a == b,
    }
}

/// Two scopes alike, attributes in order: the redaction's output depends
/// on the order (removal moves the last attribute into the gap).
fn same_scope(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    a.name() == b.name()
        && a.version() == b.version()
        && a.schema_url() == b.schema_url()
        && a.attributes().count() == b.attributes().count()
        && a.attributes()
            .zip(b.attributes())
            .all(|(x, y)| x.key == y.key && same_value(&x.value, &y.value))
}

impl RedactionStep {
    fn scope(&self, scope: &InstrumentationScope) -> InstrumentationScope {
        let read = |scopes: &[(InstrumentationScope, InstrumentationScope)]| {
            scopes
                .iter()
                .find(|(s, _)| same_scope(s, scope))
                .map(|(_, done)| done.clone())
        };
        if let Some(done) = read(
            &self
                .scopes
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ) {
            return done;
        }
        let mut attrs: Vec<opentelemetry::KeyValue> = scope.attributes().cloned().collect();
        self.redaction.process_attrs(&mut attrs);
        let mut b = InstrumentationScope::builder(scope.name().to_owned()).with_attributes(attrs);
        if let Some(v) = scope.version() {
            b = b.with_version(v.to_owned());
        }
        if let Some(u) = scope.schema_url() {
            b = b.with_schema_url(u.to_owned());
        }
        let done = b.build();
        let mut scopes = self
            .scopes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if scopes.len() < SCOPES_KEPT && read(&scopes).is_none() {
            scopes.push((scope.clone(), done.clone()));
        }
        done
    }
}

impl SpanStep for RedactionStep {
    fn name(&self) -> &str {
        "redaction"
    }

    fn process_resource(&self, resource: &mut Vec<opentelemetry::KeyValue>) {
        self.redaction.process_attrs(resource);
    }

    fn on_end<'s>(&'s self, ending: &mut EndingSpan<'s, '_>) -> Verdict {
        let span = ending.span_mut();
        if span.instrumentation_scope.attributes().next().is_some() {
            span.instrumentation_scope = self.scope(&span.instrumentation_scope);
        }
        self.redaction.process_attrs(&mut span.attributes);
        for ev in span.events.events.iter_mut() {
            self.redaction.process_attrs(&mut ev.attributes);
        }
        if self.redaction.sanitizes_span_names() {
            use opentelemetry::trace::SpanKind;
            let attrs = &span.attributes;
            let facts = SpanFacts {
                client_or_server: matches!(span.span_kind, SpanKind::Client | SpanKind::Server),
                internal: span.span_kind == SpanKind::Internal,
                http: || attrs.iter().any(|kv| HTTP_KEYS.contains(&kv.key.as_str())),
                system: || Db::system_of(|k| attrs.get_text(k)),
            };
            if let Some(name) = self.redaction.span_name(&span.name, facts) {
                span.name = name.into();
            }
        }
        Verdict::Keep
    }
}

impl Processor for Redaction {
    fn name(&self) -> &str {
        "redaction"
    }

    fn span_step(&self) -> Option<Box<dyn SpanStep>> {
        Some(Box::new(RedactionStep {
            redaction: self.clone(),
            scopes: std::sync::RwLock::default(),
        }))
    }

    fn process(&mut self, batch: &mut ExportTraceServiceRequest) -> Outcome {
        for rs in &mut batch.resource_spans {
            if let Some(r) = rs.resource.as_mut() {
                self.process_attrs(&mut r.attributes);
            }
            for ss in &mut rs.scope_spans {
                if let Some(s) = ss.scope.as_mut() {
                    self.process_attrs(&mut s.attributes);
                }
                for span in &mut ss.spans {
                    self.process_attrs(&mut span.attributes);
                    for ev in &mut span.events {
                        self.process_attrs(&mut ev.attributes);
                    }
                    let (kind, attrs) = (span.kind, &span.attributes);
                    let facts = SpanFacts {
                        client_or_server: kind == 2 || kind == 3,
                        internal: kind == 1,
                        http: || attrs.iter().any(|kv| HTTP_KEYS.contains(&kv.key.as_str())),
                        system: || Db::system_of(|k| attrs.get_text(k)),
                    };
                    if let Some(name) = self.span_name(&span.name, facts) {
                        span.name = name;
                    }
                }
            }
        }
        Outcome::default()
    }

    /// The Collector's `processLogs`: resource, scope and record
    /// attributes, then each record's body, whose summary goes into the
    /// record's attributes under `redaction.body.*`.
    fn process_logs(&mut self, batch: &mut ExportLogsServiceRequest) -> Outcome {
        for rl in &mut batch.resource_logs {
            if let Some(r) = rl.resource.as_mut() {
                self.process_attrs_in(&mut r.attributes, true);
            }
            for sl in &mut rl.scope_logs {
                if let Some(s) = sl.scope.as_mut() {
                    self.process_attrs_in(&mut s.attributes, true);
                }
                for record in &mut sl.log_records {
                    self.process_attrs_in(&mut record.attributes, true);
                    self.process_body(&mut record.body, &mut record.attributes);
                }
            }
        }
        Outcome::default()
    }

    /// The Collector's `processMetrics`: resource, scope and data point
    /// attributes.
    fn process_metrics(&mut self, batch: &mut ExportMetricsServiceRequest) -> Outcome {
        for rm in &mut batch.resource_metrics {
            if let Some(r) = rm.resource.as_mut() {
                self.process_attrs(&mut r.attributes);
            }
            for sm in &mut rm.scope_metrics {
                if let Some(s) = sm.scope.as_mut() {
                    self.process_attrs(&mut s.attributes);
                }
                for m in &mut sm.metrics {
                    super::each_point_attributes(m, |attrs| self.process_attrs(attrs));
                }
            }
        }
        Outcome::default()
    }
}

/// The most bytes of key paths one log body's `debug` summary lists; the
/// counts cover every key. (A deep body with many leaves would otherwise
/// make paths far larger than the request.)
const BODY_KEYS_BYTES: usize = 64 * 1024;

/// Which of a body's summary lists.
#[derive(Clone, Copy)]
enum BodyList {
    Redacted,
    Masked,
    Allowed,
    Ignored,
}

/// The walk through one log body: the path of the value at hand (the
/// Collector's `processLogBody` names keys `a.b`, `list.[0]`, `body`), and
/// what was removed, masked, allowed and ignored, by path.
struct BodyWalk {
    path: String,
    redacted: Few<String>,
    masked: Few<String>,
    allowed: Few<String>,
    ignored: Few<String>,
    /// Whether paths are kept: the `debug` summary is the only one that
    /// writes them.
    names: bool,
    /// Bytes of paths the lists may still keep.
    room: usize,
}

impl BodyWalk {
    fn new(names: bool) -> BodyWalk {
        BodyWalk {
            path: String::new(),
            redacted: Few::new(),
            masked: Few::new(),
            allowed: Few::new(),
            ignored: Few::new(),
            names,
            room: BODY_KEYS_BYTES,
        }
    }

    /// Sets the path to the entry `key` of the map at `base` (a prefix of
    /// the path; `top` for the body itself, whose entries have no dot
    /// before them).
    fn enter_key(&mut self, base: usize, top: bool, key: &str) {
        self.path.truncate(base);
        if !top {
            self.path.push('.');
        }
        self.path.push_str(key);
    }

    /// Sets the path to the item `i` of the list at `base`.
    fn enter_index(&mut self, base: usize, top: bool, i: usize) {
        use std::fmt::Write as _;
        self.path.truncate(base);
        if !top {
            self.path.push('.');
        }
        let _ = write!(self.path, "[{i}]");
    }

    /// Counts the value at the path in `list`, keeping its path (for the
    /// debug summary) while there is room, and the first path of a list
    /// whatever its size (one path is no longer than the body). Ignored
    /// keys are only counted, as the Collector lists none.
    fn note(&mut self, list: BodyList) {
        let few = match list {
            BodyList::Redacted => &mut self.redacted,
            BodyList::Masked => &mut self.masked,
            BodyList::Allowed => &mut self.allowed,
            BodyList::Ignored => {
                self.ignored.count_only();
                return;
            }
        };
        // Each path listed costs its bytes and a comma.
        let cost = self.path.len() + 1;
        if self.names && (cost <= self.room || few.is_empty()) {
            self.room = self.room.saturating_sub(cost);
            few.push(self.path.clone());
        } else {
            few.count_only();
        }
    }
}

impl Redaction {
    /// The Collector's `processLogBody`: a map body's entries and a list
    /// body's items are redacted as attributes are, recursively (a key is
    /// named by its path: `a.b`, `list.[0]`); any other body is one value.
    /// The summary goes into the record's `attributes`.
    fn process_body(&self, body: &mut Option<AnyValue>, attributes: &mut Vec<KeyValue>) {
        let mut walk = BodyWalk::new(self.summary == Summary::Debug);
        match body.as_mut().and_then(|b| b.value.as_mut()) {
            Some(any_value::Value::KvlistValue(map)) => {
                self.redact_body_map(&mut map.values, true, &mut walk);
            }
            Some(any_value::Value::ArrayValue(list)) => {
                self.redact_body_list(&mut list.values, true, &mut walk);
            }
            _ => {
                walk.path.push_str("body");
                redact_in_place(body, |value| self.redact_body_value(value, &mut walk));
            }
        }
        let w = &walk;
        self.summarize(
            attributes,
            &w.redacted,
            Some(BODY_REDACTED_KEYS),
            BODY_REDACTED_COUNT,
            true,
        );
        self.summarize(
            attributes,
            &w.masked,
            Some(BODY_MASKED_KEYS),
            BODY_MASKED_COUNT,
            true,
        );
        self.summarize(
            attributes,
            &w.allowed,
            Some(BODY_ALLOWED_KEYS),
            BODY_ALLOWED_COUNT,
            false,
        );
        self.summarize(attributes, &w.ignored, None, BODY_IGNORED_COUNT, false);
    }

    /// The entries of a map in a body, at the walk's path (`top`: the body
    /// itself).
    fn redact_body_map(&self, entries: &mut Vec<KeyValue>, top: bool, walk: &mut BodyWalk) {
        let base = walk.path.len();
        let mut removed = Vec::new();
        for (i, kv) in entries.iter_mut().enumerate() {
            let k = kv.key.as_str();
            walk.enter_key(base, top, k);
            if self.ignore_key(k) {
                walk.note(BodyList::Ignored);
                continue;
            }
            if self.redact_key(k) {
                removed.push(i);
                continue;
            }
            if self.blocked_key_patterns.iter().any(|re| re.is_match(k)) {
                walk.note(BodyList::Masked);
                // The value's string (none for other types) masked whole.
                let text = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => s.as_str(),
                    _ => "",
                };
                let masked = self.replacement(text);
                kv.value = Some(string_value(masked));
                continue;
            }
            redact_in_place(&mut kv.value, |value| self.redact_body_value(value, walk));
        }
        for &i in &removed {
            walk.enter_key(base, top, &entries[i].key);
            walk.note(BodyList::Redacted);
        }
        walk.path.truncate(base);
        // pdata's `Map.Remove` key by key: the last entry takes a removed
        // one's place.
        if removed.len() == entries.len() {
            entries.clear();
        } else if entries.len() > 64 {
            remove_in_order(entries, &removed);
        } else {
            let keys: Vec<String> = removed.iter().map(|&i| entries[i].key.clone()).collect();
            for k in keys {
                entries.remove_key(&k);
            }
        }
    }

    /// The items of a list in a body, at the walk's path (`top`: the body
    /// itself).
    fn redact_body_list(&self, items: &mut [AnyValue], top: bool, walk: &mut BodyWalk) {
        let base = walk.path.len();
        for (i, item) in items.iter_mut().enumerate() {
            walk.enter_index(base, top, i);
            self.redact_body_value(item, walk);
        }
        walk.path.truncate(base);
    }

    /// One value in a body, at the walk's path.
    fn redact_body_value(&self, value: &mut AnyValue, walk: &mut BodyWalk) {
        match value.value.as_mut() {
            Some(any_value::Value::KvlistValue(map)) => {
                self.redact_body_map(&mut map.values, false, walk)
            }
            Some(any_value::Value::ArrayValue(list)) => {
                self.redact_body_list(&mut list.values, false, walk)
            }
            _ => {
                let text = super::as_text(value);
                match self.value_step(None, &text, None) {
                    ValueStep::Allowed => walk.note(BodyList::Allowed),
                    ValueStep::Masked(new) => {
                        walk.note(BodyList::Masked);
                        *value = string_value(new);
                    }
                    ValueStep::Kept => {}
                }
            }
        }
    }
}

/// Runs `f` on `value`, an absent one as an empty value, which stays
/// absent unless `f` gives it a value.
fn redact_in_place(value: &mut Option<AnyValue>, f: impl FnOnce(&mut AnyValue)) {
    match value {
        Some(v) => f(v),
        None => {
            let mut v = AnyValue::default();
            f(&mut v);
            if v.value.is_some() {
                *value = Some(v);
            }
        }
    }
}

/// A string value.
fn string_value(s: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::string_attr;
    use crate::processor::Chain;
    use crate::proto::common::v1::any_value::Value;
    use proptest::prelude::*;
    use std::collections::HashSet;

    use crate::processor::attrs::proto_value as get;

    fn put(attrs: &mut Vec<KeyValue>, key: &'static str, v: Value) {
        crate::processor::attrs::proto_put(attrs, key, v);
    }

    fn int_attr(k: &str, v: i64) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(v)),
            }),
            ..KeyValue::default()
        }
    }

    fn strs(attrs: &[KeyValue]) -> Vec<(String, String)> {
        attrs
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    kv.value
                        .as_ref()
                        .and_then(crate::processor::scalar_string)
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn a_scope_is_redacted_once_even_with_a_nan() {
        let step = RedactionStep {
            redaction: Redaction::builder()
                .with_allowed_keys(["x"])
                .build()
                .unwrap(),
            scopes: std::sync::RwLock::default(),
        };
        let scope = InstrumentationScope::builder("s")
            .with_attributes([
                opentelemetry::KeyValue::new("x", f64::NAN),
                opentelemetry::KeyValue::new("y", 1),
            ])
            .build();
        for _ in 0..10 {
            let done = step.scope(&scope);
            let keys: Vec<&str> = done.attributes().map(|kv| kv.key.as_str()).collect();
            assert_eq!(keys, ["x"]);
        }
        assert_eq!(step.scopes.read().unwrap().len(), 1);
    }

    #[test]
    fn every_summary_key_is_known_as_one() {
        for k in SUMMARY_KEYS {
            assert!(is_summary_key(k), "{k}");
        }
        assert!(!is_summary_key("redaction.other.keys.x"));
        assert!(!is_summary_key("request.redacted.count"));
    }

    #[test]
    fn fails_closed_without_allowed_keys() {
        let r = Redaction::builder()
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        let mut a = vec![string_attr("a", "1"), string_attr("b", "2")];
        r.process_attrs(&mut a);
        assert_eq!(
            strs(&a),
            [
                ("redaction.redacted.keys".into(), "a,b".into()),
                ("redaction.redacted.count".into(), "2".into())
            ]
        );
    }

    #[test]
    fn collector_readme_example() {
        let r = Redaction::builder()
            .with_allowed_keys(["description", "group", "id", "name"])
            .with_ignored_keys(["safe_attribute"])
            .with_blocked_value(Regex::new(r"4[0-9]{12}(?:[0-9]{3})?").unwrap())
            .with_blocked_value(Regex::new(r"(5[1-5][0-9]{14})").unwrap())
            .with_blocked_key_pattern(Regex::new(".*token.*").unwrap())
            .with_allowed_keys(["api_token"])
            .with_allowed_value(Regex::new(r".+@mycompany\.com").unwrap())
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        // The same with the value patterns given as text, as the TOML
        // configuration gives them: with the prefilter, the same output.
        let patterns = Redaction::builder()
            .with_allowed_keys(["description", "group", "id", "name"])
            .with_ignored_keys(["safe_attribute"])
            .with_blocked_value_pattern(r"4[0-9]{12}(?:[0-9]{3})?")
            .and_then(|b| b.with_blocked_value_pattern(r"(5[1-5][0-9]{14})"))
            .unwrap()
            .with_blocked_key_pattern(Regex::new(".*token.*").unwrap())
            .with_allowed_keys(["api_token"])
            .with_allowed_value_pattern(r".+@mycompany\.com")
            .unwrap()
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        assert!(patterns.prefilter.is_some() && r.prefilter.is_none());
        let mut a = vec![
            string_attr("name", "card 4111111111111111 and 5555555555554444"),
            string_attr("id", "x@mycompany.com"),
            string_attr("safe_attribute", "4111111111111111"),
            string_attr("api_token", "abc"),
            string_attr("secret", "s"),
            int_attr("group", 7),
        ];
        let mut b = a.clone();
        r.process_attrs(&mut a);
        patterns.process_attrs(&mut b);
        assert_eq!(a, b);
        assert_eq!(
            strs(&a),
            [
                ("name".into(), "card **** and ****".into()),
                ("id".into(), "x@mycompany.com".into()),
                ("safe_attribute".into(), "4111111111111111".into()),
                ("api_token".into(), "****".into()),
                ("group".into(), "7".into()),
                ("redaction.redacted.keys".into(), "secret".into()),
                ("redaction.redacted.count".into(), "1".into()),
                ("redaction.masked.keys".into(), "api_token,name".into()),
                ("redaction.masked.count".into(), "2".into()),
                ("redaction.allowed.keys".into(), "id".into()),
                ("redaction.allowed.count".into(), "1".into()),
                ("redaction.ignored.count".into(), "1".into()),
            ]
        );
        // A second pass adds to the removed and masked counts (the token is
        // masked again) and counts the allowed and ignored keys afresh.
        r.process_attrs(&mut a);
        for (key, n) in [
            (REDACTED_COUNT, 1),
            (MASKED_COUNT, 3),
            (ALLOWED_COUNT, 1),
            (IGNORED_COUNT, 1),
        ] {
            assert_eq!(get(&a, key), Some(&Value::IntValue(n)), "{key}");
        }
    }

    use crate::processor::logs_request as log_batch;

    fn map_value(entries: Vec<KeyValue>) -> AnyValue {
        AnyValue {
            value: Some(Value::KvlistValue(crate::proto::common::v1::KeyValueList {
                values: entries,
            })),
        }
    }

    fn str_value(s: &str) -> AnyValue {
        string_value(s.to_owned())
    }

    /// The Collector's TestLogBodyRedactionDifferentTypes.
    #[test]
    fn collector_log_body_redaction_different_types() {
        use crate::proto::logs::v1::LogRecord;
        let card = Regex::new("4[0-9]{12}(?:[0-9]{3})?").unwrap();
        let mut r = Redaction::builder()
            .with_allowed_keys(["id", "email", "credit_card", "nested", "slice"])
            .with_blocked_value(card.clone())
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        let mut logs = log_batch(vec![LogRecord {
            body: Some(str_value("placeholder 4111111111111111")),
            ..LogRecord::default()
        }]);
        r.process_logs(&mut logs);
        let record = &logs.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.body, Some(str_value("placeholder ****")));
        assert_eq!(
            get(&record.attributes, BODY_MASKED_KEYS),
            Some(&Value::StringValue("body".into()))
        );
        assert_eq!(
            get(&record.attributes, BODY_MASKED_COUNT),
            Some(&Value::IntValue(1))
        );

        let nested = map_value(vec![
            string_attr("credit_card", "4111111111111111"),
            string_attr("not_allowed_key", "temp"),
            string_attr("id", "user123"),
            string_attr("safe_attribute", "4111111111111111"),
            string_attr("email", "user@mycompany.com"),
        ]);
        let slice = AnyValue {
            value: Some(Value::ArrayValue(crate::proto::common::v1::ArrayValue {
                values: vec![str_value("4111111111111111"), str_value("user123")],
            })),
        };
        let body = map_value(vec![
            string_attr("credit_card", "4111111111111111"),
            string_attr("not_allowed_key", "temp"),
            string_attr("id", "user123"),
            KeyValue {
                key: "nested".into(),
                value: Some(nested),
                ..KeyValue::default()
            },
            KeyValue {
                key: "slice".into(),
                value: Some(slice),
                ..KeyValue::default()
            },
        ]);
        let mut r = Redaction::builder()
            .with_allowed_keys(["id", "email", "credit_card", "nested", "slice"])
            .with_blocked_value(card)
            .with_ignored_keys(["safe_attribute"])
            .with_allowed_value(Regex::new(".+@mycompany.com").unwrap())
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        let mut logs = log_batch(vec![LogRecord {
            body: Some(body),
            ..LogRecord::default()
        }]);
        r.process_logs(&mut logs);
        let record = &logs.resource_logs[0].scope_logs[0].log_records[0];
        let Some(Value::KvlistValue(map)) = record.body.as_ref().and_then(|b| b.value.as_ref())
        else {
            panic!("a map body stays a map");
        };
        // The removed entry's place taken by the last one (pdata's Remove).
        assert_eq!(
            map.values
                .iter()
                .map(|kv| kv.key.as_str())
                .collect::<Vec<_>>(),
            ["credit_card", "slice", "id", "nested"]
        );
        assert_eq!(
            get(&map.values, "credit_card"),
            Some(&Value::StringValue("****".into()))
        );
        assert_eq!(
            get(&map.values, "id"),
            Some(&Value::StringValue("user123".into()))
        );
        let Some(Value::KvlistValue(inner)) = get(&map.values, "nested") else {
            panic!("the nested map stays a map");
        };
        assert_eq!(
            strs(&inner.values),
            [
                ("credit_card".into(), "****".into()),
                ("email".into(), "user@mycompany.com".into()),
                ("id".into(), "user123".into()),
                ("safe_attribute".into(), "4111111111111111".into()),
            ]
        );
        let Some(Value::ArrayValue(list)) = get(&map.values, "slice") else {
            panic!("the slice stays a slice");
        };
        assert_eq!(list.values, [str_value("****"), str_value("user123")]);
        let attrs = &record.attributes;
        for (key, want) in [
            (
                BODY_REDACTED_KEYS,
                Value::StringValue("nested.not_allowed_key,not_allowed_key".into()),
            ),
            (BODY_REDACTED_COUNT, Value::IntValue(2)),
            (
                BODY_MASKED_KEYS,
                Value::StringValue("credit_card,nested.credit_card,slice.[0]".into()),
            ),
            (BODY_MASKED_COUNT, Value::IntValue(3)),
            (BODY_ALLOWED_KEYS, Value::StringValue("nested.email".into())),
            (BODY_ALLOWED_COUNT, Value::IntValue(1)),
            (BODY_IGNORED_COUNT, Value::IntValue(1)),
        ] {
            assert_eq!(get(attrs, key), Some(&want), "{key}");
        }
    }

    /// The Collector's TestLogBodyMaskBlockedKeyPatterns and
    /// TestLogBodyAllowedStringValue; a record without a body keeps none.
    #[test]
    fn collector_log_body_key_patterns_and_allowed_values() {
        use crate::proto::logs::v1::LogRecord;
        let mut r = Redaction::builder()
            .with_allow_all_keys(true)
            .with_blocked_key_pattern(Regex::new("^secret_").unwrap())
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        let body = map_value(vec![
            string_attr("secret_token", "4111111111111111"),
            string_attr("id", "user123"),
            KeyValue {
                key: "nested".into(),
                value: Some(map_value(vec![
                    string_attr("secret_id", "some-secret"),
                    string_attr("id", "user123"),
                ])),
                ..KeyValue::default()
            },
        ]);
        let mut logs = log_batch(vec![
            LogRecord {
                body: Some(body),
                ..LogRecord::default()
            },
            LogRecord::default(),
        ]);
        r.process_logs(&mut logs);
        let records = &logs.resource_logs[0].scope_logs[0].log_records;
        let want = map_value(vec![
            string_attr("secret_token", "****"),
            string_attr("id", "user123"),
            KeyValue {
                key: "nested".into(),
                value: Some(map_value(vec![
                    string_attr("secret_id", "****"),
                    string_attr("id", "user123"),
                ])),
                ..KeyValue::default()
            },
        ]);
        assert_eq!(records[0].body, Some(want));
        assert_eq!(
            get(&records[0].attributes, BODY_MASKED_KEYS),
            Some(&Value::StringValue("nested.secret_id,secret_token".into()))
        );
        assert_eq!(
            get(&records[0].attributes, BODY_MASKED_COUNT),
            Some(&Value::IntValue(2))
        );
        assert_eq!(records[1], LogRecord::default());

        let mine = Regex::new(r".+@mycompany\.com").unwrap();
        let any = Regex::new(r"[a-z]+@[a-z]+\.com").unwrap();
        for summary in [Summary::Debug, Summary::Info] {
            let mut r = Redaction::builder()
                .with_allow_all_keys(true)
                .with_allowed_value(mine.clone())
                .with_blocked_value(any.clone())
                .with_summary(summary)
                .build()
                .unwrap();
            let mut logs = log_batch(vec![LogRecord {
                body: Some(str_value("user@mycompany.com")),
                ..LogRecord::default()
            }]);
            r.process_logs(&mut logs);
            let record = &logs.resource_logs[0].scope_logs[0].log_records[0];
            assert_eq!(record.body, Some(str_value("user@mycompany.com")));
            assert_eq!(
                get(&record.attributes, BODY_ALLOWED_COUNT),
                Some(&Value::IntValue(1))
            );
            let keys = get(&record.attributes, BODY_ALLOWED_KEYS);
            if summary == Summary::Debug {
                assert_eq!(keys, Some(&Value::StringValue("body".into())));
            } else {
                assert_eq!(keys, None);
            }
            assert_eq!(get(&record.attributes, BODY_MASKED_KEYS), None);
        }
    }

    /// The Collector's TestMaskingStringIsAppliedToLogs and
    /// TestMaskingStringIsAppliedToMetrics, with every data point type;
    /// resource and scope attributes are redacted too.
    #[test]
    fn collector_masking_string_in_logs_and_metrics() {
        use crate::proto::logs::v1::LogRecord;
        use crate::proto::metrics::v1::{ResourceMetrics, ScopeMetrics};
        use crate::proto::resource::v1::Resource;
        let mut r = Redaction::builder()
            .with_allow_all_keys(true)
            .with_masking_string("[REDACTED]")
            .with_blocked_value(Regex::new("4[0-9]{12}(?:[0-9]{3})?").unwrap())
            .build()
            .unwrap();
        let mut logs = log_batch(vec![
            LogRecord {
                body: Some(str_value("credit card 4111111111111111")),
                attributes: vec![string_attr("credit.card", "4111111111111111")],
                ..LogRecord::default()
            },
            LogRecord {
                body: Some(map_value(vec![string_attr("cc", "4111111111111111")])),
                ..LogRecord::default()
            },
        ]);
        logs.resource_logs[0].resource = Some(Resource {
            attributes: vec![string_attr("owner.card", "4111111111111111")],
            ..Resource::default()
        });
        r.process_logs(&mut logs);
        let rl = &logs.resource_logs[0];
        assert_eq!(
            strs(&rl.resource.as_ref().unwrap().attributes)[0].1,
            "[REDACTED]"
        );
        let records = &rl.scope_logs[0].log_records;
        assert_eq!(records[0].body, Some(str_value("credit card [REDACTED]")));
        assert_eq!(strs(&records[0].attributes)[0].1, "[REDACTED]");
        assert_eq!(
            records[1].body,
            Some(map_value(vec![string_attr("cc", "[REDACTED]")]))
        );

        let card = || vec![string_attr("credit.card", "4111111111111111")];
        let mut metrics = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(crate::proto::common::v1::InstrumentationScope {
                        attributes: card(),
                        ..Default::default()
                    }),
                    metrics: crate::processor::every_point_type(card),
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        };
        let report = Chain::new().with(r.clone()).process_metrics(&mut metrics);
        assert_eq!((report.spans_in, report.spans_out), (5, 5));
        let sm = &mut metrics.resource_metrics[0].scope_metrics[0];
        assert_eq!(
            strs(&sm.scope.as_ref().unwrap().attributes)[0].1,
            "[REDACTED]"
        );
        let points = crate::processor::point_attributes(&mut sm.metrics);
        assert_eq!(
            points,
            vec![vec![string_attr("credit.card", "[REDACTED]")]; 5]
        );
    }

    /// A long body map loses its removed entries as pdata's `Map.Remove`
    /// removes them key by key (duplicate keys included).
    #[test]
    fn long_body_maps_lose_entries_in_the_collectors_order() {
        use crate::proto::logs::v1::LogRecord;
        let entries: Vec<KeyValue> = (0..150)
            .map(|i| string_attr(&format!("k{}", i % 97), &i.to_string()))
            .collect();
        let allowed: Vec<String> = (0..97)
            .filter(|i| i % 3 != 0)
            .map(|i| format!("k{i}"))
            .collect();
        let mut want = entries.clone();
        let gone: Vec<String> = entries
            .iter()
            .filter(|kv| !allowed.contains(&kv.key))
            .map(|kv| kv.key.clone())
            .collect();
        for k in &gone {
            if let Some(i) = want.iter().position(|kv| &kv.key == k) {
                want.swap_remove(i);
            }
        }
        let mut r = Redaction::builder()
            .with_allowed_keys(allowed)
            .build()
            .unwrap();
        let mut logs = log_batch(vec![LogRecord {
            body: Some(map_value(entries)),
            ..LogRecord::default()
        }]);
        r.process_logs(&mut logs);
        let body = &logs.resource_logs[0].scope_logs[0].log_records[0].body;
        assert_eq!(body, &Some(map_value(want)));
    }

    fn entry(k: &str, v: AnyValue) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(v),
            ..KeyValue::default()
        }
    }

    /// NaN and the infinities read as pdata v1.71 writes them, in bodies
    /// and, with `redact_all_types`, in attributes; bytes attributes as
    /// base64.
    #[test]
    fn non_finite_doubles_and_bytes_read_as_pdata_writes_them() {
        use crate::proto::logs::v1::LogRecord;
        let mut r = Redaction::builder()
            .with_allow_all_keys(true)
            .with_blocked_value(Regex::new("^(NaN|Infinity|-Infinity|AQID)$").unwrap())
            .with_redact_all_types(true)
            .build()
            .unwrap();
        let mut logs = log_batch(
            [f64::NAN, f64::INFINITY, f64::NEG_INFINITY]
                .iter()
                .map(|&f| LogRecord {
                    body: Some(AnyValue {
                        value: Some(Value::DoubleValue(f)),
                    }),
                    attributes: vec![
                        double_attr("d", f),
                        entry(
                            "b",
                            AnyValue {
                                value: Some(Value::BytesValue(vec![1, 2, 3])),
                            },
                        ),
                    ],
                    ..LogRecord::default()
                })
                .collect(),
        );
        r.process_logs(&mut logs);
        for record in &logs.resource_logs[0].scope_logs[0].log_records {
            assert_eq!(
                strs(&record.attributes)[..2],
                [("d".into(), "****".into()), ("b".into(), "****".into())]
            );
            assert_eq!(record.body, Some(str_value("****")));
        }
    }

    /// Paths in the debug summary: ignored keys are not listed (nor use up
    /// the room), the first path of a list is kept whatever its size, an
    /// empty key below the top gets its dot, and empty paths cost their
    /// comma.
    #[test]
    fn body_paths_in_the_debug_summary() {
        use crate::proto::common::v1::ArrayValue;
        use crate::proto::logs::v1::LogRecord;
        let record = |body: AnyValue, r: &mut Redaction| {
            let mut logs = log_batch(vec![LogRecord {
                body: Some(body),
                ..LogRecord::default()
            }]);
            r.process_logs(&mut logs);
            logs.resource_logs[0].scope_logs[0].log_records[0]
                .attributes
                .clone()
        };
        let mut r = Redaction::builder()
            .with_allow_all_keys(true)
            .with_ignored_key_pattern(Regex::new("^i").unwrap())
            .with_blocked_value(Regex::new("secret").unwrap())
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        let mut inner: Vec<KeyValue> = (0..70)
            .map(|i| string_attr(&format!("i{i}"), "x"))
            .collect();
        inner.push(string_attr("pw", "secret"));
        let long = "a".repeat(70_000);
        let attrs = record(map_value(vec![entry(&long, map_value(inner))]), &mut r);
        assert_eq!(get(&attrs, BODY_MASKED_COUNT), Some(&Value::IntValue(1)));
        assert_eq!(
            get(&attrs, BODY_MASKED_KEYS),
            Some(&Value::StringValue(format!("{long}.pw")))
        );
        assert_eq!(get(&attrs, BODY_IGNORED_COUNT), Some(&Value::IntValue(70)));
        let list = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: vec![str_value("secret")],
            })),
        };
        let body = map_value(vec![
            entry("", map_value(vec![string_attr("k", "secret")])),
            entry("", list),
        ]);
        assert_eq!(
            get(&record(body, &mut r), BODY_MASKED_KEYS),
            Some(&Value::StringValue(".[0],.k".into()))
        );
        let mut r = Redaction::builder()
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        let body = map_value((0..200_000).map(|_| KeyValue::default()).collect());
        let attrs = record(body, &mut r);
        assert_eq!(
            get(&attrs, BODY_REDACTED_COUNT),
            Some(&Value::IntValue(200_000))
        );
        let Some(Value::StringValue(keys)) = get(&attrs, BODY_REDACTED_KEYS) else {
            panic!("the debug summary lists keys");
        };
        assert!(keys.len() <= BODY_KEYS_BYTES, "{} bytes", keys.len());
    }

    /// A deep body with many leaves: every leaf is counted, and the paths
    /// the debug summary lists stay within their bound (they would be
    /// 20,000 paths of over 22 KiB).
    #[test]
    fn a_deep_body_lists_paths_within_a_bound() {
        use crate::proto::logs::v1::LogRecord;
        let leaves: Vec<KeyValue> = (0..20_000)
            .map(|i| string_attr(&format!("k{i}"), "jane@corp.io"))
            .collect();
        let mut body = map_value(leaves);
        for level in 0..16 {
            body = map_value(vec![KeyValue {
                key: format!("{level}").repeat(1024),
                value: Some(body),
                ..KeyValue::default()
            }]);
        }
        let mut r = Redaction::builder()
            .with_allow_all_keys(true)
            .with_allowed_value(Regex::new("@corp").unwrap())
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        let mut logs = log_batch(vec![LogRecord {
            body: Some(body),
            ..LogRecord::default()
        }]);
        r.process_logs(&mut logs);
        let attrs = &logs.resource_logs[0].scope_logs[0].log_records[0].attributes;
        assert_eq!(
            get(attrs, BODY_ALLOWED_COUNT),
            Some(&Value::IntValue(20_000))
        );
        let Some(Value::StringValue(keys)) = get(attrs, BODY_ALLOWED_KEYS) else {
            panic!("the debug summary lists keys");
        };
        let listed = keys.split(',').count();
        assert!((2..20_000).contains(&listed), "{listed} paths listed");
        assert!(
            keys.len() <= BODY_KEYS_BYTES + listed,
            "{} bytes",
            keys.len()
        );
        assert!(keys
            .split(',')
            .all(|k| k.len() > 16 * 1024 && k.ends_with(char::is_numeric)));
    }

    /// Bodies of every scalar type are read as pdata's `AsString` writes
    /// them: a blocked value matching the text masks it into a string.
    #[test]
    fn log_bodies_of_every_type_are_read_as_text() {
        use crate::proto::logs::v1::LogRecord;
        let mut r = Redaction::builder()
            .with_allow_all_keys(true)
            .with_blocked_value(Regex::new("^(true|42|0.5|1e\\+21|AQID)$").unwrap())
            .build()
            .unwrap();
        let bodies = [
            Value::BoolValue(true),
            Value::IntValue(42),
            Value::DoubleValue(0.5),
            Value::DoubleValue(1e21),
            Value::BytesValue(vec![1, 2, 3]),
        ];
        let mut logs = log_batch(
            bodies
                .iter()
                .map(|v| LogRecord {
                    body: Some(AnyValue {
                        value: Some(v.clone()),
                    }),
                    ..LogRecord::default()
                })
                .collect(),
        );
        r.process_logs(&mut logs);
        for record in &logs.resource_logs[0].scope_logs[0].log_records {
            assert_eq!(record.body, Some(str_value("****")));
        }
        assert_eq!(super::super::base64(b""), "");
        assert_eq!(super::super::base64(b"f"), "Zg==");
        assert_eq!(super::super::base64(b"fo"), "Zm8=");
        assert_eq!(super::super::base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::super::base64(&[0xfb, 0xff]), "+/8=");
    }

    /// The Collector's TestSummaryAcrossChainedProcessors: removing and
    /// masking add up along a chain of redactions; allowing and ignoring
    /// are counted afresh by each, and one that allows nothing removes
    /// the allowed keys and count it finds.
    #[test]
    fn collector_summary_across_chained_processors() {
        let mine = Regex::new(r".+@mycompany\.com").unwrap();
        for summary in [Summary::Debug, Summary::Info] {
            let r = Redaction::builder()
                .with_allowed_keys(["email", "id"])
                .with_ignored_keys(["trace_id"])
                .with_allowed_value(mine.clone())
                .with_summary(summary)
                .build()
                .unwrap();
            let mut a = vec![
                string_attr("email", "someone@mycompany.com"),
                string_attr("id", "5"),
                string_attr("trace_id", "abc"),
                string_attr("unknown", "dropped"),
            ];
            // The SDK's lists take the same steps.
            let mut sdk = vec![
                opentelemetry::KeyValue::new("email", "someone@mycompany.com"),
                opentelemetry::KeyValue::new("id", "5"),
                opentelemetry::KeyValue::new("trace_id", "abc"),
                opentelemetry::KeyValue::new("unknown", "dropped"),
            ];
            for _ in 0..3 {
                r.process_attrs(&mut a);
                r.process_attrs(&mut sdk);
            }
            assert_eq!(get(&a, ALLOWED_COUNT), Some(&Value::IntValue(1)));
            assert_eq!(get(&a, IGNORED_COUNT), Some(&Value::IntValue(1)));
            assert_eq!(get(&a, REDACTED_COUNT), Some(&Value::IntValue(1)));
            let allowed_keys = get(&a, ALLOWED_KEYS);
            if summary == Summary::Debug {
                assert_eq!(allowed_keys, Some(&Value::StringValue("email".into())));
            } else {
                assert_eq!(allowed_keys, None);
            }
            let sdk_count = |key: &str| {
                sdk.iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.clone())
            };
            for key in [ALLOWED_COUNT, IGNORED_COUNT, REDACTED_COUNT] {
                assert_eq!(sdk_count(key), Some(opentelemetry::Value::I64(1)), "{key}");
            }
        }
        // Completed work accumulates.
        let mut a = vec![
            string_attr("keep", "1"),
            string_attr("first", "2"),
            string_attr("second", "3"),
        ];
        for allowed in [&["keep", "first"][..], &["keep"]] {
            let r = Redaction::builder()
                .with_allowed_keys(allowed.iter().copied())
                .with_summary(Summary::Debug)
                .build()
                .unwrap();
            r.process_attrs(&mut a);
        }
        assert_eq!(
            get(&a, REDACTED_KEYS),
            Some(&Value::StringValue("first,second".into()))
        );
        assert_eq!(get(&a, REDACTED_COUNT), Some(&Value::IntValue(2)));
        // A pass that allows nothing clears what an earlier one allowed,
        // on both paths (by name with the debug summary, counting with
        // info).
        for summary in [Summary::Debug, Summary::Info] {
            let mut a = vec![string_attr("email", "someone@mycompany.com")];
            let upstream = Redaction::builder()
                .with_allowed_keys(["email"])
                .with_allowed_value(mine.clone())
                .with_summary(Summary::Debug)
                .build()
                .unwrap();
            upstream.process_attrs(&mut a);
            assert!(get(&a, ALLOWED_KEYS).is_some());
            let downstream = Redaction::builder()
                .with_allowed_keys(["email"])
                .with_summary(summary)
                .build()
                .unwrap();
            downstream.process_attrs(&mut a);
            assert_eq!(get(&a, ALLOWED_KEYS), None, "{summary:?}");
            assert_eq!(get(&a, ALLOWED_COUNT), None, "{summary:?}");
            assert_eq!(strs(&a), [("email".into(), "someone@mycompany.com".into())]);
        }
    }

    fn double_attr(k: &str, v: f64) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::DoubleValue(v)),
            }),
            ..KeyValue::default()
        }
    }

    /// The Collector's TestMultipleBlockValues.
    #[test]
    fn collector_multiple_block_values() {
        let r = Redaction::builder()
            .with_allowed_keys(["id", "name", "mystery"])
            .with_blocked_value(Regex::new("4[0-9]{12}(?:[0-9]{3})?").unwrap())
            .with_blocked_value(Regex::new("(5[1-5][0-9]{3})").unwrap())
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        let mut a = vec![
            int_attr("id", 5),
            string_attr("mystery", "mystery 52000"),
            string_attr("name", "placeholder 4111111111111111 52000"),
            string_attr("credit_card", "4111111111111111"),
        ];
        r.process_attrs(&mut a);
        assert_eq!(
            get(&a, "name"),
            Some(&Value::StringValue("placeholder **** ****".into()))
        );
        assert_eq!(
            get(&a, "mystery"),
            Some(&Value::StringValue("mystery ****".into()))
        );
        assert_eq!(get(&a, "credit_card"), None);
        assert_eq!(
            get(&a, REDACTED_KEYS),
            Some(&Value::StringValue("credit_card".into()))
        );
        assert_eq!(
            get(&a, MASKED_KEYS),
            Some(&Value::StringValue("mystery,name".into()))
        );
        assert_eq!(get(&a, MASKED_COUNT), Some(&Value::IntValue(2)));
    }

    /// The Collector's TestProcessAttrsAppliedTwice: summaries already
    /// there are merged into.
    #[test]
    fn collector_applied_twice() {
        let r = Redaction::builder()
            .with_allowed_keys(["id", "credit_card", "mystery"])
            .with_blocked_value(Regex::new("4[0-9]{12}(?:[0-9]{3})?").unwrap())
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        let mut a = vec![
            int_attr("id", 5),
            double_attr("redundant", 1.2),
            string_attr("mystery", "mystery ****"),
            string_attr("credit_card", "4111111111111111"),
            string_attr(REDACTED_KEYS, "dropped_attr1,dropped_attr2"),
            int_attr(REDACTED_COUNT, 2),
            string_attr(MASKED_KEYS, "mystery"),
            int_attr(MASKED_COUNT, 1),
        ];
        r.process_attrs(&mut a);
        assert_eq!(a.len(), 7);
        assert_eq!(
            get(&a, REDACTED_KEYS),
            Some(&Value::StringValue(
                "dropped_attr1,dropped_attr2,redundant".into()
            ))
        );
        assert_eq!(get(&a, REDACTED_COUNT), Some(&Value::IntValue(3)));
        assert_eq!(get(&a, MASKED_COUNT), Some(&Value::IntValue(2)));
    }

    /// The Collector's TestRedactAllTypesTrue / False; also with the card
    /// scanner as the only value rule (its one pass over the values keeps
    /// a formatted number for the step).
    #[test]
    fn collector_redact_all_types() {
        let card = Regex::new("4[0-9]{12}(?:[0-9]{3})?").unwrap();
        for (all, scan) in [(false, false), (true, false), (false, true), (true, true)] {
            let b = Redaction::builder()
                .with_allow_all_keys(true)
                .with_redact_all_types(all);
            let b = if scan {
                b.with_blocked_pattern("card").unwrap()
            } else {
                b.with_blocked_value(card.clone())
            };
            let r = b.build().unwrap();
            assert_eq!(r.scan_only, scan);
            let mut a = vec![
                int_attr("id", 5),
                string_attr("credit_card", "placeholder 4111111111111111"),
                int_attr("credit_card_int", 4111111111111111),
            ];
            r.process_attrs(&mut a);
            assert_eq!(get(&a, "id"), Some(&Value::IntValue(5)));
            assert_eq!(
                get(&a, "credit_card"),
                Some(&Value::StringValue("placeholder ****".into()))
            );
            let want = if all {
                Value::StringValue("****".into())
            } else {
                Value::IntValue(4111111111111111)
            };
            assert_eq!(
                get(&a, "credit_card_int"),
                Some(&want),
                "redact_all_types = {all}, scanner {scan}"
            );
            // The SDK's list, as a span ends.
            let mut sdk = vec![
                opentelemetry::KeyValue::new("id", 5),
                opentelemetry::KeyValue::new("credit_card", "placeholder 4111111111111111"),
                opentelemetry::KeyValue::new("credit_card_int", 4111111111111111_i64),
            ];
            r.process_attrs(&mut sdk);
            let want = if all {
                opentelemetry::Value::from("****")
            } else {
                opentelemetry::Value::I64(4111111111111111)
            };
            let values: Vec<_> = sdk.iter().map(|kv| kv.value.clone()).collect();
            assert_eq!(
                values[..3],
                [
                    opentelemetry::Value::I64(5),
                    opentelemetry::Value::from("placeholder ****"),
                    want
                ],
                "SDK list, redact_all_types = {all}, scanner {scan}"
            );
        }
    }

    /// A span of `kind` named `name` with `attrs`, as a batch.
    fn span_batch(name: &str, kind: i32, attrs: Vec<KeyValue>) -> ExportTraceServiceRequest {
        use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        name: name.into(),
                        kind,
                        attributes: attrs,
                        ..Span::default()
                    }],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    /// The Collector's TestURLSanitizationEnabled, WithBlockedValues and
    /// TestURLSanitizationSpanName cases, through the batch path and span
    /// by span.
    #[test]
    fn collector_url_sanitization() {
        let url = |span_names: bool| {
            Redaction::builder()
                .with_allow_all_keys(true)
                .with_blocked_value(Regex::new("4[0-9]{12}").unwrap())
                .with_url_sanitizer(["http.url", "url", "request_url"], span_names)
                .with_summary(Summary::Info)
        };
        let mut r = url(true).build().unwrap();
        let mut b = span_batch(
            "GET /orders/123?sql=SELECT+1",
            3,
            vec![
                string_attr("http.url", "/users/2"),
                string_attr("url", "/products/1/org/3"),
                string_attr("request_url", "/v1/products/22"),
                string_attr("other", "/users/2"),
                string_attr("card", "4111111111111"),
            ],
        );
        r.process(&mut b);
        let span = &b.resource_spans[0].scope_spans[0].spans[0];
        let text = |k: &str| match get(&span.attributes, k) {
            Some(Value::StringValue(s)) => s.clone(),
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(text("http.url"), "/users/*");
        assert_eq!(text("url"), "/products/*/org/*");
        assert_eq!(text("request_url"), "/v1/products/*");
        assert_eq!(text("other"), "/users/2");
        assert_eq!(text("card"), "****");
        assert_eq!(
            get(&span.attributes, MASKED_COUNT),
            Some(&Value::IntValue(4))
        );
        assert_eq!(span.name, "GET /orders/*");

        // Span names: only client and server spans, with HTTP attributes
        // or a `/`; not when an allowed value matches; not when nothing
        // but `*` would be left; not with sanitize_span_name off.
        let name_after = |r: &mut Redaction, name: &str, kind: i32, attrs: Vec<KeyValue>| {
            let mut b = span_batch(name, kind, attrs);
            r.process(&mut b);
            b.resource_spans[0].scope_spans[0].spans[0].name.clone()
        };
        assert_eq!(
            name_after(&mut r, "/users/123/profile", 3, vec![]),
            "/users/*/profile"
        );
        assert_eq!(
            name_after(&mut r, "/users/123/profile", 2, vec![]),
            "/users/*/profile"
        );
        assert_eq!(
            name_after(&mut r, "/users/123/profile", 1, vec![]),
            "/users/123/profile"
        );
        assert_eq!(
            name_after(&mut r, "GET users?id=1", 2, vec![]),
            "GET users?id=1"
        );
        let route = || vec![string_attr("http.route", "x")];
        assert_eq!(
            name_after(&mut r, "GET users?id=1", 2, route()),
            "GET users"
        );
        assert_eq!(name_after(&mut r, "GET 123", 2, route()), "GET 123");
        assert_eq!(name_after(&mut r, "/123/456", 2, vec![]), "/123/456");
        let mut off = url(false).build().unwrap();
        assert_eq!(
            name_after(&mut off, "/users/123/profile", 3, vec![]),
            "/users/123/profile"
        );
        let mut allowed = url(true)
            .with_allowed_value(Regex::new("^/users/").unwrap())
            .build()
            .unwrap();
        assert_eq!(
            name_after(&mut allowed, "/users/123/profile", 3, vec![]),
            "/users/123/profile"
        );

        // Span by span, the same.
        let chain = Chain::new().with(url(true).build().unwrap());
        let chain = chain.span_chain().expect("runs span by span");
        let mut span = opentelemetry_sdk::trace::SpanData {
            span_context: opentelemetry::trace::SpanContext::empty_context(),
            parent_span_id: opentelemetry::trace::SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: opentelemetry::trace::SpanKind::Client,
            name: "GET /orders/123?sql=SELECT+1".into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes: vec![
                opentelemetry::KeyValue::new("http.url", "/users/2"),
                opentelemetry::KeyValue::new("other", "/users/2"),
            ],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: opentelemetry::trace::Status::Unset,
            instrumentation_scope: Default::default(),
        };
        chain.on_end(&mut span);
        assert_eq!(span.name, "GET /orders/*");
        assert_eq!(span.attributes[0].value.as_str(), "/users/*");
        assert_eq!(span.attributes[1].value.as_str(), "/users/2");
        span.span_kind = opentelemetry::trace::SpanKind::Internal;
        span.name = "/users/123/profile".into();
        chain.on_end(&mut span);
        assert_eq!(span.name, "/users/123/profile");
    }

    /// The Collector's TestURLSanitizationInLogBody and
    /// ComplexLogBody: every value of a body is sanitized, whatever its key.
    #[test]
    fn collector_url_sanitization_in_log_bodies() {
        use crate::proto::common::v1::KeyValueList;
        use crate::proto::logs::v1::LogRecord;
        let mut r = Redaction::builder()
            .with_allow_all_keys(true)
            .with_url_sanitizer(Vec::<String>::new(), true)
            .build()
            .unwrap();
        let map = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![
                    string_attr("url", "/products/1/org/3"),
                    string_attr("name", "/users/42"),
                ],
            })),
        };
        let mut logs = log_batch(vec![
            LogRecord {
                body: Some(str_value("/users/2")),
                ..LogRecord::default()
            },
            LogRecord {
                body: Some(map),
                ..LogRecord::default()
            },
        ]);
        r.process_logs(&mut logs);
        let records = &logs.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(records[0].body, Some(str_value("/users/*")));
        let Some(Value::KvlistValue(m)) = records[1].body.as_ref().and_then(|b| b.value.clone())
        else {
            panic!("a map body")
        };
        assert_eq!(
            get(&m.values, "url"),
            Some(&Value::StringValue("/products/*/org/*".into()))
        );
        assert_eq!(
            get(&m.values, "name"),
            Some(&Value::StringValue("/users/*".into()))
        );
    }

    /// The Collector's TestSpanEventRedacted, through the batch path.
    #[test]
    fn collector_span_event_redacted() {
        use crate::proto::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span};
        let mut r = Redaction::builder()
            .with_allow_all_keys(true)
            .with_blocked_value(Regex::new("xyzxyz").unwrap())
            .with_summary(Summary::Debug)
            .build()
            .unwrap();
        let ev = Event {
            name: "event-one".into(),
            attributes: vec![
                string_attr("password", "xyzxyz"),
                string_attr("username", "foobar"),
            ],
            ..Event::default()
        };
        let mut b = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        events: vec![ev],
                        ..Span::default()
                    }],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        assert_eq!(r.process(&mut b), Outcome::default());
        let attrs = &b.resource_spans[0].scope_spans[0].spans[0].events[0].attributes;
        assert_eq!(
            get(attrs, "password"),
            Some(&Value::StringValue("****".into()))
        );
        assert_eq!(
            get(attrs, "username"),
            Some(&Value::StringValue("foobar".into()))
        );
    }

    #[test]
    fn hashing_and_builtin_patterns() {
        let r = Redaction::builder()
            .with_allow_all_keys(true)
            .with_blocked_pattern("email")
            .unwrap()
            .with_blocked_pattern("bearer")
            .unwrap()
            .with_hash_function(HashFunction::HmacSha256)
            .with_hmac_key("key")
            .build()
            .unwrap();
        let mut a = vec![
            string_attr("m", "to a@b.com"),
            string_attr("h", "Bearer abcdefghijk"),
        ];
        r.process_attrs(&mut a);
        // HMAC-SHA256("key", "a@b.com"), checked against a second implementation below.
        let want = {
            let mut out = Vec::new();
            append_hex(&hmac::<Sha256>(b"key", 64, b"a@b.com"), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(strs(&a)[0].1, format!("to {want}"));
        assert!(strs(&a)[1].1.starts_with("Bearer ") && strs(&a)[1].1.len() == 7 + 64);
        // RFC 4231 test case 2.
        let mut out = Vec::new();
        append_hex(
            &hmac::<Sha256>(b"Jefe", 64, b"what do ya want for nothing?"),
            &mut out,
        );
        assert_eq!(
            out,
            b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(Redaction::builder()
            .with_hash_function(HashFunction::HmacSha512)
            .build()
            .is_err());
        assert!(Redaction::builder().with_blocked_pattern("ssn").is_err());
    }

    /// Values as short as a finding are scanned; shorter ones, which
    /// are passed without scanning, cannot hold one.
    #[test]
    fn the_shortest_findings_are_masked() {
        for summary in [Summary::Info, Summary::Debug] {
            let r = Redaction::builder()
                .with_allow_all_keys(true)
                .with_blocked_pattern("email")
                .and_then(|b| b.with_blocked_pattern("card"))
                .unwrap()
                .with_summary(summary)
                .build()
                .unwrap();
            let mut a = vec![
                string_attr("e", "a@b.cd"),
                string_attr("c", "4222222222222"),
                string_attr("short", "a@b.c"),
            ];
            r.process_attrs(&mut a);
            let values: Vec<String> = strs(&a).into_iter().map(|(_, v)| v).collect();
            assert_eq!(values[..3], ["****", "****", "a@b.c"], "{summary:?}");
            assert_eq!(get(&a, MASKED_COUNT), Some(&Value::IntValue(2)));
        }
    }

    /// A direct transcription of the Collector's steps, with hash sets
    /// (summary on: its attributes pass untouched).
    fn reference(cfg: &Cfg, attrs: &[KeyValue]) -> Vec<KeyValue> {
        let allowed: HashSet<&str> = cfg.allowed.iter().map(String::as_str).collect();
        let ignored: HashSet<&str> = cfg.ignored.iter().map(String::as_str).collect();
        let blocked = (!cfg.blocked.is_empty()).then(|| Regex::new(&cfg.blocked).unwrap());
        let mut out = attrs.to_vec();
        let (mut red, mut mas, mut ign) = (Vec::new(), Vec::new(), 0);
        for kv in out.iter_mut() {
            if SUMMARY_KEYS.contains(&kv.key.as_str()) {
                continue;
            }
            if ignored.contains(kv.key.as_str()) {
                ign += 1;
                continue;
            }
            if !allowed.contains(kv.key.as_str()) {
                red.push(kv.key.clone());
                continue;
            }
            let s = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                _ => String::new(),
            };
            let mut p = match &blocked {
                Some(re) => re.replace_all(&s, "****").into_owned(),
                None => s.clone(),
            };
            if cfg.emails {
                let sc = Scanner::builder().with_emails(true).build();
                let mut o = String::new();
                sc.mask_with(Isa::Scalar, &p, "****", &mut Vec::new(), &mut o);
                p = o;
            }
            if p != s {
                mas.push(kv.key.clone());
                *kv = string_attr(&kv.key, &p);
            }
        }
        // pdata's Map.Remove: the first match takes the last attribute.
        for key in &red {
            if let Some(i) = out.iter().position(|kv| &kv.key == key) {
                let last = out.pop().unwrap();
                if i < out.len() {
                    out[i] = last;
                }
            }
        }
        let mut o = out.clone();
        for (keys, ka, ca) in [
            (red, REDACTED_KEYS, REDACTED_COUNT),
            (mas, MASKED_KEYS, MASKED_COUNT),
        ] {
            if !keys.is_empty() {
                let mut keys = keys;
                keys.sort();
                put(&mut o, ka, Value::StringValue(keys.join(",")));
                put(&mut o, ca, Value::IntValue(keys.len() as i64));
            }
        }
        if ign > 0 {
            put(&mut o, IGNORED_COUNT, Value::IntValue(ign));
        }
        o
    }

    #[derive(Debug, Clone)]
    struct Cfg {
        allowed: Vec<String>,
        ignored: Vec<String>,
        /// A blocked-value regex; none when empty.
        blocked: String,
        emails: bool,
    }

    proptest! {
        /// Long lists' removals from the indices, as removing key by key
        /// in the list's order.
        #[test]
        fn remove_in_order_replays_removal_by_key(
            keys in prop::collection::vec(0u8..6, 0..200),
            gone in 0u8..64,
        ) {
            let list: Vec<KeyValue> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| int_attr(&format!("k{k}"), i as i64))
                .collect();
            let removed: Vec<usize> = (0..list.len()).filter(|&i| gone >> keys[i] & 1 == 1).collect();
            let mut want = list.clone();
            for &i in &removed {
                want.remove_key(&list[i].key);
            }
            let mut got = list.clone();
            remove_in_order(&mut got, &removed);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn long_lists_are_redacted_as_the_collector_orders_them() {
        // 50,000 attributes of their own keys, all but one removed: key by
        // key, a search of the list each, this took over a billion key
        // compares (seconds); from the indices, a tenth of a second in a
        // debug build.
        let r = Redaction::builder()
            .with_allowed_keys(["keep"])
            .with_summary(Summary::Info)
            .build()
            .unwrap();
        let n = 50_000;
        let mut attrs: Vec<KeyValue> = (0..n).map(|i| int_attr(&format!("k{i}"), i)).collect();
        attrs.insert(n as usize / 2, int_attr("keep", -1));
        r.process_attrs(&mut attrs);
        assert_eq!(attrs[0], int_attr("keep", -1));
        assert_eq!(attrs.len(), 2, "{:?}", &attrs[..attrs.len().min(4)]);
        assert_eq!(attrs[1].key, REDACTED_COUNT);
    }

    /// `remove_marked` against removing the marked keys one by one, for
    /// every list of up to seven attributes over three keys and every set
    /// of keys marked.
    #[test]
    fn remove_marked_replays_removal_by_key() {
        let names = ["a", "b", "c"];
        for n in 0..=7u32 {
            for code in 0..3usize.pow(n) {
                let list: Vec<KeyValue> = (0..n as usize)
                    .map(|i| int_attr(names[code / 3usize.pow(i as u32) % 3], i as i64))
                    .collect();
                for set in 0..8u32 {
                    let gone = |k: &str| {
                        names
                            .iter()
                            .position(|n| *n == k)
                            .is_some_and(|p| set >> p & 1 == 1)
                    };
                    let marked = list
                        .iter()
                        .enumerate()
                        .filter(|(_, kv)| gone(&kv.key))
                        .fold(0u64, |m, (i, _)| m | 1 << i);
                    let mut want = list.clone();
                    if marked.count_ones() as usize == list.len() {
                        want.clear();
                    } else {
                        for kv in list.iter().filter(|kv| gone(&kv.key)) {
                            want.remove_key(&kv.key);
                        }
                    }
                    let mut got = list.clone();
                    remove_marked(&mut got, marked);
                    assert_eq!(got, want, "{list:?} {set:b}");
                }
            }
        }
    }

    /// The `&'static str` of a key of [`dup_key`]: the same address for
    /// the same text, as the SDK's static keys have.
    fn static_key(k: &str) -> &'static str {
        static KEYS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let mut keys = KEYS.lock().unwrap();
        if let Some(&s) = keys.iter().find(|s| **s == k) {
            return s;
        }
        let s: &'static str = Box::leak(k.to_owned().into_boxed_str());
        keys.push(s);
        s
    }

    /// A protobuf list of ints and strings as the SDK's.
    fn sdk_list(attrs: &[KeyValue]) -> Vec<opentelemetry::KeyValue> {
        attrs
            .iter()
            .map(|kv| {
                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::IntValue(i)) => opentelemetry::Value::I64(*i),
                    Some(Value::StringValue(s)) => opentelemetry::Value::from(s.clone()),
                    _ => unreachable!("only ints and strings are made"),
                };
                opentelemetry::KeyValue::new(kv.key.clone(), v)
            })
            .collect()
    }

    /// A key for the two paths' test: short letters, so that lists have
    /// duplicates, and now and then a summary key.
    fn dup_key() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => "[abcd]{1,2}",
            1 => prop::sample::select(SUMMARY_KEYS.to_vec()).prop_map(str::to_owned),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// The counting path (up to 64 attributes) leaves every list as the
        /// path that keeps keys by name does, with every summary: removals
        /// in the same order with duplicate keys, the counts added to
        /// summary attributes already there, and with `debug` the keys.
        #[test]
        fn counting_path_matches_the_path_by_name(
            allowed in prop::collection::vec("[abcd]{1,2}", 0..6),
            ignored in prop::collection::vec("[abc]{1,2}", 0..2),
            values in any::<bool>(),
            as_pattern in any::<bool>(),
            key_pattern in any::<bool>(),
            summary in 0u8..3,
            db in any::<bool>(),
            logs in any::<bool>(),
            system in prop::option::of(prop::sample::select(vec!["mysql", "memcached", "redis"])),
            attrs in prop::collection::vec((dup_key(), "[a-z0-9@. '\r\n]{0,12}", any::<bool>()), 0..63),
            kinds in 0u8..3,
        ) {
            let mut attrs: Vec<KeyValue> = attrs
                .iter()
                .map(|(k, v, int)| if *int { int_attr(k, v.len() as i64) } else { string_attr(k, v) })
                .collect();
            if let Some(system) = system {
                attrs.insert(0, string_attr("db.system.name", system));
            }
            let mut b = Redaction::builder()
                .with_allowed_keys(allowed)
                .with_ignored_keys(ignored)
                .with_summary([Summary::Silent, Summary::Info, Summary::Debug][usize::from(summary)]);
            if values {
                // As a pattern, with the prefilter.
                b = if as_pattern {
                    b.with_blocked_value_pattern("[0-9]{2}|x").unwrap()
                } else {
                    b.with_blocked_value(Regex::new("[0-9]{2}|x").unwrap())
                };
            }
            if key_pattern {
                b = b.with_blocked_key_pattern(Regex::new("^[ab]$").unwrap());
            }
            if db {
                b = b.with_db_sanitizer(
                    DbSanitizer::new()
                        .with_obfuscator(crate::processor::db::DbSystem::Sql, ["a", "b"])
                        .with_obfuscator(crate::processor::db::DbSystem::Memcached, ["b", "c"]),
                );
            }
            let r = b.build().unwrap();
            let cx_proto = r.db_context(&attrs, logs);
            let mut by_name = attrs.clone();
            r.process_attrs_by_name(&mut by_name, cx_proto.as_ref());
            let mut counting = attrs.clone();
            r.process_attrs_counting(&mut counting, cx_proto.as_ref());
            prop_assert_eq!(&counting, &by_name);
            // The SDK's lists too.
            let sdk = sdk_list(&attrs);
            let cx_sdk = r.db_context(&sdk, logs);
            let mut by_name = sdk.clone();
            r.process_attrs_by_name(&mut by_name, cx_sdk.as_ref());
            // The SDK's usual static keys (or shared ones, or some of
            // each), whose decisions are remembered after the first list:
            // the same each time, and for another redaction of the same
            // keys its own; and with owned keys among them, never
            // remembered.
            let statics: Vec<opentelemetry::KeyValue> = sdk
                .iter()
                .enumerate()
                .map(|(i, kv)| {
                    let k = static_key(kv.key.as_str());
                    let key = match (kinds, i % 3) {
                        (0, _) | (1, 0) | (2, 0) => opentelemetry::Key::from_static_str(k),
                        (1, _) | (2, 1) => opentelemetry::Key::from(std::sync::Arc::<str>::from(k)),
                        _ => opentelemetry::Key::from(k.to_owned()),
                    };
                    opentelemetry::KeyValue::new(key, kv.value.clone())
                })
                .collect();
            let mut counting = sdk;
            r.process_attrs_counting(&mut counting, cx_sdk.as_ref());
            prop_assert_eq!(&counting, &by_name);
            let other = Redaction::builder().with_allow_all_keys(true).build().unwrap();
            for _ in 0..3 {
                let mut counting = statics.clone();
                r.process_attrs_counting(&mut counting, cx_sdk.as_ref());
                prop_assert_eq!(&counting, &by_name);
                let mut all = statics.clone();
                other.process_attrs_counting(&mut all, None);
                prop_assert_eq!(&all, &statics);
            }
        }
    }

    /// Values of any length up to 20, and e-mail addresses as short as
    /// they come, one byte too short, and longer.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-z0-9@. ]{0,20}",
            1 => prop::sample::select(vec!["a@b.cd", "a@b.c", "a@bcd", "xa@b.cd", "@b.cde"])
                .prop_map(str::to_owned),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_the_reference(
            allowed in prop::collection::vec("[abc]{1,2}", 0..4),
            ignored in prop::collection::vec("[abc]{1,2}", 0..2),
            blocked in prop::sample::select(vec!["", "[0-9]{3}", "secret", "x+"]),
            emails in any::<bool>(),
            attrs in prop::collection::vec(("[abcd]{1,2}", value(), any::<bool>()), 0..10),
        ) {
            let cfg = Cfg { allowed, ignored, blocked: blocked.to_owned(), emails };
            let attrs: Vec<KeyValue> = attrs.iter().map(|(k, v, int)| if *int { int_attr(k, v.len() as i64) } else { string_attr(k, v) }).collect();
            // Keys unique, as OTLP requires.
            let mut seen = HashSet::new();
            let attrs: Vec<KeyValue> = attrs.into_iter().filter(|kv| seen.insert(kv.key.clone())).collect();
            let want = reference(&cfg, &attrs);
            for isa in Isa::available() {
                let mut b = Redaction::builder()
                    .with_allowed_keys(cfg.allowed.clone())
                    .with_ignored_keys(cfg.ignored.clone())
                    .with_summary(Summary::Debug)
                    .with_isa(isa);
                if !cfg.blocked.is_empty() {
                    b = b.with_blocked_value(Regex::new(&cfg.blocked).unwrap());
                }
                if cfg.emails {
                    b = b.with_blocked_pattern("email").unwrap();
                }
                let r = b.build().unwrap();
                let mut got = attrs.clone();
                r.process_attrs(&mut got);
                prop_assert_eq!(&got, &want, "{:?}", isa);
            }
        }
    }

    #[test]
    fn patterns_tell_which_bytes_their_matches_need() {
        let needs = |p: &str| {
            MatchNeeds::of(p).map(|m| {
                let bytes: Vec<u8> = m.bytes().collect();
                (bytes, m.shortest)
            })
        };
        assert_eq!(needs("4[0-9]{12}(?:[0-9]{3})?"), Some((b"4".to_vec(), 13)));
        assert_eq!(needs("foo|ba+r"), Some((b"bf".to_vec(), 3)));
        // The least common byte of a literal; a class loses to a literal.
        assert_eq!(needs(r".+@example\.com"), Some((b"@".to_vec(), 13)));
        assert_eq!(needs("[^a]b"), Some((b"b".to_vec(), 2)));
        // Look-arounds match no byte.
        assert_eq!(needs(r"\bab\b"), Some((b"a".to_vec(), 2)));
        // Case folding, Unicode's included: `ſ` (C5 BF) folds to `s`, the
        // Kelvin sign (E2 84 AA) to `k`.
        assert_eq!(needs("(?i)sk"), Some((vec![b'S', b's', 0xc5], 2)));
        assert_eq!(needs("(?i)k"), Some((vec![b'K', b'k', 0xe2], 1)));
        assert_eq!(needs("[[:alpha:]]{2}").map(|s| s.0.len()), Some(52));
        // A class beyond ASCII: the first bytes of its characters' forms.
        assert_eq!(needs("[\u{e9}-\u{10b}]"), Some((vec![0xc3, 0xc4], 2)));
        assert_eq!(needs(r"\w").map(|s| s.0.contains(&0xf0)), Some(true));
        // Matches that can be empty, or need no byte in particular.
        assert_eq!(needs("a*"), None);
        assert_eq!(needs("(?:)"), None);
        assert_eq!(needs("a?b?"), None);
        assert_eq!(needs("(unclosed"), None);
        // A pattern that matches nothing, and parts that match nothing.
        assert_eq!(needs(r"[^\x00-\x{10FFFF}]"), Some((vec![], usize::MAX)));
        assert_eq!(needs(r"secret|[^\s\S]"), Some((b"s".to_vec(), 6)));
        assert_eq!(needs(r"(?:[^\s\S])?secret"), Some((b"s".to_vec(), 6)));
        assert_eq!(needs(r"[^\s\S]?"), None);
        assert_eq!(needs(r"[a&&b]|"), None);
        assert_eq!(needs(r"x[^\s\S]"), Some((vec![], usize::MAX)));
    }

    #[test]
    fn a_regex_without_its_pattern_turns_the_prefilter_off() {
        let pattern = || Redaction::builder().with_blocked_value_pattern("secret");
        let r = pattern().unwrap().build().unwrap();
        assert_eq!(r.shortest_value, 6);
        assert!(r.prefilter.is_some());
        // A `Regex` may carry options its pattern does not show.
        let insensitive = regex::RegexBuilder::new("secret")
            .case_insensitive(true)
            .build()
            .unwrap();
        for b in [
            pattern().unwrap().with_blocked_value(insensitive.clone()),
            Redaction::builder()
                .with_blocked_value(insensitive.clone())
                .with_blocked_value_pattern("secret")
                .unwrap(),
        ] {
            let r = b.with_allow_all_keys(true).build().unwrap();
            assert!(r.prefilter.is_none());
            assert_eq!(r.shortest_value, 0);
            let mut a = vec![string_attr("a", "SECRET")];
            r.process_attrs(&mut a);
            assert_eq!(strs(&a), [("a".into(), "****".into())]);
        }
        // One pattern that can match an empty string: every value is read.
        let r = pattern()
            .unwrap()
            .with_blocked_value_pattern("x*")
            .unwrap()
            .build()
            .unwrap();
        assert!(r.prefilter.is_none());
        assert!(Redaction::builder()
            .with_blocked_value_pattern("(")
            .is_err());
    }

    /// Patterns for the prefilter's test: with and without starts, case
    /// folding, anchors, look-arounds, empty matches, non-ASCII starts.
    const PATTERNS: [&str; 21] = [
        "4[0-9]{12}(?:[0-9]{3})?",
        r"secret|[^\s\S]",
        r"(?:[^\s\S])?ab",
        r"[^\s\S]?",
        "(?:@)*b",
        "(?:\u{e9})?ab",
        "[0-9]{3}",
        "secret",
        "x+",
        "(?i)token",
        "foo|ba+r",
        r"\bab",
        "ab$",
        "^ab",
        "(?i)sk",
        "\u{e9}+",
        "[[:alpha:]]{3}[0-9]",
        r"\x{212A}",
        "a*",
        "[^a]b",
        r"[^\x00-\x{10FFFF}]",
    ];

    /// Values with the patterns' bytes, non-ASCII ones, and some over 64
    /// bytes.
    fn prefilter_value() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => "[a-z0-9@. SKXxſé\u{212A}_-]{0,24}",
            1 => "[abx4 ]{60,80}",
            1 => prop::sample::select(vec![
                "4111111111111111", "paid 4111 1111 1111 1111", "a@b.cd", "TOKEN", "ſk", "foo bar",
            ])
            .prop_map(str::to_owned),
        ]
    }

    /// Random patterns over the values' bytes: literals (non-ASCII and
    /// case-folded ones among them), classes, look-arounds, groups,
    /// alternations and repetitions, some of which can match empty.
    fn any_pattern() -> impl Strategy<Value = String> {
        let atom = prop::sample::select(vec![
            "a",
            "b",
            "x",
            "4",
            "@",
            ".",
            r"\.",
            "S",
            "k",
            "\u{e9}",
            "\u{17f}",
            "[a-c]",
            "[0-9]",
            "[^a]",
            r"\w",
            r"\d",
            r"\s",
            r"\b",
            r"\B",
            "^",
            "$",
            "(?m:^)",
            "(?i:s)",
            "(?i:k)",
            "[\u{e9}-\u{10b}]",
            "(?:)",
            r"[^\s\S]",
        ])
        .prop_map(str::to_owned);
        atom.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.concat()),
                prop::collection::vec(inner.clone(), 2..3)
                    .prop_map(|v| format!("(?:{})", v.join("|"))),
                (
                    inner.clone(),
                    prop::sample::select(vec!["*", "+", "?", "{2}", "{0,2}", "{1,3}?"])
                )
                    .prop_map(|(a, r)| format!("(?:{a}){r}")),
                inner.clone().prop_map(|a| format!("(?i:{a})")),
                inner.prop_map(|a| format!("({a})")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Value patterns given as text (with the prefilter) change every
        /// list as the same regexes given as `Regex` (every value through
        /// them): blocked and allowed ones, fixed and random, with and
        /// without the scanner, every summary, on every instruction set
        /// this CPU has, on protobuf and SDK lists.
        #[test]
        fn value_patterns_skip_only_what_they_cannot_match(
            patterns in prop::collection::vec(
                prop_oneof![prop::sample::select(PATTERNS.to_vec()).prop_map(str::to_owned), any_pattern()],
                1..4,
            ),
            allowed in prop::collection::vec(
                prop_oneof![prop::sample::select(PATTERNS.to_vec()).prop_map(str::to_owned), any_pattern()],
                0..2,
            ),
            scanner in 0u8..3,
            key_pattern in any::<bool>(),
            all_types in any::<bool>(),
            summary in 0u8..3,
            attrs in prop_oneof![
                6 => prop::collection::vec((prefilter_value(), 0u8..4), 0..20),
                1 => prop::collection::vec((prefilter_value(), 0u8..4), 60..70),
            ],
        ) {
            let valid = |p: &String| Regex::new(p).is_ok();
            prop_assume!(patterns.iter().chain(&allowed).all(valid));
            let key_re = Regex::new("^k[13]$").unwrap();
            let attrs: Vec<KeyValue> = attrs
                .iter()
                .enumerate()
                .map(|(i, (v, kind))| {
                    let k = format!("k{i}");
                    match kind {
                        0 => int_attr(&k, v.len() as i64 * 4_111_111_111_111),
                        _ => string_attr(&k, v),
                    }
                })
                .collect();
            let sdk = sdk_list(&attrs);
            for isa in Isa::available() {
                let base = || {
                    let b = Redaction::builder()
                        .with_allow_all_keys(true)
                        .with_redact_all_types(all_types)
                        .with_summary([Summary::Silent, Summary::Info, Summary::Debug][usize::from(summary)])
                        .with_isa(isa);
                    // A key pattern masks a value whatever it holds.
                    let b = if key_pattern {
                        b.with_blocked_key_pattern(key_re.clone())
                    } else {
                        b
                    };
                    match scanner {
                        0 => b,
                        1 => b.with_blocked_pattern("email").unwrap(),
                        _ => b.with_blocked_pattern("card").unwrap().with_blocked_literal("oo"),
                    }
                };
                let (mut fast, mut slow) = (base(), base());
                for p in &patterns {
                    fast = fast.with_blocked_value_pattern(p).unwrap();
                    slow = slow.with_blocked_value(Regex::new(p).unwrap());
                }
                for p in &allowed {
                    fast = fast.with_allowed_value_pattern(p).unwrap();
                    slow = slow.with_allowed_value(Regex::new(p).unwrap());
                }
                let (fast, slow) = (fast.build().unwrap(), slow.build().unwrap());
                prop_assert!(slow.prefilter.is_none());
                prop_assert_eq!(slow.shortest_value, 0);
                let every = patterns.iter().chain(&allowed).all(|p| MatchNeeds::of(p).is_some());
                prop_assert_eq!(fast.prefilter.is_some(), every);
                let (mut a, mut b) = (attrs.clone(), attrs.clone());
                fast.process_attrs(&mut a);
                slow.process_attrs(&mut b);
                prop_assert_eq!(&a, &b, "{:?}", isa);
                let (mut a, mut b) = (sdk.clone(), sdk.clone());
                fast.process_attrs(&mut a);
                slow.process_attrs(&mut b);
                prop_assert_eq!(&a, &b, "{:?}", isa);
            }
        }
    }
}
