//! A deterministic, realistic microservice trace corpus.
//!
//! An online shop of seven services (the shape of the OpenTelemetry demo):
//! a `frontend` that serves HTTP routes and calls `product-catalog`,
//! `cart`, `checkout`, `recommendation`; `checkout` calls `payment` and
//! `shipping` over HTTP and publishes to Kafka, which `email` consumes
//! (a span with a link to the producer). Each service runs 2-3 instances
//! with their own resource (service, version, instance id, host, pod,
//! Kubernetes, SDK and process attributes) and instrumentation scopes.
//!
//! Spans carry the attributes of the semantic conventions for their
//! kind: HTTP server (method, route, path with the product id in it,
//! status code, client address from a pool of addresses, user agent from
//! a pool, user id from a pool of users), HTTP client (url with ids, peer
//! address), database (PostgreSQL statements per operation, Redis
//! commands with the user's key, row counts), messaging (topic, message
//! id, order id); plus application attributes (cart size, order amount,
//! currency). Timing is realistic: arrivals about 2 ms apart, children
//! inside their parents, sequential and parallel calls, log-normal-ish
//! durations. About 2% of payments fail: error status, an `exception`
//! event with type, message and a stack trace, a 5xx up the chain; some
//! product lookups are 404s.
//!
//! [`Recorded`] reads trace sets recorded from real programs
//! (`benches/corpus`) and cuts them into requests of any size.
//!
//! Traces are generated one after another and their spans emitted in the
//! order they end (as an SDK's batch processor sees them); a request takes
//! the next `n` spans (a trace may straddle two requests) grouped by
//! resource and scope, as a collector forwarding several services sends
//! them. Everything is derived from the seed, so the same seed gives the
//! same bytes.
//!
//! ```
//! use otlp_srt::corpus::Corpus;
//! use prost::Message;
//!
//! let mut corpus = Corpus::new(7);
//! let request = corpus.next_request(64);
//! let spans: usize = request
//!     .resource_spans
//!     .iter()
//!     .flat_map(|r| &r.scope_spans)
//!     .map(|s| s.spans.len())
//!     .sum();
//! assert_eq!(spans, 64);
//! assert_eq!(Corpus::new(7).next_request(64).encode_to_vec(), request.encode_to_vec());
//! ```

use std::collections::VecDeque;

use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use otlp_core::proto::resource::v1::Resource;
use otlp_core::proto::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

/// splitmix64: small, fast and good enough for test data.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    /// Skewed towards the first items (Zipf-like), as popularity is.
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
    /// A duration around `median_us` microseconds with a long tail.
    fn duration(&mut self, median_us: u64) -> u64 {
        let x = (self.below(1000) as f64 + 0.5) / 1000.0;
        let factor = (-(1.0 - x).ln()).powf(1.3) / 0.62;
        ((median_us as f64 * factor.max(0.05)) * 1000.0) as u64
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        out
    }
    fn hex(&mut self, digits: usize) -> String {
        (0..digits)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(4),
            self.hex(12)
        )
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}
fn s(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}
fn i(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}
fn d(key: &str, value: f64) -> KeyValue {
    kv(key, any_value::Value::DoubleValue(value))
}
fn b(key: &str, value: bool) -> KeyValue {
    kv(key, any_value::Value::BoolValue(value))
}

const SERVICES: [(&str, &str, &str); 7] = [
    ("frontend", "nodejs", "2.4.1"),
    ("product-catalog", "go", "1.9.0"),
    ("cart", "dotnet", "3.1.2"),
    ("checkout", "go", "1.12.4"),
    ("payment", "nodejs", "0.8.7"),
    ("shipping", "rust", "1.2.0"),
    ("email", "ruby", "0.5.3"),
];
const FRONTEND: usize = 0;
const CATALOG: usize = 1;
const CART: usize = 2;
const CHECKOUT: usize = 3;
const PAYMENT: usize = 4;
const SHIPPING: usize = 5;
const EMAIL: usize = 6;

const USER_AGENTS: [&str; 12] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.97",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "Go-http-client/1.1",
];
const PRODUCTS: [&str; 10] = [
    "OLJCESPC7Z",
    "66VCHSJNUP",
    "1YMWWN1N4O",
    "L9ECAV7KIM",
    "2ZYFJ3GM2N",
    "0PUK6V6EV0",
    "LS4PSXUNUM",
    "9SIQT8TOJO",
    "6E92ZMYYFZ",
    "HQTGWGPNH4",
];
const CURRENCIES: [&str; 5] = ["USD", "EUR", "CAD", "JPY", "GBP"];

#[derive(Debug, Clone)]
struct Instance {
    service: usize,
    resource: Resource,
}

/// One finished span, waiting for its request.
#[derive(Debug, Clone)]
struct Finished {
    instance: usize,
    scope: usize,
    span: Span,
}

/// The generator; see the module documentation.
#[derive(Debug, Clone)]
pub struct Corpus {
    rng: Rng,
    instances: Vec<Instance>,
    scopes: Vec<InstrumentationScope>,
    clients: Vec<String>,
    now: u64,
    pending: VecDeque<Finished>,
}

/// Scopes by index.
const SCOPE_HTTP: usize = 0;
const SCOPE_PG: usize = 1;
const SCOPE_REDIS: usize = 2;
const SCOPE_KAFKA: usize = 3;
const SCOPE_APP: usize = 4;

impl Corpus {
    /// A corpus whose every byte follows from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng(seed ^ 0x0123_4567_89ab_cdef);
        let mut instances = Vec::new();
        for (service, (name, language, version)) in SERVICES.iter().enumerate() {
            for _ in 0..2 + rng.below(2) {
                let pod = format!("{name}-{}-{}", rng.hex(10), rng.hex(5));
                let node = format!("ip-10-0-{}-{}.ec2.internal", rng.below(8), rng.below(250));
                let attributes = vec![
                    s("service.name", *name),
                    s("service.namespace", "shop"),
                    s("service.version", *version),
                    s("service.instance.id", rng.uuid()),
                    s("deployment.environment.name", "production"),
                    s("telemetry.sdk.name", "opentelemetry"),
                    s("telemetry.sdk.language", *language),
                    s("telemetry.sdk.version", "1.25.0"),
                    s("host.name", pod.clone()),
                    s("host.arch", "amd64"),
                    s("os.type", "linux"),
                    s("process.pid", (1 + rng.below(30)).to_string()),
                    s("process.runtime.name", *language),
                    s("k8s.namespace.name", "shop"),
                    s("k8s.pod.name", pod),
                    s("k8s.node.name", node),
                    s("k8s.deployment.name", *name),
                    s("cloud.provider", "aws"),
                    s("cloud.region", "eu-west-1"),
                ];
                instances.push(Instance {
                    service,
                    resource: Resource {
                        attributes,
                        dropped_attributes_count: 0,
                        entity_refs: Vec::new(),
                    },
                });
            }
        }
        let scope = |name: &str, version: &str| InstrumentationScope {
            name: name.into(),
            version: version.into(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        };
        let scopes = vec![
            scope("io.opentelemetry.http", "1.25.0"),
            scope("io.opentelemetry.postgresql", "0.46.0"),
            scope("io.opentelemetry.redis", "0.44.1"),
            scope("io.opentelemetry.kafka", "0.41.0"),
            scope("shop", "1.0.0"),
        ];
        let clients = (0..300)
            .map(|_| {
                format!(
                    "{}.{}.{}.{}",
                    rng.below(223) + 1,
                    rng.below(256),
                    rng.below(256),
                    rng.below(256)
                )
            })
            .collect();
        Corpus {
            rng,
            instances,
            scopes,
            clients,
            now: 1_714_000_000_000_000_000,
            pending: VecDeque::new(),
        }
    }

    /// The next request of `spans` spans.
    pub fn next_request(&mut self, spans: usize) -> ExportTraceServiceRequest {
        while self.pending.len() < spans {
            self.trace();
        }
        let mut batch: Vec<Finished> = self.pending.drain(..spans).collect();
        // Grouped by resource, then scope, keeping the order within each.
        batch.sort_by_key(|f| (f.instance, f.scope));
        let mut request = ExportTraceServiceRequest::default();
        for f in batch {
            let resource = &self.instances[f.instance].resource;
            if request
                .resource_spans
                .last()
                .is_none_or(|r| r.resource.as_ref() != Some(resource))
            {
                request.resource_spans.push(ResourceSpans {
                    resource: Some(resource.clone()),
                    scope_spans: Vec::new(),
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                });
            }
            let scope_spans = &mut request
                .resource_spans
                .last_mut()
                .expect("pushed above")
                .scope_spans;
            let scope = &self.scopes[f.scope];
            if scope_spans
                .last()
                .is_none_or(|s| s.scope.as_ref() != Some(scope))
            {
                scope_spans.push(ScopeSpans {
                    scope: Some(scope.clone()),
                    spans: Vec::new(),
                    schema_url: String::new(),
                });
            }
            scope_spans
                .last_mut()
                .expect("pushed above")
                .spans
                .push(f.span);
        }
        request
    }

    /// [`next_request`](Self::next_request) as OTLP protobuf bytes.
    pub fn next_request_bytes(&mut self, spans: usize) -> Vec<u8> {
        self.next_request(spans).encode_to_vec()
    }

    fn instance_of(&mut self, service: usize) -> usize {
        let candidates: Vec<usize> = (0..self.instances.len())
            .filter(|&i| self.instances[i].service == service)
            .collect();
        *self.rng.pick(&candidates)
    }

    /// Generates one trace and queues its spans in the order they end.
    fn trace(&mut self) {
        self.now += self.rng.duration(2_000);
        let trace_id: [u8; 16] = self.rng.bytes();
        let mut spans = Vec::new();
        let user = self.rng.skewed(5_000);
        let client = self.clients[self.rng.skewed(self.clients.len() as u64) as usize].clone();
        let agent = *self.rng.pick(&USER_AGENTS);
        let route = self.rng.below(100);
        let start = self.now;
        let ctx = Ctx {
            trace_id,
            user,
            client,
            agent,
        };
        match route {
            0..=34 => self.route_product(&ctx, start, &mut spans),
            35..=54 => self.route_cart(&ctx, start, false, &mut spans),
            55..=64 => self.route_cart(&ctx, start, true, &mut spans),
            65..=74 => self.route_checkout(&ctx, start, &mut spans),
            75..=89 => self.route_recommendations(&ctx, start, &mut spans),
            _ => self.route_health(&ctx, start, &mut spans),
        }
        spans.sort_by_key(|f: &Finished| f.span.end_time_unix_nano);
        self.pending.extend(spans);
    }

    fn span_id(&mut self) -> [u8; 8] {
        self.rng.bytes()
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        ctx: &Ctx,
        service: usize,
        scope: usize,
        parent: Option<[u8; 8]>,
        remote_parent: bool,
        name: &str,
        kind: span::SpanKind,
        start: u64,
        end: u64,
        attributes: Vec<KeyValue>,
    ) -> (Finished, [u8; 8]) {
        let id = self.span_id();
        let instance = self.instance_of(service);
        let flags = if remote_parent { 0x301 } else { 0x101 };
        let span = Span {
            trace_id: ctx.trace_id.to_vec(),
            span_id: id.to_vec(),
            trace_state: String::new(),
            parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
            flags,
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Some(Status::default()),
        };
        (
            Finished {
                instance,
                scope,
                span,
            },
            id,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn server(
        &mut self,
        ctx: &Ctx,
        method: &str,
        route: &str,
        path: &str,
        status: i64,
        start: u64,
        end: u64,
    ) -> (Finished, [u8; 8]) {
        let attributes = vec![
            s("http.request.method", method),
            s("url.scheme", "https"),
            s("url.path", path),
            s("http.route", route),
            s("network.protocol.version", "1.1"),
            s("server.address", "shop.example.com"),
            i("server.port", 443),
            s("client.address", ctx.client.clone()),
            s("user_agent.original", ctx.agent),
            s("app.user.id", format!("user-{:05}", ctx.user)),
            i("http.response.status_code", status),
        ];
        let name = format!("{method} {route}");
        let (mut f, id) = self.span(
            ctx,
            FRONTEND,
            SCOPE_HTTP,
            None,
            false,
            &name,
            span::SpanKind::Server,
            start,
            end,
            attributes,
        );
        if status >= 500 {
            f.span.status = Some(Status {
                message: String::new(),
                code: status::StatusCode::Error as i32,
            });
        }
        (f, id)
    }

    /// An HTTP call from `from` to `to`: the client span and the server span
    /// in the callee; returns the server span's id (the callee's parent for
    /// its own children) and the time the call ends.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        ctx: &Ctx,
        parent: [u8; 8],
        to: usize,
        method: &str,
        route: &str,
        path: &str,
        status: i64,
        start: u64,
        work: u64,
        spans: &mut Vec<Finished>,
    ) -> ([u8; 8], u64, u64) {
        let host = SERVICES[to].0;
        let net = 200_000 + self.rng.below(300_000);
        let server_start = start + net / 2;
        let server_end = server_start + work;
        let end = server_end + net / 2;
        let peer = format!("10.0.{}.{}", to, 10 + self.rng.below(3));
        let mut client_attrs = vec![
            s("http.request.method", method),
            s("url.full", format!("http://{host}:8080{path}")),
            s("server.address", host),
            i("server.port", 8080),
            s("network.peer.address", peer),
            i("http.response.status_code", status),
        ];
        if status >= 500 {
            client_attrs.push(s("error.type", status.to_string()));
        }
        let caller = self.caller_of(to);
        let (mut client, client_id) = self.span(
            ctx,
            caller,
            SCOPE_HTTP,
            Some(parent),
            false,
            method,
            span::SpanKind::Client,
            start,
            end,
            client_attrs,
        );
        let server_attrs = vec![
            s("http.request.method", method),
            s("url.scheme", "http"),
            s("url.path", path),
            s("http.route", route),
            s("network.protocol.version", "1.1"),
            s("server.address", host),
            i("server.port", 8080),
            s(
                "client.address",
                format!("10.0.{}.{}", caller, 10 + self.rng.below(3)),
            ),
            i("http.response.status_code", status),
        ];
        let name = format!("{method} {route}");
        let (mut server, server_id) = self.span(
            ctx,
            to,
            SCOPE_HTTP,
            Some(client_id),
            true,
            &name,
            span::SpanKind::Server,
            server_start,
            server_end,
            server_attrs,
        );
        if status >= 500 {
            let error = Status {
                message: String::new(),
                code: status::StatusCode::Error as i32,
            };
            client.span.status = Some(error.clone());
            server.span.status = Some(error);
        }
        spans.push(client);
        spans.push(server);
        (server_id, server_start, end)
    }

    fn caller_of(&self, to: usize) -> usize {
        match to {
            PAYMENT | SHIPPING => CHECKOUT,
            _ => FRONTEND,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn db(
        &mut self,
        ctx: &Ctx,
        service: usize,
        parent: [u8; 8],
        operation: &str,
        table: &str,
        statement: &str,
        start: u64,
        spans: &mut Vec<Finished>,
    ) -> u64 {
        let end = start + self.rng.duration(900);
        let rows = self.rng.below(50) as i64;
        let attributes = vec![
            s("db.system.name", "postgresql"),
            s("db.namespace", "shop"),
            s("db.operation.name", operation),
            s("db.collection.name", table),
            s("db.query.text", statement),
            s("server.address", "postgres.shop.svc.cluster.local"),
            i("server.port", 5432),
            i("db.response.returned_rows", rows),
        ];
        let name = format!("{operation} shop.{table}");
        let (f, _) = self.span(
            ctx,
            service,
            SCOPE_PG,
            Some(parent),
            false,
            &name,
            span::SpanKind::Client,
            start,
            end,
            attributes,
        );
        spans.push(f);
        end
    }

    fn redis(
        &mut self,
        ctx: &Ctx,
        parent: [u8; 8],
        command: &str,
        start: u64,
        spans: &mut Vec<Finished>,
    ) -> u64 {
        let end = start + self.rng.duration(250);
        let attributes = vec![
            s("db.system.name", "redis"),
            s("db.operation.name", command),
            s(
                "db.query.text",
                format!("{command} cart:user-{:05}", ctx.user),
            ),
            s("server.address", "redis-cart"),
            i("server.port", 6379),
            i("db.namespace", 0),
        ];
        let (f, _) = self.span(
            ctx,
            CART,
            SCOPE_REDIS,
            Some(parent),
            false,
            command,
            span::SpanKind::Client,
            start,
            end,
            attributes,
        );
        spans.push(f);
        end
    }

    fn product_lookup(
        &mut self,
        ctx: &Ctx,
        parent: [u8; 8],
        start: u64,
        spans: &mut Vec<Finished>,
    ) -> (u64, i64) {
        let product = *self.rng.pick(&PRODUCTS);
        let found = !self.rng.chance(0.03);
        let status = if found { 200 } else { 404 };
        let work = self.rng.duration(1_500);
        let path = format!("/products/{product}");
        let (server_id, server_start, end) = self.call(
            ctx,
            parent,
            CATALOG,
            "GET",
            "/products/{id}",
            &path,
            status,
            start,
            work,
            spans,
        );
        self.db(
            ctx,
            CATALOG,
            server_id,
            "SELECT",
            "products",
            "SELECT id, name, description, picture, price_units, price_nanos, categories FROM products WHERE id = $1",
            server_start + 100_000,
            spans,
        );
        (end, status)
    }

    fn route_product(&mut self, ctx: &Ctx, start: u64, spans: &mut Vec<Finished>) {
        let product = *self.rng.pick(&PRODUCTS);
        let root_id = self.span_id();
        let (end, status) = self.product_lookup(ctx, root_id, start + 300_000, spans);
        let end = end + self.rng.duration(400);
        let path = format!("/api/products/{product}");
        let (mut root, _) =
            self.server(ctx, "GET", "/api/products/{id}", &path, status, start, end);
        root.span.span_id = root_id.to_vec();
        spans.push(root);
    }

    fn route_recommendations(&mut self, ctx: &Ctx, start: u64, spans: &mut Vec<Finished>) {
        let root_id = self.span_id();
        let mut t = start + 200_000;
        // Parallel lookups of a few products.
        let mut end = t;
        for _ in 0..1 + self.rng.below(4) {
            let (e, _) = self.product_lookup(ctx, root_id, t, spans);
            end = end.max(e);
            t += 50_000;
        }
        let rank_end = end + self.rng.duration(300);
        let count = 1 + self.rng.below(8) as i64;
        let (mut internal, _) = self.span(
            ctx,
            FRONTEND,
            SCOPE_APP,
            Some(root_id),
            false,
            "rank_recommendations",
            span::SpanKind::Internal,
            end,
            rank_end,
            vec![
                i("app.recommendations.count", count),
                s("app.recommendations.model", "v3"),
            ],
        );
        let end = internal.span.end_time_unix_nano + 100_000;
        internal.span.status = None;
        spans.push(internal);
        let (mut root, _) = self.server(
            ctx,
            "GET",
            "/api/recommendations",
            "/api/recommendations",
            200,
            start,
            end,
        );
        root.span.span_id = root_id.to_vec();
        spans.push(root);
    }

    fn route_cart(&mut self, ctx: &Ctx, start: u64, add: bool, spans: &mut Vec<Finished>) {
        let root_id = self.span_id();
        let (method, route) = if add {
            ("POST", "/cart")
        } else {
            ("GET", "/cart")
        };
        let work = self.rng.duration(800);
        let (server_id, server_start, mut end) = self.call(
            ctx,
            root_id,
            CART,
            method,
            route,
            route,
            200,
            start + 250_000,
            work,
            spans,
        );
        let command = if add { "HSET" } else { "HGETALL" };
        self.redis(ctx, server_id, command, server_start + 80_000, spans);
        if add {
            self.redis(ctx, server_id, "EXPIRE", server_start + 400_000, spans);
            let (e, _) = self.product_lookup(ctx, root_id, end + 50_000, spans);
            end = e;
        }
        let end = end + self.rng.duration(300);
        let path = format!("/api{route}");
        let (mut root, _) =
            self.server(ctx, method, &format!("/api{route}"), &path, 200, start, end);
        root.span.span_id = root_id.to_vec();
        if add {
            let items = 1 + self.rng.below(6) as i64;
            root.span.attributes.push(i("app.cart.items.count", items));
        }
        spans.push(root);
    }

    fn route_health(&mut self, ctx: &Ctx, start: u64, spans: &mut Vec<Finished>) {
        let end = start + self.rng.duration(60);
        let (f, _) = self.server(ctx, "GET", "/health", "/health", 200, start, end);
        spans.push(f);
    }

    fn route_checkout(&mut self, ctx: &Ctx, start: u64, spans: &mut Vec<Finished>) {
        let root_id = self.span_id();
        let checkout_work = self.rng.duration(25_000);
        let order = self.rng.uuid();
        let currency = *self.rng.pick(&CURRENCIES);
        let (checkout_id, checkout_start, mut end) = self.call(
            ctx,
            root_id,
            CHECKOUT,
            "POST",
            "/checkout",
            "/checkout",
            200,
            start + 300_000,
            checkout_work,
            spans,
        );
        let mut t = checkout_start + 200_000;
        // Cart contents, then the product prices, then shipping quote.
        let (id, s0, e) = self.call(
            ctx,
            checkout_id,
            CART,
            "GET",
            "/cart",
            "/cart",
            200,
            t,
            900_000,
            spans,
        );
        self.redis(ctx, id, "HGETALL", s0 + 60_000, spans);
        t = e + 50_000;
        for _ in 0..1 + self.rng.below(3) {
            let (e, _) = self.product_lookup(ctx, checkout_id, t, spans);
            t = e + 20_000;
        }
        let zip = format!("{:05}", self.rng.below(99_999));
        let work = self.rng.duration(2_000);
        let (ship_id, ship_start, e) = self.call(
            ctx,
            checkout_id,
            SHIPPING,
            "POST",
            "/shipping/quote",
            "/shipping/quote",
            200,
            t,
            work,
            spans,
        );
        let quote_end = ship_start + 100_000 + self.rng.duration(500);
        let items = 1 + self.rng.below(5) as i64;
        let cost = self.rng.below(5000) as f64 / 100.0;
        let (mut quote, _) = self.span(
            ctx,
            SHIPPING,
            SCOPE_APP,
            Some(ship_id),
            false,
            "calculate_quote",
            span::SpanKind::Internal,
            ship_start + 100_000,
            quote_end,
            vec![
                s("app.shipping.zip_code", zip),
                i("app.shipping.items.count", items),
                d("app.shipping.cost.total", cost),
            ],
        );
        quote.span.status = None;
        spans.push(quote);
        t = e + 50_000;
        // The payment: 2% are declined.
        let declined = self.rng.chance(0.02);
        let amount = (self.rng.below(40_000) + 500) as f64 / 100.0;
        let status = if declined { 500 } else { 200 };
        let work = self.rng.duration(6_000);
        let (pay_id, pay_start, e) = self.call(
            ctx,
            checkout_id,
            PAYMENT,
            "POST",
            "/charge",
            "/charge",
            status,
            t,
            work,
            spans,
        );
        let card = *self.rng.pick(&["visa", "mastercard", "amex"]);
        let charge_end = pay_start + 100_000 + self.rng.duration(4_000);
        let (mut charge, _) = self.span(
            ctx,
            PAYMENT,
            SCOPE_APP,
            Some(pay_id),
            false,
            "charge",
            span::SpanKind::Internal,
            pay_start + 100_000,
            charge_end,
            vec![
                s("app.payment.card_type", card),
                b("app.payment.card_valid", !declined),
                s("app.payment.currency", currency),
                d("app.payment.amount", amount),
                s("app.order.id", order.clone()),
            ],
        );
        if declined {
            let reason = *self.rng.pick(&[
                "card declined: insufficient funds",
                "card declined: expired card",
                "payment gateway timeout after 5000ms",
            ]);
            charge.span.status = Some(Status {
                message: reason.into(),
                code: status::StatusCode::Error as i32,
            });
            charge.span.events.push(span::Event {
                time_unix_nano: charge_end - 20_000,
                name: "exception".into(),
                attributes: vec![
                    s("exception.type", "PaymentDeclinedError"),
                    s("exception.message", reason),
                    s(
                        "exception.stacktrace",
                        format!(
                            "PaymentDeclinedError: {reason}\n    at charge (/app/charge.js:{}:11)\n    at processTicksAndRejections (node:internal/process/task_queues:95:5)\n    at async PaymentService.handle (/app/index.js:{}:5)",
                            40 + self.rng.below(3),
                            120 + self.rng.below(2)
                        ),
                    ),
                    b("exception.escaped", false),
                ],
                dropped_attributes_count: 0,
            });
        } else {
            charge.span.status = None;
        }
        spans.push(charge);
        end = end.max(e);
        if !declined {
            // The order is published; `email` consumes it later.
            let publish_end = e + 30_000 + self.rng.duration(700);
            let message_id = self.rng.uuid();
            let partition = self.rng.below(6) as i64;
            let (publish, publish_id) = self.span(
                ctx,
                CHECKOUT,
                SCOPE_KAFKA,
                Some(checkout_id),
                false,
                "orders publish",
                span::SpanKind::Producer,
                e + 30_000,
                publish_end,
                vec![
                    s("messaging.system", "kafka"),
                    s("messaging.destination.name", "orders"),
                    s("messaging.operation.type", "publish"),
                    s("messaging.message.id", message_id),
                    s("messaging.kafka.message.key", order.clone()),
                    i("messaging.destination.partition.id", partition),
                ],
            );
            spans.push(publish);
            let consume_start = publish_end + self.rng.duration(3_000);
            let consume_end = consume_start + self.rng.duration(5_000);
            let offset = self.rng.below(1 << 30) as i64;
            let (mut consume, consume_id) = self.span(
                ctx,
                EMAIL,
                SCOPE_KAFKA,
                None,
                false,
                "orders process",
                span::SpanKind::Consumer,
                consume_start,
                consume_end,
                vec![
                    s("messaging.system", "kafka"),
                    s("messaging.destination.name", "orders"),
                    s("messaging.operation.type", "process"),
                    s("messaging.consumer.group.name", "email"),
                    s("messaging.kafka.message.key", order.clone()),
                    i("messaging.kafka.offset", offset),
                ],
            );
            // A new trace, linked to the producer.
            let own_trace: [u8; 16] = self.rng.bytes();
            consume.span.trace_id = own_trace.to_vec();
            consume.span.links.push(span::Link {
                trace_id: ctx.trace_id.to_vec(),
                span_id: publish_id.to_vec(),
                trace_state: String::new(),
                attributes: vec![s("messaging.operation.type", "publish")],
                dropped_attributes_count: 0,
                flags: 0x101,
            });
            spans.push(consume);
            let (mut send, _) = self.span(
                ctx,
                EMAIL,
                SCOPE_APP,
                Some(consume_id),
                false,
                "send_order_confirmation",
                span::SpanKind::Internal,
                consume_start + 200_000,
                consume_end - 100_000,
                vec![
                    s(
                        "app.email.recipient",
                        format!("user-{:05}@example.com", ctx.user),
                    ),
                    s("app.order.id", order),
                ],
            );
            send.span.trace_id = own_trace.to_vec();
            send.span.status = None;
            spans.push(send);
        }
        let end = end + self.rng.duration(500);
        let (mut root, _) = self.server(
            ctx,
            "POST",
            "/api/checkout",
            "/api/checkout",
            status,
            start,
            end,
        );
        root.span.span_id = root_id.to_vec();
        root.span.attributes.push(s("app.order.currency", currency));
        spans.push(root);
    }
}

struct Ctx {
    trace_id: [u8; 16],
    user: u64,
    client: String,
    agent: &'static str,
}

/// Why a recorded corpus could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordedError {
    /// The file is not a zstd stream, or decompresses past the cap.
    #[error("recorded corpus does not decompress: {0}")]
    Decompress(#[source] otlp_compression::DecompressError),
    /// A length prefix runs past the end of the data.
    #[error("recorded corpus is truncated")]
    Truncated,
    /// A record is not an `ExportTraceServiceRequest`.
    #[error("recorded corpus holds a malformed request: {0}")]
    Malformed(#[source] prost::DecodeError),
}

/// A recorded trace set, as `benches/corpus/*.otlp.zst` hold them: zstd
/// over a sequence of `ExportTraceServiceRequest` protobufs, each after its
/// length as a little-endian `u32` (see `benches/corpus/README.md`).
///
/// [`batches`](Self::batches) cuts its spans into requests of another
/// size, in the order they were recorded, each span with its resource and
/// scope, so that a recording can be compared at the batch sizes of the
/// generated [`Corpus`].
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Each span with the indexes of its resource and scope in `origins`.
    spans: Vec<(usize, Span)>,
    /// (resource, its schema URL, scope, its schema URL), as recorded.
    origins: Vec<(ResourceSpans, ScopeSpans)>,
}

impl Recorded {
    /// Reads a recorded corpus from its file's bytes; `max_bytes` caps the
    /// decompressed size.
    pub fn from_zstd(file: &[u8], max_bytes: usize) -> Result<Self, RecordedError> {
        let mut raw = Vec::new();
        otlp_compression::decompress(otlp_compression::Algorithm::Zstd, file, max_bytes, &mut raw)
            .map_err(RecordedError::Decompress)?;
        let mut origins: Vec<(ResourceSpans, ScopeSpans)> = Vec::new();
        let mut spans = Vec::new();
        let mut rest = &raw[..];
        while !rest.is_empty() {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or(RecordedError::Truncated)?;
            let len = u32::from_le_bytes(*len) as usize;
            if tail.len() < len {
                return Err(RecordedError::Truncated);
            }
            let (record, tail) = tail.split_at(len);
            rest = tail;
            let request =
                ExportTraceServiceRequest::decode(record).map_err(RecordedError::Malformed)?;
            for mut rs in request.resource_spans {
                for mut ss in std::mem::take(&mut rs.scope_spans) {
                    let taken = std::mem::take(&mut ss.spans);
                    let origin = (rs.clone(), ss);
                    let at = match origins.iter().position(|o| *o == origin) {
                        Some(at) => at,
                        None => {
                            origins.push(origin);
                            origins.len() - 1
                        }
                    };
                    spans.extend(taken.into_iter().map(|s| (at, s)));
                }
            }
        }
        Ok(Recorded { spans, origins })
    }

    /// Spans recorded.
    pub fn spans(&self) -> usize {
        self.spans.len()
    }

    /// The recorded spans cut into requests of `batch` spans (the last one
    /// shorter), in recorded order; within a request spans are grouped by
    /// resource, then scope, in the order each first appears, keeping
    /// their order within a group, as a collector that batches sends them.
    pub fn batches(&self, batch: usize) -> Vec<ExportTraceServiceRequest> {
        self.spans
            .chunks(batch.max(1))
            .map(|chunk| {
                let mut request = ExportTraceServiceRequest::default();
                // (origin, resource_spans index, scope_spans index) of this request.
                let mut placed: Vec<(usize, usize, usize)> = Vec::new();
                for (origin, span) in chunk {
                    let (r, s) = match placed.iter().find(|p| p.0 == *origin) {
                        Some(&(_, r, s)) => (r, s),
                        None => {
                            let (rs, ss) = &self.origins[*origin];
                            let r = match request.resource_spans.iter().position(|x| {
                                x.resource == rs.resource && x.schema_url == rs.schema_url
                            }) {
                                Some(r) => r,
                                None => {
                                    request.resource_spans.push(rs.clone());
                                    request.resource_spans.len() - 1
                                }
                            };
                            let scopes = &mut request.resource_spans[r].scope_spans;
                            scopes.push(ss.clone());
                            let s = scopes.len() - 1;
                            placed.push((*origin, r, s));
                            (r, s)
                        }
                    };
                    request.resource_spans[r].scope_spans[s]
                        .spans
                        .push(span.clone());
                }
                request
            })
            .collect()
    }
}
