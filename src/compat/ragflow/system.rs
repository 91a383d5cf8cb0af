//! `/system/*`: the public config, status and version, and `ragflow-…` API tokens (native API
//! keys, kept sealed so that they can be listed in full as RAGFlow does).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::{API_TOKEN_PREFIX, Body, Client, RagUser};
use super::wire::{self, WireResult, code, http_date, rag_id};
use super::{Profile, store};
use crate::api_keys::service::{self as api_keys, CreateKey};
use crate::error::ApiError;
use crate::tokens::{new_token, sha256_hex};

/// `GET /system/config` (no authentication).
pub async fn config(State(p): State<Profile>) -> Response {
    let c = &p.app.config;
    let register = c.ragflow.register_enabled && c.registration_enabled;
    wire::ok(json!({
        "registerEnabled": i64::from(register),
        "disablePasswordLogin": c.ragflow.disable_password_login || !c.password_login_enabled,
    }))
}

/// `GET /system/status`: whether the database and the short-lived store answer.
pub async fn status(State(p): State<Profile>, _user: RagUser) -> Response {
    let db = p.app.db.ping().await.is_ok();
    let kv = p.app.kv.ping().await.is_ok();
    let light = |up: bool| if up { "green" } else { "red" };
    wire::ok(json!({
        "database": {"database": format!("{:?}", p.app.db.backend()).to_lowercase(), "status": light(db)},
        "redis": {"status": light(kv)},
    }))
}

/// `GET /system/version`.
pub async fn version(_user: RagUser) -> Response {
    wire::ok(Value::String(format!(
        "gatehouse-{}",
        env!("CARGO_PKG_VERSION")
    )))
}

/// `GET /system/config/log`: each logging target's level, in Python's level names.
pub async fn log_levels(_user: RagUser) -> Response {
    wire::ok(json!(crate::logging::levels()))
}

/// `PUT /system/config/log {pkg_name, level}`: change gatehouse's own log filter for that
/// target at once. Any signed-in caller gets RAGFlow's answers to bad input; only a superuser's
/// valid change takes effect (others: 108).
pub async fn set_log_level(RagUser(auth): RagUser, body: Body) -> Response {
    let (Some(pkg), Some(level)) = (body.0.get("pkg_name"), body.0.get("level")) else {
        return wire::data_error("pkg_name and level are required");
    };
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let Some(parsed) = level.as_str().and_then(crate::logging::Level::parse) else {
        return wire::data_error(&format!("Invalid log level: {}", text(level)));
    };
    if !auth.user.role.is_superuser() {
        return wire::fail(code::PERMISSION_ERROR, "No permission.");
    }
    let target = text(pkg);
    if crate::logging::set(&target, parsed).is_err() {
        return wire::data_error(&format!("Invalid package name: {target}"));
    }
    tracing::info!(user_id = %auth.user.id, target = %target, level = parsed.name(), "log level changed");
    wire::ok(json!({"pkg_name": pkg, "level": level}))
}

#[derive(serde::Deserialize)]
pub struct NewTokenQuery {
    name: Option<String>,
}

/// `POST /system/tokens`: a new `ragflow-…` token in the caller's personal tenant.
pub async fn create_token(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    Client(client): Client,
    Query(q): Query<NewTokenQuery>,
) -> Response {
    let input = CreateKey {
        name: q
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "RAGFlow API token".into()),
        tenant_id: None,
        expires_in_days: None,
    };
    let created = async {
        let view =
            api_keys::create_with_prefix(&p.app, &auth, input, &client, API_TOKEN_PREFIX).await?;
        let token = view.key.clone().unwrap_or_default();
        let sealed = p
            .keys
            .seal(&token)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("sealing failed")))?;
        let beta: String = new_token("").chars().take(32).collect();
        let now = p.app.clock.now();
        store::insert_api_token(
            &p.app.db,
            &view.id,
            &sha256_hex(&token),
            &sealed,
            &beta,
            now,
        )
        .await?;
        Ok::<_, ApiError>(json!({
            "tenant_id": rag_id(&view.tenant_id), "token": token, "beta": beta,
            "create_time": now.saturating_mul(1000), "create_date": http_date(now),
            "update_time": null, "update_date": null,
        }))
    }
    .await;
    match created {
        Ok(data) => wire::ok(data),
        Err(ApiError::Forbidden) => wire::data_error("Tenant not found!"),
        Err(e) => wire::fault(e),
    }
}

/// `GET /system/tokens`: the caller's tokens, in full.
pub async fn list_tokens(State(p): State<Profile>, RagUser(auth): RagUser) -> Response {
    let rows = match store::api_tokens(&p.app.db, &auth.user.id).await {
        Ok(rows) => rows,
        Err(e) => return wire::fault(e.into()),
    };
    let list: Vec<Value> = rows
        .into_iter()
        .filter_map(|r| {
            let token = p.keys.open(&r.sealed_token)?;
            Some(json!({
                "tenant_id": rag_id(&r.tenant_id), "token": token, "dialog_id": null, "source": null,
                "beta": r.beta, "create_time": r.created_at.saturating_mul(1000),
                "create_date": http_date(r.created_at), "update_time": null, "update_date": null,
            }))
        })
        .collect();
    wire::ok(Value::Array(list))
}

/// `DELETE /system/tokens/{token}`: revoke it; an unknown token also answers `true`.
pub async fn delete_token(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    Client(client): Client,
    Path(token): Path<String>,
) -> WireResult {
    if let Some(id) = store::api_token_id(&p.app.db, &auth.user.id, &sha256_hex(&token)).await? {
        match api_keys::revoke(&p.app, &auth, &id, &client).await {
            // Revoked meanwhile by another request: the token is gone all the same.
            Ok(()) | Err(ApiError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(wire::ok(Value::Bool(true)))
}
