//! Model-based property tests: random requests sent as a stream of frames
//! through a channel that loses, delays, reorders and refuses frames, with
//! reconnects and restarts of either side. Whatever the receiver accepts
//! must decode to exactly the request that was encoded into the frame, and
//! a resync must always lead to recovery.

use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::proto::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use otlp_core::proto::resource::v1::Resource;
use otlp_core::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use otlp_srt::{FrameId, SrtConfig, SrtDecoder, SrtEncoder, SrtLimits};
use proptest::prelude::*;
use prost::Message;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["", "a", "GET /", "http.method", "user", "ü€"]).prop_map(String::from),
        1 => "[a-z0-9 ]{0,12}",
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..6)
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::from_bits(0x7ff0_0000_0000_0001)),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
        any::<u64>().prop_map(f64::from_bits),
        -1e3..1e3f64,
    ]
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        Just(AnyValue { value: None }),
        text().prop_map(|s| AnyValue {
            value: Some(any_value::Value::StringValue(s))
        }),
        any::<bool>().prop_map(|b| AnyValue {
            value: Some(any_value::Value::BoolValue(b))
        }),
        prop_oneof![Just(0i64), Just(-1), any::<i64>(), 0..100i64].prop_map(|i| AnyValue {
            value: Some(any_value::Value::IntValue(i))
        }),
        double().prop_map(|d| AnyValue {
            value: Some(any_value::Value::DoubleValue(d))
        }),
        bytes().prop_map(|b| AnyValue {
            value: Some(any_value::Value::BytesValue(b))
        }),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
            }),
            prop::collection::vec((text(), prop::option::of(inner)), 0..3).prop_map(|kvs| {
                AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: kvs
                            .into_iter()
                            .map(|(key, value)| KeyValue {
                                key,
                                value,
                                ..KeyValue::default()
                            })
                            .collect(),
                    })),
                }
            }),
        ]
    })
}

fn key_value() -> impl Strategy<Value = KeyValue> {
    (
        prop::sample::select(vec!["k1", "k2", "http.route", "", "user.id", "x"]),
        prop_oneof![
            // Few values per key, so that the trees share fixed slots.
            6 => prop::sample::select(vec!["v1", "v2", "v3"]).prop_map(|v| Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into()))
            })),
            4 => any_value().prop_map(Some),
            1 => Just(None),
        ],
    )
        .prop_map(|(key, value)| KeyValue {
            key: key.into(),
            value,
            ..KeyValue::default()
        })
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(key_value(), 0..5)
}

fn count() -> impl Strategy<Value = u32> {
    prop_oneof![4 => Just(0u32), 1 => any::<u32>()]
}

/// Ids from a small pool (so that traces and parents repeat), sometimes
/// empty or of another length.
fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => (0u8..12).prop_map(move |i| vec![i + 1; len]),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 0..20),
    ]
}

fn span_strategy() -> impl Strategy<Value = Span> {
    let ids = (id(16), id(8), id(8), text());
    let head = (
        prop::sample::select(vec!["GET /a", "GET /b", "SELECT", ""]),
        prop_oneof![0..6i32, any::<i32>()],
        prop_oneof![
            Just(0u64),
            any::<u64>(),
            1_700_000_000_000_000_000..1_700_000_000_100_000_000u64
        ],
        prop_oneof![
            Just(0u64),
            any::<u64>(),
            1_700_000_000_000_000_000..1_700_000_000_100_000_000u64
        ],
        attributes(),
        (count(), count(), count()),
        any::<u32>(),
    );
    let events = prop::collection::vec(
        (any::<u64>(), text(), attributes(), count()).prop_map(
            |(time_unix_nano, name, attributes, dropped_attributes_count)| span::Event {
                time_unix_nano,
                name,
                attributes,
                dropped_attributes_count,
            },
        ),
        0..3,
    );
    let links = prop::collection::vec(
        (id(16), id(8), text(), attributes(), count(), any::<u32>()).prop_map(
            |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| {
                span::Link {
                    trace_id,
                    span_id,
                    trace_state,
                    attributes,
                    dropped_attributes_count,
                    flags,
                }
            },
        ),
        0..2,
    );
    let status = prop::option::of(
        (text(), any::<i32>()).prop_map(|(message, code)| Status { message, code }),
    );
    (ids, head, events, links, status).prop_map(
        |(
            (trace_id, span_id, parent_span_id, trace_state),
            (name, kind, start, end, attributes, dropped, flags),
            events,
            links,
            status,
        )| Span {
            trace_id,
            span_id,
            trace_state,
            parent_span_id,
            flags,
            name: name.into(),
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            dropped_attributes_count: dropped.0,
            events,
            dropped_events_count: dropped.1,
            links,
            dropped_links_count: dropped.2,
            status,
        },
    )
}

fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let resource = prop::option::of((attributes(), count()).prop_map(
        |(attributes, dropped_attributes_count)| Resource {
            attributes,
            dropped_attributes_count,
            entity_refs: Vec::new(),
        },
    ));
    let scope = prop::option::of((text(), text(), attributes(), count()).prop_map(
        |(name, version, attributes, dropped_attributes_count)| InstrumentationScope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        },
    ));
    let scope_spans = prop::collection::vec(
        (scope, prop::collection::vec(span_strategy(), 0..6), text()).prop_map(
            |(scope, spans, schema_url)| ScopeSpans {
                scope,
                spans,
                schema_url,
            },
        ),
        0..3,
    );
    prop::collection::vec(
        (resource, scope_spans, text()).prop_map(|(resource, scope_spans, schema_url)| {
            ResourceSpans {
                resource,
                scope_spans,
                schema_url,
            }
        }),
        0..3,
    )
    .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

/// What happens to a frame once encoded.
#[derive(Debug, Clone, Copy)]
enum Fate {
    /// Delivered at once and acknowledged.
    Deliver,
    /// Kept in flight, delivered later (out of order).
    Hold,
    /// Lost: the sender times out and rejects it.
    Lose,
    /// Decoded, then refused by the receiver (e.g. its queue is full).
    Refuse,
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Send(usize, Fate),
    /// Deliver the `n`-th held frame (modulo the number held).
    DeliverHeld(usize),
    /// Acknowledge the `n`-th frame whose ack is pending.
    AckLate(usize),
    Reconnect,
    RestartReceiver,
    RestartSender,
}

fn event(requests: usize) -> impl Strategy<Value = Event> {
    prop_oneof![
        10 => (0..requests, prop_oneof![
            6 => Just(Fate::Deliver),
            3 => Just(Fate::Hold),
            1 => Just(Fate::Lose),
            1 => Just(Fate::Refuse),
        ]).prop_map(|(r, f)| Event::Send(r, f)),
        3 => any::<usize>().prop_map(Event::DeliverHeld),
        2 => any::<usize>().prop_map(Event::AckLate),
        1 => Just(Event::Reconnect),
        1 => Just(Event::RestartReceiver),
        1 => Just(Event::RestartSender),
    ]
}

/// prost equality, bit-exact for doubles (NaN != NaN for `==`).
fn same(decoded: &[u8], expected: &ExportTraceServiceRequest) -> bool {
    let Ok(message) = ExportTraceServiceRequest::decode(decoded) else {
        return false;
    };
    let exact = message.encode_to_vec() == expected.encode_to_vec();
    // Where the request has no NaN (it equals itself), `==` must hold too.
    #[allow(clippy::eq_op)]
    let has_nan = expected != expected;
    exact && (has_nan || message == *expected)
}

struct Sim {
    encoder: SrtEncoder,
    decoder: SrtDecoder,
    requests: Vec<(ExportTraceServiceRequest, Vec<u8>)>,
    held: Vec<(FrameId, Vec<u8>, usize)>,
    pending_acks: Vec<FrameId>,
    accepted: usize,
    resyncs: usize,
}

impl Sim {
    /// Decodes a frame as the receiver; checks what it decoded. `Ok(true)`
    /// when accepted, `Ok(false)` on a resync.
    fn receive(&mut self, frame: &[u8], request: usize) -> Result<bool, TestCaseError> {
        let mut out = Vec::new();
        match self.decoder.decode(frame, 64 << 20, &mut out) {
            Ok(decoded) => {
                let expected = &self.requests[request].0;
                prop_assert!(same(&out, expected), "frame decoded to another request");
                prop_assert_eq!(
                    decoded.spans,
                    expected
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .map(|s| s.spans.len())
                        .sum::<usize>()
                );
                self.accepted += 1;
                Ok(true)
            }
            Err(e) if e.is_resync() => {
                self.resyncs += 1;
                Ok(false)
            }
            Err(e) => Err(TestCaseError::fail(format!("valid frame refused: {e}"))),
        }
    }

    /// The sender's handling of a resync: reset for the frame, encode the
    /// request again and send it at once. It must get through within
    /// three tries (a frame of an already replaced generation may need the
    /// second, and nothing else happens meanwhile).
    fn recover(&mut self, frame: FrameId, request: usize) -> Result<(), TestCaseError> {
        self.encoder.reset_for(frame);
        for _ in 0..3 {
            let mut bytes = Vec::new();
            let id = self
                .encoder
                .encode(&self.requests[request].1, &mut bytes)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            if self.receive(&bytes, request)? {
                self.encoder.acknowledge(id);
                return Ok(());
            }
            self.encoder.reset_for(id);
        }
        Err(TestCaseError::fail("no recovery after a resync"))
    }

    fn deliver(
        &mut self,
        id: FrameId,
        frame: &[u8],
        request: usize,
        fate: Fate,
    ) -> Result<(), TestCaseError> {
        if self.receive(frame, request)? {
            match fate {
                Fate::Refuse => self.encoder.reject(id),
                _ => self.pending_acks.push(id),
            }
            if matches!(fate, Fate::Deliver) {
                // Most answers arrive at once; some later (AckLate).
                if let Some(id) = self.pending_acks.pop() {
                    self.encoder.acknowledge(id);
                }
            }
            Ok(())
        } else {
            self.recover(id, request)
        }
    }

    fn run(&mut self, events: &[Event]) -> Result<(), TestCaseError> {
        for &event in events {
            match event {
                Event::Send(r, fate) => {
                    let mut frame = Vec::new();
                    let id = self
                        .encoder
                        .encode(&self.requests[r].1, &mut frame)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    match fate {
                        Fate::Lose => self.encoder.reject(id),
                        Fate::Hold => self.held.push((id, frame, r)),
                        Fate::Deliver | Fate::Refuse => self.deliver(id, &frame, r, fate)?,
                    }
                }
                Event::DeliverHeld(n) if !self.held.is_empty() => {
                    let (id, frame, r) = self.held.remove(n % self.held.len());
                    self.deliver(id, &frame, r, Fate::Hold)?;
                }
                Event::AckLate(n) if !self.pending_acks.is_empty() => {
                    let id = self.pending_acks.remove(n % self.pending_acks.len());
                    self.encoder.acknowledge(id);
                }
                Event::Reconnect => {
                    // In-flight answers are lost with the connection.
                    self.encoder.reset();
                    self.pending_acks.clear();
                }
                Event::RestartReceiver => self.decoder = SrtDecoder::new(SrtLimits::new()),
                Event::RestartSender => {
                    self.encoder = SrtEncoder::new(SrtConfig::new().with_max_fixed_values(2));
                    self.held.clear();
                    self.pending_acks.clear();
                }
                _ => {}
            }
        }
        // Everything still held is finally delivered.
        while let Some((id, frame, r)) = self.held.pop() {
            self.deliver(id, &frame, r, Fate::Hold)?;
        }
        if std::env::var_os("SRT_SIM_STATS").is_some() {
            eprintln!("accepted {} resyncs {}", self.accepted, self.resyncs);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn every_accepted_frame_decodes_to_its_request(
        requests in prop::collection::vec(request(), 1..6),
        events in prop::collection::vec(event(6), 1..40),
        fixed in 0usize..4,
    ) {
        let requests: Vec<_> = requests.into_iter().map(|r| { let b = r.encode_to_vec(); (r, b) }).collect();
        let n = requests.len();
        let events: Vec<Event> = events.into_iter().map(|e| match e {
            Event::Send(r, f) => Event::Send(r % n, f),
            e => e,
        }).collect();
        let mut sim = Sim {
            encoder: SrtEncoder::new(SrtConfig::new().with_max_fixed_values(fixed)),
            decoder: SrtDecoder::new(SrtLimits::new()),
            requests,
            held: Vec::new(),
            pending_acks: Vec::new(),
            accepted: 0,
            resyncs: 0,
        };
        sim.run(&events)?;
    }

    /// A small state cap on the sender (new generations often) and small
    /// receiver limits (streams dropped, state limits hit) still decode
    /// everything they accept and recover from every resync.
    #[test]
    fn tight_limits_recover(
        requests in prop::collection::vec(request(), 1..5),
        events in prop::collection::vec(event(5), 1..30),
    ) {
        let requests: Vec<_> = requests.into_iter().map(|r| { let b = r.encode_to_vec(); (r, b) }).collect();
        let n = requests.len();
        let events: Vec<Event> = events.into_iter().map(|e| match e {
            Event::Send(r, f) => Event::Send(r % n, f),
            e => e,
        }).collect();
        let mut sim = Sim {
            encoder: SrtEncoder::new(SrtConfig::new().with_max_state_bytes(2_000)),
            decoder: SrtDecoder::new(SrtLimits::new().with_max_stream_state_bytes(1 << 20).with_max_total_state_bytes(1 << 20).with_max_streams(1)),
            requests,
            held: Vec::new(),
            pending_acks: Vec::new(),
            accepted: 0,
            resyncs: 0,
        };
        sim.run(&events)?;
    }
}
