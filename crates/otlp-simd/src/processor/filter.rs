//! Dropping spans and span events by conditions, with the semantics of the
//! Collector's `filterprocessor` (its OTTL `traces.span` and
//! `traces.spanevent` condition lists).
//!
//! A span is dropped when any span condition is true for it, then an event
//! of a remaining span is dropped when any span-event condition is true for
//! it. Resource and scope entries left without spans are removed.
//!
//! Conditions are a subset of OTTL boolean expressions:
//!
//! ```text
//! name == "GET /health"
//! kind == SPAN_KIND_INTERNAL and duration < 1000000
//! status.code == STATUS_CODE_ERROR or attributes["http.response.status_code"] >= 500
//! IsMatch(attributes["url.path"], "^/internal/") and not resource.attributes["env"] == "dev"
//! end_time_unix_nano - start_time_unix_nano > 3000000000
//! ```
//!
//! Paths in span conditions: `name`, `kind`, `status.code`,
//! `status.message`, `start_time_unix_nano`, `end_time_unix_nano`,
//! `duration` (nanoseconds; also written
//! `end_time_unix_nano - start_time_unix_nano`), `trace_state`,
//! `attributes["k"]`, `resource.attributes["k"]`,
//! `instrumentation_scope.name`, `instrumentation_scope.version`. In
//! span-event conditions, `name`, `time_unix_nano` and `attributes["k"]`
//! are the event's, and the span's fields are reached with `span.`
//! (`span.name`, `span.attributes["k"]`, ...). Operators: `==`, `!=`, `<`,
//! `<=`, `>`, `>=`, `and`, `or`, `not`, parentheses, and the function
//! `IsMatch(path, "regex")`. Literals: strings, integers, floats, `true`,
//! `false`, `nil`, and the `SPAN_KIND_*` / `STATUS_CODE_*` constants.
//!
//! Comparison follows OTTL: integers and floats compare by value, strings
//! by bytes, booleans only for equality; a missing attribute is `nil`,
//! equal only to `nil`; values of different types are unequal and not
//! ordered (every ordering comparison between them is false).
//! `IsMatch` turns scalars into strings and is false for `nil`.
//!
//! Differences from the Collector: only this subset of OTTL (no other
//! functions, no arithmetic other than the duration form, no `error_mode`:
//! evaluation cannot fail here); the legacy `include` / `exclude` match
//! properties are not supported.

use super::{prune_empty, Outcome, Processor};
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{any_value::Value, InstrumentationScope, KeyValue};
use crate::proto::trace::v1::span::Event;
use crate::proto::trace::v1::Span;
use regex::Regex;
use std::cmp::Ordering;
use thiserror::Error;

/// A condition that did not parse.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConditionError {
    /// What is wrong and the byte offset in the condition.
    #[error("at offset {offset}: {message}")]
    Parse {
        /// Byte offset.
        offset: usize,
        /// What is wrong.
        message: String,
    },
}

/// Where a value comes from.
#[derive(Clone, Debug, PartialEq)]
enum Field {
    Name,
    Kind,
    StatusCode,
    StatusMessage,
    Start,
    End,
    Duration,
    TraceState,
    Time,
    Attr(String),
    ResourceAttr(String),
    ScopeName,
    ScopeVersion,
}

#[derive(Clone, Debug, PartialEq)]
struct Path {
    /// In a span-event condition, `span.`: the span's field.
    of_span: bool,
    field: Field,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Nil,
}

#[derive(Clone, Debug)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Path, Op, Lit),
    IsMatch(Path, Regex),
}

/// A value read from the data.
#[derive(Clone, Copy, Debug)]
enum Val<'a> {
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
    Nil,
    /// Bytes, arrays, maps: equal to nothing.
    Other,
}

/// A parsed condition.
#[derive(Clone, Debug)]
pub struct Condition {
    expr: Expr,
    text: String,
}

impl Condition {
    /// Parses a span condition.
    pub fn span(text: &str) -> Result<Condition, ConditionError> {
        Condition::parse(text, false)
    }

    /// Parses a span-event condition.
    pub fn span_event(text: &str) -> Result<Condition, ConditionError> {
        Condition::parse(text, true)
    }

    fn parse(text: &str, event: bool) -> Result<Condition, ConditionError> {
        let toks = lex(text)?;
        let mut p = Parser {
            toks,
            at: 0,
            event,
            len: text.len(),
        };
        let expr = p.or()?;
        if p.at < p.toks.len() {
            return Err(p.err("unexpected text after the condition"));
        }
        Ok(Condition {
            expr,
            text: text.to_owned(),
        })
    }

    /// The condition as written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Double(f64),
    Op(Op),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Minus,
}

fn lex(s: &str) -> Result<Vec<(Tok, usize)>, ConditionError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |offset: usize, m: &str| ConditionError::Parse {
        offset,
        message: m.to_owned(),
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b',' => Tok::Comma,
            b'=' if b.get(i + 1) == Some(&b'=') => {
                i += 1;
                Tok::Op(Op::Eq)
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                i += 1;
                Tok::Op(Op::Ne)
            }
            b'<' | b'>' => {
                let eq = b.get(i + 1) == Some(&b'=');
                if eq {
                    i += 1;
                }
                Tok::Op(match (c, eq) {
                    (b'<', false) => Op::Lt,
                    (b'<', true) => Op::Le,
                    (_, false) => Op::Gt,
                    _ => Op::Ge,
                })
            }
            b'"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(err(start, "unterminated string")),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            match b.get(i + 1) {
                                Some(b'"') => v.push('"'),
                                Some(b'\\') => v.push('\\'),
                                Some(b'n') => v.push('\n'),
                                Some(b't') => v.push('\t'),
                                _ => return Err(err(i, "unknown escape in string")),
                            }
                            i += 2;
                        }
                        Some(_) => {
                            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
                            v.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                Tok::Str(v)
            }
            b'0'..=b'9' | b'-' if c != b'-' || b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let mut j = i + 1;
                while j < b.len()
                    && (b[j].is_ascii_digit() || matches!(b[j], b'.' | b'e' | b'E' | b'+'))
                {
                    if matches!(b[j], b'+') && !matches!(b[j - 1], b'e' | b'E') {
                        break;
                    }
                    j += 1;
                }
                let t = &s[i..j];
                i = j - 1;
                if let Ok(v) = t.parse::<i64>() {
                    Tok::Int(v)
                } else if let Ok(v) = t.parse::<f64>() {
                    Tok::Double(v)
                } else {
                    return Err(err(start, "not a number"));
                }
            }
            b'-' => Tok::Minus,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'_' | b'.')) {
                    j += 1;
                }
                let t = s[i..j].to_owned();
                i = j - 1;
                Tok::Ident(t)
            }
            _ => return Err(err(i, "unexpected character")),
        };
        out.push((tok, start));
        i += 1;
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    event: bool,
    len: usize,
}

impl Parser {
    fn err(&self, m: &str) -> ConditionError {
        let offset = self.toks.get(self.at).map_or(self.len, |t| t.1);
        ConditionError::Parse {
            offset,
            message: m.to_owned(),
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.0)
    }

    fn keyword(&mut self, k: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s == k) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), ConditionError> {
        if self.peek() == Some(t) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {what}")))
        }
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut v = vec![self.and()?];
        while self.keyword("or") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut v = vec![self.not()?];
        while self.keyword("and") {
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }

    fn not(&mut self) -> Result<Expr, ConditionError> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ConditionError> {
        if self.peek() == Some(&Tok::LParen) {
            self.at += 1;
            let e = self.or()?;
            self.expect(&Tok::RParen, "`)`")?;
            return Ok(e);
        }
        if self.keyword("IsMatch") {
            self.expect(&Tok::LParen, "`(` after IsMatch")?;
            let path = self.path()?;
            self.expect(&Tok::Comma, "`,`")?;
            let pat = match self.peek() {
                Some(Tok::Str(s)) => s.clone(),
                _ => return Err(self.err("expected a pattern string")),
            };
            let re = Regex::new(&pat)
                .map_err(|e| self.err(&format!("invalid regular expression: {e}")))?;
            self.at += 1;
            self.expect(&Tok::RParen, "`)`")?;
            return Ok(Expr::IsMatch(path, re));
        }
        let path = self.path()?;
        let op = match self.peek() {
            Some(Tok::Op(op)) => *op,
            _ => return Err(self.err("expected a comparison operator")),
        };
        self.at += 1;
        let lit = self.literal()?;
        Ok(Expr::Cmp(path, op, lit))
    }

    fn literal(&mut self) -> Result<Lit, ConditionError> {
        let lit = match self.peek() {
            Some(Tok::Str(s)) => Lit::Str(s.clone()),
            Some(Tok::Int(i)) => Lit::Int(*i),
            Some(Tok::Double(d)) => Lit::Double(*d),
            Some(Tok::Ident(id)) => match id.as_str() {
                "true" => Lit::Bool(true),
                "false" => Lit::Bool(false),
                "nil" => Lit::Nil,
                "SPAN_KIND_UNSPECIFIED" | "STATUS_CODE_UNSET" => Lit::Int(0),
                "SPAN_KIND_INTERNAL" | "STATUS_CODE_OK" => Lit::Int(1),
                "SPAN_KIND_SERVER" | "STATUS_CODE_ERROR" => Lit::Int(2),
                "SPAN_KIND_CLIENT" => Lit::Int(3),
                "SPAN_KIND_PRODUCER" => Lit::Int(4),
                "SPAN_KIND_CONSUMER" => Lit::Int(5),
                _ => return Err(self.err(&format!("unknown constant {id}"))),
            },
            _ => return Err(self.err("expected a value")),
        };
        self.at += 1;
        Ok(lit)
    }

    fn key(&mut self) -> Result<String, ConditionError> {
        self.expect(&Tok::LBracket, "`[`")?;
        let k = match self.peek() {
            Some(Tok::Str(s)) => s.clone(),
            _ => return Err(self.err("expected a key string")),
        };
        self.at += 1;
        self.expect(&Tok::RBracket, "`]`")?;
        Ok(k)
    }

    fn path(&mut self) -> Result<Path, ConditionError> {
        let id = match self.peek() {
            Some(Tok::Ident(s)) => s.clone(),
            _ => return Err(self.err("expected a field")),
        };
        self.at += 1;
        let (of_span, rest) = match id.strip_prefix("span.") {
            Some(r) if self.event => (true, r.to_owned()),
            _ => (!self.event, id.clone()),
        };
        let span_ctx = of_span;
        let field = match rest.as_str() {
            "name" => Field::Name,
            "attributes" => Field::Attr(self.key()?),
            "resource.attributes" => Field::ResourceAttr(self.key()?),
            "instrumentation_scope.name" => Field::ScopeName,
            "instrumentation_scope.version" => Field::ScopeVersion,
            "kind" if span_ctx => Field::Kind,
            "status.code" if span_ctx => Field::StatusCode,
            "status.message" if span_ctx => Field::StatusMessage,
            "duration" if span_ctx => Field::Duration,
            "trace_state" if span_ctx => Field::TraceState,
            "start_time_unix_nano" if span_ctx => Field::Start,
            "end_time_unix_nano" if span_ctx => {
                // `end_time_unix_nano - start_time_unix_nano` is the duration.
                if self.peek() == Some(&Tok::Minus) {
                    self.at += 1;
                    let want = if self.event {
                        "span.start_time_unix_nano"
                    } else {
                        "start_time_unix_nano"
                    };
                    if !self.keyword(want) {
                        return Err(self.err(&format!("expected {want} after `-`")));
                    }
                    Field::Duration
                } else {
                    Field::End
                }
            }
            "time_unix_nano" if !span_ctx => Field::Time,
            _ => {
                return Err(ConditionError::Parse {
                    offset: self.toks[self.at - 1].1,
                    message: format!("unknown field {id}"),
                })
            }
        };
        // Resource and scope are the same for span and event contexts.
        let of_span = of_span
            || matches!(
                field,
                Field::ResourceAttr(_) | Field::ScopeName | Field::ScopeVersion
            );
        Ok(Path { of_span, field })
    }
}

/// What a condition is evaluated against.
struct Ctx<'a> {
    resource: &'a [KeyValue],
    scope: Option<&'a InstrumentationScope>,
    span: &'a Span,
    event: Option<&'a Event>,
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Val<'a> {
    match attrs.iter().find(|kv| kv.key == key) {
        None => Val::Nil,
        Some(kv) => match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            None => Val::Nil,
            Some(Value::StringValue(s)) => Val::Str(s),
            Some(Value::IntValue(i)) => Val::Int(*i),
            Some(Value::DoubleValue(d)) => Val::Double(*d),
            Some(Value::BoolValue(b)) => Val::Bool(*b),
            Some(_) => Val::Other,
        },
    }
}

fn read<'a>(p: &Path, c: &Ctx<'a>) -> Val<'a> {
    let s = c.span;
    if !p.of_span {
        if let Some(e) = c.event {
            return match &p.field {
                Field::Name => Val::Str(&e.name),
                Field::Time => Val::Int(e.time_unix_nano as i64),
                Field::Attr(k) => attr(&e.attributes, k),
                _ => Val::Nil,
            };
        }
    }
    match &p.field {
        Field::Name => Val::Str(&s.name),
        Field::Kind => Val::Int(i64::from(s.kind)),
        Field::StatusCode => Val::Int(s.status.as_ref().map_or(0, |st| i64::from(st.code))),
        Field::StatusMessage => Val::Str(s.status.as_ref().map_or("", |st| st.message.as_str())),
        Field::Start => Val::Int(s.start_time_unix_nano as i64),
        Field::End => Val::Int(s.end_time_unix_nano as i64),
        Field::Duration => Val::Int(s.end_time_unix_nano as i64 - s.start_time_unix_nano as i64),
        Field::TraceState => Val::Str(&s.trace_state),
        Field::Time => Val::Nil,
        Field::Attr(k) => attr(&s.attributes, k),
        Field::ResourceAttr(k) => attr(c.resource, k),
        Field::ScopeName => Val::Str(c.scope.map_or("", |sc| sc.name.as_str())),
        Field::ScopeVersion => Val::Str(c.scope.map_or("", |sc| sc.version.as_str())),
    }
}

fn compare(v: Val<'_>, op: Op, lit: &Lit) -> bool {
    let ord: Option<Ordering> = match (v, lit) {
        (Val::Nil, Lit::Nil) => Some(Ordering::Equal),
        (Val::Str(a), Lit::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Val::Int(a), Lit::Int(b)) => Some(a.cmp(b)),
        (Val::Int(a), Lit::Double(b)) => (a as f64).partial_cmp(b),
        (Val::Double(a), Lit::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Val::Double(a), Lit::Double(b)) => a.partial_cmp(b),
        (Val::Bool(a), Lit::Bool(b)) => {
            return match op {
                Op::Eq => a == *b,
                Op::Ne => a != *b,
                _ => false,
            }
        }
        _ => None,
    };
    match (ord, op) {
        (None, Op::Ne) => true,
        (None, _) => false,
        (Some(Ordering::Equal), Op::Ne) => false,
        (Some(o), Op::Ne) => o != Ordering::Equal,
        (Some(o), Op::Eq) => o == Ordering::Equal,
        (Some(o), Op::Lt) => o == Ordering::Less,
        (Some(o), Op::Le) => o != Ordering::Greater,
        (Some(o), Op::Gt) => o == Ordering::Greater,
        (Some(o), Op::Ge) => o != Ordering::Less,
    }
}

fn eval(e: &Expr, c: &Ctx<'_>) -> bool {
    match e {
        Expr::Or(v) => v.iter().any(|x| eval(x, c)),
        Expr::And(v) => v.iter().all(|x| eval(x, c)),
        Expr::Not(x) => !eval(x, c),
        Expr::Cmp(p, op, lit) => compare(read(p, c), *op, lit),
        Expr::IsMatch(p, re) => match read(p, c) {
            Val::Str(s) => re.is_match(s),
            Val::Int(i) => re.is_match(&i.to_string()),
            Val::Double(d) => re.is_match(&d.to_string()),
            Val::Bool(b) => re.is_match(if b { "true" } else { "false" }),
            Val::Nil | Val::Other => false,
        },
    }
}

/// Drops spans and span events; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    span: Vec<Condition>,
    event: Vec<Condition>,
}

impl Filter {
    /// A filter that drops nothing.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Adds a span condition.
    pub fn with_span_condition(mut self, text: &str) -> Result<Filter, ConditionError> {
        self.span.push(Condition::span(text)?);
        Ok(self)
    }

    /// Adds a span-event condition.
    pub fn with_span_event_condition(mut self, text: &str) -> Result<Filter, ConditionError> {
        self.event.push(Condition::span_event(text)?);
        Ok(self)
    }

    /// Whether the span conditions drop this span.
    fn drops_span(
        &self,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        let c = Ctx {
            resource,
            scope,
            span,
            event: None,
        };
        self.span.iter().any(|cond| eval(&cond.expr, &c))
    }

    fn drops_event(
        &self,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        span: &Span,
        ev: &Event,
    ) -> bool {
        let c = Ctx {
            resource,
            scope,
            span,
            event: Some(ev),
        };
        self.event.iter().any(|cond| eval(&cond.expr, &c))
    }
}

impl Processor for Filter {
    fn name(&self) -> &str {
        "filter"
    }

    fn process(&mut self, batch: &mut ExportTraceServiceRequest) -> Outcome {
        let mut out = Outcome::default();
        for rs in &mut batch.resource_spans {
            let resource: &[KeyValue] = rs.resource.as_ref().map_or(&[], |r| &r.attributes);
            for ss in &mut rs.scope_spans {
                let scope = ss.scope.as_ref();
                if !self.span.is_empty() {
                    let before = ss.spans.len();
                    ss.spans.retain(|s| !self.drops_span(resource, scope, s));
                    out.drop("filtered", (before - ss.spans.len()) as u64);
                }
                if !self.event.is_empty() {
                    for i in 0..ss.spans.len() {
                        let keep: Vec<bool> = ss.spans[i]
                            .events
                            .iter()
                            .map(|e| !self.drops_event(resource, scope, &ss.spans[i], e))
                            .collect();
                        let mut k = keep.iter();
                        let span = &mut ss.spans[i];
                        let before = span.events.len();
                        span.events.retain(|_| *k.next().unwrap_or(&true));
                        out.dropped_events += (before - span.events.len()) as u64;
                    }
                }
            }
        }
        prune_empty(batch);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::string_attr;
    use crate::proto::common::v1::AnyValue;
    use crate::proto::resource::v1::Resource;
    use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Status};
    use proptest::prelude::*;

    fn int_attr(k: &str, v: i64) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(v)),
            }),
            ..KeyValue::default()
        }
    }

    fn span(name: &str, kind: i32, code: i32, dur: u64, attrs: Vec<KeyValue>) -> Span {
        Span {
            name: name.into(),
            kind,
            status: Some(Status {
                code,
                message: String::new(),
            }),
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 1_000 + dur,
            attributes: attrs,
            events: vec![
                Event {
                    name: "exception".into(),
                    ..Event::default()
                },
                Event {
                    name: "log".into(),
                    attributes: vec![int_attr("n", 1)],
                    ..Event::default()
                },
            ],
            ..Span::default()
        }
    }

    fn matches(cond: &str, s: &Span) -> bool {
        let c = Condition::span(cond).unwrap();
        let res = vec![string_attr("env", "prod")];
        eval(
            &c.expr,
            &Ctx {
                resource: &res,
                scope: None,
                span: s,
                event: None,
            },
        )
    }

    #[test]
    fn conditions_follow_ottl_comparison() {
        let s = span(
            "GET /health",
            2,
            2,
            5_000,
            vec![
                int_attr("http.response.status_code", 503),
                string_attr("url.path", "/internal/x"),
            ],
        );
        for (c, want) in [
            (r#"name == "GET /health""#, true),
            (
                "kind == SPAN_KIND_SERVER and status.code == STATUS_CODE_ERROR",
                true,
            ),
            (
                "duration > 4999 and end_time_unix_nano - start_time_unix_nano <= 5000",
                true,
            ),
            (r#"attributes["http.response.status_code"] >= 500.5"#, true),
            (r#"attributes["http.response.status_code"] == "503""#, false),
            (r#"attributes["http.response.status_code"] != "503""#, true),
            (r#"attributes["missing"] == nil"#, true),
            (r#"attributes["missing"] < 3"#, false),
            (
                r#"IsMatch(attributes["url.path"], "^/internal/") and not resource.attributes["env"] == "dev""#,
                true,
            ),
            (
                r#"(name == "x" or kind == 2) and not (duration < 10)"#,
                true,
            ),
            (
                r#"IsMatch(attributes["http.response.status_code"], "^5")"#,
                true,
            ),
            (r#"name < "H""#, true),
        ] {
            assert_eq!(matches(c, &s), want, "{c}");
        }
        for bad in [
            "name = 1",
            "name ==",
            "foo == 1",
            r#"IsMatch(name, "(")"#,
            "kind == SPAN_KIND_NOPE",
            r#"name == "x" extra"#,
        ] {
            assert!(Condition::span(bad).is_err(), "{bad}");
        }
        assert!(Condition::span_event("kind == 1").is_err());
        assert!(Condition::span_event("span.kind == 1 and name == \"log\"").is_ok());
    }

    #[test]
    fn drops_spans_then_events_and_counts_them() {
        let mut f = Filter::new()
            .with_span_condition(r#"name == "GET /health""#)
            .unwrap()
            .with_span_event_condition(
                r#"name == "log" and attributes["n"] == 1 and span.kind == SPAN_KIND_CLIENT"#,
            )
            .unwrap();
        let mut b = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource::default()),
                scope_spans: vec![
                    ScopeSpans {
                        spans: vec![span("GET /health", 2, 0, 1, vec![])],
                        ..ScopeSpans::default()
                    },
                    ScopeSpans {
                        spans: vec![span("a", 3, 0, 1, vec![]), span("b", 2, 0, 1, vec![])],
                        ..ScopeSpans::default()
                    },
                ],
                ..ResourceSpans::default()
            }],
        };
        let out = f.process(&mut b);
        assert_eq!(out.dropped, vec![("filtered", 1)]);
        assert_eq!(out.dropped_events, 1);
        let ss = &b.resource_spans[0].scope_spans;
        assert_eq!(ss.len(), 1);
        assert_eq!(ss[0].spans[0].events.len(), 1);
        assert_eq!(ss[0].spans[1].events.len(), 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any text is parsed or refused, never a panic.
        #[test]
        fn parsing_never_panics(text in prop_oneof![
            any::<String>(),
            r#"[a-z_."\[\]()=!<>0-9 -]{0,40}"#,
        ]) {
            let _ = Condition::span(&text);
            let _ = Condition::span_event(&text);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Against direct Rust predicates over the same fields.
        #[test]
        fn matches_direct_predicates(
            name in "[ab]{0,2}", kind in 0i32..6, code in 0i32..3, dur in 0u64..2000,
            n in prop::option::of(-5i64..5), lim in -5i64..5, want_name in "[ab]{0,2}",
        ) {
            let attrs = n.map(|n| vec![int_attr("n", n)]).unwrap_or_default();
            let s = span(&name, kind, code, dur, attrs);
            let cases: Vec<(String, bool)> = vec![
                (format!("name == \"{want_name}\""), name == want_name),
                (format!("kind == {kind} and status.code != {code}"), false),
                (format!("duration >= 1000 or kind < {lim}"), dur >= 1000 || i64::from(kind) < lim),
                (format!("attributes[\"n\"] > {lim}"), n.is_some_and(|n| n > lim)),
                (format!("not attributes[\"n\"] <= {lim}"), n.is_none_or(|n| n > lim)),
                (format!("attributes[\"n\"] != {lim}"), n != Some(lim)),
                ("IsMatch(name, \"^a\") and duration < 500".to_owned(), name.starts_with('a') && dur < 500),
            ];
            for (c, want) in cases {
                prop_assert_eq!(matches(&c, &s), want, "{}", c);
            }
        }
    }
}
