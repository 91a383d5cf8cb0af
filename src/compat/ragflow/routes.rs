//! The profile's router: RAGFlow v0.27's `/api/v1` routes, the legacy `/v1/user/*` and
//! `/v1/system/*` aliases, and the sign-in channel routes over the native provider code.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use super::wire::{self, code};
use super::{Keys, Profile, models, recovery, system, tenants, users};
use crate::state::AppState;

/// The profile's application, with its keys loaded from `[ragflow]` (an unreadable key file or
/// a wrong passphrase stops startup).
pub fn app(state: AppState) -> anyhow::Result<Router> {
    let profile = Profile {
        keys: Arc::new(Keys::load(&state)?),
        app: state,
    };
    let api: &[(&str, MethodRouter<Profile>)] = &[
        ("/auth/login", post(users::login)),
        ("/auth/login/channels", get(channels)),
        ("/auth/login/{channel}", get(start_channel)),
        ("/auth/logout", post(users::logout)),
        ("/users", post(users::register)),
        ("/users/me", get(users::me).patch(users::update_me)),
        (
            "/users/me/models",
            get(models::tenant_info).patch(models::set_tenant_info),
        ),
        ("/auth/password/forgot/captcha", post(recovery::captcha)),
        ("/auth/password/forgot/otp", post(recovery::send_otp)),
        (
            "/auth/password/forgot/otp/verify",
            post(recovery::verify_otp),
        ),
        ("/auth/password/reset", post(recovery::reset)),
        ("/system/config", get(system::config)),
        ("/system/status", get(system::status)),
        ("/system/version", get(system::version)),
        (
            "/system/tokens",
            get(system::list_tokens).post(system::create_token),
        ),
        ("/system/tokens/{token}", delete(system::delete_token)),
        ("/tenants", get(tenants::list)),
        ("/tenants/{tenant_id}", patch(tenants::accept)),
        (
            "/tenants/{tenant_id}/users",
            get(tenants::members)
                .post(tenants::invite)
                .delete(tenants::remove),
        ),
        ("/models", get(models::list)),
        ("/models/default", patch(models::set_default)),
        ("/providers", put(models::put_provider)),
        (
            "/providers/{provider}/instances",
            post(models::add_instance),
        ),
    ];
    let legacy: &[(&str, MethodRouter<Profile>)] = &[
        ("/v1/user/login", post(users::login).get(users::login)),
        ("/v1/user/login/channels", get(channels)),
        ("/v1/user/login/{channel}", get(start_channel)),
        ("/v1/user/logout", get(users::logout)),
        ("/v1/user/setting", post(users::update_me)),
        ("/v1/user/info", get(users::me)),
        ("/v1/user/register", post(users::register)),
        ("/v1/user/tenant_info", get(models::tenant_info)),
        ("/v1/user/set_tenant_info", post(models::set_tenant_info)),
        ("/v1/user/forget/captcha", get(recovery::captcha)),
        ("/v1/user/forget/otp", post(recovery::send_otp)),
        ("/v1/user/forget/verify-otp", post(recovery::verify_otp)),
        ("/v1/user/forget/reset-password", post(recovery::reset)),
        ("/v1/system/new_token", post(system::create_token)),
        ("/v1/system/token_list", get(system::list_tokens)),
        ("/v1/system/token/{token}", delete(system::delete_token)),
        (
            "/v1/system/tokens",
            get(system::list_tokens).post(system::create_token),
        ),
    ];
    let mut router = Router::new();
    for (path, route) in api {
        router = router.route(&format!("/api/v1{path}"), route.clone());
    }
    for (path, route) in legacy {
        router = router.route(path, route.clone());
    }
    Ok(router
        .fallback(wire::not_found)
        .method_not_allowed_fallback(wire::method_not_allowed)
        .layer(DefaultBodyLimit::max(crate::http::extractors::BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            wire::fail(code::EXCEPTION_ERROR, "Internal server error")
        }))
        .layer(axum::middleware::from_fn(wire::cors))
        .with_state(profile))
}

/// `GET /auth/login/channels`: the configured sign-in providers, as RAGFlow lists them.
async fn channels(State(p): State<Profile>) -> Response {
    let list = crate::oauth::service::providers(&p.app)
        .into_iter()
        .map(|c| {
            json!({"channel": c.id, "display_name": c.name,
                "icon": c.icon.unwrap_or_else(|| "sso".into())})
        })
        .collect();
    wire::ok(Value::Array(list))
}

/// `GET /auth/login/{channel}`: start the native provider sign-in (302 to the provider). It
/// finishes at gatehouse's own callback, which signs the browser in to gatehouse.
async fn start_channel(
    State(p): State<Profile>,
    Path(channel): Path<String>,
    RawQuery(_query): RawQuery,
    headers: HeaderMap,
) -> Response {
    match crate::oauth::service::authorize(&p.app, &channel, Some("/"), &headers).await {
        Ok(started) => {
            let mut response = StatusCode::FOUND.into_response();
            let h = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&started.location) {
                h.insert(header::LOCATION, v);
            }
            if let Some(binding) = started.binding {
                let cookie = crate::oauth::flow::binding_cookie(&binding, p.app.secure_cookies());
                h.insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(crate::http::ApiError::NotFound) => wire::fail(
            code::EXCEPTION_ERROR,
            &format!("ValueError('Invalid channel name: {channel}')"),
        ),
        Err(e) => wire::fault(e),
    }
}
