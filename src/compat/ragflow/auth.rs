//! Who is calling the profile: a signed RAGFlow token (a handle of a gatehouse session) or a
//! `ragflow-…` API token (a gatehouse API key), read raw or as `Bearer`; and the request
//! pieces every handler needs (client, body).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::{Map, Value};

use super::{Profile, store, wire};
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::sessions::{Authenticated, NewSession};
use crate::tokens::{fill_random, sha256_hex};

/// The prefix of RAGFlow API tokens (`ragflow-` + 43 base64url characters).
pub const API_TOKEN_PREFIX: &str = "ragflow-";

/// An authenticated caller; anything else is the exact RAGFlow 401.
pub struct RagUser(pub Authenticated);

impl FromRequestParts<Profile> for RagUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, p: &Profile) -> Result<Self, Response> {
        if let Some(auth) = parts.extensions.get::<Authenticated>() {
            return Ok(Self(auth.clone()));
        }
        let token = wire::credential(&parts.headers).ok_or_else(wire::unauthorized)?;
        let auth = authenticate(p, &token)
            .await
            .map_err(wire::fault)?
            .ok_or_else(wire::unauthorized)?;
        parts.extensions.insert(auth.clone());
        Ok(Self(auth))
    }
}

/// The caller behind a token. Signed tokens older than `token_max_age` are refused, and a
/// handle only works while its session lives (logout, revocation and expiry end it).
pub async fn authenticate(p: &Profile, token: &str) -> Result<Option<Authenticated>, ApiError> {
    if token.starts_with(API_TOKEN_PREFIX) {
        return crate::api_keys::service::authenticate(&p.app, token).await;
    }
    let Some((handle, stamped)) = p.keys.unsign(token) else {
        return Ok(None);
    };
    let now = p.app.clock.now();
    let max_age = p.app.config.ragflow.token_max_age.secs();
    if handle.len() != 32 || now - stamped > max_age || stamped > now + 60 {
        return Ok(None);
    }
    let Some(sealed) = store::handle_token(&p.app.db, &sha256_hex(&handle)).await? else {
        return Ok(None);
    };
    let Some(session_token) = p.keys.open(&sealed) else {
        return Ok(None);
    };
    crate::sessions::service::authenticate(&p.app, &session_token).await
}

/// A fresh handle for `session` and the signed token RAGFlow's clients carry.
pub async fn token_for(p: &Profile, session: &NewSession) -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    let handle = hex::encode(bytes);
    let sealed = p
        .keys
        .seal(&session.token)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("sealing a session token failed")))?;
    let now = p.app.clock.now();
    store::insert_handle(&p.app.db, &sha256_hex(&handle), &session.id, &sealed, now).await?;
    Ok(p.keys.sign(&handle, now))
}

/// The client's address and user agent, as the native API sees them.
pub struct Client(pub ClientInfo);

impl FromRequestParts<Profile> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, p: &Profile) -> Result<Self, Self::Rejection> {
        Ok(Self(ClientInfo::from_parts(parts, &p.app)))
    }
}

/// A request body read as RAGFlow reads it: empty → `{}`, form data as strings, JSON that must
/// be an object (anything else is code 100 from the generic handler).
pub struct Body(pub Map<String, Value>);

impl FromRequest<Profile> for Body {
    type Rejection = Response;

    async fn from_request(req: Request, p: &Profile) -> Result<Self, Response> {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let bytes = axum::body::Bytes::from_request(req, p).await.map_err(|_| {
            wire::fail(
                wire::code::EXCEPTION_ERROR,
                "<RequestEntityTooLarge '413: Request Entity Too Large'>",
            )
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        if form {
            return Ok(Self(
                url::form_urlencoded::parse(&bytes)
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                    .collect(),
            ));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            _ => Err(wire::fail(
                wire::code::EXCEPTION_ERROR,
                "<BadRequest '400: Bad Request'>",
            )),
        }
    }
}

impl Body {
    /// A string field; numbers are read as their text, `null` counts as absent.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// `validate_request`: the names that are absent, in the order asked.
    pub fn missing<'a>(&self, names: &[&'a str]) -> Vec<&'a str> {
        names
            .iter()
            .copied()
            .filter(|n| self.0.get(*n).is_none_or(Value::is_null))
            .collect()
    }
}
