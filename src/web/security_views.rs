//! The account's security page (TOTP with its QR code and recovery codes, passkeys) and the
//! sign-in's second step (`/login/mfa`). Passkey ceremonies run in `/assets/passkeys.js`
//! against the API; every other action is a plain form.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};

use super::form::WebForm;
use super::page::{FormErrors, Page, cookie, redirect, signed_in, with_error};
use crate::accounts::User;
use crate::error::ApiError;
use crate::http::safe_return_to;
use crate::mfa::service::{self as mfa, CodeInput, DisableTotp, PasswordConfirmation};
use crate::mfa::{SecondStep, login, passkeys};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// Carries a provider sign-in's second-step token to `/login/mfa` (never in a URL).
pub const MFA_COOKIE: &str = "gatehouse_mfa";

const SCRIPT: &str = include_str!("../../templates/web/passkeys.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/mfa", get(second_step).post(second_step_submit))
        .route("/account/security", get(security))
        .route("/account/security/totp", post(start_totp))
        .route("/account/security/totp/confirm", post(confirm_totp))
        .route("/account/security/totp/disable", post(disable_totp))
        .route("/account/security/recovery-codes", post(renew_codes))
        .route(
            "/account/security/passkeys/{id}/remove",
            post(remove_passkey),
        )
        .route("/assets/passkeys.js", get(script))
}

async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        SCRIPT,
    )
        .into_response()
}

/// `Set-Cookie` for a provider sign-in's second-step token: HttpOnly, 5 minutes, only sent to
/// `/login/mfa`.
pub fn mfa_cookie(state: &AppState, token: &str) -> HeaderValue {
    let secure = if state.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{MFA_COOKIE}={token}; Path=/login/mfa; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        login::TOKEN_TTL.as_secs()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clear_mfa_cookie() -> HeaderValue {
    HeaderValue::from_static("gatehouse_mfa=; Path=/login/mfa; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Where a complete sign-in goes: the enrolment when `[mfa] required_for` covers a user without
/// a second factor, else `return_to`.
pub async fn after_sign_in(state: &AppState, user: &User, return_to: &str) -> String {
    match mfa::enrolment_due(state, user).await {
        Ok(true) => "/account/security?enrol=1".into(),
        _ => return_to.to_string(),
    }
}

fn second_step_context(
    page: &Page,
    token: &str,
    methods: &[&str],
    return_to: &str,
    errors: FormErrors,
) -> Value {
    context! {
        title => page.t("mfa_heading"),
        mfa_token => token,
        methods => methods.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        return_to => return_to,
        errors => errors.fields,
        error => errors.message,
    }
}

/// The second step after a password sign-in on `/login`: the token rides in a hidden field.
pub fn second_step_page(
    state: &AppState,
    page: &Page,
    step: &SecondStep,
    return_to: &str,
) -> Response {
    let ctx = second_step_context(
        page,
        &step.mfa_token,
        &step.methods,
        return_to,
        FormErrors::default(),
    );
    page.render(state, "login_mfa.html", ctx)
}

/// `/login/mfa` after a provider sign-in: the token comes in its short-lived cookie.
async fn second_step(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let token = cookie(&headers, MFA_COOKIE).unwrap_or_default();
    let return_to = safe_return_to(query.get("return_to").map(String::as_str));
    match login::methods(&state, &token).await {
        Ok(Some(methods)) => {
            let ctx =
                second_step_context(&page, &token, &methods, &return_to, FormErrors::default());
            page.render(&state, "login_mfa.html", ctx)
        }
        Ok(None) => redirect("/login"),
        Err(e) => page.error(&state, e),
    }
}

async fn second_step_submit(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    form: WebForm,
) -> Response {
    let token = match form.get("mfa_token") {
        "" => cookie(&headers, MFA_COOKIE).unwrap_or_default(),
        sent => sent.to_string(),
    };
    let return_to = safe_return_to(Some(form.get("return_to")));
    let code = form.get("code").trim();
    let input = login::SecondStepInput {
        mfa_token: token.clone(),
        code: (!code.is_empty()).then(|| code.to_string()),
        challenge_id: None,
        credential: None,
    };
    match login::finish(&state, input, &page.client).await {
        Ok(done) => {
            let to = done
                .return_to
                .as_deref()
                .map(|r| safe_return_to(Some(r)))
                .unwrap_or(return_to);
            let to = after_sign_in(&state, &done.user, &to).await;
            let mut response = signed_in(&state, &done.session, &to);
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_mfa_cookie());
            response
        }
        Err(ApiError::InvalidToken) => {
            let mut response = redirect("/login?error=mfa_expired");
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_mfa_cookie());
            response
        }
        Err(err) => {
            let methods = login::methods(&state, &token)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            let ctx =
                second_step_context(&page, &token, &methods, &return_to, page.form_errors(&err));
            with_error(page.render(&state, "login_mfa.html", ctx), err)
        }
    }
}

/// What the security page shows besides the account's state.
#[derive(Default)]
struct Shown {
    notice: Option<&'static str>,
    enrolment: Option<mfa::TotpEnrolment>,
    recovery_codes: Vec<String>,
    /// Which form the errors belong to: `totp` (enable or confirm), `off`, `codes`.
    form: &'static str,
    errors: FormErrors,
}

async fn render(state: &AppState, page: &Page, auth: &Authenticated, shown: Shown) -> Response {
    let status = match mfa::status(state, &auth.user).await {
        Ok(s) => s,
        Err(e) => return page.error(state, e),
    };
    let enrol = mfa::enrolment_due(state, &auth.user).await.unwrap_or(false);
    let needs_password = auth.user.password_hash.is_some();
    let passkeys: Vec<Value> = status
        .passkeys
        .iter()
        .map(|p| {
            context! {
                id => &p.id, name => &p.name, created => page.time(&p.created_at),
                used => p.last_used_at.as_deref().map(|t| page.time(t)),
            }
        })
        .collect();
    let codes_text = shown.recovery_codes.join("\n");
    let href = format!(
        "data:text/plain;charset=utf-8,{}",
        url::form_urlencoded::byte_serialize(codes_text.as_bytes()).collect::<String>()
    )
    .replace('+', "%20");
    let errors = |form: &str| {
        if shown.form == form {
            shown.errors.fields.clone()
        } else {
            Default::default()
        }
    };
    let ctx = context! {
        title => page.t("security_heading"),
        enrol,
        notice => shown.notice.map(|k| page.t(k)),
        error => shown.errors.message.clone(),
        totp_enabled => status.totp_enabled,
        recovery_codes_left => status.recovery_codes_left,
        recovery_codes => &shown.recovery_codes,
        recovery_codes_href => href,
        enrolment => shown.enrolment.as_ref().map(|e| context! { qr_svg => &e.qr_svg, secret => &e.secret }),
        errors => errors("totp"),
        errors_off => errors("off"),
        errors_codes => errors("codes"),
        needs_password,
        passkeys_available => passkeys::available(state),
        passkeys,
    };
    page.render(state, "security.html", ctx)
}

fn password_errors(page: &Page, err: &ApiError) -> FormErrors {
    let mut errors = page.form_errors(err);
    if let Some(m) = errors.fields.remove("current_password") {
        errors.fields.insert("password".into(), m);
    }
    errors
}

const DONE: &[&str] = &["passkey_added", "passkey_removed", "totp_disabled"];

async fn security(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    let notice = query
        .get("done")
        .and_then(|d| DONE.iter().find(|k| *k == d))
        .map(|k| match *k {
            "passkey_added" => "security_done_passkey_added",
            "passkey_removed" => "security_done_passkey_removed",
            _ => "security_done_totp_disabled",
        });
    render(
        &state,
        &page,
        auth,
        Shown {
            notice,
            ..Shown::default()
        },
    )
    .await
}

/// Show the outcome of one action on the security page: `ok` what it made, or the error beside
/// the fields of `form`.
async fn outcome(
    state: &AppState,
    page: &Page,
    auth: &Authenticated,
    form: &'static str,
    result: Result<Shown, ApiError>,
) -> Response {
    match result {
        Ok(shown) => render(state, page, auth, shown).await,
        Err(ApiError::Unauthenticated) => page.to_login(),
        Err(err) => {
            let shown = Shown {
                form,
                errors: password_errors(page, &err),
                ..Shown::default()
            };
            with_error(render(state, page, auth, shown).await, err)
        }
    }
}

/// One action of the security page for the signed-in user (a visitor who is not signed in goes
/// to sign in): `action`'s result is shown by [`outcome`] beside the fields of `form`.
async fn act(
    state: &AppState,
    page: &Page,
    form: &'static str,
    action: impl AsyncFnOnce(&Authenticated) -> Result<Shown, ApiError>,
) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    outcome(state, page, auth, form, action(auth).await).await
}

async fn start_totp(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    act(&state, &page, "totp", async |auth| {
        let input = form.parse::<PasswordConfirmation>()?;
        let enrolment = mfa::start_totp(&state, auth, input, &page.client).await?;
        Ok(Shown {
            enrolment: Some(enrolment),
            ..Shown::default()
        })
    })
    .await
}

async fn confirm_totp(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    act(&state, &page, "totp", async |auth| {
        let input = form.parse::<CodeInput>()?;
        let codes = mfa::confirm_totp(&state, auth, input, &page.client).await?;
        Ok(Shown {
            notice: Some("security_done_totp_enabled"),
            recovery_codes: codes.recovery_codes,
            ..Shown::default()
        })
    })
    .await
}

async fn disable_totp(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    let disabled = match form.parse::<DisableTotp>() {
        Ok(input) => mfa::disable_totp(&state, auth, input, &page.client).await,
        Err(e) => Err(e),
    };
    match disabled {
        Ok(()) => redirect("/account/security?done=totp_disabled"),
        Err(e) => outcome(&state, &page, auth, "off", Err(e)).await,
    }
}

async fn renew_codes(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    act(&state, &page, "codes", async |auth| {
        let input = form.parse::<PasswordConfirmation>()?;
        let codes = mfa::renew_recovery_codes(&state, auth, input, &page.client).await?;
        Ok(Shown {
            notice: Some("security_done_codes_renewed"),
            recovery_codes: codes.recovery_codes,
            ..Shown::default()
        })
    })
    .await
}

async fn remove_passkey(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    _form: WebForm,
) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    match mfa::remove_passkey(&state, auth, &id, &page.client).await {
        Ok(()) => redirect("/account/security?done=passkey_removed"),
        Err(e) => outcome(&state, &page, auth, "passkeys", Err(e)).await,
    }
}
