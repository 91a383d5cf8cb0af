//! Linking a sign-in provider while signed in: a page says which provider will be linked to
//! which account, and only its CSRF-checked form starts the flow, so a link or a cross-site GET
//! cannot attach someone else's provider account to the signed-in user.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;

use super::form::WebForm;
use super::page::Page;
use crate::error::ApiError;
use crate::oauth::flow::{self, Failure};
use crate::oauth::routes::{param, redirect};
use crate::oauth::service as oauth;
use crate::state::AppState;

/// `GET /account/link?provider=ID[&return_to=…]`: the confirmation page (the GET starts nothing).
pub async fn link_page(
    State(state): State<AppState>,
    page: Page,
    RawQuery(query): RawQuery,
) -> Response {
    if page.auth.is_none() {
        return page.to_login();
    }
    let wanted = param(query.as_deref(), "provider").unwrap_or_default();
    let Some(provider) = oauth::providers(&state)
        .into_iter()
        .find(|p| p.id == wanted)
    else {
        return page.error(&state, ApiError::NotFound);
    };
    let return_to = param(query.as_deref(), "return_to");
    let ctx = context! {
        title => page.t("link_title"), provider => provider.name, provider_id => provider.id,
        return_to,
    };
    page.render(&state, "link.html", ctx)
}

/// `POST /account/link`: start linking (302 to the provider); a provider that cannot be
/// reached sends the browser back to the account page with the code.
pub async fn link_submit(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    form: WebForm,
) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    let provider = form.get("provider");
    let return_to = Some(form.get("return_to")).filter(|r| !r.is_empty());
    match oauth::start_link(&state, auth, provider, return_to, &headers).await {
        Ok(started) => {
            let secure = state.secure_cookies();
            let cookie = flow::binding_cookie(&started.binding, secure, flow::NATIVE_COOKIE_PATH);
            redirect(&started.location, Some(cookie))
        }
        Err(Failure::UnknownChannel) => page.error(&state, ApiError::NotFound),
        Err(failure) => {
            oauth::record_failure(&state, provider, &failure);
            super::page::redirect(&failure.location())
        }
    }
}
