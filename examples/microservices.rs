//! Two services in one trace: a `frontend` (axum) calls a `backend` over
//! tonic gRPC and over HTTP, and the backend calls the frontend back over
//! HTTP. W3C `traceparent` and `baggage` travel in the gRPC metadata and
//! the HTTP headers, in both directions; each service has its own
//! resource (`service.name`) and its own exporters.
//!
//! ```sh
//! cargo run -p otlp-examples --example microservices
//! ```
//!
//! ```text
//! caller --baggage: tenant=acme--> frontend  GET /checkout/{sku}
//!   frontend --gRPC shop.Inventory/Reserve--> backend
//!     backend --HTTP GET /policy/{sku}--> frontend
//!   frontend --HTTP GET /price/{sku}--> backend
//! ```
//!
//! Without `OTEL_EXPORTER_OTLP_ENDPOINT` it checks at the embedded receiver
//! that all spans are one trace, that each server span is the child of the
//! client span of the other service that called it, and that the caller's
//! baggage reached every server.

#[path = "shared/axum.rs"]
mod axum_layer;
#[path = "shared/http.rs"]
mod http_telemetry;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use axum_layer::trace_request;
use http_telemetry::HttpServerTelemetry;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    FutureExt as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::attribute as semconv;
use otlp_examples::{
    ensure, ensure_child_of, Collector, Items, Received, ReceivedSpan, Telemetry, WireSpanKind,
};
use std::future::IntoFuture as _;
use std::process::ExitCode;
use tonic::codegen::{http as tonic_http, BoxFuture, Service};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The baggage entry the caller sets; every server records it.
const TENANT: &str = "tenant";

// The backend's gRPC API, written out instead of generated from a .proto
// file: `shop.Inventory/Reserve(ReserveRequest) -> ReserveReply`.
#[derive(Clone, PartialEq, prost::Message)]
struct ReserveRequest {
    #[prost(string, tag = "1")]
    sku: String,
    #[prost(uint32, tag = "2")]
    quantity: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReserveReply {
    #[prost(bool, tag = "1")]
    reserved: bool,
    #[prost(string, tag = "2")]
    policy: String,
}

const RESERVE: &str = "/shop.Inventory/Reserve";

/// Records the caller's tenant (from the baggage) on the current span.
fn record_tenant(cx: &Context) {
    if let Some(tenant) = cx.baggage().get(TENANT) {
        cx.span()
            .set_attribute(KeyValue::new("app.tenant", tenant.to_string()));
    }
}

/// A client span for an HTTP call from `tracer`'s service, and the call,
/// with the span's context in the request headers.
async fn traced_get(
    tracer: &SdkTracer,
    client: &http_telemetry::Client,
    url: &str,
) -> Result<String, BoxError> {
    let uri: http::Uri = url.parse()?;
    let span = tracer
        .span_builder("GET")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new(semconv::HTTP_REQUEST_METHOD, "GET"),
            KeyValue::new(semconv::URL_FULL, url.to_owned()),
            KeyValue::new(
                semconv::SERVER_ADDRESS,
                uri.host().unwrap_or_default().to_owned(),
            ),
            KeyValue::new(
                semconv::SERVER_PORT,
                i64::from(uri.port_u16().unwrap_or(80)),
            ),
        ])
        .start(tracer);
    let cx = Context::current().with_span(span);
    let result = http_telemetry::get(client, url, &cx).await;
    let span = cx.span();
    match &result {
        Ok((status, _)) => {
            span.set_attribute(KeyValue::new(
                semconv::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status.as_u16()),
            ));
            if !status.is_success() {
                span.set_status(Status::error(status.to_string()));
            }
        }
        Err(e) => span.set_status(Status::error(e.to_string())),
    }
    span.end();
    let (status, body) = result?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status}").into());
    }
    Ok(body)
}

// ---- frontend -------------------------------------------------------------

#[derive(Clone)]
struct Frontend {
    tracer: SdkTracer,
    client: http_telemetry::Client,
    grpc: tonic::transport::Channel,
    backend_http: String,
}

async fn checkout(State(app): State<Frontend>, Path(sku): Path<String>) -> Result<String, String> {
    let cx = Context::current();
    record_tenant(&cx);
    let reply = reserve(&app, &sku).await.map_err(|e| e.to_string())?;
    let price = traced_get(
        &app.tracer,
        &app.client,
        &format!("{}/price/{sku}", app.backend_http),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(format!(
        "{sku}: reserved={} policy={} price={price}",
        reply.reserved, reply.policy
    ))
}

/// The gRPC call: a client span, its context in the request metadata.
async fn reserve(app: &Frontend, sku: &str) -> Result<ReserveReply, BoxError> {
    let method = RESERVE.trim_start_matches('/');
    let span = app
        .tracer
        .span_builder(method.to_owned())
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new(semconv::RPC_SYSTEM_NAME, "grpc"),
            KeyValue::new(semconv::RPC_METHOD, method.to_owned()),
        ])
        .start(&app.tracer);
    let cx = Context::current().with_span(span);
    let mut headers = http::HeaderMap::new();
    http_telemetry::inject(&cx, &mut headers);
    let mut request = tonic::Request::new(ReserveRequest {
        sku: sku.to_owned(),
        quantity: 1,
    });
    *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
    let mut grpc = tonic::client::Grpc::new(app.grpc.clone());
    let result = async {
        grpc.ready().await?;
        let path = tonic_http::uri::PathAndQuery::from_static(RESERVE);
        let codec = tonic_prost::ProstCodec::<ReserveRequest, ReserveReply>::default();
        grpc.unary(request, path, codec)
            .await
            .map_err(BoxError::from)
    }
    .with_context(cx.clone())
    .await;
    let span = cx.span();
    let code = match &result {
        Ok(_) => tonic::Code::Ok,
        Err(e) => e
            .downcast_ref::<tonic::Status>()
            .map_or(tonic::Code::Unavailable, |s| s.code()),
    };
    span.set_attribute(KeyValue::new(
        semconv::RPC_RESPONSE_STATUS_CODE,
        format!("{code:?}").to_uppercase(),
    ));
    if code != tonic::Code::Ok {
        span.set_status(Status::error(format!("{code:?}")));
    }
    span.end();
    Ok(result?.into_inner())
}

async fn policy(Path(sku): Path<String>) -> String {
    record_tenant(&Context::current());
    format!("{sku}: max 2 per order")
}

// ---- backend --------------------------------------------------------------

#[derive(Clone)]
struct Backend {
    tracer: SdkTracer,
    client: http_telemetry::Client,
    frontend_http: String,
}

async fn price(Path(sku): Path<String>) -> String {
    record_tenant(&Context::current());
    format!("{}.99", sku.len())
}

/// The gRPC service, routed by hand as generated code would.
impl Service<tonic_http::Request<tonic::body::Body>> for Backend {
    type Response = tonic_http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic_http::Request<tonic::body::Body>) -> Self::Future {
        let backend = self.clone();
        Box::pin(async move {
            if request.uri().path() != RESERVE {
                return Ok(
                    tonic::Status::unimplemented(request.uri().path().to_owned()).into_http(),
                );
            }
            let codec = tonic_prost::ProstCodec::<ReserveReply, ReserveRequest>::default();
            Ok(tonic::server::Grpc::new(codec)
                .unary(backend, request)
                .await)
        })
    }
}

impl tonic::server::NamedService for Backend {
    const NAME: &'static str = "shop.Inventory";
}

impl tonic::server::UnaryService<ReserveRequest> for Backend {
    type Response = ReserveReply;
    type Future = BoxFuture<tonic::Response<ReserveReply>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<ReserveRequest>) -> Self::Future {
        let backend = self.clone();
        Box::pin(async move {
            // The server span, in the context the metadata carries.
            let parent = http_telemetry::extract(&request.metadata().clone().into_headers());
            let method = RESERVE.trim_start_matches('/');
            let span = backend
                .tracer
                .span_builder(method.to_owned())
                .with_kind(SpanKind::Server)
                .with_attributes([
                    KeyValue::new(semconv::RPC_SYSTEM_NAME, "grpc"),
                    KeyValue::new(semconv::RPC_METHOD, method.to_owned()),
                ])
                .start_with_context(&backend.tracer, &parent);
            let cx = parent.with_span(span);
            record_tenant(&cx);
            let sku = request.into_inner().sku;
            let url = format!("{}/policy/{sku}", backend.frontend_http);
            let policy = traced_get(&backend.tracer, &backend.client, &url)
                .with_context(cx.clone())
                .await;
            let span = cx.span();
            let reply = match policy {
                Ok(policy) => {
                    span.set_attribute(KeyValue::new(semconv::RPC_RESPONSE_STATUS_CODE, "OK"));
                    Ok(tonic::Response::new(ReserveReply {
                        reserved: true,
                        policy,
                    }))
                }
                Err(e) => {
                    span.set_status(Status::error(e.to_string()));
                    span.set_attribute(KeyValue::new(
                        semconv::RPC_RESPONSE_STATUS_CODE,
                        "UNAVAILABLE",
                    ));
                    Err(tonic::Status::unavailable(e.to_string()))
                }
            };
            span.end();
            reply
        })
    }
}

// ---- the run ----------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<ExitCode, BoxError> {
    let collector = Collector::start().map_err(|e| e.to_string())?;
    let frontend_telemetry = Telemetry::new("frontend", &collector).map_err(|e| e.to_string())?;
    let backend_telemetry = Telemetry::new("backend", &collector).map_err(|e| e.to_string())?;
    let frontend_tracer = frontend_telemetry.tracer_provider.tracer("frontend");
    let backend_tracer = backend_telemetry.tracer_provider.tracer("backend");

    let frontend_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let backend_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let grpc_incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse()?)?;
    let frontend_http = format!("http://{}", frontend_listener.local_addr()?);
    let backend_http = format!("http://{}", backend_listener.local_addr()?);
    let backend_grpc = format!("http://{}", grpc_incoming.local_addr()?);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };

    // The backend: gRPC and HTTP.
    let backend = Backend {
        tracer: backend_tracer.clone(),
        client: http_telemetry::client(),
        frontend_http: frontend_http.clone(),
    };
    let grpc_server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(backend)
            .serve_with_incoming_shutdown(grpc_incoming, until_stopped()),
    );
    let backend_router = Router::new().route("/price/{sku}", get(price)).layer(
        axum::middleware::from_fn_with_state(
            HttpServerTelemetry::new(
                backend_tracer,
                &backend_telemetry.meter_provider.meter("backend"),
            ),
            trace_request,
        ),
    );
    let backend_server = tokio::spawn(
        axum::serve(backend_listener, backend_router)
            .with_graceful_shutdown(until_stopped())
            .into_future(),
    );

    // The frontend.
    let frontend = Frontend {
        tracer: frontend_tracer.clone(),
        client: http_telemetry::client(),
        grpc: tonic::transport::Endpoint::from_shared(backend_grpc)?.connect_lazy(),
        backend_http,
    };
    let frontend_router = Router::new()
        .route("/checkout/{sku}", get(checkout))
        .route("/policy/{sku}", get(policy))
        .with_state(frontend)
        .layer(axum::middleware::from_fn_with_state(
            HttpServerTelemetry::new(
                frontend_tracer,
                &frontend_telemetry.meter_provider.meter("frontend"),
            ),
            trace_request,
        ));
    let frontend_server = tokio::spawn(
        axum::serve(frontend_listener, frontend_router)
            .with_graceful_shutdown(until_stopped())
            .into_future(),
    );

    // The caller: not traced itself, it sends only baggage.
    let caller = Context::new().with_baggage([KeyValue::new(TENANT, "acme")]);
    let (status, body) = http_telemetry::get(
        &http_telemetry::client(),
        &format!("{frontend_http}/checkout/kettle"),
        &caller,
    )
    .await?;
    println!("GET /checkout/kettle: {status} {body}");
    if !status.is_success() {
        return Err(format!("the checkout failed: {status} {body}").into());
    }

    let _ = stop.send(true);
    grpc_server.await??;
    backend_server.await??;
    frontend_server.await??;

    tokio::task::spawn_blocking(move || {
        frontend_telemetry.shutdown().map_err(|e| e.to_string())?;
        backend_telemetry.shutdown().map_err(|e| e.to_string())?;
        let exported = frontend_telemetry.exported() + backend_telemetry.exported();
        let expected = Items {
            // frontend: GET /checkout/{sku}, Reserve (client), GET (client),
            // GET /policy/{sku}; backend: Reserve (server), GET (client),
            // GET /price/{sku}
            spans: 7,
            // http.server.request.duration: two frontend routes, one backend route
            metric_points: 3,
            log_records: 0,
        };
        Ok(collector.finish_checked(expected, exported, check))
    })
    .await?
}

fn check(received: &Received) -> Result<(), String> {
    let spans = received.spans();
    let find =
        |service: &str, name: &str, kind: WireSpanKind| -> Result<ReceivedSpan<'_>, String> {
            let found: Vec<_> = spans
                .iter()
                .filter(|s| s.service == service && s.span.name == name && s.kind() == kind)
                .collect();
            match found.as_slice() {
                [one] => Ok(**one),
                _ => Err(format!(
                    "{} {kind:?} spans {name:?} from {service}, not one",
                    found.len()
                )),
            }
        };
    let root = find("frontend", "GET /checkout/{sku}", WireSpanKind::Server)?;
    ensure(root.span.parent_span_id.is_empty(), || {
        "the checkout span has a parent, but the caller sent no traceparent".into()
    })?;
    ensure(
        spans.iter().all(|s| s.span.trace_id == root.span.trace_id),
        || "the spans are not all one trace".into(),
    )?;
    let method = RESERVE.trim_start_matches('/');
    // frontend -> backend over gRPC
    let reserve_client = find("frontend", method, WireSpanKind::Client)?;
    ensure_child_of(reserve_client, root)?;
    let reserve_server = find("backend", method, WireSpanKind::Server)?;
    ensure_child_of(reserve_server, reserve_client)?;
    // backend -> frontend over HTTP
    let policy_client = find("backend", "GET", WireSpanKind::Client)?;
    ensure_child_of(policy_client, reserve_server)?;
    let policy_server = find("frontend", "GET /policy/{sku}", WireSpanKind::Server)?;
    ensure_child_of(policy_server, policy_client)?;
    // frontend -> backend over HTTP
    let price_client = find("frontend", "GET", WireSpanKind::Client)?;
    ensure_child_of(price_client, root)?;
    let price_server = find("backend", "GET /price/{sku}", WireSpanKind::Server)?;
    ensure_child_of(price_server, price_client)?;
    // The caller's baggage reached every server, across both hops.
    for server in [root, reserve_server, policy_server, price_server] {
        ensure(
            server.attribute("app.tenant").as_deref() == Some("acme"),
            || {
                format!(
                    "{} ({}) did not get the baggage",
                    server.span.name, server.service
                )
            },
        )?;
    }
    Ok(())
}
