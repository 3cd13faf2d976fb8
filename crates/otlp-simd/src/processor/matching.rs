//! The `include` / `exclude` match properties of the Collector's
//! `attributes` processor (its `filterconfig.MatchProperties`, evaluated as
//! `filterspan`, `filterlog` and `filtermetric` do without their OTTL
//! bridges, which are off by default in v0.165).
//!
//! Every property given must match (an and); each list matches when any of
//! its entries does, except `libraries`, which must all match, and
//! `attributes` / `resources`, whose entries must all be present (with the
//! value, when one is given). With `match_type = "strict"` strings are
//! compared whole and attribute values by type and value; with `"regexp"`
//! each pattern is searched for anywhere in the text (unanchored, as Go's
//! `MatchString`), and attribute values are read as text (a string, `true`
//! / `false`, an int, or a double in plain decimal notation; other types
//! never match). Patterns are the `regex` crate's, with `\d`, `\w`, `\s`
//! and `\b` ASCII and `\<`, `\>` plain characters, as in Go's `regexp`;
//! syntax that only one of them has, or that they read otherwise (Go's
//! `\Q...\E`; the crate's `(?x)`, and its class operators `&&`, `--`,
//! `~~`, which Go reads as characters), is not translated.
//! Without a `match_type`, as in the Collector, only properties that
//! compare nothing can be given (attributes and resources without values,
//! `log_severity_number`).
//!
//! - spans: `services` (the resource's `service.name` as text, or
//!   `<nil-service-name>`), `span_names`, `span_kinds`
//!   (`SPAN_KIND_SERVER`, ...), `attributes`, `resources`, `libraries`;
//! - log records: `log_bodies` (the body as pdata's `AsString` writes it),
//!   `log_severity_texts`, `log_severity_number` (`min`, and
//!   `match_undefined` for records without one), `attributes`,
//!   `resources`, `libraries`;
//! - metrics: `metric_names` (the `resources` key is accepted, and, as in
//!   the Collector, not evaluated).
//!
//! Properties of another signal make a set invalid for that signal, as
//! they make the Collector refuse the pipeline.

use super::{as_text, go_plain_float};
use crate::proto::common::v1::{any_value::Value, InstrumentationScope, KeyValue};
use crate::proto::logs::v1::LogRecord;
use crate::proto::metrics::v1::Metric;
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::Span;
use regex::Regex;
use thiserror::Error;

/// How strings are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchType {
    /// Whole-string equality; attribute values by type and value.
    Strict,
    /// A regular expression found anywhere in the text.
    Regexp,
}

impl std::str::FromStr for MatchType {
    type Err = MatchError;
    fn from_str(s: &str) -> Result<MatchType, MatchError> {
        match s {
            "strict" => Ok(MatchType::Strict),
            "regexp" => Ok(MatchType::Regexp),
            _ => Err(MatchError::MatchType(s.to_owned())),
        }
    }
}

/// Why match properties cannot be built or do not apply to a signal.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchError {
    /// Not `strict` or `regexp`.
    #[error("match_type {0:?} is not strict or regexp")]
    MatchType(String),
    /// A pattern that does not compile.
    #[error("{0:?} is not a valid regular expression: {1}")]
    Regex(String, String),
    /// An attribute entry without a key.
    #[error("an attribute to match needs a key")]
    EmptyKey,
    /// `regexp` compares text: the value must be a string.
    #[error("match_type regexp takes string values only (attribute {0:?})")]
    RegexpValue(String),
    /// A span kind that does not exist, with `strict`.
    #[error("span kind {0:?} is not one of SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER")]
    SpanKind(String),
    /// A property of another signal, or none of this one's.
    #[error("{0}")]
    NotFor(&'static str),
}

/// Strings to match, compiled.
#[derive(Clone, Debug)]
enum Strings {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

/// A pattern as Go's `regexp` reads it, for the syntax both share: `\d`,
/// `\w`, `\s` and `\b` are ASCII there (`[0-9]`, `[0-9A-Za-z_]`,
/// `[\t\n\f\r ]`, and the boundary between those word characters and
/// others), where the `regex` crate's are Unicode; `\<` and `\>` are the
/// characters `<` and `>` there, and word boundaries here; `\Q...\E`
/// quotes literal text there (turned into escaped text here, where the
/// syntax is missing), and `\0`, `\012`, `\101` are octal character
/// codes there (turned into `\x{..}`). Classes are read with Go's grammar
/// (`[`, `&&`, `--`, `~~` are plain characters in them, `[:name:]` must
/// be a POSIX class), a `{` that starts no repetition is a literal, and
/// what Go refuses is refused (`a**`, `a{1001}`, flags other than `imsU`,
/// escapes Go lacks). Go accepts a little more (a repetition of a flag
/// group, surrogate code points). The patterns of every processor's
/// configuration are read through this, as the Collector reads them.
pub(crate) fn go_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&go_to_regex(pattern)?)
}

/// A Go syntax error (the pattern goes no further).
fn go_error(what: &str, pattern: &str) -> regex::Error {
    regex::Error::Syntax(format!("{what} in {pattern:?} (Go's regexp syntax)"))
}

/// A character as a literal of the `regex` crate, in or out of a class.
fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || c == '_' {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:x}}}", u32::from(c)));
    }
}

/// Go's POSIX class names (`[:alpha:]`, `[:^alpha:]`), which the `regex`
/// crate spells alike.
const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// `\d` and the like, as ASCII classes (nested classes are unions in the
/// `regex` crate, so they read the same inside brackets).
fn perl_class(e: char) -> Option<&'static str> {
    Some(match e {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        's' => "[\\t\\n\\f\\r ]",
        'S' => "[^\\t\\n\\f\\r ]",
        _ => return None,
    })
}

/// After `\p` or `\P` (`rest` starts after the letter): a Unicode class,
/// `\pL` or `\p{Greek}` (`\p{^Greek}` negated), copied; the rest.
fn unicode_class<'a>(
    out: &mut String,
    negated: bool,
    rest: &'a str,
    pattern: &str,
) -> Result<&'a str, regex::Error> {
    let Some(c) = rest.chars().next() else {
        return Err(go_error("missing class name after \\p", pattern));
    };
    if c != '{' {
        out.push_str(if negated { "\\P" } else { "\\p" });
        out.push(c);
        return Ok(&rest[c.len_utf8()..]);
    }
    let Some(end) = rest.find('}') else {
        return Err(go_error("missing } after \\p{", pattern));
    };
    let (name, negated) = match rest[1..end].strip_prefix('^') {
        Some(name) => (name, !negated),
        None => (&rest[1..end], negated),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(go_error("invalid character class name", pattern));
    }
    out.push_str(if negated { "\\P{" } else { "\\p{" });
    out.push_str(name);
    out.push('}');
    Ok(&rest[end + 1..])
}

/// Go's `parseEscape` (`rest` starts after the backslash): the character
/// of an octal, hex, C-like or punctuation escape; the rest.
fn go_escape<'a>(rest: &'a str, pattern: &str) -> Result<(char, &'a str), regex::Error> {
    let invalid = || go_error("invalid escape sequence", pattern);
    let mut chars = rest.chars();
    let e = chars
        .next()
        .ok_or_else(|| go_error("trailing backslash", pattern))?;
    let octal = |c: &char| ('0'..='7').contains(c);
    match e {
        // `\0` and up to two more octal digits, or a non-zero digit and
        // one or two more (a lone `\1` to `\7` is a backreference).
        '0'..='7' if e == '0' || chars.as_str().chars().next().is_some_and(|d| octal(&d)) => {
            let mut code = u32::from(e) - u32::from('0');
            for _ in 0..2 {
                match chars.as_str().chars().next() {
                    Some(d) if octal(&d) => {
                        code = code * 8 + (u32::from(d) - u32::from('0'));
                        chars.next();
                    }
                    _ => break,
                }
            }
            // At most 0o777.
            Ok((char::from_u32(code).ok_or_else(invalid)?, chars.as_str()))
        }
        'x' => {
            let s = chars.as_str();
            let (hex, after) = if let Some(braced) = s.strip_prefix('{') {
                let end = braced.find('}').ok_or_else(invalid)?;
                (&braced[..end], &braced[end + 1..])
            } else {
                let two = s.char_indices().nth(2).map_or(s.len(), |(i, _)| i);
                if s[..two].chars().count() < 2 {
                    return Err(invalid());
                }
                (&s[..two], &s[two..])
            };
            if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid());
            }
            let code = u32::from_str_radix(hex, 16).map_err(|_| invalid())?;
            if code > 0x10_ffff {
                return Err(invalid());
            }
            // Go takes surrogates too; the `regex` crate cannot.
            Ok((char::from_u32(code).ok_or_else(invalid)?, after))
        }
        'a' => Ok(('\u{7}', chars.as_str())),
        'f' => Ok(('\u{c}', chars.as_str())),
        'n' => Ok(('\n', chars.as_str())),
        'r' => Ok(('\r', chars.as_str())),
        't' => Ok(('\t', chars.as_str())),
        'v' => Ok(('\u{b}', chars.as_str())),
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c, chars.as_str())),
        _ => Err(invalid()),
    }
}

/// A bracketed class as Go reads it (`rest` starts after the `[`): `]`
/// or `-` first is literal, `[` is literal unless it opens `[:name:]`,
/// and nothing else is special (the `regex` crate's nested classes and
/// `&&`, `--`, `~~` are not Go's); the rest.
fn go_class<'a>(
    out: &mut String,
    mut rest: &'a str,
    pattern: &str,
) -> Result<&'a str, regex::Error> {
    out.push('[');
    if let Some(r) = rest.strip_prefix('^') {
        out.push('^');
        rest = r;
    }
    let mut first = true;
    loop {
        if rest.is_empty() {
            return Err(go_error("missing closing ]", pattern));
        }
        if rest.starts_with(']') && !first {
            out.push(']');
            return Ok(&rest[1..]);
        }
        first = false;
        if rest.len() > 2 && rest.starts_with("[:") {
            if let Some(end) = rest[2..].find(":]") {
                let name = &rest[2..2 + end];
                if !POSIX_CLASSES.contains(&name.strip_prefix('^').unwrap_or(name)) {
                    return Err(go_error("invalid character class range", pattern));
                }
                out.push_str(&rest[..end + 4]);
                rest = &rest[end + 4..];
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix('\\') {
            let mut esc = r.chars();
            match esc.next() {
                Some(e @ ('p' | 'P')) => {
                    rest = unicode_class(out, e == 'P', esc.as_str(), pattern)?;
                    continue;
                }
                Some(e) if perl_class(e).is_some() => {
                    out.push_str(perl_class(e).unwrap_or_default());
                    rest = esc.as_str();
                    continue;
                }
                _ => {}
            }
        }
        let lo;
        (lo, rest) = class_char(rest, pattern)?;
        push_literal(out, lo);
        let mut dash = rest.chars();
        if dash.next() == Some('-') && !matches!(dash.next(), Some(']') | None) {
            let hi;
            (hi, rest) = class_char(&rest[1..], pattern)?;
            if hi < lo {
                return Err(go_error("invalid character class range", pattern));
            }
            out.push('-');
            push_literal(out, hi);
        }
    }
}

/// One character of a class (Go's `parseClassChar`); the rest.
fn class_char<'a>(rest: &'a str, pattern: &str) -> Result<(char, &'a str), regex::Error> {
    match rest.strip_prefix('\\') {
        Some(r) => go_escape(r, pattern),
        None => {
            let c = rest
                .chars()
                .next()
                .ok_or_else(|| go_error("missing closing ]", pattern))?;
            Ok((c, &rest[c.len_utf8()..]))
        }
    }
}

/// Go's `parseRepeat` (`rest` starts after the `{`): `{n}`, `{n,}` or
/// `{n,m}` with numbers without leading zeros, as `(min, max)` (`-1`
/// for a number too large, `max` `None` when open), and the rest; `None`
/// when `{` is a literal.
fn go_repeat(rest: &str) -> Option<(i64, Option<i64>, &str)> {
    fn int(s: &str) -> Option<(i64, &str)> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || (n >= 2 && s.starts_with('0')) {
            return None;
        }
        let v = s[..n].parse::<i64>().ok().filter(|&v| v < 100_000_000);
        Some((v.unwrap_or(-1), &s[n..]))
    }
    let (min, s) = int(rest)?;
    let (max, s) = match s.strip_prefix(',') {
        None => (Some(min), s),
        Some(s) if s.starts_with('}') => (None, s),
        Some(s) => {
            let (max, s) = int(s)?;
            (Some(max), s)
        }
    };
    Some((min, max, s.strip_prefix('}')?))
}

/// Go's pattern as the `regex` crate's; see [`go_regex`].
pub(crate) fn go_to_regex(pattern: &str) -> Result<String, regex::Error> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    // Whether the last item was a repetition (Go refuses `a**`, `a++`).
    let mut last_repeat = false;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        let mut repeat = false;
        match c {
            '\\' => {
                let mut esc = rest.chars();
                match esc.next() {
                    Some('Q') => {
                        // `\Q...\E` (or to the end): literal text.
                        let lit;
                        (lit, rest) = esc.as_str().split_once("\\E").unwrap_or((esc.as_str(), ""));
                        for c in lit.chars() {
                            push_literal(&mut out, c);
                        }
                    }
                    Some(e @ ('p' | 'P')) => {
                        rest = unicode_class(&mut out, e == 'P', esc.as_str(), pattern)?;
                    }
                    Some(e @ ('A' | 'z' | 'b' | 'B' | 'd' | 'D' | 'w' | 'W' | 's' | 'S')) => {
                        out.push_str(match e {
                            'A' => "\\A",
                            'z' => "\\z",
                            'b' => "(?-u:\\b)",
                            'B' => "(?-u:\\B)",
                            _ => perl_class(e).unwrap_or_default(),
                        });
                        rest = esc.as_str();
                    }
                    _ => {
                        let ch;
                        (ch, rest) = go_escape(rest, pattern)?;
                        push_literal(&mut out, ch);
                    }
                }
            }
            '[' => rest = go_class(&mut out, rest, pattern)?,
            '{' => match go_repeat(rest) {
                None => out.push_str("\\{"),
                Some((min, max, after)) => {
                    if !(0..=1000).contains(&min)
                        || max.is_some_and(|m| !(0..=1000).contains(&m) || min > m)
                    {
                        return Err(go_error("invalid repeat count", pattern));
                    }
                    if last_repeat {
                        return Err(go_error("invalid nested repetition operator", pattern));
                    }
                    out.push('{');
                    out.push_str(&rest[..rest.len() - after.len()]);
                    rest = after;
                    repeat = true;
                }
            },
            '*' | '+' | '?' => {
                if last_repeat {
                    return Err(go_error("invalid nested repetition operator", pattern));
                }
                out.push(c);
                repeat = true;
            }
            '(' if rest.starts_with('?') => {
                // Go's flags are `i`, `m`, `s` and `U`; names as `(?P<n>`
                // or `(?<n>`.
                out.push('(');
                let body = &rest[1..];
                let (text, ok): (&str, fn(char) -> bool) =
                    match body.strip_prefix("P<").or_else(|| body.strip_prefix('<')) {
                        Some(name) => (&name[..name.find('>').unwrap_or(name.len())], |c| {
                            c.is_ascii_alphanumeric() || c == '_'
                        }),
                        None => (&body[..body.find([':', ')']).unwrap_or(body.len())], |c| {
                            matches!(c, 'i' | 'm' | 's' | 'U' | '-')
                        }),
                    };
                if !text.chars().all(ok) {
                    return Err(go_error("invalid or unsupported Perl syntax", pattern));
                }
            }
            ']' | '}' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
        // `?` after a repetition makes it non-greedy, part of it.
        if repeat {
            if let Some(r) = rest.strip_prefix('?') {
                out.push('?');
                rest = r;
            }
        }
        last_repeat = repeat;
    }
    Ok(out)
}

fn compile(p: &str) -> Result<Regex, MatchError> {
    go_regex(p).map_err(|e| MatchError::Regex(p.to_owned(), e.to_string()))
}

impl Strings {
    /// Without a match type, no strings can be compared (the Collector's
    /// "unrecognized match_type").
    fn new(match_type: Option<MatchType>, items: &[String]) -> Result<Strings, MatchError> {
        Ok(match match_type {
            None => return Err(MatchError::MatchType(String::new())),
            Some(MatchType::Strict) => Strings::Strict(items.to_vec()),
            Some(MatchType::Regexp) => {
                Strings::Regexp(items.iter().map(|p| compile(p)).collect::<Result<_, _>>()?)
            }
        })
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Strings::Strict(items) => items.iter().any(|s| s == text),
            Strings::Regexp(res) => res.iter().any(|r| r.is_match(text)),
        }
    }
}

/// One attribute to look for: its key, and the value it must have.
#[derive(Clone, Debug)]
enum AttrMatch {
    Present(String),
    Equal(String, Value),
    Text(String, Regex),
}

impl AttrMatch {
    fn matches(&self, attrs: &[KeyValue]) -> bool {
        let key = match self {
            AttrMatch::Present(k) | AttrMatch::Equal(k, _) | AttrMatch::Text(k, _) => k,
        };
        let Some(kv) = attrs.iter().find(|kv| &kv.key == key) else {
            return false;
        };
        let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
        match self {
            AttrMatch::Present(_) => true,
            AttrMatch::Equal(_, want) => match (want, value) {
                (Value::StringValue(a), Some(Value::StringValue(b))) => a == b,
                (Value::BoolValue(a), Some(Value::BoolValue(b))) => a == b,
                (Value::IntValue(a), Some(Value::IntValue(b))) => a == b,
                (Value::DoubleValue(a), Some(Value::DoubleValue(b))) => a == b,
                _ => false,
            },
            AttrMatch::Text(_, re) => {
                let text = match value {
                    Some(Value::StringValue(s)) => s.clone(),
                    Some(Value::BoolValue(b)) => b.to_string(),
                    Some(Value::IntValue(i)) => i.to_string(),
                    Some(Value::DoubleValue(d)) => go_plain_float(*d),
                    _ => return false,
                };
                re.is_match(&text)
            }
        }
    }
}

fn attr_matchers(
    match_type: Option<MatchType>,
    entries: &[(String, Option<Value>)],
) -> Result<Vec<AttrMatch>, MatchError> {
    entries
        .iter()
        .map(|(k, v)| {
            if k.is_empty() {
                return Err(MatchError::EmptyKey);
            }
            Ok(match (v, match_type) {
                (None, _) => AttrMatch::Present(k.clone()),
                (Some(_), None) => return Err(MatchError::MatchType(String::new())),
                (Some(v), Some(MatchType::Strict)) => AttrMatch::Equal(k.clone(), v.clone()),
                (Some(Value::StringValue(p)), Some(MatchType::Regexp)) => {
                    AttrMatch::Text(k.clone(), compile(p)?)
                }
                (Some(_), Some(MatchType::Regexp)) => {
                    return Err(MatchError::RegexpValue(k.clone()))
                }
            })
        })
        .collect()
}

/// The properties as configured (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct MatchProperties {
    /// `None`: not given (see [`MatchProperties::without_match_type`]).
    match_type: Option<MatchType>,
    services: Vec<String>,
    span_names: Vec<String>,
    span_kinds: Vec<String>,
    log_bodies: Vec<String>,
    log_severity_texts: Vec<String>,
    /// `(min, match_undefined)`.
    log_severity_number: Option<(i32, bool)>,
    metric_names: Vec<String>,
    attributes: Vec<(String, Option<Value>)>,
    resources: Vec<(String, Option<Value>)>,
    /// `(name, version)`.
    libraries: Vec<(String, Option<String>)>,
}

impl MatchProperties {
    /// No properties yet, compared with `match_type`.
    pub fn new(match_type: MatchType) -> MatchProperties {
        MatchProperties {
            match_type: Some(match_type),
            ..MatchProperties::without_match_type()
        }
    }

    /// No properties yet, and no `match_type` (the Collector's empty one):
    /// then only properties that compare nothing can be given (attributes
    /// and resources without values, `log_severity_number`); any other is
    /// an error, as it fails the Collector's pipeline.
    pub fn without_match_type() -> MatchProperties {
        MatchProperties {
            match_type: None,
            services: Vec::new(),
            span_names: Vec::new(),
            span_kinds: Vec::new(),
            log_bodies: Vec::new(),
            log_severity_texts: Vec::new(),
            log_severity_number: None,
            metric_names: Vec::new(),
            attributes: Vec::new(),
            resources: Vec::new(),
            libraries: Vec::new(),
        }
    }

    /// Spans of these services.
    pub fn with_services(mut self, v: Vec<String>) -> Self {
        self.services = v;
        self
    }
    /// Spans of these names.
    pub fn with_span_names(mut self, v: Vec<String>) -> Self {
        self.span_names = v;
        self
    }
    /// Spans of these kinds (`SPAN_KIND_SERVER`, ...).
    pub fn with_span_kinds(mut self, v: Vec<String>) -> Self {
        self.span_kinds = v;
        self
    }
    /// Log records with these bodies.
    pub fn with_log_bodies(mut self, v: Vec<String>) -> Self {
        self.log_bodies = v;
        self
    }
    /// Log records with these severity texts.
    pub fn with_log_severity_texts(mut self, v: Vec<String>) -> Self {
        self.log_severity_texts = v;
        self
    }
    /// Log records of severity `min` or above; those without a severity
    /// number when `match_undefined`.
    pub fn with_log_severity_number(mut self, min: i32, match_undefined: bool) -> Self {
        self.log_severity_number = Some((min, match_undefined));
        self
    }
    /// Metrics of these names.
    pub fn with_metric_names(mut self, v: Vec<String>) -> Self {
        self.metric_names = v;
        self
    }
    /// Items with each of these attributes (and value, when given).
    pub fn with_attributes(mut self, v: Vec<(String, Option<Value>)>) -> Self {
        self.attributes = v;
        self
    }
    /// Items whose resource has each of these attributes.
    pub fn with_resources(mut self, v: Vec<(String, Option<Value>)>) -> Self {
        self.resources = v;
        self
    }
    /// Items whose scope matches each of these `(name, version)`.
    pub fn with_libraries(mut self, v: Vec<(String, Option<String>)>) -> Self {
        self.libraries = v;
        self
    }

    /// The matcher for spans (the Collector's `ValidateForSpans`).
    pub(crate) fn for_spans(&self) -> Result<Matcher, MatchError> {
        if !self.log_bodies.is_empty()
            || !self.log_severity_texts.is_empty()
            || self.log_severity_number.is_some()
            || !self.metric_names.is_empty()
        {
            return Err(MatchError::NotFor(
                "log_bodies, log_severity_texts, log_severity_number and metric_names do not apply to spans",
            ));
        }
        if self.services.is_empty()
            && self.span_names.is_empty()
            && self.attributes.is_empty()
            && self.libraries.is_empty()
            && self.resources.is_empty()
            && self.span_kinds.is_empty()
        {
            return Err(MatchError::NotFor(
                "for spans, one of services, span_names, span_kinds, attributes, resources or libraries is needed",
            ));
        }
        if self.match_type == Some(MatchType::Strict) {
            const KINDS: [&str; 5] = [
                "SPAN_KIND_INTERNAL",
                "SPAN_KIND_SERVER",
                "SPAN_KIND_CLIENT",
                "SPAN_KIND_PRODUCER",
                "SPAN_KIND_CONSUMER",
            ];
            if let Some(k) = self
                .span_kinds
                .iter()
                .find(|k| !KINDS.contains(&k.as_str()))
            {
                return Err(MatchError::SpanKind(k.clone()));
            }
        }
        self.matcher()
    }

    /// The matcher for log records (`ValidateForLogs`).
    pub(crate) fn for_logs(&self) -> Result<Matcher, MatchError> {
        if !self.span_names.is_empty()
            || !self.services.is_empty()
            || !self.span_kinds.is_empty()
            || !self.metric_names.is_empty()
        {
            return Err(MatchError::NotFor(
                "services, span_names, span_kinds and metric_names do not apply to log records",
            ));
        }
        if self.attributes.is_empty()
            && self.libraries.is_empty()
            && self.resources.is_empty()
            && self.log_bodies.is_empty()
            && self.log_severity_texts.is_empty()
            && self.log_severity_number.is_none()
        {
            return Err(MatchError::NotFor(
                "for log records, one of attributes, resources, libraries, log_bodies, log_severity_texts or log_severity_number is needed",
            ));
        }
        self.matcher()
    }

    /// The matcher for metrics (`ValidateForMetrics`); `None` when it
    /// matches on nothing the Collector evaluates (no `metric_names`).
    pub(crate) fn for_metrics(&self) -> Result<Option<Matcher>, MatchError> {
        if !self.log_bodies.is_empty()
            || !self.log_severity_texts.is_empty()
            || !self.span_names.is_empty()
            || !self.services.is_empty()
            || !self.span_kinds.is_empty()
            || !self.attributes.is_empty()
            || !self.libraries.is_empty()
            || self.log_severity_number.is_some()
        {
            return Err(MatchError::NotFor(
                "only metric_names and resources apply to metrics",
            ));
        }
        if self.metric_names.is_empty() && self.resources.is_empty() {
            return Err(MatchError::NotFor(
                "for metrics, one of metric_names or resources is needed",
            ));
        }
        if self.metric_names.is_empty() {
            return Ok(None);
        }
        Ok(Some(Matcher {
            names: Some(Strings::new(self.match_type, &self.metric_names)?),
            ..Matcher::default()
        }))
    }

    fn matcher(&self) -> Result<Matcher, MatchError> {
        let strings = |v: &[String]| -> Result<Option<Strings>, MatchError> {
            if v.is_empty() {
                Ok(None)
            } else {
                Strings::new(self.match_type, v).map(Some)
            }
        };
        let libraries = self
            .libraries
            .iter()
            .map(|(name, version)| {
                Ok((
                    Strings::new(self.match_type, std::slice::from_ref(name))?,
                    version
                        .as_ref()
                        .map(|v| Strings::new(self.match_type, std::slice::from_ref(v)))
                        .transpose()?,
                ))
            })
            .collect::<Result<_, MatchError>>()?;
        Ok(Matcher {
            services: strings(&self.services)?,
            names: strings(&self.span_names)?,
            kinds: strings(&self.span_kinds)?,
            bodies: strings(&self.log_bodies)?,
            severity_texts: strings(&self.log_severity_texts)?,
            severity_number: self.log_severity_number,
            attributes: attr_matchers(self.match_type, &self.attributes)?,
            resources: attr_matchers(self.match_type, &self.resources)?,
            libraries,
        })
    }
}

/// Compiled match properties for one signal.
#[derive(Clone, Debug, Default)]
pub(crate) struct Matcher {
    services: Option<Strings>,
    /// Span names, or metric names.
    names: Option<Strings>,
    kinds: Option<Strings>,
    bodies: Option<Strings>,
    severity_texts: Option<Strings>,
    severity_number: Option<(i32, bool)>,
    attributes: Vec<AttrMatch>,
    resources: Vec<AttrMatch>,
    libraries: Vec<(Strings, Option<Strings>)>,
}

fn span_kind(kind: i32) -> &'static str {
    match kind {
        0 => "SPAN_KIND_UNSPECIFIED",
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "",
    }
}

impl Matcher {
    /// `filtermatcher.PropertiesMatcher.Match`: libraries, resource, then
    /// the item's attributes.
    fn common(
        &self,
        attrs: &[KeyValue],
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
    ) -> bool {
        let (name, version) = scope.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
        self.libraries
            .iter()
            .all(|(n, v)| n.matches(name) && v.as_ref().is_none_or(|v| v.matches(version)))
            && {
                let rattrs: &[KeyValue] = resource.map_or(&[], |r| &r.attributes);
                self.resources.iter().all(|m| m.matches(rattrs))
            }
            && self.attributes.iter().all(|m| m.matches(attrs))
    }

    pub(crate) fn matches_span(
        &self,
        span: &Span,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
    ) -> bool {
        if let Some(services) = &self.services {
            let rattrs: &[KeyValue] = resource.map_or(&[], |r| &r.attributes);
            let service = match rattrs.iter().find(|kv| kv.key == "service.name") {
                Some(kv) => kv.value.as_ref().map(as_text).unwrap_or_default(),
                None => "<nil-service-name>".to_owned(),
            };
            if !services.matches(&service) {
                return false;
            }
        }
        if self.names.as_ref().is_some_and(|n| !n.matches(&span.name)) {
            return false;
        }
        if self
            .kinds
            .as_ref()
            .is_some_and(|k| !k.matches(span_kind(span.kind)))
        {
            return false;
        }
        self.common(&span.attributes, resource, scope)
    }

    pub(crate) fn matches_log(
        &self,
        record: &LogRecord,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
    ) -> bool {
        if let Some(bodies) = &self.bodies {
            let body = record.body.as_ref().map(as_text).unwrap_or_default();
            if !bodies.matches(&body) {
                return false;
            }
        }
        if self
            .severity_texts
            .as_ref()
            .is_some_and(|t| !t.matches(&record.severity_text))
        {
            return false;
        }
        if let Some((min, undefined)) = self.severity_number {
            let ok = if record.severity_number == 0 {
                undefined
            } else {
                record.severity_number >= min
            };
            if !ok {
                return false;
            }
        }
        self.common(&record.attributes, resource, scope)
    }

    pub(crate) fn matches_metric(&self, metric: &Metric) -> bool {
        self.names.as_ref().is_none_or(|n| n.matches(&metric.name))
    }
}

/// Include and exclude, compiled for each signal: `Ok(None)` where there
/// is nothing to match, `Err` where the properties do not apply.
#[derive(Clone, Debug)]
pub(crate) struct Selection {
    pub(crate) spans: Result<(Option<Matcher>, Option<Matcher>), MatchError>,
    pub(crate) logs: Result<(Option<Matcher>, Option<Matcher>), MatchError>,
    pub(crate) metrics: Result<(Option<Matcher>, Option<Matcher>), MatchError>,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            spans: Ok((None, None)),
            logs: Ok((None, None)),
            metrics: Ok((None, None)),
        }
    }
}

impl Selection {
    pub(crate) fn new(
        include: Option<MatchProperties>,
        exclude: Option<MatchProperties>,
    ) -> Result<Selection, MatchError> {
        fn both<F>(
            i: &Option<MatchProperties>,
            e: &Option<MatchProperties>,
            f: F,
        ) -> Result<(Option<Matcher>, Option<Matcher>), MatchError>
        where
            F: Fn(&MatchProperties) -> Result<Option<Matcher>, MatchError>,
        {
            Ok((
                i.as_ref().map(&f).transpose()?.flatten(),
                e.as_ref().map(&f).transpose()?.flatten(),
            ))
        }
        let spans = both(&include, &exclude, |p| p.for_spans().map(Some));
        let logs = both(&include, &exclude, |p| p.for_logs().map(Some));
        let metrics = both(&include, &exclude, MatchProperties::for_metrics);
        // A bad pattern or value is an error, and so are properties that
        // apply to no signal; properties of one signal leave the others
        // alone.
        let errors: Vec<&MatchError> = [&spans, &logs, &metrics]
            .into_iter()
            .filter_map(|r| r.as_ref().err())
            .collect();
        if let Some(e) = errors.iter().find(|e| !matches!(e, MatchError::NotFor(_))) {
            return Err((*e).clone());
        }
        if errors.len() == 3 {
            return Err(errors[0].clone());
        }
        Ok(Selection {
            spans,
            logs,
            metrics,
        })
    }
}

/// Whether an item is acted on: matched by the include (if any) and not by
/// the exclude (if any); every item when neither is given.
pub(crate) fn selected(
    pair: &(Option<Matcher>, Option<Matcher>),
    matches: impl Fn(&Matcher) -> bool,
) -> bool {
    pair.0.as_ref().is_none_or(&matches) && !pair.1.as_ref().is_some_and(&matches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::string_attr;

    fn props(t: MatchType) -> MatchProperties {
        MatchProperties::new(t)
    }

    #[test]
    fn properties_apply_to_their_signals() {
        let spans_only = props(MatchType::Strict).with_span_names(vec!["a".into()]);
        let s = Selection::new(Some(spans_only), None).unwrap();
        assert!(s.spans.is_ok());
        assert!(matches!(s.logs, Err(MatchError::NotFor(_))));
        assert!(matches!(s.metrics, Err(MatchError::NotFor(_))));
        // Nothing to match on: no signal takes it.
        assert!(matches!(
            Selection::new(Some(props(MatchType::Strict)), None),
            Err(MatchError::NotFor(_))
        ));
        // A bad pattern is an error even where another signal is fine.
        let bad = props(MatchType::Regexp)
            .with_resources(vec![("k".into(), Some(Value::StringValue("(".into())))]);
        assert!(matches!(
            Selection::new(None, Some(bad)),
            Err(MatchError::Regex(..))
        ));
        let not_text =
            props(MatchType::Regexp).with_attributes(vec![("k".into(), Some(Value::IntValue(1)))]);
        assert_eq!(
            Selection::new(Some(not_text), None).unwrap_err(),
            MatchError::RegexpValue("k".into())
        );
        let kind = props(MatchType::Strict).with_span_kinds(vec!["SERVER".into()]);
        assert_eq!(
            Selection::new(Some(kind), None).unwrap_err(),
            MatchError::SpanKind("SERVER".into())
        );
        // Resources only: the metric matcher evaluates nothing.
        let res = props(MatchType::Strict).with_resources(vec![("k".into(), None)]);
        let s = Selection::new(Some(res), None).unwrap();
        assert!(matches!(s.metrics, Ok((None, None))));
    }

    #[test]
    fn include_and_exclude_select_spans() {
        let include = props(MatchType::Regexp)
            .with_span_names(vec!["^GET".into()])
            .with_libraries(vec![
                ("app".into(), Some("^1".into())),
                ("web".into(), None),
            ]);
        let exclude = props(MatchType::Strict)
            .with_attributes(vec![("skip".into(), Some(Value::BoolValue(true)))]);
        let s = Selection::new(Some(include), Some(exclude)).unwrap();
        let pair = s.spans.as_ref().unwrap();
        let scope = |name: &str, version: &str| InstrumentationScope {
            name: name.into(),
            version: version.into(),
            ..InstrumentationScope::default()
        };
        let span = |name: &str, attrs: Vec<KeyValue>| Span {
            name: name.into(),
            attributes: attrs,
            ..Span::default()
        };
        let yes = |sp: &Span, sc: &InstrumentationScope| {
            selected(pair, |m| m.matches_span(sp, None, Some(sc)))
        };
        // Both libraries must match (an and), unanchored.
        assert!(yes(&span("GET /", vec![]), &scope("my.app.web", "1.0")));
        assert!(!yes(&span("GET /", vec![]), &scope("app", "1.0")));
        assert!(!yes(&span("GET /", vec![]), &scope("app.web", "2.0")));
        assert!(!yes(&span("POST /", vec![]), &scope("app.web", "1.0")));
        let skip = KeyValue {
            key: "skip".into(),
            value: Some(crate::proto::common::v1::AnyValue {
                value: Some(Value::BoolValue(true)),
            }),
            ..KeyValue::default()
        };
        assert!(!yes(&span("GET /", vec![skip]), &scope("app.web", "1.0")));
        // A string "true" is not the bool true, with strict.
        assert!(yes(
            &span("GET /", vec![string_attr("skip", "true")]),
            &scope("app.web", "1.0")
        ));
    }

    /// What Go 1.26's `regexp.MatchString` answers (printed by a Go
    /// program): its `\d`, `\w`, `\s` and `\b` are ASCII, `\<` and `\>`
    /// are characters; case folding and Unicode classes are there too.
    #[test]
    fn patterns_read_as_go_reads_them() {
        for (pattern, text, want) in [
            (r"^\d+$", "٣", false),
            (r"^\d+$", "3", true),
            (r"^\w+$", "é", false),
            (r"^\w+$", "a_1", true),
            (r"^\s$", "\u{a0}", false),
            (r"^\s$", "\u{b}", false),
            (r"^\s$", "\t", true),
            (r"\bé", "é", false),
            (r"\Bé", "é", true),
            (r"^[\d]$", "٣", false),
            (r"^\D$", "٣", true),
            (r"^[^\d]$", "٣", true),
            (r"^[\w.]+$", "a.b", true),
            (r"\<y\>", "x<y>", true),
            (r"\bx\b", "a x b", true),
            (r"(?i)^GET", "get /", true),
            (r"\pL", "é", true),
            // Literal text, as Go's regexp reads it.
            (r"^\Qa.b\E$", "a.b", true),
            (r"^\Qa.b\E$", "axb", false),
            (r"^\Q\d+\E", r"\d+x", true),
            (r"^\Q\d+\E", "12", false),
            (r"^x\Q(*)", "x(*)", true),
            (r"^\Q\E$", "", true),
            (r"^a\Q\E+$", "aaa", true),
            (r"\Qa\\E", "a\\", true),
            (r"^\Q[\E\d$", "[7", true),
            (r"(?i)\QAbC\E", "abc", true),
            // Octal character codes.
            (r"^\101\12$", "A\n", true),
            (r"^\0$", "\0", true),
            (r"^\0101$", "\u{8}1", true),
            (r"^[\060-\071]+$", "42", true),
        ] {
            assert_eq!(
                go_regex(pattern).unwrap().is_match(text),
                want,
                "{pattern} on {text:?}"
            );
        }
        // Errors in Go's regexp as here.
        for pattern in [r"^\8$", r"^\1$", r"\Z"] {
            assert!(go_regex(pattern).is_err(), "{pattern}");
        }
        // Classes, braces and literal text as Go reads them (checked
        // against Go 1.26's regexp).
        for (pattern, text, want) in [
            // `&&`, `~~`, `--` and `[` are plain characters in Go's classes.
            (r"^[a&&b]$", "&", true),
            (r"^[a&&b]$", "a", true),
            (r"^[a~~b]$", "~", true),
            (r"^[+--]$", ",", true),
            (r"^[[]$", "[", true),
            (r"^[a[b]$", "[", true),
            (r"^[[:alpha]$", "[", true),
            (r"^[[:alpha:]-z]$", "-", true),
            (r"^[\d-z]$", "-", true),
            (r"^[^]a]$", "b", true),
            // `{` that starts no repetition is a literal.
            (r"^a{\Q2\E}$", "a{2}", true),
            (r"^a{\Q2\E}$", "aa", false),
            (r"^a{01}$", "a{01}", true),
            (r"^a{01}$", "a", false),
            (r"^a{,2}$", "a{,2}", true),
            (r"^a{$", "a{", true),
            (r"^x{2}{$", "xx{", true),
            (r"^\Qa\E{2}$", "aa", true),
            (r"^\Q*\E+$", "**", true),
            (r"^\p{^Greek}$", "a", true),
            (r"^\377$", "\u{ff}", true),
            (r"^[\x{1F600}-\x{1F64F}]$", "\u{1F600}", true),
            (r"^\Q\$", "\\$", true),
        ] {
            assert_eq!(
                go_regex(pattern).unwrap().is_match(text),
                want,
                "{pattern} on {text:?}"
            );
        }
        for pattern in [
            r"^[\Qa\E]$",
            r"^[\b]$",
            r"^\x\Q41\E$",
            r"^\p\QL\E$",
            r"^(?\Qi\E)a$",
            r"^[[:foo:]]$",
            r"^[a--b]$",
            r"^a**$",
            r"^a++$",
            r"^a{2}{3}$",
            r"^a{1001}$",
            r"^(?x)a b$",
            r"^(?P<x.y>b)$",
            r"^\u0041$",
            r"^\x4$",
        ] {
            assert!(go_regex(pattern).is_err(), "{pattern}");
        }
        // As a match property.
        let digits = props(MatchType::Regexp).with_span_names(vec![r"^\d+$".into()]);
        let s = Selection::new(Some(digits), None).unwrap();
        let pair = s.spans.as_ref().unwrap();
        let named = |name: &str| Span {
            name: name.into(),
            ..Span::default()
        };
        assert!(selected(pair, |m| m.matches_span(&named("42"), None, None)));
        assert!(!selected(pair, |m| m.matches_span(
            &named("٤٢"),
            None,
            None
        )));
    }

    /// Without a match_type, the Collector takes properties that compare
    /// nothing and fails the others ("unrecognized match_type").
    #[test]
    fn without_a_match_type_only_presence_is_matched() {
        let keys = MatchProperties::without_match_type()
            .with_attributes(vec![("k".into(), None)])
            .with_resources(vec![("r".into(), None)]);
        let s = Selection::new(Some(keys), None).unwrap();
        assert!(s.spans.is_ok() && s.logs.is_ok());
        let severity = MatchProperties::without_match_type().with_log_severity_number(9, false);
        assert!(Selection::new(None, Some(severity)).unwrap().logs.is_ok());
        for bad in [
            MatchProperties::without_match_type().with_span_names(vec!["a".into()]),
            MatchProperties::without_match_type().with_span_kinds(vec!["SPAN_KIND_SERVER".into()]),
            MatchProperties::without_match_type().with_metric_names(vec!["m".into()]),
            MatchProperties::without_match_type().with_libraries(vec![("l".into(), None)]),
            MatchProperties::without_match_type()
                .with_attributes(vec![("k".into(), Some(Value::StringValue("v".into())))]),
        ] {
            assert_eq!(
                Selection::new(Some(bad.clone()), None).unwrap_err(),
                MatchError::MatchType(String::new()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn regexp_reads_numbers_as_go_formats_them() {
        let m = |v: Value| {
            let re = AttrMatch::Text(
                "k".into(),
                Regex::new("^1000000000000000000000$|^\\+Inf$|^0\\.5$|^true$|^-3$").unwrap(),
            );
            re.matches(&[KeyValue {
                key: "k".into(),
                value: Some(crate::proto::common::v1::AnyValue { value: Some(v) }),
                ..KeyValue::default()
            }])
        };
        assert!(m(Value::DoubleValue(1e21)));
        assert!(m(Value::DoubleValue(f64::INFINITY)));
        assert!(m(Value::DoubleValue(0.5)));
        assert!(m(Value::BoolValue(true)));
        assert!(m(Value::IntValue(-3)));
        assert!(!m(Value::BytesValue(b"true".to_vec())));
    }
}
