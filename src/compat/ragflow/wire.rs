//! RAGFlow's wire conventions (§1): the `{code, message, data}` envelope with HTTP 200 for
//! business errors, the exact 401 and 404 bodies, sorted keys, HTTP-date datetimes and CORS.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use crate::error::ApiError;

/// RAGFlow's `RetCode`s the profile answers with.
pub mod code {
    pub const SUCCESS: i64 = 0;
    pub const NOT_EFFECTIVE: i64 = 10;
    pub const EXCEPTION_ERROR: i64 = 100;
    pub const ARGUMENT_ERROR: i64 = 101;
    pub const DATA_ERROR: i64 = 102;
    pub const OPERATING_ERROR: i64 = 103;
    pub const PERMISSION_ERROR: i64 = 108;
    pub const AUTHENTICATION_ERROR: i64 = 109;
    pub const FORBIDDEN: i64 = 403;
    pub const SERVER_ERROR: i64 = 500;
}

/// The literal message RAGFlow's tests compare against (werkzeug's `repr` of `Unauthorized`).
pub const UNAUTHORIZED_MESSAGE: &str = "<Unauthorized '401: Unauthorized'>";

/// A JSON value written with every object's keys in sorted order, as Flask's provider does.
pub struct Sorted<'a>(pub &'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    out.serialize_entry(k, &Sorted(v))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    out.serialize_element(&Sorted(v))?;
                }
                out.end()
            }
            other => other.serialize(s),
        }
    }
}

/// A JSON response with sorted keys.
pub fn json(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(&Sorted(body)).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

/// `{"code":0,"message":"success","data":…}`.
pub fn ok(data: Value) -> Response {
    ok_with("success", data)
}

/// Success with a message of its own ("Welcome back!").
pub fn ok_with(message: &str, data: Value) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({"code": code::SUCCESS, "message": message, "data": data}),
    )
}

/// A business error: HTTP 200 with a non-zero code and `data: null`.
pub fn fail(code: i64, message: &str) -> Response {
    fail_with(code, message, Value::Null)
}

/// A business error with a `data` value (RAGFlow answers some with `false` or `[]`).
pub fn fail_with(code: i64, message: &str, data: Value) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({"code": code, "message": message, "data": data}),
    )
}

/// `get_data_error_result`: code 102 and no `data` key at all.
pub fn data_error(message: &str) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({"code": code::DATA_ERROR, "message": message}),
    )
}

/// `get_result(data=…)` of RAGFlow's newer routes: `{"code":0}` plus `data` unless it is null,
/// and no message.
pub fn result(data: Value) -> Response {
    let mut body = serde_json::json!({"code": code::SUCCESS});
    if !data.is_null() {
        body["data"] = data;
    }
    json(StatusCode::OK, &body)
}

/// `get_result(code=…, message=…)` / `get_error_argument_result`: code and message only.
pub fn result_error(code: i64, message: &str) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({"code": code, "message": message}),
    )
}

/// A gatehouse id as RAGFlow shows ids (`uuid1().hex`): a UUID's 32 lowercase hex digits;
/// anything that is not a UUID is shown as it is.
pub fn rag_id(id: &str) -> String {
    uuid::Uuid::try_parse(id).map_or_else(|_| id.to_string(), |u| u.simple().to_string())
}

/// An id a RAGFlow client sent (32 hex digits, or dashed, any case) in gatehouse's form.
pub fn native_id(id: &str) -> String {
    uuid::Uuid::try_parse(id.trim()).map_or_else(|_| id.to_string(), |u| u.hyphenated().to_string())
}

/// `required argument are missing: a,b; ` (code 101).
pub fn missing(names: &[&str]) -> Response {
    fail(
        code::ARGUMENT_ERROR,
        &format!("required argument are missing: {}; ", names.join(",")),
    )
}

/// The 401 every authenticated route answers without a valid credential.
pub fn unauthorized() -> Response {
    json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"code": 401, "message": UNAUTHORIZED_MESSAGE, "data": null}),
    )
}

/// The 404 of an unknown route.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"code": 404, "message": format!("Not Found: {}", uri.path()),
            "data": null, "error": "Not Found"}),
    )
}

/// A known route with the wrong method lands in RAGFlow's generic handler: HTTP 200, code 100.
pub async fn method_not_allowed() -> Response {
    fail(
        code::EXCEPTION_ERROR,
        "<MethodNotAllowed '405: Method Not Allowed'>",
    )
}

/// Why a RAGFlow route did not succeed: an answer already in RAGFlow's words, or a gatehouse
/// error that [`fault`] maps onto RAGFlow's codes. Handlers return [`WireResult`] and use `?`;
/// a route with its own words for some errors maps them first (`.map_err(route_fault)?`).
#[derive(Debug)]
pub enum WireError {
    Answer(Response),
    Fault(ApiError),
}

/// What a RAGFlow handler returns.
pub type WireResult = Result<Response, WireError>;

impl WireError {
    /// [`fail`] as an error, to leave a handler with `?` or `return Err(…)`.
    pub fn fail(code: i64, message: &str) -> Self {
        Self::Answer(fail(code, message))
    }
}

impl<E: Into<ApiError>> From<E> for WireError {
    fn from(e: E) -> Self {
        Self::Fault(e.into())
    }
}

impl IntoResponse for WireError {
    fn into_response(self) -> Response {
        match self {
            Self::Answer(response) => response,
            Self::Fault(e) => fault(e),
        }
    }
}

/// Map a gatehouse error onto RAGFlow's codes for the errors every route may meet; the
/// internal cause is logged once, never sent.
pub fn fault(e: ApiError) -> Response {
    match e {
        ApiError::Unauthenticated => unauthorized(),
        ApiError::RateLimited { .. } | ApiError::TooManyAttempts { .. } => {
            fail(code::NOT_EFFECTIVE, "too many attempts, try later")
        }
        ApiError::PasswordLoginDisabled => {
            fail(code::AUTHENTICATION_ERROR, "Password login is disabled!")
        }
        ApiError::AccountLocked => fail(
            code::AUTHENTICATION_ERROR,
            "This account is locked: reset the password by mail.",
        ),
        ApiError::Busy => fail(code::SERVER_ERROR, "server busy, try again"),
        ApiError::Forbidden | ApiError::SessionRequired => {
            fail(code::AUTHENTICATION_ERROR, "no authorization")
        }
        ApiError::NotFound => data_error("Not found!"),
        ApiError::Internal(cause) => {
            tracing::error!(error = %cause, "ragflow profile: internal error");
            fail(code::EXCEPTION_ERROR, "Internal server error")
        }
        other => fail(code::ARGUMENT_ERROR, &describe(&other)),
    }
}

/// A short English sentence for a validation-type error.
pub fn describe(e: &ApiError) -> String {
    match e {
        ApiError::WeakPassword(_) => "Password is too common or equals the email.".into(),
        ApiError::Validation(fields) => fields
            .iter()
            .map(|(name, problem)| match problem {
                crate::error::FieldProblem::PasswordLength => {
                    format!("{name}: must be 8 to 256 characters.")
                }
                crate::error::FieldProblem::InvalidNickname => {
                    "Nickname contains invalid characters.".to_string()
                }
                _ => format!("{name}: invalid value."),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// `Wed, 20 Aug 2025 10:00:00 GMT` for unix seconds.
pub fn http_date(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .ok()
        .and_then(|t| {
            jiff::fmt::rfc2822::DateTimePrinter::new()
                .timestamp_to_rfc9110_string(&t)
                .ok()
        })
        .unwrap_or_default()
}

/// The token of an `Authorization` header, read raw or after `Bearer ` (any case).
pub fn credential(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let token = match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim(),
        _ => value,
    };
    (!token.is_empty()).then(|| token.to_string())
}

/// `construct_response`'s headers: the signed token and the CORS set RAGFlow sends with it.
pub fn with_token(mut response: Response, token: &str) -> Response {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(token) {
        headers.insert(header::AUTHORIZATION, v);
    }
    let star = HeaderValue::from_static("*");
    headers.insert("access-control-allow-method", star.clone());
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, star);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Authorization"),
    );
    response
}

/// `quart_cors.cors(allow_origin="*")`: answer preflights, mark every response.
pub async fn cors(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut r = Response::new(Body::empty());
        let h = r.headers_mut();
        for (ask, allow) in [
            (
                header::ACCESS_CONTROL_REQUEST_METHOD,
                header::ACCESS_CONTROL_ALLOW_METHODS,
            ),
            (
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                header::ACCESS_CONTROL_ALLOW_HEADERS,
            ),
        ] {
            if let Some(v) = request.headers().get(&ask) {
                h.insert(allow, v.clone());
            }
        }
        r
    } else {
        next.run(request).await
    };
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "c": null}});
        let text = serde_json::to_string(&Sorted(&v)).unwrap_or_default();
        assert_eq!(text, r#"{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}"#);
    }

    #[test]
    fn dates_are_http_dates() {
        assert_eq!(http_date(1_755_684_000), "Wed, 20 Aug 2025 10:00:00 GMT");
    }

    #[test]
    fn authorization_raw_or_bearer() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("BEARER abc"),
        );
        assert_eq!(credential(&h).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("abc.def"));
        assert_eq!(credential(&h).as_deref(), Some("abc.def"));
    }
}
