//! OTLP/HTTP: a POST per export on hyper-util's pooled client.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use otlp_core::{Format, Signal};
use std::time::{Duration, SystemTime};

use super::response::{decode_json, decode_protobuf, error_message, parse_retry_after};
use super::tls::LoadedTls;
use super::{
    body_error, Answer, BuildError, ExportError, ExportResponse, Payload, Settings,
    MAX_RESPONSE_BYTES,
};
use crate::srt;

/// How long an idle pooled connection is kept. Exporters send every few
/// seconds, so this keeps one warm between batches; load balancers commonly
/// drop idle connections after 60 s or more.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

pub(crate) struct HttpTransport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    format: Format,
    headers: HeaderMap,
}

impl HttpTransport {
    pub(crate) fn new(
        format: Format,
        settings: Settings,
        tls: &LoadedTls,
    ) -> Result<Self, BuildError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(settings.connect_timeout);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls.rustls_config()?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);

        let mut headers = settings.headers;
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        Ok(HttpTransport {
            client,
            format,
            headers,
        })
    }

    /// `GET path` on `endpoint`'s host: whether the answer is a 2xx.
    pub(crate) async fn check_health(
        &self,
        endpoint: &Uri,
        path: &str,
    ) -> Result<bool, ExportError> {
        let mut parts = endpoint.clone().into_parts();
        parts.path_and_query = Some(
            path.parse()
                .map_err(|e| ExportError::invalid(format!("health check path {path:?}: {e}")))?,
        );
        let uri = Uri::from_parts(parts)
            .map_err(|e| ExportError::invalid(format!("health check path {path:?}: {e}")))?;
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.method_mut() = Method::GET;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers.clone();
        request.headers_mut().remove(CONTENT_TYPE);
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| ExportError::Connection {
                endpoint: endpoint.to_string(),
                source: Box::new(e),
            })?;
        let (parts, body) = response.into_parts();
        // Read (capped) so that the connection can be reused.
        Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| body_error(e, endpoint))?;
        Ok(parts.status.is_success())
    }

    pub(crate) async fn export(
        &self,
        signal: Signal,
        endpoint: &Uri,
        payload: &Payload,
    ) -> Result<Answer, ExportError> {
        let mut request = Request::new(Full::new(payload.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = endpoint.clone();
        *request.headers_mut() = self.headers.clone();
        if let Some(encoding) = payload.compression.content_encoding() {
            request
                .headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }

        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| ExportError::Connection {
                endpoint: endpoint.to_string(),
                source: Box::new(e),
            })?;
        let (parts, body) = response.into_parts();
        srt::check_resync(&parts.headers, endpoint)?;
        let srt_offered = srt::offered(&parts.headers);
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| body_error(e, endpoint))?
            .to_bytes();
        // The body is in the request's format unless the server says
        // otherwise; a text or HTML body (from a proxy, say) has no format.
        let format = match parts.headers.get(CONTENT_TYPE) {
            None => Some(self.format),
            Some(v) => v.to_str().ok().and_then(Format::from_content_type),
        };

        if parts.status.is_success() {
            let response = match format {
                Some(Format::Protobuf) if !body.is_empty() => decode_protobuf(signal, &body)?,
                Some(Format::Json) if !body.is_empty() => decode_json(signal, &body)?,
                _ => ExportResponse::default(),
            };
            return Ok(Answer {
                response,
                srt_offered,
            });
        }
        let message = match body.is_empty() {
            true => parts
                .status
                .canonical_reason()
                .unwrap_or_default()
                .to_owned(),
            false => error_message(format, &body),
        };
        Err(ExportError::Http {
            status: parts.status,
            message,
            retry_after: parts
                .headers
                .get(RETRY_AFTER)
                .and_then(|v| parse_retry_after(v.as_bytes(), SystemTime::now())),
        })
    }
}
