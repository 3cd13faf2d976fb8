//! Dropping spans, span events, log records, metrics and data points by
//! conditions, with the semantics of the Collector's `filterprocessor`
//! (its OTTL `traces.span`, `traces.spanevent`, `logs.log_record`,
//! `metrics.metric` and `metrics.datapoint` condition lists).
//!
//! A span is dropped when any span condition is true for it, then an event
//! of a remaining span is dropped when any span-event condition is true for
//! it. Likewise a log record; a metric (with all its data points) when a
//! metric condition is true for it, then a data point of a remaining metric
//! when a data-point condition is, and a metric left without data points
//! goes too. Resource and scope entries left empty are removed.
//!
//! Log-record paths: `body`, `severity_number` (and the
//! `SEVERITY_NUMBER_*` constants), `severity_text`, `time_unix_nano`,
//! `observed_time_unix_nano`, `attributes["k"]`. Metric paths: `name`,
//! `unit`, `description`, `type` (`METRIC_DATA_TYPE_GAUGE`, `_SUM`,
//! `_HISTOGRAM`, `_EXPONENTIAL_HISTOGRAM`, `_SUMMARY`). Data-point paths:
//! `attributes["k"]`, `time_unix_nano`, `start_time_unix_nano`,
//! `value_double`, `value_int`, `count`, `sum`, and the metric's through
//! `metric.` (`metric.name`, ...). All three also take
//! `resource.attributes["k"]` and `instrumentation_scope.name` / `.version`.
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
//! by bytes, booleans with `false` before `true`; a missing attribute is `nil`,
//! equal only to `nil`; values of different types are unequal and not
//! ordered (every ordering comparison between them is false).
//! `IsMatch` turns scalars into strings and is false for `nil`.
//!
//! Numbers are read as OTTL reads them: a float needs a dot (`1.5`, `.5`,
//! `5.`, `1.5e3`; `1e3` is an error), an integer with a leading `0` is
//! octal, and a value out of range is an error.
//!
//! Differences from the Collector: only this subset of OTTL (no other
//! functions, no arithmetic other than the duration form, no `error_mode`:
//! evaluation cannot fail here); the `duration` path is this crate's
//! shorthand (OTTL has only `end_time_unix_nano - start_time_unix_nano`);
//! the legacy `include` / `exclude` match properties are not supported.
//! `tests/interop` runs conditions of every kind through the Collector's
//! `filter` processor and through this one.

use super::sampling::nanos;
use super::span::{EndingSpan, SpanStep, Verdict};
use super::{prune_empty, Outcome, Processor};
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{any_value::Value, InstrumentationScope, KeyValue};
use crate::proto::logs::v1::LogRecord;
use crate::proto::metrics::v1::metric::Data;
use crate::proto::metrics::v1::{
    number_data_point, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    SummaryDataPoint,
};
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
    // Log records.
    Body,
    SeverityNumber,
    SeverityText,
    ObservedTime,
    // Metrics and their data points.
    Unit,
    Description,
    MetricType,
    ValueDouble,
    ValueInt,
    Count,
    Sum,
}

/// What a condition is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    Span,
    SpanEvent,
    LogRecord,
    Metric,
    DataPoint,
}

#[derive(Clone, Debug, PartialEq)]
struct Path {
    /// In a span-event condition, `span.`: the span's field; in a data
    /// point condition, `metric.`: the metric's. Always set for fields of
    /// the item the condition is about (spans, log records, metrics), and
    /// for resource and scope.
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

    /// Parses a log-record condition (`logs.log_record`): `body`,
    /// `severity_number`, `severity_text`, `time_unix_nano`,
    /// `observed_time_unix_nano`, `attributes["k"]`, resource and scope.
    pub fn log_record(text: &str) -> Result<Condition, ConditionError> {
        Condition::parse_in(text, Context::LogRecord)
    }

    /// Parses a metric condition (`metrics.metric`): `name`, `unit`,
    /// `description`, `type` (`METRIC_DATA_TYPE_*`), resource and scope.
    pub fn metric(text: &str) -> Result<Condition, ConditionError> {
        Condition::parse_in(text, Context::Metric)
    }

    /// Parses a data-point condition (`metrics.datapoint`):
    /// `attributes["k"]`, `time_unix_nano`, `start_time_unix_nano`,
    /// `value_double`, `value_int`, `count`, `sum`, and the metric's
    /// `metric.name`, `metric.unit`, `metric.description`, `metric.type`,
    /// resource and scope.
    pub fn datapoint(text: &str) -> Result<Condition, ConditionError> {
        Condition::parse_in(text, Context::DataPoint)
    }

    fn parse(text: &str, event: bool) -> Result<Condition, ConditionError> {
        let ctx = if event {
            Context::SpanEvent
        } else {
            Context::Span
        };
        Condition::parse_in(text, ctx)
    }

    fn parse_in(text: &str, ctx: Context) -> Result<Condition, ConditionError> {
        let toks = lex(text)?;
        let mut p = Parser {
            toks,
            at: 0,
            depth: 0,
            event: ctx == Context::SpanEvent,
            ctx,
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
            b'0'..=b'9' | b'-' | b'.' if number_len(&b[i + usize::from(c == b'-')..]).is_some() => {
                // OTTL's lexer: `Float` is `(\d+\.\d*|\d*\.\d+)([eE][-+]?\d+)?`
                // (an exponent only after a dot), `Int` is `\d+`; a leading
                // minus is the unary operator. Each is read as Go reads it
                // (`strconv.ParseFloat`, and `strconv.ParseInt` with base 0,
                // so a leading 0 makes it octal; out of range is an error,
                // `-9223372036854775808` included).
                let neg = c == b'-';
                let k = i + usize::from(neg);
                let (len, float) = number_len(&b[k..]).unwrap_or((0, false));
                let t = &s[k..k + len];
                i = k + len - 1;
                if float {
                    match super::go_strconv::go_parse_float(t) {
                        Some(v) => Tok::Double(if neg { -v } else { v }),
                        None => return Err(err(start, "number out of range")),
                    }
                } else {
                    let radix = if t.len() > 1 && t.starts_with('0') {
                        8
                    } else {
                        10
                    };
                    match i64::from_str_radix(t, radix) {
                        Ok(v) => Tok::Int(if neg { -v } else { v }),
                        Err(e)
                            if radix == 8
                                && !matches!(e.kind(), std::num::IntErrorKind::PosOverflow) =>
                        {
                            return Err(err(start, "not an octal number"))
                        }
                        Err(_) => return Err(err(start, "integer out of range")),
                    }
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

/// How deep parentheses and `not`s may nest in one condition.
const MAX_DEPTH: usize = 64;

/// The length of the OTTL number at the start of `b` and whether it is a
/// `Float`, or `None` when `b` starts with none.
fn number_len(b: &[u8]) -> Option<(usize, bool)> {
    let digits = |from: usize| {
        b[from.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let int = digits(0);
    if b.get(int) != Some(&b'.') {
        return (int > 0).then_some((int, false));
    }
    let frac = digits(int + 1);
    if int == 0 && frac == 0 {
        return None;
    }
    let mut len = int + 1 + frac;
    if matches!(b.get(len), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(len + 1), Some(b'+' | b'-')));
        let exp = digits(len + 1 + sign);
        if exp > 0 {
            len += 1 + sign + exp;
        }
    }
    Some((len, true))
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    /// Open parentheses and `not`s around the token at `at`.
    depth: usize,
    event: bool,
    ctx: Context,
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

    /// Enters a parenthesis or a `not`: the parser, the evaluation and
    /// the drop of a condition recurse once per level, so the levels are
    /// bounded (a deep condition is refused, not a stack overflow).
    fn nest(&mut self) -> Result<(), ConditionError> {
        if self.depth == MAX_DEPTH {
            return Err(self.err(&format!(
                "condition nested too deeply (more than {MAX_DEPTH} parentheses and `not`s)"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn not(&mut self) -> Result<Expr, ConditionError> {
        if self.keyword("not") {
            self.nest()?;
            let e = Expr::Not(Box::new(self.not()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ConditionError> {
        if self.peek() == Some(&Tok::LParen) {
            self.nest()?;
            self.at += 1;
            let e = self.or()?;
            self.expect(&Tok::RParen, "`)`")?;
            self.depth -= 1;
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
            let re = super::matching::go_regex(&pat)
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
                "METRIC_DATA_TYPE_NONE" => Lit::Int(0),
                "METRIC_DATA_TYPE_GAUGE" => Lit::Int(1),
                "METRIC_DATA_TYPE_SUM" => Lit::Int(2),
                "METRIC_DATA_TYPE_HISTOGRAM" => Lit::Int(3),
                "METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM" => Lit::Int(4),
                "METRIC_DATA_TYPE_SUMMARY" => Lit::Int(5),
                s if s.starts_with("SEVERITY_NUMBER_") => match severity_number(s) {
                    Some(n) => Lit::Int(n),
                    None => return Err(self.err(&format!("unknown constant {id}"))),
                },
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
        if matches!(
            self.ctx,
            Context::LogRecord | Context::Metric | Context::DataPoint
        ) {
            return self.other_path(&id);
        }
        let (of_span, rest) = match id.strip_prefix("span.") {
            Some(r) if self.event => (true, r.to_owned()),
            _ => (!self.event, id.clone()),
        };
        let span_ctx = of_span;
        // Resource and scope are reached without `span.` (as in OTTL's
        // span event context, which has no `span.resource`).
        let bare = !(self.event && of_span);
        let field = match rest.as_str() {
            "name" => Field::Name,
            "attributes" => Field::Attr(self.key()?),
            "resource.attributes" if bare => Field::ResourceAttr(self.key()?),
            "instrumentation_scope.name" if bare => Field::ScopeName,
            "instrumentation_scope.version" if bare => Field::ScopeVersion,
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

impl Parser {
    /// A path of a log-record, metric or data-point condition.
    fn other_path(&mut self, id: &str) -> Result<Path, ConditionError> {
        let (of_metric, rest) = match id.strip_prefix("metric.") {
            Some(r) if self.ctx == Context::DataPoint => (true, r),
            _ => (self.ctx != Context::DataPoint, id),
        };
        // Without `metric.`, as in OTTL's data point context.
        let bare = !(self.ctx == Context::DataPoint && of_metric);
        let shared = match rest {
            "resource.attributes" if bare => Some(Field::ResourceAttr(self.key()?)),
            "instrumentation_scope.name" if bare => Some(Field::ScopeName),
            "instrumentation_scope.version" if bare => Some(Field::ScopeVersion),
            _ => None,
        };
        if let Some(field) = shared {
            return Ok(Path {
                of_span: true,
                field,
            });
        }
        let field = match (self.ctx, of_metric, rest) {
            (Context::LogRecord, _, "body") => Field::Body,
            (Context::LogRecord, _, "severity_number") => Field::SeverityNumber,
            (Context::LogRecord, _, "severity_text") => Field::SeverityText,
            (Context::LogRecord, _, "time_unix_nano") => Field::Time,
            (Context::LogRecord, _, "observed_time_unix_nano") => Field::ObservedTime,
            (Context::LogRecord, _, "attributes") => Field::Attr(self.key()?),
            (Context::Metric | Context::DataPoint, true, "name") => Field::Name,
            (Context::Metric | Context::DataPoint, true, "unit") => Field::Unit,
            (Context::Metric | Context::DataPoint, true, "description") => Field::Description,
            (Context::Metric | Context::DataPoint, true, "type") => Field::MetricType,
            (Context::DataPoint, false, "attributes") => Field::Attr(self.key()?),
            (Context::DataPoint, false, "time_unix_nano") => Field::Time,
            (Context::DataPoint, false, "start_time_unix_nano") => Field::Start,
            (Context::DataPoint, false, "value_double") => Field::ValueDouble,
            (Context::DataPoint, false, "value_int") => Field::ValueInt,
            (Context::DataPoint, false, "count") => Field::Count,
            (Context::DataPoint, false, "sum") => Field::Sum,
            _ => {
                return Err(ConditionError::Parse {
                    offset: self.toks[self.at - 1].1,
                    message: format!("unknown field {id}"),
                })
            }
        };
        Ok(Path {
            of_span: of_metric,
            field,
        })
    }
}

/// `SEVERITY_NUMBER_TRACE` .. `SEVERITY_NUMBER_FATAL4` (and `_UNSPECIFIED`).
fn severity_number(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("SEVERITY_NUMBER_")?;
    if rest == "UNSPECIFIED" {
        return Some(0);
    }
    let levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let (level, n) = match rest.char_indices().find(|(_, c)| c.is_ascii_digit()) {
        Some((at, _)) => (&rest[..at], rest[at..].parse::<i64>().ok()?),
        None => (rest, 1),
    };
    let base = levels.iter().position(|l| *l == level)? as i64 * 4;
    (1..=4).contains(&n).then_some(base + n)
}

/// What a condition is evaluated against.
struct Ctx<'a> {
    resource: &'a [KeyValue],
    scope: Option<&'a InstrumentationScope>,
    span: &'a Span,
    event: Option<&'a Event>,
}

/// A log record, metric or data point and where it sits.
struct OtherCtx<'a> {
    resource: &'a [KeyValue],
    scope: Option<&'a InstrumentationScope>,
    item: Other<'a>,
}

#[derive(Clone, Copy)]
enum Other<'a> {
    Log(&'a LogRecord),
    Metric(&'a Metric, Option<Point<'a>>),
}

/// A data point of any metric type.
#[derive(Clone, Copy)]
enum Point<'a> {
    Number(&'a NumberDataPoint),
    Histogram(&'a HistogramDataPoint),
    Exponential(&'a ExponentialHistogramDataPoint),
    Summary(&'a SummaryDataPoint),
}

impl<'a> Point<'a> {
    fn attributes(self) -> &'a [KeyValue] {
        match self {
            Point::Number(p) => &p.attributes,
            Point::Histogram(p) => &p.attributes,
            Point::Exponential(p) => &p.attributes,
            Point::Summary(p) => &p.attributes,
        }
    }

    fn times(self) -> (u64, u64) {
        match self {
            Point::Number(p) => (p.start_time_unix_nano, p.time_unix_nano),
            Point::Histogram(p) => (p.start_time_unix_nano, p.time_unix_nano),
            Point::Exponential(p) => (p.start_time_unix_nano, p.time_unix_nano),
            Point::Summary(p) => (p.start_time_unix_nano, p.time_unix_nano),
        }
    }
}

fn metric_type(m: &Metric) -> i64 {
    match &m.data {
        None => 0,
        Some(Data::Gauge(_)) => 1,
        Some(Data::Sum(_)) => 2,
        Some(Data::Histogram(_)) => 3,
        Some(Data::ExponentialHistogram(_)) => 4,
        Some(Data::Summary(_)) => 5,
    }
}

fn read_other<'a>(p: &Path, c: &OtherCtx<'a>) -> Val<'a> {
    match &p.field {
        Field::ResourceAttr(k) => return attr(c.resource, k),
        Field::ScopeName => return Val::Str(c.scope.map_or("", |sc| sc.name.as_str())),
        Field::ScopeVersion => return Val::Str(c.scope.map_or("", |sc| sc.version.as_str())),
        _ => {}
    }
    match c.item {
        Other::Log(l) => match &p.field {
            Field::Body => match l.body.as_ref().and_then(|b| b.value.as_ref()) {
                None => Val::Nil,
                Some(v) => value(v),
            },
            Field::SeverityNumber => Val::Int(i64::from(l.severity_number)),
            Field::SeverityText => Val::Str(&l.severity_text),
            Field::Time => Val::Int(l.time_unix_nano as i64),
            Field::ObservedTime => Val::Int(l.observed_time_unix_nano as i64),
            Field::Attr(k) => attr(&l.attributes, k),
            _ => Val::Nil,
        },
        Other::Metric(m, point) => match (&p.field, p.of_span, point) {
            (Field::Name, true, _) => Val::Str(&m.name),
            (Field::Unit, true, _) => Val::Str(&m.unit),
            (Field::Description, true, _) => Val::Str(&m.description),
            (Field::MetricType, true, _) => Val::Int(metric_type(m)),
            (Field::Attr(k), false, Some(pt)) => attr(pt.attributes(), k),
            (Field::Time, false, Some(pt)) => Val::Int(pt.times().1 as i64),
            (Field::Start, false, Some(pt)) => Val::Int(pt.times().0 as i64),
            (Field::ValueDouble, false, Some(Point::Number(n))) => match n.value {
                Some(number_data_point::Value::AsDouble(d)) => Val::Double(d),
                _ => Val::Double(0.0),
            },
            (Field::ValueInt, false, Some(Point::Number(n))) => match n.value {
                Some(number_data_point::Value::AsInt(i)) => Val::Int(i),
                _ => Val::Int(0),
            },
            (Field::Count, false, Some(Point::Histogram(h))) => Val::Int(h.count as i64),
            (Field::Count, false, Some(Point::Exponential(h))) => Val::Int(h.count as i64),
            (Field::Count, false, Some(Point::Summary(h))) => Val::Int(h.count as i64),
            (Field::Sum, false, Some(Point::Histogram(h))) => Val::Double(h.sum.unwrap_or(0.0)),
            (Field::Sum, false, Some(Point::Exponential(h))) => Val::Double(h.sum.unwrap_or(0.0)),
            (Field::Sum, false, Some(Point::Summary(h))) => Val::Double(h.sum),
            _ => Val::Nil,
        },
    }
}

fn eval_other(e: &Expr, c: &OtherCtx<'_>) -> bool {
    match e {
        Expr::Or(v) => v.iter().any(|x| eval_other(x, c)),
        Expr::And(v) => v.iter().all(|x| eval_other(x, c)),
        Expr::Not(x) => !eval_other(x, c),
        Expr::Cmp(p, op, lit) => compare(read_other(p, c), *op, lit),
        Expr::IsMatch(p, re) => is_match(re, read_other(p, c)),
    }
}

fn value(v: &Value) -> Val<'_> {
    match v {
        Value::StringValue(s) => Val::Str(s),
        Value::IntValue(i) => Val::Int(*i),
        Value::DoubleValue(d) => Val::Double(*d),
        Value::BoolValue(b) => Val::Bool(*b),
        _ => Val::Other,
    }
}

fn is_match(re: &Regex, v: Val<'_>) -> bool {
    match v {
        Val::Str(s) => re.is_match(s),
        Val::Int(i) => re.is_match(&i.to_string()),
        Val::Double(d) => re.is_match(&d.to_string()),
        Val::Bool(b) => re.is_match(if b { "true" } else { "false" }),
        Val::Nil | Val::Other => false,
    }
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

/// A span, or a span event and its span, that span and span-event
/// conditions read from: a span of a decoded request, or an SDK span as it
/// ends.
trait SpanSource<'a> {
    /// The event's own field, when the condition is about an event.
    fn event_field(&self, f: &Field) -> Option<Val<'a>>;
    /// The span's field (its resource's and scope's included).
    fn span_field(&self, f: &Field) -> Val<'a>;
}

impl<'a> SpanSource<'a> for Ctx<'a> {
    fn event_field(&self, f: &Field) -> Option<Val<'a>> {
        let e = self.event?;
        Some(match f {
            Field::Name => Val::Str(&e.name),
            Field::Time => Val::Int(e.time_unix_nano as i64),
            Field::Attr(k) => attr(&e.attributes, k),
            _ => Val::Nil,
        })
    }

    fn span_field(&self, f: &Field) -> Val<'a> {
        let s = self.span;
        match f {
            Field::Name => Val::Str(&s.name),
            Field::Kind => Val::Int(i64::from(s.kind)),
            Field::StatusCode => Val::Int(s.status.as_ref().map_or(0, |st| i64::from(st.code))),
            Field::StatusMessage => {
                Val::Str(s.status.as_ref().map_or("", |st| st.message.as_str()))
            }
            Field::Start => Val::Int(s.start_time_unix_nano as i64),
            Field::End => Val::Int(s.end_time_unix_nano as i64),
            Field::Duration => {
                Val::Int((s.end_time_unix_nano as i64).wrapping_sub(s.start_time_unix_nano as i64))
            }
            Field::TraceState => Val::Str(&s.trace_state),
            Field::Time => Val::Nil,
            Field::Attr(k) => attr(&s.attributes, k),
            Field::ResourceAttr(k) => attr(self.resource, k),
            Field::ScopeName => Val::Str(self.scope.map_or("", |sc| sc.name.as_str())),
            Field::ScopeVersion => Val::Str(self.scope.map_or("", |sc| sc.version.as_str())),
            // Fields of logs and metrics: the parser gives them no span path.
            _ => Val::Nil,
        }
    }
}

/// An SDK span as it ends (and one of its events), for span and
/// span-event conditions.
struct SdkCtx<'a> {
    ending: &'a EndingSpan<'a, 'a>,
    event: Option<&'a opentelemetry::trace::Event>,
}

fn sdk_value(v: &opentelemetry::Value) -> Val<'_> {
    use opentelemetry::Value as V;
    match v {
        V::String(s) => Val::Str(s.as_str()),
        V::I64(i) => Val::Int(*i),
        V::F64(d) => Val::Double(*d),
        V::Bool(b) => Val::Bool(*b),
        _ => Val::Other,
    }
}

fn sdk_attr<'a>(attrs: &'a [opentelemetry::KeyValue], key: &str) -> Val<'a> {
    attrs
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map_or(Val::Nil, |kv| sdk_value(&kv.value))
}

impl<'a> SpanSource<'a> for SdkCtx<'a> {
    #[inline]
    fn event_field(&self, f: &Field) -> Option<Val<'a>> {
        let e = self.event?;
        Some(match f {
            Field::Name => Val::Str(&e.name),
            Field::Time => Val::Int(nanos(e.timestamp) as i64),
            Field::Attr(k) => sdk_attr(&e.attributes, k),
            _ => Val::Nil,
        })
    }

    #[inline]
    fn span_field(&self, f: &Field) -> Val<'a> {
        use opentelemetry::trace::{SpanKind, Status};
        let ending = self.ending;
        let s = ending.span();
        match f {
            Field::Name => Val::Str(&s.name),
            Field::Kind => Val::Int(match s.span_kind {
                SpanKind::Internal => 1,
                SpanKind::Server => 2,
                SpanKind::Client => 3,
                SpanKind::Producer => 4,
                SpanKind::Consumer => 5,
            }),
            Field::StatusCode => Val::Int(match s.status {
                Status::Unset => 0,
                Status::Ok => 1,
                Status::Error { .. } => 2,
            }),
            Field::StatusMessage => Val::Str(match &s.status {
                Status::Error { description } => description,
                _ => "",
            }),
            Field::Start => Val::Int(nanos(s.start_time) as i64),
            Field::End => Val::Int(nanos(s.end_time) as i64),
            Field::Duration => {
                Val::Int((nanos(s.end_time) as i64).wrapping_sub(nanos(s.start_time) as i64))
            }
            Field::TraceState => Val::Str(ending.trace_state()),
            Field::Time => Val::Nil,
            Field::Attr(k) => sdk_attr(&s.attributes, k),
            Field::ResourceAttr(k) => sdk_attr(ending.resource(), k),
            Field::ScopeName => Val::Str(s.instrumentation_scope.name()),
            Field::ScopeVersion => Val::Str(s.instrumentation_scope.version().unwrap_or("")),
            // Fields of logs and metrics: the parser gives them no span path.
            _ => Val::Nil,
        }
    }
}

fn read<'a>(p: &Path, c: &impl SpanSource<'a>) -> Val<'a> {
    if !p.of_span {
        if let Some(v) = c.event_field(&p.field) {
            return v;
        }
    }
    c.span_field(&p.field)
}

#[inline]
fn compare(v: Val<'_>, op: Op, lit: &Lit) -> bool {
    let ord: Option<Ordering> = match (v, lit) {
        (Val::Nil, Lit::Nil) => Some(Ordering::Equal),
        // Equality by `==`, which compares the lengths before the bytes
        // (an ordering calls `memcmp` whatever the lengths).
        (Val::Str(a), Lit::Str(b)) => match op {
            Op::Eq => return a == b.as_str(),
            Op::Ne => return a != b.as_str(),
            _ => Some(a.as_bytes().cmp(b.as_bytes())),
        },
        (Val::Int(a), Lit::Int(b)) => Some(a.cmp(b)),
        (Val::Int(a), Lit::Double(b)) => (a as f64).partial_cmp(b),
        (Val::Double(a), Lit::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Val::Double(a), Lit::Double(b)) => a.partial_cmp(b),
        // `false` < `true`, as OTTL orders them.
        (Val::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
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

fn eval<'a>(e: &Expr, c: &impl SpanSource<'a>) -> bool {
    match e {
        Expr::Or(v) => v.iter().any(|x| eval_in_place(x, c)),
        Expr::And(v) => v.iter().all(|x| eval_in_place(x, c)),
        Expr::Not(x) => !eval_in_place(x, c),
        Expr::Cmp(p, op, lit) => compare(read(p, c), *op, lit),
        Expr::IsMatch(p, re) => is_match(re, read(p, c)),
    }
}

/// [`eval`], with a comparison (most conditions, and most terms of an
/// `and` or an `or`) worked out in place rather than by a call.
#[inline(always)]
fn eval_in_place<'a>(e: &Expr, c: &impl SpanSource<'a>) -> bool {
    match e {
        Expr::Cmp(p, op, lit) => compare(read(p, c), *op, lit),
        _ => eval(e, c),
    }
}

/// Drops spans and span events; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    span: Vec<Condition>,
    event: Vec<Condition>,
    log: Vec<Condition>,
    metric: Vec<Condition>,
    point: Vec<Condition>,
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

    /// Adds a log-record condition ([`Condition::log_record`]).
    pub fn with_log_record_condition(mut self, text: &str) -> Result<Filter, ConditionError> {
        self.log.push(Condition::log_record(text)?);
        Ok(self)
    }

    /// Adds a metric condition ([`Condition::metric`]): a metric it is
    /// true for is dropped with all its data points.
    pub fn with_metric_condition(mut self, text: &str) -> Result<Filter, ConditionError> {
        self.metric.push(Condition::metric(text)?);
        Ok(self)
    }

    /// Adds a data-point condition ([`Condition::datapoint`]); a metric
    /// left without data points is dropped.
    pub fn with_datapoint_condition(mut self, text: &str) -> Result<Filter, ConditionError> {
        self.point.push(Condition::datapoint(text)?);
        Ok(self)
    }

    fn any(conds: &[Condition], c: &OtherCtx<'_>) -> bool {
        conds.iter().any(|cond| eval_other(&cond.expr, c))
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
        self.span.iter().any(|cond| eval_in_place(&cond.expr, &c))
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
        self.event.iter().any(|cond| eval_in_place(&cond.expr, &c))
    }
}

impl SpanStep for Filter {
    fn name(&self) -> &str {
        "filter"
    }

    fn reads_resource(&self) -> bool {
        fn reads(e: &Expr) -> bool {
            match e {
                Expr::Or(v) | Expr::And(v) => v.iter().any(reads),
                Expr::Not(x) => reads(x),
                Expr::Cmp(p, _, _) | Expr::IsMatch(p, _) => {
                    matches!(p.field, Field::ResourceAttr(_))
                }
            }
        }
        self.span.iter().chain(&self.event).any(|c| reads(&c.expr))
    }

    fn on_end<'s>(&'s self, ending: &mut EndingSpan<'s, '_>) -> Verdict {
        if !self.span.is_empty() {
            let c = SdkCtx {
                ending,
                event: None,
            };
            if self.span.iter().any(|cond| eval_in_place(&cond.expr, &c)) {
                return Verdict::Drop("filtered");
            }
        }
        if !self.event.is_empty() && !ending.span().events.is_empty() {
            // One bit per event to drop; spans with more than 64 events
            // spill into a vector.
            let mut small = 0u64;
            let mut more = Vec::new();
            let n = ending.span().events.len();
            for i in 0..n {
                let c = SdkCtx {
                    ending,
                    event: Some(&ending.span().events[i]),
                };
                let drop = self.event.iter().any(|cond| eval_in_place(&cond.expr, &c));
                if i < 64 {
                    small |= u64::from(drop) << i;
                } else {
                    more.push(drop);
                }
            }
            if small != 0 || more.contains(&true) {
                let mut i = 0;
                ending.span_mut().events.events.retain(|_| {
                    let drop = if i < 64 {
                        small >> i & 1 == 1
                    } else {
                        more[i - 64]
                    };
                    i += 1;
                    !drop
                });
            }
        }
        Verdict::Keep
    }
}

impl Processor for Filter {
    fn name(&self) -> &str {
        "filter"
    }

    fn span_step(&self) -> Option<Box<dyn SpanStep>> {
        // Log and metric conditions do not apply to spans.
        Some(Box::new(self.clone()))
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

    fn process_logs(&mut self, batch: &mut ExportLogsServiceRequest) -> Outcome {
        let mut out = Outcome::default();
        if self.log.is_empty() {
            return out;
        }
        for rl in &mut batch.resource_logs {
            let resource: &[KeyValue] = rl.resource.as_ref().map_or(&[], |r| &r.attributes);
            for sl in &mut rl.scope_logs {
                let scope = sl.scope.as_ref();
                let before = sl.log_records.len();
                sl.log_records.retain(|l| {
                    let c = OtherCtx {
                        resource,
                        scope,
                        item: Other::Log(l),
                    };
                    !Filter::any(&self.log, &c)
                });
                out.drop("filtered", (before - sl.log_records.len()) as u64);
            }
            rl.scope_logs.retain(|s| !s.log_records.is_empty());
        }
        batch.resource_logs.retain(|r| !r.scope_logs.is_empty());
        out
    }

    fn process_metrics(&mut self, batch: &mut ExportMetricsServiceRequest) -> Outcome {
        let mut out = Outcome::default();
        if self.metric.is_empty() && self.point.is_empty() {
            return out;
        }
        for rm in &mut batch.resource_metrics {
            let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
            for sm in &mut rm.scope_metrics {
                let scope = sm.scope.as_ref();
                let mut dropped = 0u64;
                sm.metrics.retain_mut(|m| {
                    let c = OtherCtx {
                        resource,
                        scope,
                        item: Other::Metric(m, None),
                    };
                    if Filter::any(&self.metric, &c) {
                        dropped += super::data_points(m);
                        return false;
                    }
                    if self.point.is_empty() {
                        return true;
                    }
                    let before = super::data_points(m);
                    let keep = |pt: Point<'_>, m: &Metric| {
                        let c = OtherCtx {
                            resource,
                            scope,
                            item: Other::Metric(m, Some(pt)),
                        };
                        !Filter::any(&self.point, &c)
                    };
                    // Decide on a shared view first, then remove.
                    let verdicts: Vec<bool> = match &m.data {
                        Some(Data::Gauge(g)) => g
                            .data_points
                            .iter()
                            .map(|p| keep(Point::Number(p), m))
                            .collect(),
                        Some(Data::Sum(g)) => g
                            .data_points
                            .iter()
                            .map(|p| keep(Point::Number(p), m))
                            .collect(),
                        Some(Data::Histogram(g)) => g
                            .data_points
                            .iter()
                            .map(|p| keep(Point::Histogram(p), m))
                            .collect(),
                        Some(Data::ExponentialHistogram(g)) => g
                            .data_points
                            .iter()
                            .map(|p| keep(Point::Exponential(p), m))
                            .collect(),
                        Some(Data::Summary(g)) => g
                            .data_points
                            .iter()
                            .map(|p| keep(Point::Summary(p), m))
                            .collect(),
                        None => Vec::new(),
                    };
                    let mut k = verdicts.iter();
                    let mut next = || *k.next().unwrap_or(&true);
                    match &mut m.data {
                        Some(Data::Gauge(g)) => g.data_points.retain(|_| next()),
                        Some(Data::Sum(g)) => g.data_points.retain(|_| next()),
                        Some(Data::Histogram(g)) => g.data_points.retain(|_| next()),
                        Some(Data::ExponentialHistogram(g)) => g.data_points.retain(|_| next()),
                        Some(Data::Summary(g)) => g.data_points.retain(|_| next()),
                        None => {}
                    }
                    let after = super::data_points(m);
                    dropped += before - after;
                    // A metric with no data point left goes too, also one
                    // that came without any (the Collector removes a metric
                    // whose point list is empty after the conditions); a
                    // metric without data is kept.
                    after > 0 || m.data.is_none()
                });
                out.drop("filtered", dropped);
            }
            rm.scope_metrics.retain(|s| !s.metrics.is_empty());
        }
        batch
            .resource_metrics
            .retain(|r| !r.scope_metrics.is_empty());
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
            // Numbers as OTTL's lexer reads them.
            (r#"attributes["http.response.status_code"] > 502.5"#, true),
            (r#"attributes["http.response.status_code"] < 503."#, false),
            (r#"attributes["http.response.status_code"] == 5.03e2"#, true),
            (
                r#"attributes["http.response.status_code"] == 5030.0E-1"#,
                true,
            ),
            (r#"attributes["http.response.status_code"] > -1"#, true),
            (r#"attributes["http.response.status_code"] > -.5"#, true),
            ("duration > .5", true),
            // Base 0: a leading 0 is octal.
            (r#"attributes["http.response.status_code"] == 0767"#, true),
            (r#"attributes["http.response.status_code"] == 0503"#, false),
            (
                r#"attributes["http.response.status_code"] == 503.0e+0"#,
                true,
            ),
            ("duration > 00", true),
        ] {
            assert_eq!(matches(c, &s), want, "{c}");
        }
        // An exponent needs a dot; an integer or float out of range is an
        // error, as in OTTL.
        for c in [
            "duration > 1e3",
            "duration == 5030E-1",
            "duration == 5.03e",
            "duration == 09",
            "duration > 99999999999999999999",
            "duration > -9223372036854775808",
            "duration > 1.0e400",
            "duration > .",
        ] {
            assert!(Condition::span(c).is_err(), "{c}");
        }
        assert!(Condition::span("duration > -9223372036854775807").is_ok());
        // Booleans are ordered as OTTL orders them: `false` < `true`.
        let flag = |b: bool| KeyValue {
            key: "b".into(),
            value: Some(AnyValue {
                value: Some(Value::BoolValue(b)),
            }),
            ..KeyValue::default()
        };
        for (v, op, lit, want) in [
            (false, "<", true, true),
            (true, "<", true, false),
            (false, "<=", false, true),
            (true, "<=", false, false),
            (true, ">", false, true),
            (false, ">", false, false),
            (false, ">=", true, false),
            (true, ">=", true, true),
            (true, "==", true, true),
            (true, "!=", true, false),
        ] {
            let c = format!(r#"attributes["b"] {op} {lit}"#);
            let with = span("x", 1, 0, 1, vec![flag(v)]);
            assert_eq!(matches(&c, &with), want, "{v} {c}");
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
        // Parentheses and `not`s nest up to a bound: deeper ones are an
        // error, not a stack overflow.
        let nested = |n: usize| format!("{}name == \"x\"{}", "(".repeat(n), ")".repeat(n));
        assert!(Condition::span(&nested(MAX_DEPTH)).is_ok());
        assert!(Condition::span(&nested(MAX_DEPTH + 1)).is_err());
        assert!(Condition::span(&nested(100_000)).is_err());
        let nots = |n: usize| format!("{}name == \"x\"", "not ".repeat(n));
        assert!(Condition::span(&nots(MAX_DEPTH)).is_ok());
        assert!(Condition::span(&nots(100_000)).is_err());
        // `(not (not ...))`: the two count together.
        let mixed = "(not ".repeat(MAX_DEPTH) + "name == \"x\"" + &")".repeat(MAX_DEPTH);
        assert!(Condition::span(&mixed).is_err());
        // The bound is per level, not per condition: side by side is fine.
        let wide = vec![nested(MAX_DEPTH - 1); 50].join(" or ");
        assert!(Condition::span(&wide).is_ok());
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

    mod logs_and_metrics {
        use super::super::*;
        use crate::processor::string_attr;
        use crate::proto::metrics::v1::{Gauge, ResourceMetrics, ScopeMetrics, Sum};
        use proptest::prelude::*;

        fn log(severity: i32, body: &str, attrs: Vec<KeyValue>) -> LogRecord {
            LogRecord {
                severity_number: severity,
                body: Some(crate::proto::common::v1::AnyValue {
                    value: Some(Value::StringValue(body.into())),
                }),
                attributes: attrs,
                ..LogRecord::default()
            }
        }

        use crate::processor::logs_request as logs;

        fn point(env: &str, v: f64) -> NumberDataPoint {
            NumberDataPoint {
                attributes: vec![string_attr("env", env)],
                value: Some(number_data_point::Value::AsDouble(v)),
                ..NumberDataPoint::default()
            }
        }

        fn metrics(ms: Vec<Metric>) -> ExportMetricsServiceRequest {
            ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    scope_metrics: vec![ScopeMetrics {
                        metrics: ms,
                        ..ScopeMetrics::default()
                    }],
                    ..ResourceMetrics::default()
                }],
            }
        }

        fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
            Metric {
                name: name.into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: points,
                })),
                ..Metric::default()
            }
        }

        #[test]
        fn severity_constants_follow_the_log_data_model() {
            assert_eq!(severity_number("SEVERITY_NUMBER_TRACE"), Some(1));
            assert_eq!(severity_number("SEVERITY_NUMBER_DEBUG4"), Some(8));
            assert_eq!(severity_number("SEVERITY_NUMBER_INFO"), Some(9));
            assert_eq!(severity_number("SEVERITY_NUMBER_WARN"), Some(13));
            assert_eq!(severity_number("SEVERITY_NUMBER_ERROR2"), Some(18));
            assert_eq!(severity_number("SEVERITY_NUMBER_FATAL4"), Some(24));
            assert_eq!(severity_number("SEVERITY_NUMBER_UNSPECIFIED"), Some(0));
            assert_eq!(severity_number("SEVERITY_NUMBER_INFO5"), None);
            assert_eq!(severity_number("SEVERITY_NUMBER_LOUD"), None);
        }

        #[test]
        fn fields_belong_to_their_context() {
            assert!(Condition::log_record("name == \"x\"").is_err());
            assert!(Condition::log_record("kind == SPAN_KIND_SERVER").is_err());
            assert!(Condition::metric("attributes[\"k\"] == 1").is_err());
            assert!(Condition::datapoint("name == \"x\"").is_err());
            assert!(Condition::datapoint("metric.name == \"x\" and value_double > 1").is_ok());
            assert!(Condition::metric("type == METRIC_DATA_TYPE_SUM").is_ok());
            // Resource and scope without `span.` / `metric.`, as in OTTL.
            assert!(Condition::datapoint("metric.resource.attributes[\"a\"] == \"x\"").is_err());
            assert!(Condition::datapoint("metric.instrumentation_scope.name == \"x\"").is_err());
            assert!(Condition::datapoint("instrumentation_scope.name == \"x\"").is_ok());
            assert!(Condition::span_event("span.resource.attributes[\"a\"] == \"x\"").is_err());
            assert!(Condition::span_event("span.instrumentation_scope.version == \"x\"").is_err());
            assert!(Condition::span_event("resource.attributes[\"a\"] == \"x\"").is_ok());
            assert!(Condition::span_event("span.trace_state == \"x\"").is_ok());
        }

        #[test]
        fn drops_log_records_metrics_and_data_points() {
            let mut f = Filter::new()
                .with_log_record_condition("severity_number < SEVERITY_NUMBER_WARN")
                .unwrap()
                .with_log_record_condition(r#"IsMatch(body, "^healthcheck")"#)
                .unwrap()
                .with_metric_condition(r#"name == "debug.count" or type == METRIC_DATA_TYPE_SUM"#)
                .unwrap()
                .with_datapoint_condition(r#"attributes["env"] == "dev" or value_double > 100"#)
                .unwrap();
            let mut l = logs(vec![
                log(9, "started", vec![]),
                log(17, "failed", vec![]),
                log(13, "healthcheck ok", vec![]),
                log(21, "down", vec![]),
            ]);
            let out = f.process_logs(&mut l);
            assert_eq!(out.dropped, vec![("filtered", 2)]);
            let kept: Vec<i32> = l.resource_logs[0].scope_logs[0]
                .log_records
                .iter()
                .map(|r| r.severity_number)
                .collect();
            assert_eq!(kept, [17, 21]);

            let sum = Metric {
                name: "requests".into(),
                data: Some(Data::Sum(Sum {
                    data_points: vec![point("prod", 1.0)],
                    ..Sum::default()
                })),
                ..Metric::default()
            };
            let mut m = metrics(vec![
                gauge("debug.count", vec![point("prod", 1.0), point("prod", 2.0)]),
                sum,
                gauge(
                    "cpu",
                    vec![point("prod", 0.5), point("dev", 0.7), point("prod", 500.0)],
                ),
                gauge("mem", vec![point("dev", 1.0)]),
            ]);
            let out = f.process_metrics(&mut m);
            // 2 (debug.count) + 1 (the sum) + 2 (cpu) + 1 (mem, then gone).
            assert_eq!(out.dropped, vec![("filtered", 6)]);
            let left = &m.resource_metrics[0].scope_metrics[0].metrics;
            assert_eq!(left.len(), 1);
            assert_eq!(left[0].name, "cpu");
            assert_eq!(crate::processor::data_points(&left[0]), 1);

            // Everything filtered: empty scope and resource entries go too.
            let mut all = logs(vec![log(1, "x", vec![])]);
            f.process_logs(&mut all);
            assert!(all.resource_logs.is_empty());
        }

        #[test]
        fn a_metric_that_comes_without_points_goes_as_in_the_collector() {
            // With data-point conditions the Collector removes a metric
            // whose point list is empty afterwards, also one that came
            // empty; a metric without data has no point list and stays.
            let mut f = Filter::new()
                .with_datapoint_condition("value_double > 5")
                .unwrap();
            let bare = Metric {
                name: "bare".into(),
                ..Metric::default()
            };
            let mut m = metrics(vec![
                gauge("empty", vec![]),
                bare,
                gauge("one", vec![point("p", 1.0)]),
            ]);
            let out = f.process_metrics(&mut m);
            assert_eq!(out.total_dropped(), 0);
            let left: Vec<&str> = m.resource_metrics[0].scope_metrics[0]
                .metrics
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            assert_eq!(left, ["bare", "one"]);
            // Without data-point conditions nothing looks at the points.
            let mut f = Filter::new()
                .with_metric_condition(r#"name == "x""#)
                .unwrap();
            let mut m = metrics(vec![gauge("empty", vec![])]);
            f.process_metrics(&mut m);
            assert_eq!(m.resource_metrics[0].scope_metrics[0].metrics.len(), 1);
        }

        proptest! {
            /// Log records and data points dropped are exactly those a
            /// direct predicate picks.
            #[test]
            fn match_direct_predicates(
                recs in prop::collection::vec((0i32..25, prop::sample::select(vec!["a", "b", "c"])), 0..60),
                pts in prop::collection::vec((prop::sample::select(vec!["dev", "prod"]), -5.0f64..5.0), 0..60),
                bound in 0i32..25,
                cut_milli in -5000i32..5000,
            ) {
                // Written with three decimals (OTTL has no exponent form),
                // the literal parses to this very value.
                let cut = f64::from(cut_milli) / 1000.0;
                let mut f = Filter::new()
                    .with_log_record_condition(&format!(r#"severity_number >= {bound} and attributes["k"] != "b""#)).unwrap()
                    .with_datapoint_condition(&format!(r#"attributes["env"] == "dev" and value_double < {cut:.3}"#)).unwrap();
                let records: Vec<LogRecord> = recs.iter().map(|(sev, k)| log(*sev, "m", vec![string_attr("k", k)])).collect();
                let want: Vec<LogRecord> = records.iter().filter(|r| {
                    !(r.severity_number >= bound && r.attributes[0] != string_attr("k", "b"))
                }).cloned().collect();
                let mut l = logs(records.clone());
                let out = f.process_logs(&mut l);
                let got: Vec<LogRecord> = l.resource_logs.into_iter().flat_map(|r| r.scope_logs).flat_map(|s| s.log_records).collect();
                prop_assert_eq!(out.total_dropped() as usize, records.len() - want.len());
                prop_assert_eq!(got, want);

                let points: Vec<NumberDataPoint> = pts.iter().map(|(env, v)| point(env, *v)).collect();
                let want: Vec<NumberDataPoint> = points.iter().filter(|p| {
                    let v = match p.value { Some(number_data_point::Value::AsDouble(d)) => d, _ => 0.0 };
                    !(p.attributes[0] == string_attr("env", "dev") && v < cut)
                }).cloned().collect();
                let mut m = metrics(vec![gauge("g", points.clone())]);
                let out = f.process_metrics(&mut m);
                let got: Vec<NumberDataPoint> = m.resource_metrics.into_iter().flat_map(|r| r.scope_metrics)
                    .flat_map(|s| s.metrics).flat_map(|m| match m.data { Some(Data::Gauge(g)) => g.data_points, _ => Vec::new() }).collect();
                prop_assert_eq!(out.total_dropped() as usize, points.len() - want.len());
                prop_assert_eq!(got, want);
            }
        }
    }
}
