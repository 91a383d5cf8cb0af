//! Stubs of the model/provider routes RAGFlow's test fixture calls, and `/users/me/models`, kept
//! per tenant in `tenants.settings` under `ragflow`. Provider API keys are never stored.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::auth::{Body, RagUser};
use super::wire::{self, code};
use super::{Profile, store};
use crate::http::ApiError;
use crate::sessions::Authenticated;

/// The tenant columns RAGFlow reports (§2 `GET /users/me/models`).
const MODEL_KEYS: &[&str] = &[
    "llm_id",
    "tenant_llm_id",
    "embd_id",
    "tenant_embd_id",
    "rerank_id",
    "tenant_rerank_id",
    "asr_id",
    "tenant_asr_id",
    "img2txt_id",
    "tenant_img2txt_id",
    "tts_id",
    "tenant_tts_id",
    "ocr_id",
    "tenant_ocr_id",
];
const PARSER_IDS: &str = "naive:General,qa:Q&A,resume:Resume,manual:Manual,table:Table,paper:Paper,book:Book,laws:Laws,presentation:Presentation,picture:Picture,one:One,audio:Audio,email:Email,tag:Tag";

/// The caller's personal tenant (RAGFlow's "tenant where the user is owner").
async fn own_tenant(p: &Profile, auth: &Authenticated) -> Result<Option<String>, ApiError> {
    let mut conn = p.app.db.pool().acquire().await?;
    Ok(
        crate::tenants::store::personal_tenant(&mut conn, &auth.user.id)
            .await?
            .filter(|t| auth.may_use_tenant(t)),
    )
}

async fn settings(p: &Profile, tenant_id: &str) -> Result<Map<String, Value>, ApiError> {
    let text = store::tenant_settings(&p.app.db, tenant_id)
        .await?
        .unwrap_or_default();
    let all: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({}));
    Ok(all
        .get("ragflow")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default())
}

async fn save(p: &Profile, tenant_id: &str, ragflow: Map<String, Value>) -> Result<(), ApiError> {
    let text = store::tenant_settings(&p.app.db, tenant_id)
        .await?
        .unwrap_or_default();
    let mut all = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    all.insert("ragflow".into(), Value::Object(ragflow));
    Ok(store::set_tenant_settings(&p.app.db, tenant_id, &Value::Object(all).to_string()).await?)
}

/// Update the ragflow settings of the caller's own tenant with `change`.
async fn edit(
    p: &Profile,
    auth: &Authenticated,
    change: impl FnOnce(&mut Map<String, Value>),
) -> Response {
    let result = async {
        let tenant = own_tenant(p, auth).await?.ok_or(ApiError::NotFound)?;
        let mut s = settings(p, &tenant).await?;
        change(&mut s);
        save(p, &tenant, s).await
    }
    .await;
    match result {
        Ok(()) => wire::ok(Value::Bool(true)),
        Err(ApiError::NotFound) => wire::data_error("Tenant not found!"),
        Err(e) => wire::fault(e),
    }
}

/// A provider's name as RAGFlow's clients send it.
fn provider_name(body: &Body) -> Option<String> {
    [
        "llm_factory",
        "model_provider",
        "provider",
        "name",
        "factory",
    ]
    .iter()
    .find_map(|k| body.text(k))
}

/// `GET /models`: one entry per provider configured for the caller's tenant.
pub async fn list(State(p): State<Profile>, RagUser(auth): RagUser) -> Response {
    let result = async {
        let tenant = own_tenant(&p, &auth).await?.ok_or(ApiError::NotFound)?;
        let s = settings(&p, &tenant).await?;
        let providers = s
            .get("providers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Ok::<_, ApiError>(
            providers
                .keys()
                .map(|k| json!({"model_provider": k}))
                .collect::<Vec<_>>(),
        )
    }
    .await;
    match result {
        Ok(list) => wire::ok(Value::Array(list)),
        Err(ApiError::NotFound) => wire::data_error("Tenant not found!"),
        Err(e) => wire::fault(e),
    }
}

/// `PUT /providers`: remember a provider by name (its key is not kept).
pub async fn put_provider(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    body: Body,
) -> Response {
    let Some(name) = provider_name(&body) else {
        return wire::missing(&["llm_factory"]);
    };
    edit(&p, &auth, |s| add_provider(s, &name)).await
}

/// `POST /providers/{p}/instances`: remember the provider.
pub async fn add_instance(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    Path(name): Path<String>,
) -> Response {
    edit(&p, &auth, |s| add_provider(s, &name)).await
}

fn add_provider(s: &mut Map<String, Value>, name: &str) {
    let providers = s.entry("providers").or_insert_with(|| json!({}));
    if let Some(map) = providers.as_object_mut() {
        map.insert(name.to_string(), json!({}));
    }
}

/// `PATCH /models/default`: keep the given model ids as the tenant's defaults.
pub async fn set_default(State(p): State<Profile>, RagUser(auth): RagUser, body: Body) -> Response {
    edit(&p, &auth, |s| copy_model_keys(s, &body)).await
}

fn copy_model_keys(s: &mut Map<String, Value>, body: &Body) {
    for key in MODEL_KEYS.iter().chain(&["parser_ids"]) {
        if let Some(v) = body.text(key) {
            s.insert((*key).to_string(), Value::String(v));
        }
    }
}

/// `GET /users/me/models`: the caller's own tenant with its model defaults.
pub async fn tenant_info(State(p): State<Profile>, RagUser(auth): RagUser) -> Response {
    let result = async {
        let tenant = own_tenant(&p, &auth).await?.ok_or(ApiError::NotFound)?;
        let s = settings(&p, &tenant).await?;
        let mut conn = p.app.db.pool().acquire().await?;
        let name = crate::tenants::store::name_of(&mut conn, &tenant)
            .await?
            .unwrap_or_default();
        let mut data = json!({"tenant_id": tenant, "name": name, "role": "owner",
            "parser_ids": s.get("parser_ids").cloned().unwrap_or_else(|| PARSER_IDS.into())});
        for key in MODEL_KEYS {
            data[*key] = s.get(*key).cloned().unwrap_or(Value::Null);
        }
        Ok::<_, ApiError>(data)
    }
    .await;
    match result {
        Ok(data) => wire::ok(data),
        Err(ApiError::NotFound) => wire::data_error("Tenant not found!"),
        Err(e) => wire::fault(e),
    }
}

/// `PATCH /users/me/models`: set a tenant's model defaults — only an owner or admin of that
/// tenant may (RAGFlow checks nothing here).
pub async fn set_tenant_info(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    body: Body,
) -> Response {
    let missing = body.missing(&["tenant_id", "asr_id", "embd_id", "img2txt_id", "llm_id"]);
    if !missing.is_empty() {
        return wire::missing(&missing);
    }
    let tenant = body.text("tenant_id").unwrap_or_default();
    let result = async {
        let mut conn = p.app.db.pool().acquire().await?;
        let role = crate::tenants::store::role_of(&mut conn, &tenant, &auth.user.id).await?;
        drop(conn);
        if !auth.may_use_tenant(&tenant) || !matches!(role.as_deref(), Some("owner" | "admin")) {
            return Err(ApiError::Forbidden);
        }
        let mut s = settings(&p, &tenant).await?;
        copy_model_keys(&mut s, &body);
        save(&p, &tenant, s).await
    }
    .await;
    match result {
        Ok(()) => wire::ok(Value::Bool(true)),
        Err(ApiError::Forbidden) => wire::fail(code::AUTHENTICATION_ERROR, "no authorization"),
        Err(e) => wire::fault(e),
    }
}
