//! The database sanitizer of the Collector's redaction processor
//! (`db_sanitizer`): SQL, Redis, Valkey, Memcached, MongoDB, OpenSearch
//! and Elasticsearch statements with their literals taken out, as the
//! Collector's obfuscators (DataDog's `pkg/obfuscate` and `go-sqllexer`)
//! take them out.
//!
//! - SQL ([`DbSystem::Sql`], for `db.system.name` `other_sql`, `mysql`,
//!   `postgresql`, `mariadb` and `sqlite`): strings, numbers (digits in
//!   identifiers too), booleans, `NULL` and positional parameters become
//!   `?`; comments and the query's shape stay (go-sqllexer's
//!   `obfuscate_only` mode with the options the Collector sets).
//! - Redis and Valkey: each command keeps its name and the arguments that
//!   are not data (keys of the commands that have them); values become
//!   `?` (`ObfuscateRedisString`).
//! - Memcached: the command line is kept, what follows its first `\r\n`
//!   (a storage command's data) goes, and the ends are trimmed.
//! - MongoDB, OpenSearch and Elasticsearch: a JSON text keeps its keys
//!   and every value becomes `"?"`; text that is not JSON is left as is.
//!
//! Where they run, as in the Collector:
//!
//! - an attribute's value, after the blocked values, the scanner and the
//!   URL sanitizer, when its key is among the `attributes` of an enabled
//!   obfuscator whose systems include the `db.system.name` (or, before
//!   it, `db.system`) string of the same attribute list, lower-cased; the
//!   first such obfuscator alone. A list without a system is left alone,
//!   except in logs (a record's, its scope's or its resource's list),
//!   where each enabled obfuscator that lists the key runs in turn.
//!   (OpenSearch and Elasticsearch have no attributes: the Collector
//!   reads and drops theirs; this crate refuses them.)
//! - every string of a log body: each enabled obfuscator in turn (JSON
//!   ones only on valid JSON);
//! - with `sanitize_span_name` (on unless turned off), the name of a
//!   client, server or internal span whose attributes, as redaction left
//!   them, name a system: the first enabled obfuscator for it, SQL with
//!   that system's dialect (`mysql`'s `#` comments, backquotes and
//!   `"`-strings). A name the URL sanitizer changed is left to it.
//!
//! A changed value counts as masked. Obfuscators apply in the Collector's
//! order: SQL, Redis, Valkey, Memcached, MongoDB, OpenSearch,
//! Elasticsearch.
//!
//! Deliberate difference: the Collector's pooled SQL obfuscator keeps the
//! dialect of the last span name it sanitized, so after a MySQL span's
//! name the SQL of later span attributes may be read as MySQL's,
//! depending on which pooled copy a call gets; here attributes are always
//! read without a dialect, as a fresh obfuscator of the Collector reads
//! them. (The Collector's logs processor has its own obfuscators, which
//! never sanitize a span name: log attributes and bodies agree.)

mod json;
mod redis;
mod sql;

use crate::keyset::KeySet;
use crate::Isa;
use std::borrow::Cow;

/// One of the sanitizer's obfuscators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DbSystem {
    /// SQL (`other_sql`, `mysql`, `postgresql`, `mariadb`, `sqlite`).
    Sql,
    /// Redis commands (`redis`).
    Redis,
    /// Valkey commands (`valkey`), as Redis's.
    Valkey,
    /// Memcached commands (`memcached`).
    Memcached,
    /// MongoDB queries in JSON (`mongodb`).
    Mongo,
    /// OpenSearch queries in JSON (`opensearch`).
    OpenSearch,
    /// Elasticsearch queries in JSON (`elasticsearch`).
    Elasticsearch,
}

impl DbSystem {
    /// The `db.system.name` values (lower-cased) it handles.
    pub fn systems(self) -> &'static [&'static str] {
        match self {
            DbSystem::Sql => &["other_sql", "mysql", "postgresql", "mariadb", "sqlite"],
            DbSystem::Redis => &["redis"],
            DbSystem::Valkey => &["valkey"],
            DbSystem::Memcached => &["memcached"],
            DbSystem::Mongo => &["mongodb"],
            DbSystem::OpenSearch => &["opensearch"],
            DbSystem::Elasticsearch => &["elasticsearch"],
        }
    }

    /// The name of its table in the configuration.
    pub fn config_name(self) -> &'static str {
        match self {
            DbSystem::Sql => "sql",
            DbSystem::Redis => "redis",
            DbSystem::Valkey => "valkey",
            DbSystem::Memcached => "memcached",
            DbSystem::Mongo => "mongo",
            DbSystem::OpenSearch => "opensearch",
            DbSystem::Elasticsearch => "es",
        }
    }

    /// Whether an attribute list may name keys for it (OpenSearch and
    /// Elasticsearch have none in the Collector).
    pub fn takes_attributes(self) -> bool {
        !matches!(self, DbSystem::OpenSearch | DbSystem::Elasticsearch)
    }

    /// `text` obfuscated, read in the SQL dialect `dialect` (`""` for
    /// none; ignored by the other systems).
    pub fn obfuscate(self, text: &str, dialect: &str) -> String {
        match self {
            DbSystem::Sql => sql::obfuscate_sql(text, dialect),
            DbSystem::Redis | DbSystem::Valkey => redis::obfuscate_redis(text),
            DbSystem::Memcached => obfuscate_memcached(text).to_owned(),
            DbSystem::Mongo | DbSystem::OpenSearch | DbSystem::Elasticsearch => {
                if json::is_valid_json(text) {
                    json::obfuscate_json(text)
                } else {
                    text.to_owned()
                }
            }
        }
    }
}

/// DataDog's `ObfuscateMemcachedString` with `KeepCommand`: the text up to
/// the first `\r\n`, without the white space (Go's `TrimSpace`) at its
/// ends.
fn obfuscate_memcached(text: &str) -> &str {
    let line = text.split_once("\r\n").map_or(text, |(line, _)| line);
    line.trim_matches(go_space)
}

/// Go's `unicode.IsSpace`, which `strings.TrimSpace` trims.
fn go_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// Go's `strings.ToLower`, one code point for one: `İ` becomes `i` (Rust's
/// lower case is `i` and a combining dot), and `Σ` is always `σ`.
fn go_lower(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\u{130}' => 'i',
                c => {
                    let mut lower = c.to_lowercase();
                    match (lower.next(), lower.next()) {
                        (Some(l), None) => l,
                        _ => c,
                    }
                }
            })
            .collect(),
    )
}

/// The Collector's `db_sanitizer` settings; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct DbSanitizer {
    obfuscators: Vec<(DbSystem, Vec<String>)>,
    span_names: Option<bool>,
}

/// Why a [`DbSanitizer`] was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbSanitizerError {
    /// Attributes given to an obfuscator that takes none.
    #[error(
        "db_sanitizer.{0}.attributes: the {0} obfuscator runs on span names and log bodies only \
         (the Collector ignores these attributes)"
    )]
    NoAttributes(&'static str),
}

impl DbSanitizer {
    /// Nothing enabled, span names on.
    pub fn new() -> DbSanitizer {
        DbSanitizer::default()
    }

    /// Enables `system`'s obfuscator for the values of `attributes` (and
    /// for span names and log bodies). Enabling one twice keeps the last
    /// attributes.
    pub fn with_obfuscator<S: Into<String>>(
        mut self,
        system: DbSystem,
        attributes: impl IntoIterator<Item = S>,
    ) -> DbSanitizer {
        let attributes = attributes.into_iter().map(Into::into).collect();
        self.obfuscators.retain(|(s, _)| *s != system);
        self.obfuscators.push((system, attributes));
        self
    }

    /// Whether span names are sanitized (the Collector's
    /// `sanitize_span_name`, on by default).
    pub fn with_span_names(mut self, on: bool) -> DbSanitizer {
        self.span_names = Some(on);
        self
    }

    /// The sanitizer these settings make.
    pub(crate) fn build(&self) -> Result<Option<Db>, DbSanitizerError> {
        if self.obfuscators.is_empty() {
            return Ok(None);
        }
        let mut obfuscators = Vec::with_capacity(self.obfuscators.len());
        for (system, attributes) in &self.obfuscators {
            if !system.takes_attributes() && !attributes.is_empty() {
                return Err(DbSanitizerError::NoAttributes(system.config_name()));
            }
            obfuscators.push((*system, KeySet::new(attributes)));
        }
        obfuscators.sort_by_key(|(s, _)| *s);
        Ok(Some(Db {
            has_attributes: obfuscators.iter().any(|(_, keys)| !keys.is_empty()),
            obfuscators,
            span_names: self.span_names.unwrap_or(true),
        }))
    }
}

/// The built sanitizer a redaction holds.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    /// Each enabled obfuscator and the keys of the attributes it reads, in
    /// the order they apply.
    obfuscators: Vec<(DbSystem, KeySet)>,
    /// Some obfuscator reads attributes.
    has_attributes: bool,
    /// Span names are sanitized.
    pub(crate) span_names: bool,
}

/// What a list of attributes says its database is.
#[derive(Clone, Debug, Default)]
pub(crate) struct DbContext {
    /// The lower-cased `db.system.name` (else `db.system`), or empty.
    system: String,
    /// In a log record: without a system, each obfuscator that lists the
    /// key runs in turn.
    logs: bool,
}

impl Db {
    /// Whether attribute values are ever obfuscated.
    pub(crate) fn reads_attributes(&self) -> bool {
        self.has_attributes
    }

    /// The Collector's `GetDBSystem` on a list, lower-cased: the string
    /// value of `db.system.name`, else of `db.system`, else empty.
    pub(crate) fn system_of<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Cow<'a, str> {
        let lower = |key| get(key).map(go_lower).filter(|s| !s.is_empty());
        lower("db.system.name")
            .or_else(|| lower("db.system"))
            .unwrap_or_default()
    }

    /// The context of an attribute list whose system is `system` (as
    /// [`Db::system_of`] gives it).
    pub(crate) fn context(system: Cow<'_, str>, logs: bool) -> DbContext {
        DbContext {
            system: system.into_owned(),
            logs,
        }
    }

    /// The Collector's `ObfuscateAttribute`: the value of attribute `key`
    /// in a list of context `cx`; `None` when unchanged.
    pub(crate) fn attribute(
        &self,
        isa: Isa,
        cx: &DbContext,
        key: &str,
        text: &str,
    ) -> Option<String> {
        debug_assert!(self.has_attributes, "a context without attributes");
        let lists = |keys: &KeySet| !keys.is_empty() && keys.contains_with(isa, key.as_bytes());
        let out = if cx.system.is_empty() {
            if !cx.logs {
                return None;
            }
            let mut cur = Cow::Borrowed(text);
            for (system, keys) in &self.obfuscators {
                if lists(keys) {
                    cur = Cow::Owned(system.obfuscate(&cur, ""));
                }
            }
            cur.into_owned()
        } else {
            let (system, _) = self.obfuscators.iter().find(|(system, keys)| {
                system.systems().contains(&cx.system.as_str()) && lists(keys)
            })?;
            system.obfuscate(text, "")
        };
        (out != text).then_some(out)
    }

    /// The Collector's `Obfuscate`, on a log body's string: every
    /// obfuscator in turn; `None` when unchanged.
    pub(crate) fn body(&self, text: &str) -> Option<String> {
        let mut cur = Cow::Borrowed(text);
        for (system, _) in &self.obfuscators {
            cur = Cow::Owned(system.obfuscate(&cur, ""));
        }
        (cur != text).then(|| cur.into_owned())
    }

    /// The Collector's `SanitizeSpanName` for a span whose attributes name
    /// `system` (as [`Db::system_of`] gives it); the caller has checked
    /// that names are sanitized and that the span is a client, server or
    /// internal one. The name's replacement, if any.
    pub(crate) fn span_name(&self, name: &str, system: &str) -> Option<String> {
        if system.is_empty() {
            return None;
        }
        let (db, _) = self
            .obfuscators
            .iter()
            .find(|(db, _)| db.systems().contains(&system))?;
        let new = db.obfuscate(name, system);
        // The Collector's `applySpanName`.
        (new != name && !new.is_empty() && new != "...").then_some(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcached_keeps_the_command_line() {
        assert_eq!(
            obfuscate_memcached("set key 0 0 5\r\nvalue"),
            "set key 0 0 5"
        );
        assert_eq!(obfuscate_memcached("  get key \r\n"), "get key");
        assert_eq!(obfuscate_memcached("get key\n"), "get key");
        assert_eq!(obfuscate_memcached("\u{3000}x\u{85}"), "x");
        assert_eq!(obfuscate_memcached(""), "");
        assert_eq!(obfuscate_memcached("\r\n\r\nx"), "");
    }

    #[test]
    fn systems_are_lowered_as_go_lowers_them() {
        assert_eq!(go_lower("MySQL"), "mysql");
        assert_eq!(go_lower("REDİS"), "redis");
        assert_eq!(go_lower("VAL\u{212a}EY"), "valkey");
        assert_eq!(go_lower("ΣΑΣ"), "σασ");
        let attrs = [("db.system", "Redis"), ("db.system.name", "")];
        let get = |k: &str| attrs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        assert_eq!(Db::system_of(get), "redis");
    }

    fn db(s: DbSanitizer) -> Db {
        s.build().unwrap().unwrap()
    }

    #[test]
    fn attributes_need_a_system_except_in_logs() {
        let d = db(DbSanitizer::new()
            .with_obfuscator(DbSystem::Memcached, ["cmd"])
            .with_obfuscator(DbSystem::Sql, ["cmd", "db.statement"]));
        let isa = Isa::detect();
        let spans = Db::context(Cow::Borrowed(""), false);
        let logs = Db::context(Cow::Borrowed(""), true);
        let memcached = Db::context(Cow::Borrowed("memcached"), false);
        assert_eq!(d.attribute(isa, &spans, "cmd", " set k\r\nv"), None);
        assert_eq!(
            d.attribute(isa, &memcached, "cmd", " set k\r\nv")
                .as_deref(),
            Some("set k")
        );
        assert_eq!(
            d.attribute(isa, &memcached, "db.statement", " set k\r\nv"),
            None
        );
        assert_eq!(d.attribute(isa, &memcached, "other", " set k\r\nv"), None);
        // In logs, SQL then Memcached: the other way round, Memcached
        // would keep only the empty first line.
        let text = "\r\nselect 1";
        let sql = sql::obfuscate_sql(text, "");
        assert_eq!(obfuscate_memcached(&sql), "select ?");
        assert_eq!(sql::obfuscate_sql(obfuscate_memcached(text), ""), "");
        assert_eq!(
            d.attribute(isa, &logs, "cmd", text).as_deref(),
            Some("select ?")
        );
        assert_eq!(d.attribute(isa, &logs, "other", " set k\r\nv"), None);
    }

    #[test]
    fn span_names_take_the_first_obfuscator_of_the_system() {
        let d = db(DbSanitizer::new().with_obfuscator(DbSystem::Memcached, Vec::<String>::new()));
        assert_eq!(
            d.span_name("get k\r\nx", "memcached").as_deref(),
            Some("get k")
        );
        assert_eq!(d.span_name("get k\r\nx", "redis"), None);
        assert_eq!(d.span_name("get k\r\nx", ""), None);
        // Nothing left: the name stays.
        assert_eq!(d.span_name("  \r\nx", "memcached"), None);
        let off = db(DbSanitizer::new()
            .with_obfuscator(DbSystem::Memcached, ["x"])
            .with_span_names(false));
        assert!(d.span_names && !off.span_names);
    }

    #[test]
    fn json_systems_take_no_attributes() {
        let err = DbSanitizer::new()
            .with_obfuscator(DbSystem::OpenSearch, ["body"])
            .build()
            .unwrap_err();
        assert!(err
            .to_string()
            .contains("db_sanitizer.opensearch.attributes"));
        assert!(DbSanitizer::new().build().unwrap().is_none());
    }
}
