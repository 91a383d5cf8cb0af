//! What wraps every request: the request id, the language errors are rendered in, errors from
//! outside our handlers given the API's body, metrics, and the one log line for internal errors.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, InternalErrorLog, RenderedError};
use crate::i18n::{Lang, RequestLang};

pub const REQUEST_ID: &str = "x-request-id";

#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn valid_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub async fn edge(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let accept = Lang::from_accept_language(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let lang = RequestLang {
        accept,
        ..Default::default()
    };
    req.extensions_mut().insert(lang.clone());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let method = req.method().clone();
    // An API answer, or any answer to a request that carried credentials, is one caller's
    // alone (a profile, a new session, a key): no cache on the way may keep it.
    let private = req.uri().path().starts_with("/api/")
        || req.headers().contains_key(header::AUTHORIZATION)
        || req.headers().contains_key(header::COOKIE);

    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route = route.as_deref().unwrap_or("-"));
    let mut response = tracing::Instrument::instrument(next.run(req), span.clone()).await;

    if let Some(InternalErrorLog(e)) = response.extensions_mut().remove::<InternalErrorLog>() {
        let _enter = span.enter();
        tracing::error!(error = %format!("{e:#}"), "internal error");
    }
    response = localize(response, lang.get());

    let status = response.status();
    if private && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    let route = route.unwrap_or_else(|| "unmatched".into());
    let labels = [
        ("route", route),
        ("method", method.to_string()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("gatehouse_http_requests_total", &labels).increment(1);
    metrics::histogram!("gatehouse_http_request_duration_seconds", &labels[..2])
        .record(started.elapsed().as_secs_f64());
    response
}

/// Render API errors in the caller's language, and give errors that did not come from our
/// handlers (body limits, timeouts, panics) the API's error body.
fn localize(response: Response, lang: Lang) -> Response {
    let status = response.status();
    // Web pages render their own errors, already in the page's language.
    if response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
        || response.extensions().get::<OwnBody>().is_some()
    {
        return response;
    }
    if let Some(rendered) = response.extensions().get::<RenderedError>() {
        if lang == Lang::En {
            return response;
        }
        let rendered = rendered.clone();
        let mut fresh = rendered.into_response_in(lang);
        copy_headers(&response, &mut fresh);
        return fresh;
    }
    if status.is_client_error() || status.is_server_error() {
        let mut fresh = RenderedError::for_status(status).into_response_in(lang);
        copy_headers(&response, &mut fresh);
        return fresh;
    }
    response
}

/// Marks a response whose error status comes with its own documented body (`/readyz`'s 503
/// names the failing checks): it reaches the client as the handler made it.
#[derive(Clone, Copy, Debug)]
pub struct OwnBody;

fn copy_headers(from: &Response, to: &mut Response) {
    for (name, value) in from.headers() {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !to.headers().contains_key(name)
        {
            to.headers_mut().insert(name.clone(), value.clone());
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The body of a panic never reaches the client, nor the log with its payload (it could hold input).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    RenderedError::for_status(StatusCode::INTERNAL_SERVER_ERROR)
        .into_response_in(Lang::En)
        .into_response()
}
