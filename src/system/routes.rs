//! `/healthz`, `/readyz`, `/metrics` and `/api/v1/system/config`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::http::Json;
use crate::state::AppState;

/// Routes outside `/api/v1`.
pub fn probes(metrics_here: bool) -> axum::Router<AppState> {
    let router = axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz));
    if metrics_here {
        router.route("/metrics", axum::routing::get(metrics))
    } else {
        router
    }
}

/// Routes under `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(system_config))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    let mut checks = BTreeMap::new();
    let database = tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await;
    checks.insert(
        "database",
        if matches!(database, Ok(Ok(()))) {
            "ok"
        } else {
            "unavailable"
        },
    );
    if matches!(state.kv, crate::kv::Kv::Redis(_)) {
        let redis = tokio::time::timeout(std::time::Duration::from_secs(2), state.kv.ping()).await;
        checks.insert(
            "redis",
            if matches!(redis, Ok(Ok(()))) {
                "ok"
            } else {
                "unavailable"
            },
        );
    }
    if checks.values().all(|v| *v == "ok") {
        (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ok", "checks": checks})),
        )
            .into_response()
    } else {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable", "checks": checks})),
        )
            .into_response();
        // The checks are the answer: not to be replaced by the generic error body.
        response
            .extensions_mut()
            .insert(crate::http::middleware::OwnBody);
        response
    }
}

/// Prometheus text; bind it to `metrics_listen` in production.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("gatehouse_hash_memory_bytes").set(state.hasher.memory_held() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

#[derive(Serialize, ToSchema)]
pub struct ProviderSummary {
    pub id: String,
    pub name: String,
    pub icon: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SystemConfig {
    pub registration_enabled: bool,
    pub password_login_enabled: bool,
    pub email_verification_required: bool,
    /// `null` when the captcha is turned off.
    pub captcha_after_failures: Option<u32>,
    pub providers: Vec<ProviderSummary>,
    pub languages: Vec<&'static str>,
}

/// What a sign-in page needs to know; no authentication.
#[utoipa::path(get, path = "/api/v1/system/config", tag = "system", responses((status = 200, body = SystemConfig)))]
async fn system_config(State(state): State<AppState>) -> Json<SystemConfig> {
    let c = &state.config;
    Json(SystemConfig {
        registration_enabled: c.registration_enabled,
        password_login_enabled: c.password_login_enabled,
        email_verification_required: c.email_verification_required,
        captcha_after_failures: c.captcha.enabled.then_some(c.captcha_after_failures),
        providers: c
            .providers
            .iter()
            .map(|(id, p)| ProviderSummary {
                id: id.clone(),
                name: p.name.clone().unwrap_or_else(|| id.clone()),
                icon: p.icon.clone(),
            })
            .collect(),
        languages: crate::i18n::Lang::ALL.to_vec(),
    })
}
