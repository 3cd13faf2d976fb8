//! The OTLP message schema as data: every message type the export requests
//! contain, with each field's number, JSON name and type.
//!
//! One table drives three walks over untrusted or foreign bytes, so that they
//! cannot disagree about the schema: the pre-pass that bounds what a protobuf
//! request decodes into ([`crate::limits`]), the OTLP/JSON to protobuf
//! transcoder and its inverse ([`crate::json`]). The table is checked against
//! the prost types by the round-trip tests of those modules.

use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use crate::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::proto::metrics::v1::exponential_histogram_data_point::Buckets;
use crate::proto::metrics::v1::summary_data_point::ValueAtQuantile;
use crate::proto::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint,
};
use crate::proto::profiles::v1development as profiles;
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::span::{Event, Link};
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use crate::Signal;
use std::mem::size_of;

/// A message type of the OTLP export requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Msg {
    TraceRequest,
    MetricsRequest,
    LogsRequest,
    ProfilesRequest,
    ResourceSpans,
    ScopeSpans,
    Span,
    Event,
    Link,
    Status,
    ResourceMetrics,
    ScopeMetrics,
    Metric,
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    Buckets,
    SummaryDataPoint,
    ValueAtQuantile,
    Exemplar,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    Resource,
    EntityRef,
    Scope,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
    ProfilesDictionary,
    ResourceProfiles,
    ScopeProfiles,
    Profile,
    ProfileLink,
    ValueType,
    Sample,
    Mapping,
    Stack,
    Location,
    Line,
    Function,
    KeyValueAndUnit,
}

/// How a field is encoded on the protobuf wire and in OTLP/JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Message(Msg),
    String,
    /// Bytes, base64 in JSON.
    Bytes,
    /// A trace or span id of this many bytes (or empty), hex in JSON.
    Id(usize),
    Double,
    /// int64 or int32 (varint, two's complement); JSON string or number.
    Int64,
    Int32,
    Uint64,
    Uint32,
    Sint32,
    Bool,
    /// An enum: an int32 varint, an integer in JSON.
    Enum,
    Fixed64,
    Sfixed64,
    Fixed32,
}

impl Kind {
    /// The protobuf wire type of one (unpacked) value.
    pub(crate) fn wire_type(self) -> u8 {
        match self {
            Kind::Message(_) | Kind::String | Kind::Bytes | Kind::Id(_) => 2,
            Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => 1,
            Kind::Fixed32 => 5,
            Kind::Int64
            | Kind::Int32
            | Kind::Uint64
            | Kind::Uint32
            | Kind::Sint32
            | Kind::Bool
            | Kind::Enum => 0,
        }
    }

    /// Whether a repeated field of this kind is packed.
    pub(crate) fn packable(self) -> bool {
        self.wire_type() != 2
    }
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) number: u32,
    /// The lowerCamelCase name OTLP/JSON uses.
    pub(crate) json: &'static str,
    pub(crate) kind: Kind,
    pub(crate) repeated: bool,
}

const fn f(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        repeated: false,
    }
}

const fn rep(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        repeated: true,
    }
}

/// A static field list (a `const`, as the `f`/`rep` calls are not promoted).
macro_rules! fields {
    ($($field:expr),* $(,)?) => {{
        const FIELDS: &[Field] = &[$($field),*];
        FIELDS
    }};
}

const TRACE_ID: Kind = Kind::Id(16);
const SPAN_ID: Kind = Kind::Id(8);
const ATTRIBUTES: &str = "attributes";

impl Msg {
    /// The export request message of `signal`.
    pub(crate) fn request(signal: Signal) -> Msg {
        match signal {
            Signal::Traces => Msg::TraceRequest,
            Signal::Metrics => Msg::MetricsRequest,
            Signal::Logs => Msg::LogsRequest,
            Signal::Profiles => Msg::ProfilesRequest,
        }
    }

    /// Whether a message of this type is one item as OTLP partial success
    /// counts them: a span, a metric data point, a log record or a profile.
    pub(crate) fn is_item(self) -> bool {
        matches!(
            self,
            Msg::Span
                | Msg::NumberDataPoint
                | Msg::HistogramDataPoint
                | Msg::ExponentialHistogramDataPoint
                | Msg::SummaryDataPoint
                | Msg::LogRecord
                | Msg::Profile
        )
    }

    /// The size of the decoded (prost) struct, in bytes.
    pub(crate) fn size(self) -> usize {
        match self {
            Msg::TraceRequest => size_of::<ExportTraceServiceRequest>(),
            Msg::MetricsRequest => size_of::<ExportMetricsServiceRequest>(),
            Msg::LogsRequest => size_of::<ExportLogsServiceRequest>(),
            Msg::ResourceSpans => size_of::<ResourceSpans>(),
            Msg::ScopeSpans => size_of::<ScopeSpans>(),
            Msg::Span => size_of::<Span>(),
            Msg::Event => size_of::<Event>(),
            Msg::Link => size_of::<Link>(),
            Msg::Status => size_of::<Status>(),
            Msg::ResourceMetrics => size_of::<ResourceMetrics>(),
            Msg::ScopeMetrics => size_of::<ScopeMetrics>(),
            Msg::Metric => size_of::<Metric>(),
            Msg::Gauge => size_of::<Gauge>(),
            Msg::Sum => size_of::<Sum>(),
            Msg::Histogram => size_of::<Histogram>(),
            Msg::ExponentialHistogram => size_of::<ExponentialHistogram>(),
            Msg::Summary => size_of::<Summary>(),
            Msg::NumberDataPoint => size_of::<NumberDataPoint>(),
            Msg::HistogramDataPoint => size_of::<HistogramDataPoint>(),
            Msg::ExponentialHistogramDataPoint => size_of::<ExponentialHistogramDataPoint>(),
            Msg::Buckets => size_of::<Buckets>(),
            Msg::SummaryDataPoint => size_of::<SummaryDataPoint>(),
            Msg::ValueAtQuantile => size_of::<ValueAtQuantile>(),
            Msg::Exemplar => size_of::<Exemplar>(),
            Msg::ResourceLogs => size_of::<ResourceLogs>(),
            Msg::ScopeLogs => size_of::<ScopeLogs>(),
            Msg::LogRecord => size_of::<LogRecord>(),
            Msg::Resource => size_of::<Resource>(),
            Msg::EntityRef => size_of::<EntityRef>(),
            Msg::Scope => size_of::<InstrumentationScope>(),
            Msg::KeyValue => size_of::<KeyValue>(),
            Msg::AnyValue => size_of::<AnyValue>(),
            Msg::ArrayValue => size_of::<ArrayValue>(),
            Msg::KeyValueList => size_of::<KeyValueList>(),
            Msg::ProfilesRequest => size_of::<ExportProfilesServiceRequest>(),
            Msg::ProfilesDictionary => size_of::<profiles::ProfilesDictionary>(),
            Msg::ResourceProfiles => size_of::<profiles::ResourceProfiles>(),
            Msg::ScopeProfiles => size_of::<profiles::ScopeProfiles>(),
            Msg::Profile => size_of::<profiles::Profile>(),
            Msg::ProfileLink => size_of::<profiles::Link>(),
            Msg::ValueType => size_of::<profiles::ValueType>(),
            Msg::Sample => size_of::<profiles::Sample>(),
            Msg::Mapping => size_of::<profiles::Mapping>(),
            Msg::Stack => size_of::<profiles::Stack>(),
            Msg::Location => size_of::<profiles::Location>(),
            Msg::Line => size_of::<profiles::Line>(),
            Msg::Function => size_of::<profiles::Function>(),
            Msg::KeyValueAndUnit => size_of::<profiles::KeyValueAndUnit>(),
        }
    }

    /// The message's fields, as in opentelemetry-proto 1.x.
    pub(crate) fn fields(self) -> &'static [Field] {
        use Kind::*;
        match self {
            Msg::TraceRequest => fields![rep(1, "resourceSpans", Message(Msg::ResourceSpans))],
            Msg::MetricsRequest => {
                fields![rep(1, "resourceMetrics", Message(Msg::ResourceMetrics))]
            }
            Msg::LogsRequest => fields![rep(1, "resourceLogs", Message(Msg::ResourceLogs))],
            Msg::ResourceSpans => fields![
                f(1, "resource", Message(Msg::Resource)),
                rep(2, "scopeSpans", Message(Msg::ScopeSpans)),
                f(3, "schemaUrl", String),
            ],
            Msg::ScopeSpans => fields![
                f(1, "scope", Message(Msg::Scope)),
                rep(2, "spans", Message(Msg::Span)),
                f(3, "schemaUrl", String),
            ],
            Msg::Span => fields![
                f(1, "traceId", TRACE_ID),
                f(2, "spanId", SPAN_ID),
                f(3, "traceState", String),
                f(4, "parentSpanId", SPAN_ID),
                f(16, "flags", Fixed32),
                f(5, "name", String),
                f(6, "kind", Enum),
                f(7, "startTimeUnixNano", Fixed64),
                f(8, "endTimeUnixNano", Fixed64),
                rep(9, ATTRIBUTES, Message(Msg::KeyValue)),
                f(10, "droppedAttributesCount", Uint32),
                rep(11, "events", Message(Msg::Event)),
                f(12, "droppedEventsCount", Uint32),
                rep(13, "links", Message(Msg::Link)),
                f(14, "droppedLinksCount", Uint32),
                f(15, "status", Message(Msg::Status)),
            ],
            Msg::Event => fields![
                f(1, "timeUnixNano", Fixed64),
                f(2, "name", String),
                rep(3, ATTRIBUTES, Message(Msg::KeyValue)),
                f(4, "droppedAttributesCount", Uint32),
            ],
            Msg::Link => fields![
                f(1, "traceId", TRACE_ID),
                f(2, "spanId", SPAN_ID),
                f(3, "traceState", String),
                rep(4, ATTRIBUTES, Message(Msg::KeyValue)),
                f(5, "droppedAttributesCount", Uint32),
                f(6, "flags", Fixed32),
            ],
            Msg::Status => fields![f(2, "message", String), f(3, "code", Enum)],
            Msg::ResourceMetrics => fields![
                f(1, "resource", Message(Msg::Resource)),
                rep(2, "scopeMetrics", Message(Msg::ScopeMetrics)),
                f(3, "schemaUrl", String),
            ],
            Msg::ScopeMetrics => fields![
                f(1, "scope", Message(Msg::Scope)),
                rep(2, "metrics", Message(Msg::Metric)),
                f(3, "schemaUrl", String),
            ],
            Msg::Metric => fields![
                f(1, "name", String),
                f(2, "description", String),
                f(3, "unit", String),
                f(5, "gauge", Message(Msg::Gauge)),
                f(7, "sum", Message(Msg::Sum)),
                f(9, "histogram", Message(Msg::Histogram)),
                f(
                    10,
                    "exponentialHistogram",
                    Message(Msg::ExponentialHistogram)
                ),
                f(11, "summary", Message(Msg::Summary)),
                rep(12, "metadata", Message(Msg::KeyValue)),
            ],
            Msg::Gauge => fields![rep(1, "dataPoints", Message(Msg::NumberDataPoint))],
            Msg::Sum => fields![
                rep(1, "dataPoints", Message(Msg::NumberDataPoint)),
                f(2, "aggregationTemporality", Enum),
                f(3, "isMonotonic", Bool),
            ],
            Msg::Histogram => fields![
                rep(1, "dataPoints", Message(Msg::HistogramDataPoint)),
                f(2, "aggregationTemporality", Enum),
            ],
            Msg::ExponentialHistogram => fields![
                rep(1, "dataPoints", Message(Msg::ExponentialHistogramDataPoint)),
                f(2, "aggregationTemporality", Enum),
            ],
            Msg::Summary => fields![rep(1, "dataPoints", Message(Msg::SummaryDataPoint))],
            Msg::NumberDataPoint => fields![
                rep(7, ATTRIBUTES, Message(Msg::KeyValue)),
                f(2, "startTimeUnixNano", Fixed64),
                f(3, "timeUnixNano", Fixed64),
                f(4, "asDouble", Double),
                f(6, "asInt", Sfixed64),
                rep(5, "exemplars", Message(Msg::Exemplar)),
                f(8, "flags", Uint32),
            ],
            Msg::HistogramDataPoint => fields![
                rep(9, ATTRIBUTES, Message(Msg::KeyValue)),
                f(2, "startTimeUnixNano", Fixed64),
                f(3, "timeUnixNano", Fixed64),
                f(4, "count", Fixed64),
                f(5, "sum", Double),
                rep(6, "bucketCounts", Fixed64),
                rep(7, "explicitBounds", Double),
                rep(8, "exemplars", Message(Msg::Exemplar)),
                f(10, "flags", Uint32),
                f(11, "min", Double),
                f(12, "max", Double),
            ],
            Msg::ExponentialHistogramDataPoint => fields![
                rep(1, ATTRIBUTES, Message(Msg::KeyValue)),
                f(2, "startTimeUnixNano", Fixed64),
                f(3, "timeUnixNano", Fixed64),
                f(4, "count", Fixed64),
                f(5, "sum", Double),
                f(6, "scale", Sint32),
                f(7, "zeroCount", Fixed64),
                f(8, "positive", Message(Msg::Buckets)),
                f(9, "negative", Message(Msg::Buckets)),
                f(10, "flags", Uint32),
                rep(11, "exemplars", Message(Msg::Exemplar)),
                f(12, "min", Double),
                f(13, "max", Double),
                f(14, "zeroThreshold", Double),
            ],
            Msg::Buckets => fields![f(1, "offset", Sint32), rep(2, "bucketCounts", Uint64)],
            Msg::SummaryDataPoint => fields![
                rep(7, ATTRIBUTES, Message(Msg::KeyValue)),
                f(2, "startTimeUnixNano", Fixed64),
                f(3, "timeUnixNano", Fixed64),
                f(4, "count", Fixed64),
                f(5, "sum", Double),
                rep(6, "quantileValues", Message(Msg::ValueAtQuantile)),
                f(8, "flags", Uint32),
            ],
            Msg::ValueAtQuantile => fields![f(1, "quantile", Double), f(2, "value", Double)],
            Msg::Exemplar => fields![
                rep(7, "filteredAttributes", Message(Msg::KeyValue)),
                f(2, "timeUnixNano", Fixed64),
                f(3, "asDouble", Double),
                f(6, "asInt", Sfixed64),
                f(4, "spanId", SPAN_ID),
                f(5, "traceId", TRACE_ID),
            ],
            Msg::ResourceLogs => fields![
                f(1, "resource", Message(Msg::Resource)),
                rep(2, "scopeLogs", Message(Msg::ScopeLogs)),
                f(3, "schemaUrl", String),
            ],
            Msg::ScopeLogs => fields![
                f(1, "scope", Message(Msg::Scope)),
                rep(2, "logRecords", Message(Msg::LogRecord)),
                f(3, "schemaUrl", String),
            ],
            Msg::LogRecord => fields![
                f(1, "timeUnixNano", Fixed64),
                f(11, "observedTimeUnixNano", Fixed64),
                f(2, "severityNumber", Enum),
                f(3, "severityText", String),
                f(5, "body", Message(Msg::AnyValue)),
                rep(6, ATTRIBUTES, Message(Msg::KeyValue)),
                f(7, "droppedAttributesCount", Uint32),
                f(8, "flags", Fixed32),
                f(9, "traceId", TRACE_ID),
                f(10, "spanId", SPAN_ID),
                f(12, "eventName", String),
            ],
            Msg::Resource => fields![
                rep(1, ATTRIBUTES, Message(Msg::KeyValue)),
                f(2, "droppedAttributesCount", Uint32),
                rep(3, "entityRefs", Message(Msg::EntityRef)),
            ],
            Msg::EntityRef => fields![
                f(1, "schemaUrl", String),
                f(2, "type", String),
                rep(3, "idKeys", String),
                rep(4, "descriptionKeys", String),
            ],
            Msg::Scope => fields![
                f(1, "name", String),
                f(2, "version", String),
                rep(3, ATTRIBUTES, Message(Msg::KeyValue)),
                f(4, "droppedAttributesCount", Uint32),
            ],
            Msg::KeyValue => fields![
                f(1, "key", String),
                f(2, "value", Message(Msg::AnyValue)),
                f(3, "keyStrindex", Int32),
            ],
            Msg::AnyValue => fields![
                f(1, "stringValue", String),
                f(2, "boolValue", Bool),
                f(3, "intValue", Int64),
                f(4, "doubleValue", Double),
                f(5, "arrayValue", Message(Msg::ArrayValue)),
                f(6, "kvlistValue", Message(Msg::KeyValueList)),
                f(7, "bytesValue", Bytes),
                f(8, "stringValueStrindex", Int32),
            ],
            Msg::ArrayValue => fields![rep(1, "values", Message(Msg::AnyValue))],
            Msg::KeyValueList => fields![rep(1, "values", Message(Msg::KeyValue))],
            // opentelemetry.proto.profiles.v1development, as in
            // opentelemetry-proto 1.9 (the Collector's pdata 1.x).
            Msg::ProfilesRequest => fields![
                rep(1, "resourceProfiles", Message(Msg::ResourceProfiles)),
                f(2, "dictionary", Message(Msg::ProfilesDictionary)),
            ],
            Msg::ProfilesDictionary => fields![
                rep(1, "mappingTable", Message(Msg::Mapping)),
                rep(2, "locationTable", Message(Msg::Location)),
                rep(3, "functionTable", Message(Msg::Function)),
                rep(4, "linkTable", Message(Msg::ProfileLink)),
                rep(5, "stringTable", String),
                rep(6, "attributeTable", Message(Msg::KeyValueAndUnit)),
                rep(7, "stackTable", Message(Msg::Stack)),
            ],
            Msg::ResourceProfiles => fields![
                f(1, "resource", Message(Msg::Resource)),
                rep(2, "scopeProfiles", Message(Msg::ScopeProfiles)),
                f(3, "schemaUrl", String),
            ],
            Msg::ScopeProfiles => fields![
                f(1, "scope", Message(Msg::Scope)),
                rep(2, "profiles", Message(Msg::Profile)),
                f(3, "schemaUrl", String),
            ],
            Msg::Profile => fields![
                f(1, "sampleType", Message(Msg::ValueType)),
                rep(2, "samples", Message(Msg::Sample)),
                f(3, "timeUnixNano", Fixed64),
                f(4, "durationNano", Uint64),
                f(5, "periodType", Message(Msg::ValueType)),
                f(6, "period", Int64),
                f(7, "profileId", TRACE_ID),
                f(8, "droppedAttributesCount", Uint32),
                f(9, "originalPayloadFormat", String),
                f(10, "originalPayload", Bytes),
                rep(11, "attributeIndices", Int32),
            ],
            Msg::ProfileLink => fields![f(1, "traceId", TRACE_ID), f(2, "spanId", SPAN_ID)],
            Msg::ValueType => fields![f(1, "typeStrindex", Int32), f(2, "unitStrindex", Int32)],
            Msg::Sample => fields![
                f(1, "stackIndex", Int32),
                rep(2, "attributeIndices", Int32),
                f(3, "linkIndex", Int32),
                rep(4, "values", Int64),
                rep(5, "timestampsUnixNano", Fixed64),
            ],
            Msg::Mapping => fields![
                f(1, "memoryStart", Uint64),
                f(2, "memoryLimit", Uint64),
                f(3, "fileOffset", Uint64),
                f(4, "filenameStrindex", Int32),
                rep(5, "attributeIndices", Int32),
            ],
            Msg::Stack => fields![rep(1, "locationIndices", Int32)],
            Msg::Location => fields![
                f(1, "mappingIndex", Int32),
                f(2, "address", Uint64),
                rep(3, "lines", Message(Msg::Line)),
                rep(4, "attributeIndices", Int32),
            ],
            Msg::Line => fields![
                f(1, "functionIndex", Int32),
                f(2, "line", Int64),
                f(3, "column", Int64),
            ],
            Msg::Function => fields![
                f(1, "nameStrindex", Int32),
                f(2, "systemNameStrindex", Int32),
                f(3, "filenameStrindex", Int32),
                f(4, "startLine", Int64),
            ],
            Msg::KeyValueAndUnit => fields![
                f(1, "keyStrindex", Int32),
                f(2, "value", Message(Msg::AnyValue)),
                f(3, "unitStrindex", Int32),
            ],
        }
    }

    /// The field numbered `number`, if the message has one.
    pub(crate) fn field(self, number: u32) -> Option<&'static Field> {
        self.fields().iter().find(|field| field.number == number)
    }

    /// The field OTLP/JSON names `name`; the protobuf (snake_case) name is
    /// accepted too, as the protobuf JSON mapping asks of parsers.
    pub(crate) fn json_field(self, name: &str) -> Option<&'static Field> {
        self.fields()
            .iter()
            .find(|field| field.json == name || snake_eq(field.json, name))
    }
}

/// Whether `snake` is the snake_case spelling of the lowerCamelCase `camel`.
fn snake_eq(camel: &str, snake: &str) -> bool {
    let mut rest = snake.as_bytes();
    for &c in camel.as_bytes() {
        if c.is_ascii_uppercase() {
            match rest {
                [b'_', first, tail @ ..] if *first == c.to_ascii_lowercase() => rest = tail,
                _ => return false,
            }
        } else {
            match rest {
                [first, tail @ ..] if *first == c => rest = tail,
                _ => return false,
            }
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_names_match_their_camel_case_twins() {
        assert!(snake_eq("startTimeUnixNano", "start_time_unix_nano"));
        assert!(snake_eq("name", "name"));
        assert!(!snake_eq("startTimeUnixNano", "start_time"));
        assert!(!snake_eq("traceId", "traceid"));
        assert!(!snake_eq("name", "names"));
    }
}
