//! What every page needs: the templates (embedded, or an operator's override), the request's
//! language, user, theme and CSRF token, and the headers every HTML answer carries.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use minijinja::{Environment, UndefinedBehavior, Value, context};

use super::i18n;
use crate::error::ApiError;
use crate::error::{FieldProblem, InternalErrorLog};
use crate::http::ClientInfo;
use crate::i18n::{Lang, RequestLang};
use crate::sessions::{self, Authenticated, NewSession};
use crate::state::AppState;
use crate::tokens::{new_token, sha256_hex};

/// The browser's random CSRF seed; forms carry an HMAC of it (and of the session).
pub const CSRF_COOKIE: &str = "gatehouse_csrf";
/// The language chosen with the switch, for visitors who are not signed in.
pub const LANG_COOKIE: &str = "gatehouse_lang";

macro_rules! web_templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/web/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = web_templates!(
    "base.html",
    "_macros.html",
    "login.html",
    "register.html",
    "forgot.html",
    "reset.html",
    "verify.html",
    "message.html",
    "account.html",
    "invitation.html",
    "link.html",
    "admin_users.html",
    "admin_user.html",
    "admin_audit.html",
    "admin_outbox.html",
    "admin_overview.html",
    "_pager.html",
    "_account_menu.html",
    "account_mail.html",
    "mail.html",
    "login_mfa.html",
    "security.html",
    "oauth_consent.html",
    "oauth_logout.html",
    "admin_clients.html",
);

/// The stylesheet, served from `/assets/gatehouse.css` with the configured accent appended.
pub const STYLESHEET: &str = include_str!("../../templates/web/gatehouse.css");

fn embedded(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

fn environment(dir: Option<PathBuf>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_loader(move |name| {
        let plain = !name.contains(['/', '\\']) && !name.starts_with('.');
        if let Some(dir) = dir.as_ref().filter(|_| plain) {
            match std::fs::read_to_string(dir.join(name)) {
                Ok(source) => return Ok(Some(source)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        "cannot read the template override",
                    )
                    .with_source(e));
                }
            }
        }
        Ok(embedded(name).map(str::to_string))
    });
    env
}

static EMBEDDED_ENV: LazyLock<Environment<'static>> = LazyLock::new(|| environment(None));

/// Render `name`; with a `templates_dir` the files are read on every render, so edits show at once.
fn render_template(state: &AppState, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
    match &state.config.web.templates_dir {
        Some(dir) => environment(Some(dir.clone()))
            .get_template(name)?
            .render(ctx),
        None => EMBEDDED_ENV.get_template(name)?.render(ctx),
    }
}

/// One of the pages' own cookies (language, CSRF seed, second-step token): never longer than
/// 128 characters, so a longer value is treated as absent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    crate::http::cookie(headers, name).filter(|v| v.len() <= 128)
}

/// The request as a page sees it. Extracted once per request and shared with the form extractor.
#[derive(Clone)]
pub struct Page {
    pub lang: Lang,
    pub auth: Option<Authenticated>,
    pub client: ClientInfo,
    pub path: String,
    /// The zone every date on the page is shown in: the user's, UTC before signing in.
    zone: TimeZone,
    csrf_seed: String,
    new_seed: bool,
    /// The session cookie's hash (empty without one): a token is only good with the same session.
    binding: String,
}

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(page) = parts.extensions.get::<Page>() {
            return Ok(page.clone());
        }
        let headers = &parts.headers;
        let token = sessions::cookie_token(headers, &state.session_cookie());
        let accept = parts
            .extensions
            .get::<RequestLang>()
            .map(|l| l.accept)
            .unwrap_or_default();
        let chosen = cookie(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c));
        let (csrf_seed, new_seed) = match cookie(headers, CSRF_COOKIE) {
            Some(seed) => (seed, false),
            None => (new_token(""), true),
        };
        let mut page = Page {
            lang: chosen.unwrap_or(accept),
            auth: None,
            client: ClientInfo::from_parts(parts, state),
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
            zone: TimeZone::UTC,
            csrf_seed,
            new_seed,
            binding: token.as_deref().map(sha256_hex).unwrap_or_default(),
        };
        if let Some(token) = token {
            match sessions::service::authenticate(state, &token).await {
                Ok(auth) => page.auth = auth,
                Err(e) => return Err(page.error(state, e)),
            }
        }
        if let Some(auth) = &page.auth {
            page.lang = auth.user.lang();
            page.zone = zone(&auth.user.timezone);
            if let Some(lang) = parts.extensions.get::<RequestLang>() {
                let _ = lang.user.set(page.lang);
            }
        }
        if let Some(slot) = parts.extensions.get::<PageSlot>() {
            let _ = slot.0.set((page.clone(), state.clone()));
        }
        parts.extensions.insert(page.clone());
        Ok(page)
    }
}

/// Why a page handler did not answer with its page: a service error, shown as the error page
/// (or, to a visitor who is not signed in, as the way to sign in) exactly as [`Page::error`]
/// does. Page handlers return `Result<Response, WebError>` and use `?`; the rendering is done by
/// [`render_page_errors`], which has the request's page.
#[derive(Debug)]
pub struct WebError(ApiError);

impl<E: Into<ApiError>> From<E> for WebError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

/// The error a handler returned, waiting for [`render_page_errors`] to show it on a page.
#[derive(Clone)]
struct PendingPageError(Arc<Mutex<Option<ApiError>>>);

/// The page the handler extracted (with the state), for [`render_page_errors`]: the handler's
/// own extensions are gone by the time its answer comes back.
#[derive(Clone, Default)]
struct PageSlot(Arc<OnceLock<(Page, AppState)>>);

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        response
            .extensions_mut()
            .insert(PendingPageError(Arc::new(Mutex::new(Some(self.0)))));
        response
    }
}

/// Middleware of the page routes: renders a [`WebError`] as the error page of the
/// request's [`Page`]. A handler that returns one always extracted its page; were it not so,
/// the error would answer as the API does.
pub async fn render_page_errors(mut request: Request, next: Next) -> Response {
    let slot = PageSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let Some(pending) = response.extensions_mut().remove::<PendingPageError>() else {
        return response;
    };
    let Some(err) = pending.0.lock().ok().and_then(|mut e| e.take()) else {
        return response;
    };
    match slot.0.get() {
        Some((page, state)) => page.error(state, err),
        None => err.into_response(),
    }
}

/// Field errors (already in words) and a message for the whole form.
#[derive(Default, Debug, serde::Serialize)]
pub struct FormErrors {
    pub fields: std::collections::BTreeMap<String, String>,
    pub message: Option<String>,
}

impl Page {
    /// The token forms must echo: HMAC(server key, CSRF cookie | session hash).
    pub fn csrf_token(&self, state: &AppState) -> String {
        crate::codes::mac(
            state,
            "web-csrf",
            &format!("{}|{}", self.csrf_seed, self.binding),
        )
    }

    pub fn t(&self, key: &str) -> &'static str {
        i18n::text(key, self.lang)
    }

    /// A service's RFC 3339 time as the viewer reads it, in their zone (see [`show_time`]).
    pub fn time(&self, rfc3339: &str) -> String {
        show_time(&self.zone, rfc3339)
    }

    fn theme(&self) -> &str {
        match self.auth.as_ref().map(|a| a.user.color_schema.as_str()) {
            Some("light") => "light",
            Some("dark") => "dark",
            _ => "system",
        }
    }

    fn base_context(&self, state: &AppState) -> Value {
        let user = self.auth.as_ref().map(|a| {
            let u = &a.user;
            context! {
                email => &u.email, nickname => &u.nickname, avatar => &u.avatar,
                email_verified => u.email_verified, language => &u.language,
            }
        });
        let is_admin = self
            .auth
            .as_ref()
            .is_some_and(|a| a.user.role.is_superuser());
        context! {
            lang => self.lang.as_str(),
            t => i18n::table(self.lang),
            product => &state.config.product_name,
            logo_url => &state.config.web.logo_url,
            theme => self.theme(),
            user,
            is_admin,
            csrf => self.csrf_token(state),
            path => &self.path,
            timezone => self.zone.iana_name().unwrap_or("UTC"),
        }
    }

    pub fn render(&self, state: &AppState, name: &str, ctx: Value) -> Response {
        self.render_status(state, StatusCode::OK, name, ctx)
    }

    pub fn render_status(
        &self,
        state: &AppState,
        status: StatusCode,
        name: &str,
        ctx: Value,
    ) -> Response {
        let full = context! { ..ctx, ..self.base_context(state) };
        match render_template(state, name, full) {
            Ok(html) => self.html(state, status, html),
            Err(e) => {
                let mut response = self.html(
                    state,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "<!doctype html><html lang=\"{}\"><title>{}</title><p>{}</p></html>",
                        self.lang.as_str(),
                        state.config.product_name,
                        crate::error::ErrorCode::InternalError.message(self.lang)
                    ),
                );
                response
                    .extensions_mut()
                    .insert(InternalErrorLog(Arc::new(anyhow::anyhow!(
                        "template {name}: {e:#}"
                    ))));
                response
            }
        }
    }

    fn html(&self, state: &AppState, status: StatusCode, body: String) -> Response {
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
            h.insert(name, HeaderValue::from_static(value));
        };
        set(headers, header::CONTENT_TYPE, "text/html; charset=utf-8");
        set(headers, header::CACHE_CONTROL, "no-store");
        // Link pages carry tokens in their URL: never hand it to another site.
        set(headers, header::REFERRER_POLICY, "no-referrer");
        set(headers, header::X_FRAME_OPTIONS, "DENY");
        set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        set(
            headers,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data: https:; \
             script-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        );
        if self.new_seed {
            let secure = if state.secure_cookies() {
                "; Secure"
            } else {
                ""
            };
            let value = format!(
                "{CSRF_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax{secure}",
                self.csrf_seed
            );
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.append(header::SET_COOKIE, v);
            }
        }
        response
    }

    /// An error page for errors that do not belong to a form; unauthenticated visitors go to sign in.
    pub fn error(&self, state: &AppState, err: ApiError) -> Response {
        if matches!(err, ApiError::Unauthenticated | ApiError::SessionRequired) {
            return self.to_login();
        }
        let status = err.status();
        let message = err.code().message(self.lang);
        let ctx = context! { title => self.t("error_title"), heading => self.t("error_title"), error => message };
        let mut response = self.render_status(state, status, "message.html", ctx);
        if let ApiError::Internal(e) = err {
            response
                .extensions_mut()
                .insert(InternalErrorLog(Arc::new(e)));
        }
        response
    }

    /// 303 to the sign-in page, coming back here afterwards.
    pub fn to_login(&self) -> Response {
        let back: String = url::form_urlencoded::byte_serialize(self.path.as_bytes()).collect();
        redirect(&format!("/login?return_to={back}"))
    }

    /// Put a service error next to the fields it concerns, in the page's language.
    pub fn form_errors(&self, err: &ApiError) -> FormErrors {
        let mut out = FormErrors::default();
        let field = match err {
            ApiError::Validation(fields) => {
                for (name, problem) in fields {
                    out.fields
                        .insert(name.clone(), crate::i18n::field_message(problem, self.lang));
                }
                return out;
            }
            ApiError::WeakPassword(name) => {
                out.fields.insert(
                    name.to_string(),
                    crate::i18n::field_message(&FieldProblem::WeakPassword, self.lang),
                );
                return out;
            }
            ApiError::CaptchaRequired | ApiError::InvalidCaptcha => Some("captcha_answer"),
            ApiError::WrongPassword => Some("current_password"),
            ApiError::InvalidCode => Some("code"),
            ApiError::EmailTaken => Some("email"),
            _ => None,
        };
        let message = err.code().message(self.lang).to_string();
        match field {
            Some(name) => {
                out.fields.insert(name.into(), message);
            }
            None => out.message = Some(message),
        }
        out
    }

    /// The status a re-rendered form answers with; internal errors are logged by the middleware.
    pub fn form_status(err: &ApiError) -> StatusCode {
        match err.status() {
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => s,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// A form re-rendered with errors: the right status, and the internal cause handed to the logger.
pub fn with_error(mut response: Response, err: ApiError) -> Response {
    *response.status_mut() = Page::form_status(&err);
    if let ApiError::Internal(e) = err {
        response
            .extensions_mut()
            .insert(InternalErrorLog(Arc::new(e)));
    }
    response
}

/// 303 See Other (the browser follows with a GET).
pub fn redirect(to: &str) -> Response {
    let location = HeaderValue::from_str(to).unwrap_or_else(|_| HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// Set the session cookie and go on to `to`.
pub fn signed_in(state: &AppState, session: &NewSession, to: &str) -> Response {
    let cookie = sessions::set_cookie(
        &session.token,
        state.config.session_lifetime.secs(),
        &state.session_cookie(),
    );
    let mut response = redirect(to);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// Clear the session cookie and go on to `to`.
pub fn signed_out(state: &AppState, to: &str) -> Response {
    let mut response = redirect(to);
    response.headers_mut().append(
        header::SET_COOKIE,
        sessions::clear_cookie(&state.session_cookie()),
    );
    response
}

/// The time zone database the pages use: the copy built into the binary, so a host without
/// `/usr/share/zoneinfo` shows the same dates (and the shipped zone list is tested against it).
static TZDB: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// The zone named in a profile; UTC for a name the database does not know (profiles saved
/// before the name was checked), so a page never fails over a date.
fn zone(name: &str) -> TimeZone {
    TZDB.get(name).unwrap_or(TimeZone::UTC)
}

/// `2026-11-25 21:04 CET`: minutes in `zone`, labelled with its abbreviation, or with the offset
/// (`+04:00`) where the zone has no abbreviation of letters. An unreadable value shows as given.
fn show_time(zone: &TimeZone, rfc3339: &str) -> String {
    let Ok(at) = rfc3339.parse::<jiff::Timestamp>() else {
        return rfc3339.to_string();
    };
    let local = at.to_zoned_datetime(zone.clone());
    let format = |f: &str| jiff::fmt::strtime::format(f, &local).ok();
    let label = format("%Z")
        .filter(|abbr| !abbr.is_empty() && abbr.chars().all(|c| c.is_ascii_alphabetic()))
        .or_else(|| format("%:z"));
    match (format("%Y-%m-%d %H:%M"), label) {
        (Some(day), Some(label)) => format!("{day} {label}"),
        _ => rfc3339.to_string(),
    }
}

#[cfg(test)]
pub fn template_sources() -> &'static [(&'static str, &'static str)] {
    TEMPLATES
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every template parses and renders with an empty context (undefined values are chainable).
    #[test]
    fn every_template_renders() {
        for (name, _) in TEMPLATES {
            if name.starts_with('_') {
                continue;
            }
            let ctx = context! { t => i18n::table(Lang::ZhCn), lang => "zh-CN" };
            let html = EMBEDDED_ENV
                .get_template(name)
                .and_then(|t| t.render(ctx))
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(html.contains("<html lang=\"zh-CN\""), "{name}");
        }
    }

    /// The profile's list and the dates agree: every zone a user can choose is in the bundled
    /// database, so nobody is silently shown UTC.
    #[test]
    fn every_offered_zone_is_in_the_bundled_database() {
        for name in include_str!("../../assets/timezones.txt").lines() {
            if !name.is_empty() {
                assert!(TZDB.get(name).is_ok(), "{name}");
            }
        }
    }

    #[test]
    fn times_show_in_the_zone_with_its_abbreviation_or_offset() {
        let at = "2026-11-25T20:04:00Z";
        let shown = |name| show_time(&zone(name), at);
        assert_eq!(shown("UTC"), "2026-11-25 20:04 UTC");
        assert_eq!(shown("Europe/Berlin"), "2026-11-25 21:04 CET");
        assert_eq!(shown("Asia/Shanghai"), "2026-11-26 04:04 CST");
        assert_eq!(shown("America/New_York"), "2026-11-25 15:04 EST");
        assert_eq!(shown("Asia/Kolkata"), "2026-11-26 01:34 IST");
        // Zones whose abbreviation is a number show the offset instead.
        assert_eq!(shown("Asia/Dubai"), "2026-11-26 00:04 +04:00");
        // Summer time.
        let summer = show_time(&zone("Europe/Berlin"), "2026-07-01T12:00:00Z");
        assert_eq!(summer, "2026-07-01 14:00 CEST");
        // Unknown names fall back to UTC; unreadable values show as they came.
        assert_eq!(shown("Mars/Olympus"), "2026-11-25 20:04 UTC");
        assert_eq!(show_time(&TimeZone::UTC, "yesterday"), "yesterday");
    }
}
