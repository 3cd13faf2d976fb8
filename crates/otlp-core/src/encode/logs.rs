//! `LogBatch` to `ExportLogsServiceRequest`.

use super::common::{log_value, nanos, same_scope_but_name, same_str, scope, EncodedResource};
use super::writer::{Size, Writer};
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord};

pub(crate) type Item<'a> = (&'a SdkLogRecord, &'a InstrumentationScope);

/// The scope name a record is exported under: its target, if it has one.
#[inline]
fn scope_name<'a>((record, scope): Item<'a>) -> &'a str {
    record.target().map_or_else(|| scope.name(), |t| t.as_ref())
}

#[inline]
fn same_group(a: Item<'_>, b: Item<'_>) -> bool {
    same_str(scope_name(a), scope_name(b))
        && (std::ptr::eq(a.1, b.1) || same_scope_but_name(a.1, b.1))
}

pub(crate) fn request<W: Writer>(w: &mut W, resource: &EncodedResource, batch: &LogBatch<'_>) {
    request_of(w, resource, || batch.iter());
}

/// [`request`] of the records `items` yields (each call yields them all,
/// in the same order).
pub(crate) fn request_of<'a, W: Writer, I: Iterator<Item = Item<'a>>>(
    w: &mut W,
    resource: &EncodedResource,
    items: impl Fn() -> I,
) {
    let mut first_of = items().peekable();
    let Some(&first) = first_of.peek() else {
        return;
    };
    w.repeated(1, "resourceLogs", Size::Large, [()], |w, ()| {
        w.embedded(1, "resource", &resource.body);
        if items().all(|item| same_group(item, first)) {
            w.repeated(2, "scopeLogs", Size::Large, [()], |w, ()| {
                scope_logs(w, first, items())
            });
        } else {
            let mut groups: Vec<Vec<Item<'_>>> = Vec::new();
            for item in items() {
                match groups.iter_mut().find(|g| same_group(g[0], item)) {
                    Some(g) => g.push(item),
                    None => groups.push(vec![item]),
                }
            }
            w.repeated(2, "scopeLogs", Size::Large, groups, |w, g| {
                scope_logs(w, g[0], g.into_iter())
            });
        }
        w.string(3, "schemaUrl", &resource.schema_url);
    });
}

/// `ScopeLogs` body.
fn scope_logs<'a, W: Writer>(w: &mut W, first: Item<'a>, items: impl Iterator<Item = Item<'a>>) {
    let s = first.1;
    w.message(1, "scope", Size::Small, |w| {
        scope(w, s, Some(scope_name(first)))
    });
    w.repeated(2, "logRecords", Size::Medium, items, |w, (r, _)| {
        record(w, r)
    });
    w.string(3, "schemaUrl", s.schema_url().unwrap_or_default());
}

fn record<W: Writer>(w: &mut W, r: &SdkLogRecord) {
    w.fixed64(1, "timeUnixNano", r.timestamp().map_or(0, nanos));
    w.fixed64(
        11,
        "observedTimeUnixNano",
        r.observed_timestamp().map_or(0, nanos),
    );
    w.int32(
        2,
        "severityNumber",
        r.severity_number().map_or(0, |s| s as i32),
    );
    w.string(3, "severityText", r.severity_text().unwrap_or_default());
    if let Some(body) = r.body() {
        w.message(5, "body", Size::Small, |w| log_value(w, body));
    }
    w.key_values(
        6,
        "attributes",
        r.attributes_iter().map(|(k, v)| (k.as_str(), v)),
    );
    if let Some(cx) = r.trace_context() {
        w.fixed32(
            8,
            "flags",
            cx.trace_flags.map_or(0, |f| u32::from(f.to_u8())),
        );
        w.id(9, "traceId", &cx.trace_id.to_bytes());
        w.id(10, "spanId", &cx.span_id.to_bytes());
    }
    w.string(12, "eventName", r.event_name().unwrap_or_default());
}
