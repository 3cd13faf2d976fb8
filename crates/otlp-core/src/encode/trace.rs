//! `Vec<SpanData>` to `ExportTraceServiceRequest`.

use super::common::{attributes, nanos, same_scope, scope, EncodedResource};
use super::writer::{JsonWriter, ProtoWriter, Size, Writer};
use crate::Format;
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
    scope_spans_with(w, s, |w| w.repeated(2, "spans", Size::Medium, spans, span));
}

/// `ScopeSpans` body, its `spans` written by `spans`.
#[inline]
fn scope_spans_with<W: Writer>(w: &mut W, s: &InstrumentationScope, spans: impl FnOnce(&mut W)) {
    w.message(1, "scope", Size::Small, |w| scope(w, s, None));
    spans(w);
    w.string(3, "schemaUrl", s.schema_url().unwrap_or_default());
}

/// Spans encoded one by one as they end, to be framed into one
/// `ExportTraceServiceRequest` later by [`Encoder::encode_span_batch`].
///
/// A span processor can encode each span on the thread that ended it,
/// while the span's data is still in that thread's cache and without
/// handing the span to another thread, and keep only bytes until the batch
/// is sent. Spans are grouped by instrumentation scope in order of first
/// appearance; the request holds exactly the bytes that
/// [`Encoder::encode_spans`] writes for the same spans in the same order.
///
/// ```
/// use otlp_core::{Encoder, Format, SpanBatch};
/// # use opentelemetry_sdk::trace::SpanData;
/// # fn spans() -> Vec<SpanData> { Vec::new() }
///
/// let encoder = Encoder::new(Format::Protobuf);
/// let mut batch = SpanBatch::new(Format::Protobuf);
/// for span in spans() {
///     batch.push(&span);
/// }
/// let mut request = Vec::new();
/// encoder.encode_span_batch(&mut batch, &mut request);
/// assert!(batch.is_empty());
/// ```
///
/// [`Encoder::encode_span_batch`]: crate::Encoder::encode_span_batch
/// [`Encoder::encode_spans`]: crate::Encoder::encode_spans
#[derive(Debug)]
pub struct SpanBatch {
    format: Format,
    groups: Vec<ScopeGroup>,
    /// Emptied group buffers, for the next batch.
    spare: Vec<Vec<u8>>,
    /// Index of the group the last span went to.
    last: usize,
    spans: usize,
    bytes: usize,
}

#[derive(Debug)]
struct ScopeGroup {
    scope: InstrumentationScope,
    /// The group's spans, each framed as a `ScopeSpans.spans` item (a
    /// protobuf field, or a JSON array element).
    body: Vec<u8>,
}

impl SpanBatch {
    /// An empty batch writing `format`.
    pub fn new(format: Format) -> Self {
        SpanBatch {
            format,
            groups: Vec::new(),
            spare: Vec::new(),
            last: 0,
            spans: 0,
            bytes: 0,
        }
    }

    /// The format the spans are encoded in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Encodes `span` into the batch.
    pub fn push(&mut self, s: &SpanData) {
        self.push_with_trace_state(s, None);
    }

    /// Encodes `span` into the batch with `trace_state` (a W3C
    /// `tracestate` header value, written as it is) in place of the span
    /// context's when it is `Some`: what a sampler that writes its
    /// threshold to the tracestate needs, without building a new
    /// `TraceState` for each span.
    pub fn push_with_trace_state(&mut self, s: &SpanData, trace_state: Option<&str>) {
        let scope = &s.instrumentation_scope;
        let i = match self.groups.get(self.last) {
            Some(g) if same_scope(&g.scope, scope) => self.last,
            _ => match self.groups.iter().position(|g| same_scope(&g.scope, scope)) {
                Some(i) => i,
                None => {
                    self.groups.push(ScopeGroup {
                        scope: scope.clone(),
                        body: self.spare.pop().unwrap_or_default(),
                    });
                    self.groups.len() - 1
                }
            },
        };
        self.last = i;
        let body = &mut self.groups[i].body;
        let before = body.len();
        match self.format {
            Format::Protobuf => {
                ProtoWriter::new(body)
                    .message(2, "spans", Size::Medium, |w| span_with(w, s, trace_state));
            }
            Format::Json => {
                if !body.is_empty() {
                    body.push(b',');
                }
                JsonWriter::object(body, |w| span_with(w, s, trace_state));
            }
        }
        self.spans += 1;
        self.bytes += body.len() - before;
    }

    /// Spans in the batch.
    pub fn len(&self) -> usize {
        self.spans
    }

    /// Whether the batch holds no spans.
    pub fn is_empty(&self) -> bool {
        self.spans == 0
    }

    /// Bytes of encoded spans in the batch (the request adds the resource
    /// and scopes).
    pub fn encoded_len(&self) -> usize {
        self.bytes
    }

    /// Moves every span of `other` into this batch, after its own spans
    /// (as if they had been pushed here), leaving `other` empty with its
    /// buffers kept. Batches of different formats are not merged: then it
    /// returns `false` and changes neither.
    pub fn append(&mut self, other: &mut SpanBatch) -> bool {
        if self.format != other.format {
            return false;
        }
        for mut g in other.groups.drain(..) {
            match self
                .groups
                .iter()
                .position(|s| same_scope(&s.scope, &g.scope))
            {
                Some(i) => {
                    let body = &mut self.groups[i].body;
                    if self.format == Format::Json && !body.is_empty() && !g.body.is_empty() {
                        body.push(b',');
                        self.bytes += 1;
                    }
                    body.extend_from_slice(&g.body);
                    g.body.clear();
                    other.spare.push(g.body);
                }
                None => self.groups.push(g),
            }
        }
        self.spans += other.spans;
        self.bytes += other.bytes;
        other.last = 0;
        other.spans = 0;
        other.bytes = 0;
        true
    }

    /// Drops every span, keeping the buffers for the next batch.
    pub fn clear(&mut self) {
        for mut g in self.groups.drain(..) {
            g.body.clear();
            self.spare.push(g.body);
        }
        self.last = 0;
        self.spans = 0;
        self.bytes = 0;
    }
}

/// The request holding `batch`'s spans.
pub(crate) fn batch_request<W: Writer>(w: &mut W, resource: &EncodedResource, batch: &SpanBatch) {
    if batch.is_empty() {
        return;
    }
    w.repeated(1, "resourceSpans", Size::Large, [()], |w, ()| {
        w.embedded(1, "resource", &resource.body);
        w.repeated(2, "scopeSpans", Size::Large, &batch.groups, |w, g| {
            scope_spans_with(w, &g.scope, |w| w.framed_items(2, "spans", &g.body));
        });
        w.string(3, "schemaUrl", &resource.schema_url);
    });
}

fn span<W: Writer>(w: &mut W, s: &SpanData) {
    span_with(w, s, None);
}

fn span_with<W: Writer>(w: &mut W, s: &SpanData, trace_state: Option<&str>) {
    let cx = &s.span_context;
    w.id(1, "traceId", &cx.trace_id().to_bytes());
    w.id(2, "spanId", &cx.span_id().to_bytes());
    match trace_state {
        Some(ts) => w.string(3, "traceState", ts),
        None => w.string(3, "traceState", &cx.trace_state().header()),
    }
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
