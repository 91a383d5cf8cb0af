//! Pages before the account: sign in, register, sign out, forgot and reset the password, verify
//! the email address, and the language switch.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::Response;
use minijinja::{Value, context};

use super::form::{WebForm, safe_return_to_for};
use super::page::{FormErrors, LANG_COOKIE, Page, redirect, signed_in, signed_out, with_error};
use crate::accounts::service::{self as accounts, LoginInput, ProfilePatch, RegisterInput};
use crate::error::ApiError;
use crate::http::inputs::{Language, Patch};
use crate::http::safe_return_to;
use crate::i18n::Lang;
use crate::recovery::service::{self as recovery, ForgotInput, ResetInput, VerifyCodeInput};
use crate::sessions;
use crate::state::AppState;
use crate::verification::service::{self as verification, ResendInput, Verified, VerifyInput};

type Q = Query<HashMap<String, String>>;

fn q<'a>(query: &'a HashMap<String, String>, name: &str) -> &'a str {
    query.get(name).map(String::as_str).unwrap_or("")
}

/// A fresh captcha image when the captcha is on; `None` when it is off or cannot be made now.
async fn captcha(state: &AppState, page: &Page) -> Value {
    if !state.config.captcha.enabled {
        return Value::UNDEFINED;
    }
    match crate::captcha::service::create(state, page.client.ip).await {
        Ok(c) => context! { id => c.captcha_id, image => c.image },
        Err(_) => Value::UNDEFINED,
    }
}

pub async fn home(page: Page) -> Response {
    redirect(if page.auth.is_some() {
        "/account"
    } else {
        "/login"
    })
}

/// Sign-in provider codes that `/login?error=` (and, after a failed link, `/account?error=`)
/// may carry, shown in words (`login_error_{code}`).
pub(super) const PROVIDER_ERRORS: &[&str] = &[
    "invalid_state",
    "missing_code",
    "token_failed",
    "invalid_id_token",
    "email_missing",
    "email_unverified",
    "account_disabled",
    "registration_disabled",
    "provider_error",
    "mfa_expired",
];

struct LoginForm<'a> {
    email: &'a str,
    return_to: &'a str,
    errors: FormErrors,
    captcha: Value,
}

fn login_context(state: &AppState, page: &Page, form: LoginForm<'_>) -> Value {
    let back: String = url::form_urlencoded::byte_serialize(form.return_to.as_bytes()).collect();
    let providers: Vec<Value> = state
        .config
        .providers
        .iter()
        .map(|(id, p)| {
            context! {
                name => p.name.clone().unwrap_or_else(|| id.clone()),
                href => format!("/api/v1/auth/providers/{id}/authorize?return_to={back}"),
            }
        })
        .collect();
    context! {
        title => page.t("login_title"),
        email => form.email,
        return_to => form.return_to,
        errors => form.errors.fields,
        error => form.errors.message,
        captcha => form.captcha,
        providers,
        password_login => state.config.password_login_enabled,
        registration => state.config.registration_enabled,
        passkeys => crate::mfa::passkeys::available(state),
    }
}

pub async fn login_page(State(state): State<AppState>, page: Page, Query(query): Q) -> Response {
    let return_to = safe_return_to_for(&state, query.get("return_to").map(String::as_str));
    // `reauth=1`: an application asked for a fresh sign-in (OpenID `prompt=login`, `max_age`).
    if page.auth.is_some() && q(&query, "reauth") != "1" {
        return redirect(&return_to);
    }
    let mut errors = FormErrors::default();
    let code = q(&query, "error");
    if !code.is_empty() {
        let key = format!("login_error_{code}");
        errors.message = Some(if PROVIDER_ERRORS.contains(&code) {
            page.t(&key).to_string()
        } else {
            page.t("login_error_unknown").to_string()
        });
    }
    let form = LoginForm {
        email: q(&query, "login_hint"),
        return_to: &return_to,
        errors,
        captcha: Value::UNDEFINED,
    };
    let notice = (q(&query, "done") == "account_deleted").then(|| page.t("account_deleted"));
    let ctx = context! { notice, ..login_context(&state, &page, form) };
    page.render(&state, "login.html", ctx)
}

pub async fn login_submit(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let return_to = safe_return_to_for(&state, Some(form.get("return_to")));
    let result = match form.parse::<LoginInput>() {
        Ok(input) => accounts::login(&state, input, &page.client).await,
        Err(e) => Err(e),
    };
    let err = match result {
        Ok(accounts::SignIn::Done(user, session)) => {
            let to = super::security_views::after_sign_in(&state, &user, &return_to).await;
            return signed_in(&state, &session, &to);
        }
        Ok(accounts::SignIn::SecondStep(step)) => {
            return super::security_views::second_step_page(&state, &page, &step, &return_to);
        }
        Err(e) => e,
    };
    let captcha = if matches!(err, ApiError::CaptchaRequired | ApiError::InvalidCaptcha) {
        captcha(&state, &page).await
    } else {
        Value::UNDEFINED
    };
    let login = LoginForm {
        email: form.get("email"),
        return_to: &return_to,
        errors: page.form_errors(&err),
        captcha,
    };
    let ctx = login_context(&state, &page, login);
    with_error(page.render(&state, "login.html", ctx), err)
}

fn register_context(page: &Page, form: Option<&WebForm>, errors: FormErrors) -> Value {
    let get = |name| form.map(|f| f.get(name)).unwrap_or("");
    context! {
        title => page.t("register_title"),
        email => get("email"),
        nickname => get("nickname"),
        errors => errors.fields,
        error => errors.message,
    }
}

pub async fn register_page(State(state): State<AppState>, page: Page) -> Response {
    if page.auth.is_some() {
        return redirect("/account");
    }
    if !state.config.registration_enabled {
        return page.error(&state, ApiError::RegistrationDisabled);
    }
    let ctx = register_context(&page, None, FormErrors::default());
    page.render(&state, "register.html", ctx)
}

pub async fn register_submit(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let result = match form.parse::<RegisterInput>() {
        Ok(input) => accounts::register(&state, input, page.lang, &page.client).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(accounts::Registered::SignedIn(_, session)) => signed_in(&state, &session, "/account"),
        Ok(accounts::Registered::VerificationSent) => {
            let ctx = verify_context(&page, "code", form.get("email"), "", FormErrors::default());
            let ctx = context! { notice => page.t("register_check_mail"), ..ctx };
            page.render(&state, "verify.html", ctx)
        }
        Err(err) => {
            let ctx = register_context(&page, Some(&form), page.form_errors(&err));
            with_error(page.render(&state, "register.html", ctx), err)
        }
    }
}

pub async fn logout(State(state): State<AppState>, page: Page, _form: WebForm) -> Response {
    if let Some(auth) = &page.auth
        && let Err(e) = sessions::service::logout(&state, auth, &page.client).await
    {
        return page.error(&state, e);
    }
    signed_out(&state, "/login")
}

/// The language switch: a cookie for everyone, and the profile setting for a signed-in user.
pub async fn set_language(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let Some(lang) = Lang::parse(form.get("language")) else {
        return redirect(&safe_return_to(Some(form.get("next"))));
    };
    if let Some(auth) = &page.auth {
        let patch = ProfilePatch {
            language: Patch::Value(Language(lang)),
            ..ProfilePatch::default()
        };
        if let Err(e) = accounts::update_profile(&state, &auth.user, patch).await {
            return page.error(&state, e);
        }
    }
    let mut response = redirect(&safe_return_to(Some(form.get("next"))));
    let secure = if state.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}",
        lang.as_str()
    );
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn forgot_context(page: &Page, email: &str, errors: FormErrors, captcha: Value) -> Value {
    context! {
        title => page.t("forgot_title"),
        email,
        captcha,
        errors => errors.fields,
        error => errors.message,
    }
}

pub async fn forgot_page(State(state): State<AppState>, page: Page, Query(query): Q) -> Response {
    let captcha = captcha(&state, &page).await;
    let ctx = forgot_context(&page, q(&query, "email"), FormErrors::default(), captcha);
    page.render(&state, "forgot.html", ctx)
}

pub async fn forgot_submit(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let result = match form.parse::<ForgotInput>() {
        Ok(input) => recovery::forgot(&state, input, &page.client).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let ctx = reset_context(&page, "code", form.get("email"), "", FormErrors::default());
            let ctx = context! { notice => page.t("forgot_sent"), ..ctx };
            page.render(&state, "reset.html", ctx)
        }
        Err(err) => {
            let captcha = captcha(&state, &page).await;
            let ctx = forgot_context(&page, form.get("email"), page.form_errors(&err), captcha);
            with_error(page.render(&state, "forgot.html", ctx), err)
        }
    }
}

fn reset_context(page: &Page, mode: &str, email: &str, token: &str, errors: FormErrors) -> Value {
    context! {
        title => page.t("reset_title"),
        mode,
        email,
        token,
        errors => errors.fields,
        error => errors.message,
    }
}

/// The code form, or (from the mailed link) the new-password form. The GET never uses the token:
/// mail scanners that follow links change nothing.
pub async fn reset_page(State(state): State<AppState>, page: Page, Query(query): Q) -> Response {
    let token = q(&query, "token");
    let mode = if token.is_empty() { "code" } else { "password" };
    let ctx = reset_context(
        &page,
        mode,
        q(&query, "email"),
        token,
        FormErrors::default(),
    );
    page.render(&state, "reset.html", ctx)
}

pub async fn reset_code(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let result = match form.parse::<VerifyCodeInput>() {
        Ok(input) => recovery::verify_code(&state, input, &page.client).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(token) => {
            let errors = FormErrors::default();
            let ctx = reset_context(&page, "password", "", &token.reset_token, errors);
            page.render(&state, "reset.html", ctx)
        }
        Err(err) => {
            let ctx = reset_context(&page, "code", form.get("email"), "", page.form_errors(&err));
            with_error(page.render(&state, "reset.html", ctx), err)
        }
    }
}

pub async fn reset_submit(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let result = match form.parse::<ResetInput>() {
        Ok(input) => recovery::reset(&state, input, &page.client).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let ctx = context! {
                title => page.t("reset_title"), heading => page.t("reset_done_heading"),
                notice => page.t("reset_done"), link => "/login", link_text => page.t("sign_in"),
            };
            page.render(&state, "message.html", ctx)
        }
        Err(err) => {
            let (mode, token) = if matches!(err, ApiError::InvalidToken) {
                ("code", "")
            } else {
                ("password", form.get("reset_token"))
            };
            let ctx = reset_context(&page, mode, "", token, page.form_errors(&err));
            with_error(page.render(&state, "reset.html", ctx), err)
        }
    }
}

fn verify_context(page: &Page, mode: &str, email: &str, token: &str, errors: FormErrors) -> Value {
    context! {
        title => page.t("verify_title"),
        mode,
        email,
        token,
        errors => errors.fields,
        error => errors.message,
    }
}

/// The code form, or (from the mailed link) a confirm button; only the POST uses the token.
pub async fn verify_page(State(state): State<AppState>, page: Page, Query(query): Q) -> Response {
    let token = q(&query, "token");
    let mode = if token.is_empty() { "code" } else { "confirm" };
    let ctx = verify_context(
        &page,
        mode,
        q(&query, "email"),
        token,
        FormErrors::default(),
    );
    page.render(&state, "verify.html", ctx)
}

pub async fn verify_submit(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    // A link's token wins over whatever code fields the page also sent.
    let parsed = form.parse::<VerifyInput>().map(|input| match input.token {
        Some(token) => VerifyInput {
            token: Some(token),
            email: None,
            code: None,
        },
        None => input,
    });
    let result = match parsed {
        Ok(input) => verification::verify(&state, input, &page.client).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(Verified::SignedIn(_, session)) => signed_in(&state, &session, "/account"),
        Ok(Verified::Done) => {
            let (link, link_text) = if page.auth.is_some() {
                ("/account", page.t("nav_account"))
            } else {
                ("/login", page.t("sign_in"))
            };
            let ctx = context! {
                title => page.t("verify_title"), heading => page.t("verify_done_heading"),
                notice => page.t("verify_done"), link, link_text,
            };
            page.render(&state, "message.html", ctx)
        }
        Err(err) => {
            let mut errors = page.form_errors(&err);
            if let Some(problem) = errors.fields.remove("token") {
                errors.fields.insert("code".into(), problem);
            }
            let ctx = verify_context(&page, "code", form.get("email"), "", errors);
            with_error(page.render(&state, "verify.html", ctx), err)
        }
    }
}

pub async fn verify_resend(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let result = match form.parse::<ResendInput>() {
        Ok(input) => verification::resend(&state, input, &page.client).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let ctx = verify_context(&page, "code", form.get("email"), "", FormErrors::default());
            page.render(
                &state,
                "verify.html",
                context! { notice => page.t("verify_sent"), ..ctx },
            )
        }
        Err(err) => {
            let ctx = verify_context(&page, "code", form.get("email"), "", page.form_errors(&err));
            with_error(page.render(&state, "verify.html", ctx), err)
        }
    }
}
