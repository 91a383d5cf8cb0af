//! Request inputs at the edge: JSON bodies whose rejections are API errors, the caller's address
//! and user agent, the request language, and who is calling.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, Method, header, request::Parts};
use serde::de::DeserializeOwned;

use super::error::{ApiError, FieldErrors, FieldProblem};
use crate::i18n::{Lang, RequestLang};
use crate::sessions::{self, Authenticated};
use crate::state::AppState;

/// Request bodies above this size are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON object body: 415 without a JSON content type, 400 for broken JSON, 422 with `fields`
/// for anything that is not the expected object.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedJson
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parse a JSON object into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ApiError::MalformedJson)?;
    if !value.is_object() {
        return Err(ApiError::field(
            "body",
            FieldProblem::WrongType("expected a JSON object".into()),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        ApiError::Validation(field_error(&path, &message))
    })
}

fn field_error(path: &str, message: &str) -> FieldErrors {
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    let join = |name: String| {
        if path == "." || path.is_empty() {
            name
        } else {
            format!("{path}.{name}")
        }
    };
    let (field, problem) = if let Some(name) = quoted("missing field `") {
        (join(name), FieldProblem::Required)
    } else if let Some(name) = quoted("unknown field `") {
        let problem = if name == "email" {
            FieldProblem::NotAllowed
        } else {
            FieldProblem::Unknown
        };
        // For an unknown field the path already ends with its name.
        let field = if path == "." || path.is_empty() {
            name
        } else {
            path.to_string()
        };
        (field, problem)
    } else if let Some(problem) = message.strip_prefix("field:") {
        // Our own validating types report `field:<problem>` (see `http::inputs`).
        (
            path.to_string(),
            crate::http::inputs::problem_from_tag(problem),
        )
    } else {
        let field = if path == "." {
            "body".to_string()
        } else {
            path.to_string()
        };
        let detail = message
            .split(" at line ")
            .next()
            .unwrap_or(message)
            .to_string();
        (field, FieldProblem::WrongType(detail))
    };
    BTreeMap::from([(field, problem)])
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Where a request came from: the peer address, or the first untrusted hop of
/// `X-Forwarded-For` when the peer is a trusted proxy.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn from_parts(parts: &Parts, state: &AppState) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let trusted = |ip: &IpAddr| {
            state
                .config
                .trusted_proxies
                .iter()
                .any(|net| net.contains(ip))
        };
        let mut ip = peer;
        if trusted(&peer) {
            let hops: Vec<IpAddr> = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|hop| hop.trim().parse().ok())
                .collect();
            // Walk from the nearest hop outwards and stop at the first address we do not trust.
            for hop in hops.iter().rev() {
                ip = *hop;
                if !trusted(hop) {
                    break;
                }
            }
        }
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        Self { ip, user_agent }
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts, state))
    }
}

/// The language to answer in (the user's setting once known, else `Accept-Language`).
pub struct ReqLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for ReqLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<RequestLang>()
                .map(RequestLang::get)
                .unwrap_or_default(),
        ))
    }
}

/// Any authenticated caller: a session (Bearer or cookie) or an API key.
pub struct CurrentUser(pub Authenticated);

/// A caller signed in with a session; API keys are refused with 403 `session_required`.
pub struct SessionUser(pub Authenticated);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(CurrentUser)
    }
}

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = authenticate(parts, state).await?;
        if auth.session_id.is_none() {
            return Err(ApiError::SessionRequired);
        }
        Ok(SessionUser(auth))
    }
}

/// The credential a request carries, and whether it came from the cookie (which makes
/// unsafe methods subject to the same-origin check).
pub fn credential(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| (token.trim().to_string(), false));
    }
    sessions::cookie_token(headers).map(|t| (t, true))
}

async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Authenticated, ApiError> {
    if let Some(auth) = parts.extensions.get::<Authenticated>() {
        return Ok(auth.clone());
    }
    let (token, from_cookie) = credential(&parts.headers).ok_or(ApiError::Unauthenticated)?;
    if from_cookie && is_unsafe(&parts.method) {
        super::csrf::check_same_origin(&parts.headers, &state.public_base_url)?;
    }
    let found = if token.starts_with(crate::api_keys::KEY_PREFIX) {
        crate::api_keys::service::authenticate(state, &token).await?
    } else {
        sessions::service::authenticate(state, &token).await?
    };
    let auth = found.ok_or(ApiError::Unauthenticated)?;
    if let Some(lang) = parts.extensions.get::<RequestLang>() {
        let _ = lang.user.set(auth.user.lang());
    }
    parts.extensions.insert(auth.clone());
    Ok(auth)
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}
