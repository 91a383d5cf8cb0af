//! The profile's router: RAGFlow v0.27's `/api/v1` routes, the legacy `/v1/user/*` and
//! `/v1/system/*` aliases, and the sign-in channel routes over the native provider code.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use super::wire::{self, code};
use super::{Keys, Profile, channels, models, recovery, system, tenants, users};
use crate::state::AppState;

/// The profile's application, with its keys loaded from `[ragflow]` (an unreadable key file or
/// a wrong passphrase stops startup).
pub fn app(state: AppState) -> anyhow::Result<Router> {
    let catalog = match &state.config.ragflow.llm_factories {
        Some(path) => Some(Arc::new(models::Catalog::load(path)?)),
        None => None,
    };
    let profile = Profile {
        keys: Arc::new(Keys::load(&state)?),
        catalog,
        app: state,
    };
    let api: &[(&str, MethodRouter<Profile>)] = &[
        ("/auth/login", post(users::login)),
        ("/auth/login/channels", get(channels::list)),
        ("/auth/login/{channel}", get(channels::start)),
        ("/auth/oauth/{channel}/callback", get(channels::callback)),
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
            "/system/config/log",
            get(system::log_levels).put(system::set_log_level),
        ),
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
        ("/v1/user/login/channels", get(channels::list)),
        ("/v1/user/login/{channel}", get(channels::start)),
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
