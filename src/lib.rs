//! gatehouse: a self-hosted authentication and account service.
//!
//! [`app`] builds the HTTP router from an [`state::AppState`]; the binary in `main.rs` only
//! parses the command line and calls into this library.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::todo,
    clippy::await_holding_lock
)]

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod captcha;
pub mod clock;
pub mod codes;
pub mod compat;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
#[cfg(test)]
mod fuzz;
pub mod http;
pub mod i18n;
pub mod kv;
pub mod logging;
pub mod mail;
pub mod mailbox;
pub mod mfa;
pub mod oauth;
pub mod ops;
pub mod passwords;
pub mod provider;
pub mod recovery;
pub mod sealing;
pub mod server;
pub mod sessions;
pub mod state;
pub mod system;
pub mod tenants;
pub mod tokens;
pub mod verification;
pub mod web;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use http::openapi::SecuritySchemes;
use state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "gatehouse", description = "Self-hosted authentication and account service. \
        Errors are `{\"error\": {\"code\", \"message\", \"fields\"}}`; see each route for its codes."),
    components(schemas(error::ErrorBody)),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

/// The native API's routes and their OpenAPI description, paths absolute.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .merge(accounts::routes::router())
        .merge(sessions::routes::router())
        .merge(captcha::routes::router())
        .merge(recovery::routes::router())
        .merge(verification::routes::router())
        .merge(oauth::routes::router())
        .merge(api_keys::routes::router())
        .merge(tenants::routes::router())
        .merge(admin::routes::router())
        .merge(mfa::routes::router())
        .merge(system::routes::router())
        .merge(ops::routes::router())
        .merge(mailbox::routes::router())
        .merge(provider::routes::router());
    // Each route carries its whole path (`/api/v1/...` in its `utoipa::path`), not a nest:
    // a nested router rewrites every request's URI and adds two layers of its own, some 5,000
    // instructions and ten allocations per request under callgrind.
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(v1)
        .split_for_parts();
    http::openapi::add_standard_errors(&mut openapi);
    (router, openapi)
}

/// The cookie security scheme under the name this deployment gives the cookie.
fn name_session_cookie(openapi: &mut utoipa::openapi::OpenApi, cookie: &sessions::CookieScope) {
    use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
    if let Some(components) = openapi.components.as_mut() {
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(cookie.name()))),
        );
    }
}

/// The whole HTTP application for `state`.
pub fn app(state: AppState) -> Router {
    let metrics_here = state.config.metrics_listen.is_none();
    let (api, mut openapi) = api();
    name_session_cookie(&mut openapi, &state.session_cookie());
    Router::new()
        .merge(api)
        .merge(http::openapi::document_routes(&openapi))
        .merge(system::routes::probes(metrics_here))
        .merge(web::routes::router())
        .merge(compat::botserver::routes::router(
            state.config.botserver.enabled,
        ))
        .merge(provider::routes::oauth_router())
        .fallback(http::middleware::not_found)
        .method_not_allowed_fallback(http::middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(http::extractors::BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::custom(http::middleware::panic_response))
        .layer(axum::middleware::from_fn(http::middleware::edge))
        .with_state(state)
}
