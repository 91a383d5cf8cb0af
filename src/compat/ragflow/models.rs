//! The model routes RAGFlow's clients and test fixture call (`PUT /providers`,
//! `POST /providers/{p}/instances`, `GET /models`, `PATCH /models/default`) and
//! `/users/me/models`, kept per tenant in `tenants.settings` under `ragflow`. Provider API keys
//! are sealed with the profile's key and never returned.

use std::collections::BTreeMap;
use std::path::Path as FsPath;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Profile;
use super::auth::{Body, RagUser};
use super::wire::{self, WireError, WireResult, code, native_id, rag_id};
use crate::error::ApiError;
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

/// RAGFlow's model types and their bits (`ModelTypeBinary`), in its order.
const MODEL_TYPES: &[(&str, u32)] = &[
    ("chat", 1),
    ("embedding", 2),
    ("asr", 4),
    ("vision", 8),
    ("rerank", 16),
    ("tts", 32),
    ("ocr", 64),
];

/// RAGFlow's rank for what its catalog does not rank.
const DEFAULT_RANK: i64 = 500;

/// `calculate_model_type`: a type name or a list of them (legacy names included) as bits;
/// unknown names count for nothing.
fn type_bits(v: &Value) -> u32 {
    let names: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    names
        .into_iter()
        .map(|n| match n {
            "speech2text" => "asr",
            "image2text" => "vision",
            other => other,
        })
        .filter_map(|n| MODEL_TYPES.iter().find(|(t, _)| *t == n).map(|(_, b)| *b))
        .fold(0, |all, b| all | b)
}

/// `get_model_type_human`.
fn type_names(bits: u32) -> Vec<&'static str> {
    MODEL_TYPES
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(t, _)| *t)
        .collect()
}

/// Python's `_to_int(v, 500)`.
fn to_int(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(DEFAULT_RANK),
        Value::String(s) => s.trim().parse().unwrap_or(DEFAULT_RANK),
        _ => DEFAULT_RANK,
    }
}

/// RAGFlow's model catalog (`conf/llm_factories.json`), read from `[ragflow] llm_factories`.
/// With it the profile refuses providers RAGFlow does not know and binds a provider's models
/// to an instance created without `model_info`, as RAGFlow does; without it any provider
/// name is taken and such an instance has no models.
#[derive(Debug, Default, Deserialize)]
pub struct Catalog {
    factory_llm_infos: Vec<Factory>,
}

#[derive(Debug, Deserialize)]
struct Factory {
    name: String,
    #[serde(default)]
    rank: Value,
    #[serde(default)]
    llm: Vec<Llm>,
}

#[derive(Debug, Deserialize)]
struct Llm {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    llm_name: String,
    #[serde(default)]
    model_type: Value,
    #[serde(default)]
    max_tokens: Value,
    #[serde(default)]
    is_tools: Value,
    #[serde(default)]
    features: Value,
    #[serde(default)]
    rank: Value,
}

impl Llm {
    fn thinking(&self) -> bool {
        self.features
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x.as_str() == Some("thinking")))
    }
}

impl Catalog {
    pub fn load(path: &FsPath) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read `ragflow.llm_factories` {}: {e}",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "invalid value for `ragflow.llm_factories` {}: {e}",
                path.display()
            )
        })
    }

    fn factory(&self, name: &str) -> Option<&Factory> {
        self.factory_llm_infos.iter().find(|f| f.name == name)
    }

    fn factory_rank(&self, name: &str) -> i64 {
        self.factory(name)
            .map_or(-DEFAULT_RANK, |f| -to_int(&f.rank))
    }

    fn model_rank(&self, provider: &str, model: &str) -> i64 {
        self.factory(provider)
            .and_then(|f| f.llm.iter().find(|l| l.llm_name == model))
            .map_or(DEFAULT_RANK, |l| to_int(&l.rank))
    }
}

/// Whether the catalog (if any) lets a tenant add `provider`.
fn allowed(p: &Profile, provider: &str) -> bool {
    p.catalog
        .as_ref()
        .is_none_or(|c| c.factory(provider).is_some())
}

/// A provider configured for a tenant, keyed by its name in the settings.
#[derive(Default, Serialize, Deserialize)]
struct Provider {
    #[serde(default)]
    id: String,
    #[serde(default)]
    instances: Vec<Instance>,
}

#[derive(Serialize, Deserialize)]
struct Instance {
    id: String,
    instance_name: String,
    /// Sealed with the profile's key; never part of an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    models: Vec<Model>,
}

#[derive(Serialize, Deserialize)]
struct Model {
    id: String,
    name: String,
    model_type: u32,
    #[serde(default)]
    extra: Map<String, Value>,
}

/// A model to bind, from `model_info` or from the catalog.
struct NewModel {
    name: String,
    model_type: u32,
    max_tokens: Value,
    extra: Map<String, Value>,
}

type Providers = BTreeMap<String, Provider>;

/// An id in RAGFlow's form for a new provider, instance or model.
fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn providers_of(s: &Map<String, Value>) -> Providers {
    let mut all: Providers = s
        .get("providers")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    for provider in all.values_mut().filter(|p| p.id.is_empty()) {
        provider.id = new_id();
    }
    all
}

/// The name of the provider `key` names, by id first and then by name (RAGFlow's order).
fn provider_named(all: &Providers, key: &str) -> Option<String> {
    all.iter()
        .find(|(_, p)| p.id == key)
        .map(|(name, _)| name.clone())
        .or_else(|| all.contains_key(key).then(|| key.to_string()))
}

/// `duplicate_name`: `name`, else `name(1)`, `name(2)`…
fn unique_name(instances: &[Instance], name: &str) -> String {
    let taken = |n: &str| instances.iter().any(|i| i.instance_name == n);
    if !taken(name) {
        return name.to_string();
    }
    (1..)
        .map(|i| format!("{name}({i})"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| name.to_string())
}

/// The caller's personal tenant (RAGFlow's tenant whose id is the user's).
async fn own_tenant(p: &Profile, auth: &Authenticated) -> Result<Option<String>, ApiError> {
    Ok(
        crate::tenants::store::personal_tenant(&p.app.db, &auth.user.id)
            .await?
            .filter(|t| auth.may_use_tenant(t)),
    )
}

async fn settings(p: &Profile, tenant_id: &str) -> Result<Map<String, Value>, ApiError> {
    let text = crate::tenants::store::settings(&p.app.db, tenant_id)
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
    let text = crate::tenants::store::settings(&p.app.db, tenant_id)
        .await?
        .unwrap_or_default();
    let mut all = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    all.insert("ragflow".into(), Value::Object(ragflow));
    Ok(
        crate::tenants::store::set_settings(&p.app.db, tenant_id, &Value::Object(all).to_string())
            .await?,
    )
}

/// Update the ragflow settings of the caller's own tenant with `change`.
async fn edit(
    p: &Profile,
    auth: &Authenticated,
    change: impl FnOnce(&mut Map<String, Value>),
) -> WireResult {
    let fault = tenant_fault("Tenant not found!");
    let tenant = own_tenant(p, auth)
        .await
        .and_then(|t| t.ok_or(ApiError::NotFound))
        .map_err(&fault)?;
    let mut s = settings(p, &tenant).await.map_err(&fault)?;
    change(&mut s);
    save(p, &tenant, s).await.map_err(&fault)?;
    Ok(wire::ok(Value::Bool(true)))
}

/// A tenant that is not there (or not the caller's) answered in RAGFlow's words, which differ
/// between routes by a `!`; other errors as every route answers them.
fn tenant_fault(message: &'static str) -> impl Fn(ApiError) -> WireError {
    move |e| match e {
        ApiError::NotFound => WireError::Answer(wire::data_error(message)),
        other => WireError::Fault(other),
    }
}

/// What a change to the providers comes to.
enum Outcome {
    Done,
    /// Refused with RAGFlow's message; nothing is saved.
    Refused(String),
    /// Saved, but RAGFlow reports what it could not add.
    SavedWith(String),
}

/// Change the providers of the caller's own tenant; answers as RAGFlow's provider routes do
/// (`{"code":0}`, or code 102 with a message).
async fn change_providers(
    p: &Profile,
    auth: &Authenticated,
    change: impl FnOnce(&mut Providers) -> Outcome,
) -> WireResult {
    let fault = tenant_fault("Tenant not found");
    let tenant = own_tenant(p, auth)
        .await
        .and_then(|t| t.ok_or(ApiError::NotFound))
        .map_err(&fault)?;
    let mut s = settings(p, &tenant).await.map_err(&fault)?;
    let mut all = providers_of(&s);
    let outcome = change(&mut all);
    if !matches!(outcome, Outcome::Refused(_)) {
        let value = serde_json::to_value(&all).map_err(|e| ApiError::Internal(e.into()))?;
        s.insert("providers".into(), value);
        save(p, &tenant, s).await.map_err(&fault)?;
    }
    Ok(match outcome {
        Outcome::Done => wire::result(Value::Null),
        Outcome::Refused(m) | Outcome::SavedWith(m) => wire::data_error(&m),
    })
}

/// A body field as Python would format it into a message (strings bare).
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `PUT /providers {provider_name}`: add a provider to the caller's tenant.
pub async fn put_provider(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    body: Body,
) -> Response {
    let Some(name) = body.0.get("provider_name").map(as_text) else {
        return wire::result_error(code::ARGUMENT_ERROR, "provider_name is required");
    };
    if !allowed(&p, &name) {
        return wire::data_error(&format!("Provider '{name}' is not allowed"));
    }
    change_providers(&p, &auth, |all| {
        if all.contains_key(&name) {
            return Outcome::Refused(format!("Provider {name} already exists"));
        }
        all.insert(
            name,
            Provider {
                id: new_id(),
                instances: Vec::new(),
            },
        );
        Outcome::Done
    })
    .await
    .into_response()
}

/// `model_info`: the models to bind, each `{model_name, model_type, max_tokens?, extra?}`
/// (`None`: an entry without a model name).
fn model_info(body: &Body) -> Option<Vec<NewModel>> {
    let Some(Value::Array(items)) = body.0.get("model_info") else {
        return Some(Vec::new());
    };
    items
        .iter()
        .map(|item| {
            let name = item.get("model_name").and_then(Value::as_str);
            let name = name.filter(|n| !n.is_empty())?;
            Some(NewModel {
                name: name.to_string(),
                model_type: type_bits(item.get("model_type").unwrap_or(&Value::Null)),
                max_tokens: item.get("max_tokens").cloned().unwrap_or(json!(8192)),
                extra: item
                    .get("extra")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The catalog's models of `provider` (SiliconFlow's international list for region `intl`).
fn catalog_models(p: &Profile, provider: &str, region: &str) -> Vec<NewModel> {
    let target = if provider.eq_ignore_ascii_case("siliconflow") && region == "intl" {
        "siliconflow_intl"
    } else {
        provider
    };
    let Some(factory) = p.catalog.as_ref().and_then(|c| c.factory(target)) else {
        return Vec::new();
    };
    factory
        .llm
        .iter()
        .map(|l| NewModel {
            name: l.name.clone().unwrap_or_else(|| l.llm_name.clone()),
            model_type: type_bits(&l.model_type),
            max_tokens: l.max_tokens.clone(),
            extra: Map::new(),
        })
        .collect()
}

/// `add_model_to_instance`'s extra fields: `max_tokens`, the catalog's `is_tools` and
/// `thinking`, then the caller's `extra`; `verify` is `unknown` as gatehouse calls no model.
fn model_extra(p: &Profile, provider: &str, m: &NewModel) -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert("max_tokens".into(), m.max_tokens.clone());
    let known = p
        .catalog
        .as_ref()
        .and_then(|c| c.factory(provider))
        .and_then(|f| f.llm.iter().find(|l| l.llm_name == m.name));
    if let Some(l) = known {
        extra.insert(
            "is_tools".into(),
            json!(l.is_tools.as_bool().unwrap_or(false)),
        );
        extra.insert("thinking".into(), json!(l.thinking()));
    }
    extra.extend(m.extra.clone());
    extra.insert("verify".into(), json!("unknown"));
    extra
}

/// `POST /providers/{p}/instances {instance_name, api_key, region, base_url, model_info}`.
pub async fn add_instance(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    Path(provider): Path<String>,
    body: Body,
) -> Response {
    let Some(instance_name) = body.0.get("instance_name").map(as_text) else {
        return wire::result_error(code::ARGUMENT_ERROR, "instance_name is required");
    };
    let name_only = body.0.len() == 1;
    let Some(requested) = model_info(&body) else {
        return wire::data_error("model_info: every model needs a model_name");
    };
    let sealed = match body.0.get("api_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(key) => match p.keys.seal(&as_text(key)) {
            Some(sealed) => Some(sealed),
            None => return wire::fault(ApiError::Internal(anyhow::anyhow!("sealing failed"))),
        },
    };
    let base_url = body.text("base_url").unwrap_or_default();
    let region = body.text("region").unwrap_or_default();
    let profile = p.clone();
    change_providers(&p, &auth, move |all| {
        let found = if name_only {
            all.contains_key(&provider).then(|| provider.clone())
        } else {
            provider_named(all, &provider)
        };
        if instance_name == "default" && name_only {
            return Outcome::Refused("Instance name cannot be 'default'".into());
        }
        if name_only && !allowed(&profile, &provider) {
            return Outcome::Refused(format!("Provider '{provider}' is not allowed"));
        }
        let Some(name) = found else {
            return Outcome::Refused(format!("Provider '{provider}' does not exist"));
        };
        if instance_name == "default" {
            return Outcome::Refused("Instance name cannot be 'default'".into());
        }
        if !allowed(&profile, &name) {
            return Outcome::Refused(format!("Provider '{name}' is not allowed"));
        }
        let Some(entry) = all.get_mut(&name) else {
            return Outcome::Refused(format!("Provider '{provider}' does not exist"));
        };
        let mut instance = Instance {
            id: new_id(),
            instance_name: unique_name(&entry.instances, &instance_name),
            api_key: if name_only { None } else { sealed },
            base_url: if name_only { String::new() } else { base_url },
            region: if name_only { String::new() } else { region },
            models: Vec::new(),
        };
        let models = if name_only {
            Vec::new()
        } else if requested.is_empty() {
            catalog_models(&profile, &name, &instance.region)
        } else {
            requested
        };
        let mut refused = String::new();
        for m in models {
            if instance.models.iter().any(|x| x.name == m.name) {
                refused.push_str(&format!(
                    "Model '{}' already exists for provider '{name}' and instance '{instance_name}'",
                    m.name
                ));
                continue;
            }
            instance.models.push(Model {
                id: new_id(),
                extra: model_extra(&profile, &name, &m),
                name: m.name,
                model_type: m.model_type,
            });
        }
        entry.instances.push(instance);
        if refused.is_empty() {
            Outcome::Done
        } else {
            Outcome::SavedWith(refused)
        }
    })
    .await
    .into_response()
}

/// `GET /models[?type=…&owner_tenant_id=…]`: the models added to the caller's tenant (or to a
/// team the caller belongs to), in RAGFlow's order.
pub async fn list(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    RawQuery(query): RawQuery,
) -> WireResult {
    let params: BTreeMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let filter = params
        .get("type")
        .map_or(0, |t| type_bits(&Value::String(t.to_lowercase())));
    let fault = |e| match e {
        ApiError::NotFound => WireError::Answer(wire::data_error("Tenant not found")),
        ApiError::Forbidden => WireError::Answer(wire::data_error("Permission denied")),
        other => WireError::Fault(other),
    };
    let own = own_tenant(&p, &auth)
        .await
        .and_then(|t| t.ok_or(ApiError::NotFound))
        .map_err(fault)?;
    let tenant = match params.get("owner_tenant_id").filter(|t| !t.is_empty()) {
        Some(t) if native_id(t) != own => {
            let t = native_id(t);
            crate::tenants::service::require_member(&p.app, &auth, &t)
                .await
                .map_err(|e| fault(outsider_forbidden(e)))?;
            t
        }
        _ => own,
    };
    let tenant_name = crate::tenants::store::name_of(&p.app.db, &tenant)
        .await?
        .unwrap_or_default();
    let all = providers_of(&settings(&p, &tenant).await.map_err(fault)?);
    let mut rows = Vec::new();
    for (provider_name, provider) in &all {
        for instance in &provider.instances {
            for m in &instance.models {
                if filter != 0 && m.model_type & filter == 0 {
                    continue;
                }
                let rank = p
                    .catalog
                    .as_ref()
                    .map_or(DEFAULT_RANK, |c| c.model_rank(provider_name, &m.name));
                let factory_rank = p
                    .catalog
                    .as_ref()
                    .map_or(-DEFAULT_RANK, |c| c.factory_rank(provider_name));
                let key = (
                    factory_rank,
                    provider_name.clone(),
                    instance.instance_name.clone(),
                    -rank,
                    m.name.clone(),
                );
                // RAGFlow's Python server names them `provider_name` and `name`, its Go
                // port `model_provider` and `model_name`; its test fixture reads either,
                // so both are answered.
                let row = json!({
                    "model_id": m.id, "tenant_id": rag_id(&tenant), "tenant_name": tenant_name,
                    "model_type": type_names(m.model_type), "name": m.name,
                    "model_name": m.name, "model_provider": provider_name,
                    "provider_id": provider.id, "provider_name": provider_name,
                    "instance_id": instance.id, "instance_name": instance.instance_name,
                    "rank": rank,
                });
                rows.push((key, row));
            }
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let rows = rows.into_iter().map(|(_, row)| row).collect();
    Ok(wire::result(Value::Array(rows)))
}

/// `PATCH /models/default`: keep the given model ids as the tenant's defaults.
pub async fn set_default(State(p): State<Profile>, RagUser(auth): RagUser, body: Body) -> Response {
    edit(&p, &auth, |s| copy_model_keys(s, &body))
        .await
        .into_response()
}

fn copy_model_keys(s: &mut Map<String, Value>, body: &Body) {
    for key in MODEL_KEYS.iter().chain(&["parser_ids"]) {
        if let Some(v) = body.text(key) {
            s.insert((*key).to_string(), Value::String(v));
        }
    }
}

/// `GET /users/me/models`: the caller's own tenant with its model defaults.
pub async fn tenant_info(State(p): State<Profile>, RagUser(auth): RagUser) -> WireResult {
    let fault = tenant_fault("Tenant not found!");
    let tenant = own_tenant(&p, &auth)
        .await
        .and_then(|t| t.ok_or(ApiError::NotFound))
        .map_err(&fault)?;
    let s = settings(&p, &tenant).await.map_err(&fault)?;
    let name = crate::tenants::store::name_of(&p.app.db, &tenant)
        .await?
        .unwrap_or_default();
    let mut data = json!({"tenant_id": rag_id(&tenant), "name": name, "role": "owner",
        "parser_ids": s.get("parser_ids").cloned().unwrap_or_else(|| PARSER_IDS.into())});
    for key in MODEL_KEYS {
        data[*key] = s.get(*key).cloned().unwrap_or(Value::Null);
    }
    Ok(wire::ok(data))
}

/// `PATCH /users/me/models`: set a tenant's model defaults — only an owner or admin of that
/// tenant may (RAGFlow checks nothing here).
pub async fn set_tenant_info(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    body: Body,
) -> WireResult {
    let missing = body.missing(&["tenant_id", "asr_id", "embd_id", "img2txt_id", "llm_id"]);
    if !missing.is_empty() {
        return Ok(wire::missing(&missing));
    }
    let tenant = native_id(&body.text("tenant_id").unwrap_or_default());
    let fault = |e| match outsider_forbidden(e) {
        ApiError::Forbidden => WireError::fail(code::AUTHENTICATION_ERROR, "no authorization"),
        other => WireError::Fault(other),
    };
    crate::tenants::service::require_manager(&p.app, &auth, &tenant)
        .await
        .map_err(fault)?;
    let mut s = settings(&p, &tenant).await.map_err(fault)?;
    copy_model_keys(&mut s, &body);
    save(&p, &tenant, s).await.map_err(fault)?;
    Ok(wire::ok(Value::Bool(true)))
}

/// RAGFlow answers "no authorization" alike for outsiders and for members without the role.
fn outsider_forbidden(e: ApiError) -> ApiError {
    match e {
        ApiError::NotFound => ApiError::Forbidden,
        other => other,
    }
}
