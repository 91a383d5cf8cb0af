//! The applications that sign in with gatehouse, managed by superusers (API, pages and CLI). A
//! confidential client's secret is shown once, when made, and stored as SHA-256 (it is a
//! 256-bit random value, so a fast digest is enough).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, ClientRow};
use crate::admin::Admin;
use crate::audit::{self, AuditEvent};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::error::{FieldErrors, FieldProblem};
use crate::http::ClientInfo;
use crate::http::paging::{Page, Paging};
use crate::state::AppState;
use crate::tokens::{constant_time_eq, new_token, random_from_alphabet, sha256_hex};

/// Scopes gatehouse knows; a client may be limited to some of them.
pub const SCOPES: &[&str] = &["openid", "email", "profile", "groups", "offline_access"];

const SECRET_PREFIX: &str = "ghcs_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    Confidential,
    Public,
}

impl ClientType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

/// A new client. `allowed_scopes` defaults to every scope gatehouse knows.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(rename = "type", default = "confidential")]
    pub client_type: ClientType,
    #[serde(default)]
    pub first_party: bool,
    pub allowed_scopes: Option<Vec<String>>,
    /// `EdDSA` (default) or `RS256`.
    pub id_token_signed_response_alg: Option<String>,
}

fn confidential() -> ClientType {
    ClientType::Confidential
}

/// Changes to a client; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(rename = "type")]
    pub client_type: Option<ClientType>,
    pub first_party: Option<bool>,
    pub allowed_scopes: Option<Vec<String>>,
    pub id_token_signed_response_alg: Option<String>,
}

/// A client as the admin API shows it; `client_secret` only in the answer that makes one.
#[derive(Serialize, ToSchema)]
pub struct ClientView {
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(rename = "type")]
    pub client_type: String,
    pub first_party: bool,
    pub allowed_scopes: Vec<String>,
    pub id_token_signed_response_alg: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for ClientView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientView")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn view(c: &ClientRow, secret: Option<String>) -> ClientView {
    ClientView {
        id: c.id.clone(),
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        client_type: c.client_type.clone(),
        first_party: c.first_party,
        allowed_scopes: c.allowed_scopes.clone(),
        id_token_signed_response_alg: c.id_token_signed_response_alg.clone(),
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
        client_secret: secret,
    }
}

/// A redirect URI a client may register: absolute http(s), no fragment (RFC 6749 §3.1.2), no
/// credentials in it.
fn valid_uri(raw: &str) -> bool {
    match url::Url::parse(raw) {
        Ok(u) => {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.fragment().is_none()
                && u.username().is_empty()
                && u.password().is_none()
                && raw.len() <= 2048
        }
        Err(_) => false,
    }
}

fn check_uris(errors: &mut FieldErrors, field: &str, uris: &[String], required: bool) {
    if (required && uris.is_empty()) || uris.len() > 20 || !uris.iter().all(|u| valid_uri(u)) {
        errors.insert(field.into(), FieldProblem::Invalid);
    }
}

fn check_name(errors: &mut FieldErrors, name: &str) -> String {
    let name = name.trim().to_string();
    let len = name.chars().count();
    if len == 0 || len > 100 || name.chars().any(char::is_control) {
        errors.insert("name".into(), FieldProblem::Invalid);
    }
    name
}

fn check_scopes(errors: &mut FieldErrors, scopes: &[String]) -> Vec<String> {
    if scopes.is_empty() || !scopes.iter().all(|s| SCOPES.contains(&s.as_str())) {
        errors.insert("allowed_scopes".into(), FieldProblem::Invalid);
    }
    let mut out: Vec<String> = Vec::new();
    for s in scopes {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

fn check_alg(errors: &mut FieldErrors, alg: &str) {
    if super::keys::SigningAlg::parse(alg).is_none() {
        errors.insert("id_token_signed_response_alg".into(), FieldProblem::Invalid);
    }
}

fn new_secret() -> (String, String) {
    let secret = new_token(SECRET_PREFIX);
    let hash = sha256_hex(&secret);
    (secret, hash)
}

fn event<'a>(name: audit::Event, admin: &'a Admin, client: &'a ClientInfo) -> AuditEvent<'a> {
    AuditEvent {
        event: name,
        actor_user_id: admin.user_id(),
        subject_user_id: None,
        tenant_id: None,
        client: Some(client),
        detail: serde_json::Value::Null,
    }
}

/// Register a client; a confidential one gets its secret, shown in this answer only.
pub async fn create(
    state: &AppState,
    admin: &Admin,
    input: NewClient,
    client: &ClientInfo,
) -> Result<ClientView, ApiError> {
    let mut errors = FieldErrors::new();
    let name = check_name(&mut errors, &input.name);
    check_uris(&mut errors, "redirect_uris", &input.redirect_uris, true);
    check_uris(
        &mut errors,
        "post_logout_redirect_uris",
        &input.post_logout_redirect_uris,
        false,
    );
    let scopes = input
        .allowed_scopes
        .unwrap_or_else(|| SCOPES.iter().map(|s| s.to_string()).collect());
    let scopes = check_scopes(&mut errors, &scopes);
    let alg = input
        .id_token_signed_response_alg
        .unwrap_or_else(|| "EdDSA".into());
    check_alg(&mut errors, &alg);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (secret, hash) = match input.client_type {
        ClientType::Confidential => {
            let (s, h) = new_secret();
            (Some(s), Some(h))
        }
        ClientType::Public => (None, None),
    };
    let now = state.clock.now();
    let row = ClientRow {
        id: uuid::Uuid::now_v7().to_string(),
        client_id: random_from_alphabet(b"abcdefghijklmnopqrstuvwxyz0123456789", 24),
        secret_hash: hash,
        name,
        client_type: input.client_type.as_str().into(),
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        first_party: input.first_party,
        allowed_scopes: scopes,
        id_token_signed_response_alg: alg,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.db.begin().await?;
    store::insert_client(&mut tx, &row).await?;
    let detail = serde_json::json!({"client_id": row.client_id, "name": row.name});
    audit::record(
        &mut tx,
        now,
        event(audit::Event::OauthClientCreated, admin, client).detail(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(view(&row, secret))
}

pub async fn list(
    state: &AppState,
    _: &Admin,
    paging: Paging,
) -> Result<Page<ClientView>, ApiError> {
    let (rows, total) = store::list_clients(&state.db, paging.limit(), paging.offset()).await?;
    Ok(paging.wrap(rows.iter().map(|c| view(c, None)).collect(), total))
}

async fn load(state: &AppState, id: &str) -> Result<ClientRow, ApiError> {
    store::client_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn get(state: &AppState, _: &Admin, id: &str) -> Result<ClientView, ApiError> {
    Ok(view(&load(state, id).await?, None))
}

/// Find a client by its id or its `client_id` (for the CLI).
pub async fn find(state: &AppState, _: &Admin, key: &str) -> Result<ClientView, ApiError> {
    let by_id = match uuid::Uuid::parse_str(key) {
        Ok(id) => store::client_by_id(&state.db, &id.to_string()).await?,
        Err(_) => None,
    };
    let found = match by_id {
        Some(c) => Some(c),
        None => store::client_by_client_id(&state.db, key).await?,
    };
    found.map(|c| view(&c, None)).ok_or(ApiError::NotFound)
}

/// Change a client. Turning a public client confidential makes its secret (shown in this
/// answer); turning it public forgets the secret.
pub async fn update(
    state: &AppState,
    admin: &Admin,
    id: &str,
    patch: ClientPatch,
    client: &ClientInfo,
) -> Result<ClientView, ApiError> {
    let mut row = load(state, id).await?;
    let mut errors = FieldErrors::new();
    if let Some(name) = &patch.name {
        row.name = check_name(&mut errors, name);
    }
    if let Some(uris) = patch.redirect_uris {
        check_uris(&mut errors, "redirect_uris", &uris, true);
        row.redirect_uris = uris;
    }
    if let Some(uris) = patch.post_logout_redirect_uris {
        check_uris(&mut errors, "post_logout_redirect_uris", &uris, false);
        row.post_logout_redirect_uris = uris;
    }
    if let Some(scopes) = patch.allowed_scopes {
        row.allowed_scopes = check_scopes(&mut errors, &scopes);
    }
    if let Some(alg) = patch.id_token_signed_response_alg {
        check_alg(&mut errors, &alg);
        row.id_token_signed_response_alg = alg;
    }
    if let Some(first_party) = patch.first_party {
        row.first_party = first_party;
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut secret = None;
    if let Some(kind) = patch.client_type {
        match kind {
            ClientType::Public => row.secret_hash = None,
            ClientType::Confidential if row.secret_hash.is_none() => {
                let (s, h) = new_secret();
                secret = Some(s);
                row.secret_hash = Some(h);
            }
            ClientType::Confidential => {}
        }
        row.client_type = kind.as_str().into();
    }
    row.updated_at = state.clock.now();
    let mut tx = state.db.begin().await?;
    store::update_client(&mut tx, &row).await?;
    let detail =
        serde_json::json!({"client_id": row.client_id, "secret_rotated": secret.is_some()});
    audit::record(
        &mut tx,
        row.updated_at,
        event(audit::Event::OauthClientUpdated, admin, client).detail(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(view(&row, secret))
}

/// A new secret for a confidential client; the old one stops working at once.
pub async fn rotate_secret(
    state: &AppState,
    admin: &Admin,
    id: &str,
    client: &ClientInfo,
) -> Result<ClientView, ApiError> {
    let mut row = load(state, id).await?;
    if row.is_public() {
        return Err(ApiError::field("type", FieldProblem::NotAllowed));
    }
    let (secret, hash) = new_secret();
    row.secret_hash = Some(hash);
    row.updated_at = state.clock.now();
    let mut tx = state.db.begin().await?;
    store::update_client(&mut tx, &row).await?;
    let detail = serde_json::json!({"client_id": row.client_id, "secret_rotated": true});
    audit::record(
        &mut tx,
        row.updated_at,
        event(audit::Event::OauthClientUpdated, admin, client).detail(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(view(&row, Some(secret)))
}

/// Remove a client with its consents and refresh tokens.
pub async fn delete(
    state: &AppState,
    admin: &Admin,
    id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let row = load(state, id).await?;
    let mut tx = state.db.begin().await?;
    if !store::delete_client(&mut tx, id).await? {
        return Err(ApiError::NotFound);
    }
    let detail = serde_json::json!({"client_id": row.client_id, "name": row.name});
    audit::record(
        &mut tx,
        state.clock.now(),
        event(audit::Event::OauthClientDeleted, admin, client).detail(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Does `secret` belong to the confidential client `c`? Constant-time on the digests.
pub fn secret_matches(c: &ClientRow, secret: &str) -> bool {
    match &c.secret_hash {
        Some(hash) => secret.len() <= 256 && constant_time_eq(&sha256_hex(secret), hash),
        None => false,
    }
}
