//! The OpenID Provider's pages: the authorization endpoint (which signs the user in through
//! gatehouse's own sign-in page and asks for consent), RP-initiated logout, and the
//! administrators' list of registered clients.

use std::collections::HashMap;

use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Value, context};

use super::form::WebForm;
use super::page::{Page, WebError, signed_out};
use crate::admin::Admin;
use crate::error::ApiError;
use crate::http::paging::Paging;
use crate::provider::authorize::{self, Outcome};
use crate::provider::{OAuthError, clients, tokens};
use crate::state::AppState;

fn pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// 302 Found, as OAuth's redirects are written.
fn found(to: &str) -> Response {
    let location = HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/"));
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

fn error_page(state: &AppState, page: &Page, key: &str) -> Response {
    let ctx = context! {
        title => page.t("provider_error_title"),
        heading => page.t("provider_error_title"),
        error => page.t(key),
    };
    page.render_status(state, StatusCode::BAD_REQUEST, "message.html", ctx)
}

fn failed(state: &AppState, page: &Page, e: OAuthError) -> Response {
    if e.error == "server_error" {
        // Logs the cause once, and shows the ordinary "try again" page.
        let _ = e.into_response();
        return page.error(state, ApiError::Busy);
    }
    error_page(state, page, "provider_error_bad_request")
}

/// Scope names as the consent page explains them.
fn scope_texts(page: &Page, scopes: &[String]) -> Vec<&'static str> {
    scopes
        .iter()
        .map(|s| page.t(&format!("scope_{s}")))
        .collect()
}

fn show(state: &AppState, page: &Page, outcome: Outcome) -> Response {
    match outcome {
        Outcome::ErrorPage(key) => error_page(state, page, key),
        Outcome::Redirect(to) => found(&to),
        Outcome::Login {
            return_to,
            reauth,
            login_hint,
        } => {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            ser.append_pair("return_to", &return_to);
            if reauth {
                ser.append_pair("reauth", "1");
            }
            if let Some(hint) = login_hint {
                ser.append_pair("login_hint", &hint);
            }
            found(&format!("/login?{}", ser.finish()))
        }
        Outcome::Consent {
            client,
            scopes,
            request,
        } => {
            let ctx = context! {
                title => page.t("consent_title"),
                client_name => client.name,
                scopes => scope_texts(page, &scopes),
                request,
            };
            page.render(state, "oauth_consent.html", ctx)
        }
    }
}

/// `GET /oauth/authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    page: Page,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = pairs(query.as_deref().unwrap_or(""));
    match authorize::decide(&state, &pairs, page.auth.as_ref(), false).await {
        Ok(outcome) => show(&state, &page, outcome),
        Err(e) => failed(&state, &page, e),
    }
}

/// `POST /oauth/authorize`: the consent form's answer (CSRF-checked).
pub async fn consent(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let Some(auth) = page.auth.clone() else {
        return page.to_login();
    };
    let pairs = pairs(form.get("request"));
    let outcome = match authorize::decide(&state, &pairs, Some(&auth), false).await {
        Ok(o) => o,
        Err(e) => return failed(&state, &page, e),
    };
    let Outcome::Consent { client, scopes, .. } = outcome else {
        return show(&state, &page, outcome);
    };
    if form.get("decision") != "allow" {
        return found(&authorize::denied(&state, &pairs));
    }
    if let Err(e) = authorize::record_consent(&state, &auth, &client, &scopes, &page.client).await {
        return failed(&state, &page, e);
    }
    match authorize::decide(&state, &pairs, Some(&auth), true).await {
        Ok(outcome) => show(&state, &page, outcome),
        Err(e) => failed(&state, &page, e),
    }
}

/// Where RP-initiated logout may send the browser afterwards: a URI the client registered.
async fn logout_target(
    state: &AppState,
    client_id: Option<&str>,
    uri: Option<&str>,
    logout_state: Option<&str>,
) -> Result<Option<String>, &'static str> {
    let Some(uri) = uri else { return Ok(None) };
    let client = match client_id {
        Some(id) => authorize::client_of(state, id).await,
        None => None,
    };
    if !client.is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri)) {
        return Err("provider_error_logout_uri");
    }
    let mut url = url::Url::parse(uri).map_err(|_| "provider_error_logout_uri")?;
    if let Some(s) = logout_state {
        url.query_pairs_mut().append_pair("state", s);
    }
    Ok(Some(url.to_string()))
}

/// `GET /oauth/logout` (RP-initiated logout). With an `id_token_hint` naming the browser's
/// current session the session ends at once; otherwise the user confirms (a GET alone must not
/// sign anyone out: any site could embed it).
pub async fn logout(
    State(state): State<AppState>,
    page: Page,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let hint = match get("id_token_hint") {
        Some(t) => match tokens::id_token_hint(&state, t).await {
            Some(claims) => Some(claims),
            None => return error_page(&state, &page, "provider_error_id_token_hint"),
        },
        None => None,
    };
    let hint_client = hint
        .as_ref()
        .and_then(|c| c.get("aud"))
        .and_then(|a| a.as_str())
        .map(str::to_string);
    if let (Some(a), Some(b)) = (hint_client.as_deref(), get("client_id"))
        && a != b
    {
        return error_page(&state, &page, "provider_error_id_token_hint");
    }
    let client_id = hint_client.as_deref().or(get("client_id"));
    let target = match logout_target(
        &state,
        client_id,
        get("post_logout_redirect_uri"),
        get("state"),
    )
    .await
    {
        Ok(t) => t,
        Err(key) => return error_page(&state, &page, key),
    };
    let Some(auth) = page.auth.clone() else {
        return found(target.as_deref().unwrap_or("/login"));
    };
    let sid = hint
        .as_ref()
        .and_then(|c| c.get("sid"))
        .and_then(|s| s.as_str());
    if sid.is_some() && sid == auth.session_id() {
        return end_session(&state, &page, &auth, target.as_deref()).await;
    }
    let ctx = context! {
        title => page.t("logout_title"),
        client_id,
        post_logout_redirect_uri => get("post_logout_redirect_uri"),
        logout_state => get("state"),
    };
    page.render(&state, "oauth_logout.html", ctx)
}

/// `POST /oauth/logout`: the confirmation form (CSRF-checked).
pub async fn logout_confirm(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let opt = |k: &str| Some(form.get(k)).filter(|v| !v.is_empty());
    let target = match logout_target(
        &state,
        opt("client_id"),
        opt("post_logout_redirect_uri"),
        opt("state"),
    )
    .await
    {
        Ok(t) => t,
        Err(key) => return error_page(&state, &page, key),
    };
    match page.auth.clone() {
        Some(auth) => end_session(&state, &page, &auth, target.as_deref()).await,
        None => found(target.as_deref().unwrap_or("/login")),
    }
}

async fn end_session(
    state: &AppState,
    page: &Page,
    auth: &crate::sessions::Authenticated,
    target: Option<&str>,
) -> Response {
    if let Err(e) = crate::sessions::service::logout(state, auth, &page.client).await {
        return page.error(state, e);
    }
    let mut response = signed_out(state, target.unwrap_or("/login"));
    *response.status_mut() = StatusCode::FOUND;
    response
}

/// `GET /admin/clients`: the registered applications.
pub async fn clients_page(
    State(state): State<AppState>,
    page: Page,
    admin: Result<Admin, ApiError>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let admin = admin?;
    let paging = Paging::from_query(&q)?;
    let found = clients::list(&state, &admin, paging).await?;
    let rows: Vec<Value> = found
        .items
        .iter()
        .map(|c| {
            context! {
                name => &c.name, client_id => &c.client_id, kind => &c.client_type,
                first_party => c.first_party, redirect_uris => &c.redirect_uris,
                scopes => c.allowed_scopes.join(" "), alg => &c.id_token_signed_response_alg,
                created_at => page.time(&c.created_at),
            }
        })
        .collect();
    let ctx = context! {
        title => page.t("admin_clients_title"),
        clients => rows,
        total => found.total,
    };
    Ok(page.render(&state, "admin_clients.html", ctx))
}
