//! Form posts: the same-origin check and the CSRF token are verified before a handler runs, and
//! fields are turned into the API's own input types, so a value is judged by one rule everywhere.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::page::Page;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::constant_time_eq;

/// A checked `application/x-www-form-urlencoded` post.
pub struct WebForm {
    fields: HashMap<String, String>,
}

impl FromRequest<AppState> for WebForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let page = Page::from_request_parts(&mut parts, state).await?;
        if let Err(e) = crate::http::csrf::check_same_origin(&parts.headers, &state.public_base_url)
        {
            return Err(page.error(state, e));
        }
        let req = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| page.error(state, ApiError::PayloadTooLarge))?;
        let mut fields = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(&bytes) {
            fields
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
        let sent = fields.get("csrf_token").map(String::as_str).unwrap_or("");
        if !constant_time_eq(sent, &page.csrf_token(state)) {
            return Err(page.error(state, ApiError::CsrfFailed));
        }
        Ok(Self { fields })
    }
}

impl WebForm {
    /// A field's value, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }

    /// Build `T` from the named fields as the API would from a JSON body: an empty field is left
    /// out (so a required one reports "required"), except `name:null` fields, which become `null`
    /// (clearing the value), and `name:int` fields are sent as numbers when they are numbers.
    pub fn parse<T: DeserializeOwned>(&self, spec: &[&str]) -> Result<T, ApiError> {
        let mut object = serde_json::Map::new();
        for item in spec {
            let (name, kind) = item.split_once(':').unwrap_or((item, ""));
            let value = self.get(name);
            let json = match (value.is_empty(), kind) {
                (true, "null") => serde_json::Value::Null,
                (true, _) => continue,
                (false, "int") => value
                    .trim()
                    .parse::<i64>()
                    .map(serde_json::Value::from)
                    .unwrap_or_else(|_| value.into()),
                (false, _) => value.into(),
            };
            object.insert(name.to_string(), json);
        }
        let bytes = serde_json::to_vec(&object).map_err(|e| ApiError::Internal(e.into()))?;
        crate::http::extractors::parse_json(&bytes)
    }
}

/// As [`safe_return_to`](crate::http::safe_return_to), and also an absolute http(s) URL on one of the
/// `[forward_auth] allowed_hosts` (the application a reverse proxy sent the user from).
pub fn safe_return_to_for(state: &AppState, raw: Option<&str>) -> String {
    if let Some(raw) = raw.map(str::trim)
        && raw.len() <= 2048
        && !raw.chars().any(char::is_control)
        && let Ok(url) = url::Url::parse(raw)
        && matches!(url.scheme(), "http" | "https")
        && crate::provider::forward::allowed_host(state, &url)
    {
        return url.to_string();
    }
    crate::http::safe_return_to(raw)
}
