//! `Vec<SpanData>` to `ExportTraceServiceRequest`.

use super::common::{attributes, nanos, same_scope, scope, EncodedResource};
use super::writer::{Size, Writer};
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::trace::SpanData;

/// `SpanFlags`: the W3C trace flags in the low byte, and whether the parent
/// (or linked) context is remote in bits 8 and 9.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

#[inline]
fn span_flags(trace_flags: u8, remote: bool) -> u32 {
    u32::from(trace_flags) | HAS_IS_REMOTE | if remote { IS_REMOTE } else { 0 }
}

pub(crate) fn request<W: Writer>(w: &mut W, resource: &EncodedResource, spans: &[SpanData]) {
    if spans.is_empty() {
        return;
    }
    w.repeated(1, "resourceSpans", Size::Large, [()], |w, ()| {
        w.embedded(1, "resource", &resource.body);
        let first = &spans[0].instrumentation_scope;
        if spans[1..]
            .iter()
            .all(|s| same_scope(&s.instrumentation_scope, first))
        {
            w.repeated(2, "scopeSpans", Size::Large, [()], |w, ()| {
                scope_spans(w, first, spans.iter())
            });
        } else {
            w.repeated(
                2,
                "scopeSpans",
                Size::Large,
                group_by_scope(spans),
                |w, g| scope_spans(w, &g[0].instrumentation_scope, g.iter().copied()),
            );
        }
        w.string(3, "schemaUrl", &resource.schema_url);
    });
}

/// Spans grouped by scope, groups in order of first appearance.
fn group_by_scope(spans: &[SpanData]) -> Vec<Vec<&SpanData>> {
    let mut groups: Vec<Vec<&SpanData>> = Vec::new();
    for span in spans {
        match groups
            .iter_mut()
            .find(|g| same_scope(&g[0].instrumentation_scope, &span.instrumentation_scope))
        {
            Some(g) => g.push(span),
            None => groups.push(vec![span]),
        }
    }
    groups
}

/// `ScopeSpans` body.
fn scope_spans<'a, W: Writer>(
    w: &mut W,
    s: &InstrumentationScope,
    spans: impl Iterator<Item = &'a SpanData>,
) {
    w.message(1, "scope", Size::Small, |w| scope(w, s, None));
    w.repeated(2, "spans", Size::Medium, spans, span);
    w.string(3, "schemaUrl", s.schema_url().unwrap_or_default());
}

fn span<W: Writer>(w: &mut W, s: &SpanData) {
    let cx = &s.span_context;
    w.id(1, "traceId", &cx.trace_id().to_bytes());
    w.id(2, "spanId", &cx.span_id().to_bytes());
    w.string(3, "traceState", &cx.trace_state().header());
    if s.parent_span_id != SpanId::INVALID {
        w.id(4, "parentSpanId", &s.parent_span_id.to_bytes());
    }
    w.fixed32(
        16,
        "flags",
        span_flags(cx.trace_flags().to_u8(), s.parent_span_is_remote),
    );
    w.string(5, "name", &s.name);
    w.int32(6, "kind", kind(&s.span_kind));
    w.fixed64(7, "startTimeUnixNano", nanos(s.start_time));
    w.fixed64(8, "endTimeUnixNano", nanos(s.end_time));
    attributes(w, 9, "attributes", &s.attributes);
    w.uint32(10, "droppedAttributesCount", s.dropped_attributes_count);
    w.repeated(11, "events", Size::Small, s.events.iter(), |w, e| {
        w.fixed64(1, "timeUnixNano", nanos(e.timestamp));
        w.string(2, "name", &e.name);
        attributes(w, 3, "attributes", &e.attributes);
        w.uint32(4, "droppedAttributesCount", e.dropped_attributes_count);
    });
    w.uint32(12, "droppedEventsCount", s.events.dropped_count);
    w.repeated(13, "links", Size::Small, s.links.iter(), |w, l| {
        let cx = &l.span_context;
        w.id(1, "traceId", &cx.trace_id().to_bytes());
        w.id(2, "spanId", &cx.span_id().to_bytes());
        w.string(3, "traceState", &cx.trace_state().header());
        attributes(w, 4, "attributes", &l.attributes);
        w.uint32(5, "droppedAttributesCount", l.dropped_attributes_count);
        w.fixed32(
            6,
            "flags",
            span_flags(cx.trace_flags().to_u8(), cx.is_remote()),
        );
    });
    w.uint32(14, "droppedLinksCount", s.links.dropped_count);
    status(w, &s.status);
}

/// The span's `status` field (always present, as opentelemetry-proto
/// writes it).
pub(crate) fn status<W: Writer>(w: &mut W, status: &Status) {
    w.message(15, "status", Size::Small, |w| match status {
        Status::Unset => {}
        Status::Ok => w.int32(3, "code", 1),
        Status::Error { description } => {
            w.string(2, "message", description);
            w.int32(3, "code", 2);
        }
    });
}

/// `Span.SpanKind` number.
#[inline]
pub(crate) fn kind(k: &SpanKind) -> i32 {
    match k {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}
