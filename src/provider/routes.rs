//! The OpenID Provider's machine endpoints (discovery, JWKS, token, userinfo, revocation,
//! introspection) and the admin API of clients. The browser-facing ones (authorize, consent,
//! logout) are pages, in `web::provider_views`.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::OAuthError;
use super::clients::{self, ClientPatch, ClientView, NewClient};
use super::store::{self, ClientRow};
use super::tokens;
use crate::admin::Admin;
use crate::error::ApiError;
use crate::http::paging::{Page, Paging};
use crate::http::{ApiJson, ClientInfo, Json, parse_id};
use crate::state::AppState;

/// `/.well-known/openid-configuration` and `/oauth/*` (outside `/api/v1`: their paths and
/// shapes are OpenID's).
pub fn oauth_router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth/jwks", get(jwks))
        .route("/oauth/token", post(token))
        .route("/oauth/userinfo", get(userinfo).post(userinfo))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/introspect", post(introspect))
}

/// The admin API of clients and forward authentication, under `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(rotate_secret))
        .routes(routes!(super::forward::forward))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn discovery(State(state): State<AppState>) -> Response {
    let base = state.public_base_url.trim_end_matches('/');
    let doc = serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "userinfo_endpoint": format!("{base}/oauth/userinfo"),
        "jwks_uri": format!("{base}/oauth/jwks"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "end_session_endpoint": format!("{base}/oauth/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA", "RS256"],
        "userinfo_signing_alg_values_supported": [],
        "scopes_supported": clients::SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr",
            "sid", "azp", "email", "email_verified", "name", "picture", "locale", "zoneinfo",
            "updated_at", "groups"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    });
    Json(doc).into_response()
}

async fn jwks(State(state): State<AppState>) -> Response {
    match super::keys::published(&state).await {
        Ok(set) => (
            [(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            )],
            Json(set),
        )
            .into_response(),
        Err(e) => OAuthError::internal(e).into_response(),
    }
}

/// A form body's fields; a repeated field is an error (RFC 6749 §3.2).
fn form(headers: &HeaderMap, body: &Bytes) -> Result<HashMap<String, String>, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(OAuthError::invalid_request("a parameter is repeated"));
        }
    }
    Ok(out)
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    form.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// The client behind a request: HTTP Basic (`client_secret_basic`), form fields
/// (`client_secret_post`), or a bare `client_id` for public clients. `secret_required` refuses
/// public clients (introspection).
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    secret_required: bool,
) -> Result<ClientRow, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, value)| value.trim().to_string());
    let fail = |basic: bool| {
        let mut e = OAuthError::invalid_client();
        e.basic = basic;
        e
    };
    let (id, secret, is_basic) = match basic {
        Some(value) => {
            if field(form, "client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method",
                ));
            }
            let decoded = STANDARD
                .decode(value)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| fail(true))?;
            let (id, secret) = decoded.split_once(':').ok_or_else(|| fail(true))?;
            // RFC 6749 §2.3.1: both halves are form-urlencoded.
            let decode = |s: &str| -> String {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            let id = decode(id);
            if field(form, "client_id").is_some_and(|f| f != id) {
                return Err(fail(true));
            }
            (id, Some(decode(secret)), true)
        }
        None => (
            field(form, "client_id").unwrap_or("").to_string(),
            field(form, "client_secret").map(str::to_string),
            false,
        ),
    };
    let client = store::client_by_client_id(&state.db, &id)
        .await
        .map_err(OAuthError::internal)?
        .ok_or_else(|| fail(is_basic))?;
    let ok = match (&secret, client.is_public()) {
        (Some(s), false) => clients::secret_matches(&client, s),
        (None, true) => !secret_required,
        _ => false,
    };
    if !ok {
        return Err(fail(is_basic));
    }
    Ok(client)
}

/// The token endpoint.
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let form = form(&headers, &body)?;
    let grant_type = field(&form, "grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    if !matches!(
        grant_type,
        "authorization_code" | "refresh_token" | "client_credentials"
    ) {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "supported: authorization_code, refresh_token, client_credentials",
        ));
    }
    let client = authenticate_client(&state, &headers, &form, false).await?;
    let tokens = match grant_type {
        "authorization_code" => {
            let code = field(&form, "code")
                .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
            let redirect_uri = field(&form, "redirect_uri")
                .ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
            let verifier = field(&form, "code_verifier");
            tokens::exchange_code(&state, &client, code, redirect_uri, verifier).await?
        }
        "refresh_token" => {
            let token = field(&form, "refresh_token")
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
            tokens::refresh(&state, &client, token, field(&form, "scope")).await?
        }
        _ => tokens::client_credentials(&state, &client, field(&form, "scope")).await?,
    };
    Ok(no_store(Json(tokens).into_response()))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Userinfo: the claims of the access token's scopes, for a live token only.
async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        return OAuthError::new("invalid_token", "a bearer access token is required")
            .into_response();
    };
    match tokens::userinfo(&state, &token).await {
        Ok(Some(claims)) => no_store(Json(claims).into_response()),
        Ok(None) => {
            OAuthError::new("invalid_token", "the access token is not valid").into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// RFC 7009 revocation: 200 whether or not the token was known.
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let form = form(&headers, &body)?;
    let client = authenticate_client(&state, &headers, &form, false).await?;
    let token =
        field(&form, "token").ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    tokens::revoke(&state, &client, token).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// RFC 7662 introspection, for confidential clients (resource servers).
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let form = form(&headers, &body)?;
    authenticate_client(&state, &headers, &form, true).await?;
    let token =
        field(&form, "token").ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let answer = tokens::introspect(&state, token).await?;
    Ok(no_store(Json(answer).into_response()))
}

// --- admin API of clients ----------------------------------------------------------------------

/// List the registered clients (secrets are never shown again).
#[utoipa::path(get, path = "/api/v1/admin/clients", tag = "admin",
    params(("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Page<ClientView>), (status = 403, description = "forbidden: not a superuser")))]
async fn list_clients(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Page<ClientView>>, ApiError> {
    let paging = Paging::from_query(&q)?;
    clients::list(&state, &admin, paging).await.map(Json)
}

/// Register an application that signs in with gatehouse. A confidential client's
/// `client_secret` is in this answer only.
#[utoipa::path(post, path = "/api/v1/admin/clients", tag = "admin", request_body = NewClient,
    security(("session" = []), ("cookie" = [])),
    responses((status = 201, body = ClientView), (status = 403, description = "forbidden: not a superuser"),
        (status = 422, description = "validation_failed: name, redirect_uris (absolute http(s), no fragment), post_logout_redirect_uris, allowed_scopes, id_token_signed_response_alg")))]
async fn create_client(
    State(state): State<AppState>,
    admin: Admin,
    info: ClientInfo,
    ApiJson(input): ApiJson<NewClient>,
) -> Result<(StatusCode, Json<ClientView>), ApiError> {
    let view = clients::create(&state, &admin, input, &info).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One client.
#[utoipa::path(get, path = "/api/v1/admin/clients/{id}", tag = "admin",
    params(("id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = ClientView), (status = 404, description = "not_found")))]
async fn get_client(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<ClientView>, ApiError> {
    clients::get(&state, &admin, &parse_id(&id)?)
        .await
        .map(Json)
}

/// Change a client; turning a public client confidential answers its new `client_secret`.
#[utoipa::path(patch, path = "/api/v1/admin/clients/{id}", tag = "admin", request_body = ClientPatch,
    params(("id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = ClientView), (status = 404, description = "not_found"),
        (status = 422, description = "validation_failed")))]
async fn update_client(
    State(state): State<AppState>,
    admin: Admin,
    info: ClientInfo,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ClientPatch>,
) -> Result<Json<ClientView>, ApiError> {
    let id = parse_id(&id)?;
    clients::update(&state, &admin, &id, patch, &info)
        .await
        .map(Json)
}

/// Remove a client, its remembered consents and its refresh tokens.
#[utoipa::path(delete, path = "/api/v1/admin/clients/{id}", tag = "admin",
    params(("id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 404, description = "not_found")))]
async fn delete_client(
    State(state): State<AppState>,
    admin: Admin,
    info: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    clients::delete(&state, &admin, &parse_id(&id)?, &info).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret for a confidential client, shown in this answer only; the old one stops working.
#[utoipa::path(post, path = "/api/v1/admin/clients/{id}/secret", tag = "admin",
    params(("id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = ClientView), (status = 404, description = "not_found"),
        (status = 422, description = "validation_failed: a public client has no secret (fields.type)")))]
async fn rotate_secret(
    State(state): State<AppState>,
    admin: Admin,
    info: ClientInfo,
    Path(id): Path<String>,
) -> Result<Json<ClientView>, ApiError> {
    clients::rotate_secret(&state, &admin, &parse_id(&id)?, &info)
        .await
        .map(Json)
}
