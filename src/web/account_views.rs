//! The account page (profile, password, email, sessions, API keys, sign-in methods, teams and
//! their members, deletion) and invitation links.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};

use super::form::WebForm;
use super::page::{FormErrors, Page, redirect, signed_out, with_error};
use crate::accounts::service::{
    self as accounts, DeleteAccount, EmailChangeRequest, PasswordChange, ProfilePatch,
};
use crate::api_keys::service::{self as api_keys, CreateKey};
use crate::error::ApiError;
use crate::http::inputs::Patch;
use crate::http::parse_id;
use crate::oauth::service as oauth;
use crate::sessions::{self, Authenticated};
use crate::state::AppState;
use crate::tenants::service::{self as tenants, CreateTenant, InviteInput, Role, RoleInput};

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

const TIMEZONES: &str = include_str!("../../assets/timezones.txt");

/// Notices a redirect back to `/account?done=…` may show.
const DONE: &[&str] = &[
    "profile_saved",
    "password_changed",
    "email_sent",
    "session_revoked",
    "key_revoked",
    "team_created",
    "invitation_sent",
    "invitation_accepted",
    "role_changed",
    "member_removed",
    "invitation_revoked",
    "identity_linked",
    "identity_unlinked",
];

/// Codes a redirect back to `/account?error=…` may carry (a provider link that failed).
const ERRORS: &[&str] = &["identity_taken"];

/// What went wrong in which form of the page, or a one-time API key to show.
#[derive(Default)]
struct Outcome<'a> {
    form: &'a str,
    errors: FormErrors,
    values: Option<&'a WebForm>,
    new_key: Option<String>,
    notice: Option<&'static str>,
}

/// `Chrome on Linux` from a user agent, for the session list.
fn device(user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or_default();
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} · {o}"),
        (Some(b), None) => b.to_string(),
        (None, Some(o)) => o.to_string(),
        (None, None) => ua.chars().take(40).collect(),
    }
}

/// The linked identities, and each configured provider not linked yet (its button posts the
/// link form straight away: the button on this page is the confirmation).
async fn identities_context(
    state: &AppState,
    page: &Page,
    auth: &Authenticated,
) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
    let linked = oauth::identities(state, &auth.user).await?;
    let providers = oauth::providers(state);
    let name = |id: &str| {
        providers
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| id.to_string(), |p| p.name.clone())
    };
    let identities = linked
        .iter()
        .map(|i| {
            context! {
                id => &i.id, provider => name(&i.provider), email => &i.email,
                created_at => page.time(&i.created_at),
            }
        })
        .collect();
    let link = providers
        .iter()
        .filter(|p| !linked.iter().any(|i| i.provider == p.id))
        .map(|p| context! { name => &p.name, id => &p.id })
        .collect();
    Ok((identities, link))
}

async fn account_context(
    state: &AppState,
    page: &Page,
    auth: &Authenticated,
    outcome: Outcome<'_>,
) -> Result<Value, ApiError> {
    let sessions: Vec<Value> = sessions::service::list(state, auth)
        .await?
        .into_iter()
        .map(|s| {
            context! {
                id => s.id, current => s.current, ip => s.ip,
                device => device(s.user_agent.as_deref()), user_agent => s.user_agent,
                created_at => page.time(&s.created_at), last_seen_at => page.time(&s.last_seen_at),
            }
        })
        .collect();
    let keys: Vec<Value> = api_keys::list(state, auth)
        .await?
        .into_iter()
        .map(|k| {
            context! {
                id => k.id, name => k.name, prefix => k.prefix, tenant_id => k.tenant_id,
                created_at => page.time(&k.created_at),
                expires_at => k.expires_at.as_deref().map(|t| page.time(t)),
                last_used_at => k.last_used_at.as_deref().map(|t| page.time(t)),
            }
        })
        .collect();
    let mut teams = Vec::new();
    for t in tenants::list(state, auth).await? {
        let manager = t.role >= Role::Admin;
        let members: Vec<Value> = tenants::members(state, auth, &t.id)
            .await?
            .into_iter()
            .map(|m| {
                context! {
                    own => m.user_id == auth.user.id, user_id => m.user_id,
                    email => m.email, nickname => m.nickname, role => m.role.as_str(),
                    joined_at => page.time(&m.joined_at),
                }
            })
            .collect();
        let mut invitations = Vec::new();
        if manager {
            for i in tenants::invitations(state, auth, &t.id).await? {
                invitations.push(context! {
                    id => i.id, email => i.email,
                    role => i.role.as_str(), expires_at => page.time(&i.expires_at),
                });
            }
        }
        teams.push(context! {
            id => t.id, name => t.name, role => t.role.as_str(), manager,
            owner => t.role == Role::Owner, members, invitations,
        });
    }
    let (identities, link) = identities_context(state, page, auth).await?;
    let user = &auth.user;
    let value = |name: &str, current: &str| -> String {
        match outcome.values {
            Some(f) if outcome.form == "profile" => f.get(name).to_string(),
            _ => current.to_string(),
        }
    };
    let profile = context! {
        nickname => value("nickname", &user.nickname),
        avatar => value("avatar", user.avatar.as_deref().unwrap_or_default()),
        language => value("language", &user.language),
        color_schema => value("color_schema", &user.color_schema),
        timezone => value("timezone", &user.timezone),
    };
    let errors: HashMap<&str, _> = HashMap::from([(outcome.form, outcome.errors.fields)]);
    Ok(context! {
        title => page.t("account_title"),
        profile,
        timezones => TIMEZONES.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>(),
        sessions,
        keys,
        teams,
        identities,
        link,
        delete_password => accounts::deletion_needs_password(state, auth).await?,
        has_password => user.password_hash.is_some(),
        new_key => outcome.new_key,
        errors,
        error_form => outcome.form,
        form_error => outcome.errors.message,
        notice => outcome.notice.map(|k| page.t(&format!("done_{k}"))),
        verify_link => format!("/verify-email?email={}", encode(&user.email)),
    })
}

async fn render_account(
    state: &AppState,
    page: &Page,
    auth: &Authenticated,
    outcome: Outcome<'_>,
) -> Response {
    match account_context(state, page, auth, outcome).await {
        Ok(ctx) => page.render(state, "account.html", ctx),
        Err(e) => page.error(state, e),
    }
}

/// One section of the account area (`/account/profile`, `/account/teams`, `/account/keys`)
/// with the side menu; `/account` keeps showing every section on one page.
async fn section_page(state: &AppState, page: &Page, section: &str) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    match account_context(state, page, auth, Outcome::default()).await {
        Ok(ctx) => page.render(state, "account.html", context! { section, ..ctx }),
        Err(e) => page.error(state, e),
    }
}

pub async fn profile_page(State(state): State<AppState>, page: Page) -> Response {
    section_page(&state, &page, "profile").await
}

pub async fn teams_page(State(state): State<AppState>, page: Page) -> Response {
    section_page(&state, &page, "teams").await
}

pub async fn keys_page(State(state): State<AppState>, page: Page) -> Response {
    section_page(&state, &page, "keys").await
}

pub async fn account(
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
        .copied();
    let mut errors = FormErrors::default();
    if let Some(code) = query.get("error") {
        let key = if ERRORS.contains(&code.as_str()) {
            format!("account_error_{code}")
        } else if super::auth_views::PROVIDER_ERRORS.contains(&code.as_str()) {
            format!("login_error_{code}")
        } else {
            "account_error_unknown".to_string()
        };
        errors.message = Some(page.t(&key).to_string());
    }
    let outcome = Outcome {
        notice,
        errors,
        ..Outcome::default()
    };
    render_account(&state, &page, auth, outcome).await
}

/// Run one account action; success goes back to the page with a notice, failure re-renders the
/// page with the errors beside that form's fields.
async fn act<F>(
    state: &AppState,
    page: &Page,
    form: &WebForm,
    name: &str,
    done: &str,
    f: F,
) -> Response
where
    F: AsyncFnOnce(&Authenticated) -> Result<(), ApiError>,
{
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    match f(auth).await {
        Ok(()) => redirect(&format!("/account?done={done}#{name}")),
        Err(ApiError::Unauthenticated) => page.to_login(),
        Err(err) => {
            let mut errors = page.form_errors(&err);
            if name == "email"
                && let Some(taken) = errors.fields.remove("email")
            {
                errors.fields.insert("new_email".into(), taken);
            }
            let outcome = Outcome {
                form: name,
                errors,
                values: Some(form),
                ..Outcome::default()
            };
            with_error(render_account(state, page, auth, outcome).await, err)
        }
    }
}

pub async fn update_profile(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    act(
        &state,
        &page,
        &form,
        "profile",
        "profile_saved",
        async |auth| {
            let mut patch = form.parse::<ProfilePatch>()?;
            // The avatar field left empty clears the picture; the other fields keep their value.
            if matches!(patch.avatar, Patch::Absent) {
                patch.avatar = Patch::Null;
            }
            accounts::update_profile(&state, &auth.user, patch)
                .await
                .map(|_| ())
        },
    )
    .await
}

pub async fn change_password(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    act(
        &state,
        &page,
        &form,
        "password",
        "password_changed",
        async |auth| {
            let input = form.parse::<PasswordChange>()?;
            accounts::change_password(&state, auth, input, &page.client).await
        },
    )
    .await
}

pub async fn change_email(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    act(&state, &page, &form, "email", "email_sent", async |auth| {
        let input = form.parse::<EmailChangeRequest>()?;
        accounts::request_email_change(&state, auth, input, &page.client).await
    })
    .await
}

pub async fn revoke_session(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    form: WebForm,
) -> Response {
    act(
        &state,
        &page,
        &form,
        "sessions",
        "session_revoked",
        async |auth| sessions::service::revoke(&state, auth, &parse_id(&id)?, &page.client).await,
    )
    .await
}

pub async fn create_key(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    let created = match form.parse::<CreateKey>() {
        Ok(input) => api_keys::create(&state, auth, input, &page.client).await,
        Err(e) => Err(e),
    };
    let outcome = match created {
        // Shown on this answer only; a redirect would have to keep the secret somewhere.
        Ok(key) => Outcome {
            form: "keys",
            new_key: key.key,
            ..Outcome::default()
        },
        Err(err) => {
            let outcome = Outcome {
                form: "keys",
                errors: page.form_errors(&err),
                values: Some(&form),
                ..Outcome::default()
            };
            return with_error(render_account(&state, &page, auth, outcome).await, err);
        }
    };
    render_account(&state, &page, auth, outcome).await
}

pub async fn revoke_key(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    form: WebForm,
) -> Response {
    act(&state, &page, &form, "keys", "key_revoked", async |auth| {
        api_keys::revoke(&state, auth, &parse_id(&id)?, &page.client).await
    })
    .await
}

pub async fn create_team(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    act(
        &state,
        &page,
        &form,
        "teams",
        "team_created",
        async |auth| {
            let input = form.parse::<CreateTenant>()?;
            tenants::create(&state, auth, input, &page.client)
                .await
                .map(|_| ())
        },
    )
    .await
}

pub async fn invite(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    form: WebForm,
) -> Response {
    act(
        &state,
        &page,
        &form,
        &format!("team-{id}"),
        "invitation_sent",
        async |auth| {
            let input = form.parse::<InviteInput>()?;
            tenants::invite(&state, auth, &parse_id(&id)?, input, &page.client)
                .await
                .map(|_| ())
        },
    )
    .await
}

pub async fn change_role(
    State(state): State<AppState>,
    page: Page,
    Path((id, user_id)): Path<(String, String)>,
    form: WebForm,
) -> Response {
    act(
        &state,
        &page,
        &form,
        &format!("team-{id}"),
        "role_changed",
        async |auth| {
            let input = form.parse::<RoleInput>()?;
            let (id, user_id) = (parse_id(&id)?, parse_id(&user_id)?);
            tenants::update_member(&state, auth, &id, &user_id, input, &page.client)
                .await
                .map(|_| ())
        },
    )
    .await
}

pub async fn remove_member(
    State(state): State<AppState>,
    page: Page,
    Path((id, user_id)): Path<(String, String)>,
    form: WebForm,
) -> Response {
    act(
        &state,
        &page,
        &form,
        &format!("team-{id}"),
        "member_removed",
        async |auth| {
            let (id, user_id) = (parse_id(&id)?, parse_id(&user_id)?);
            tenants::remove_member(&state, auth, &id, &user_id, &page.client).await
        },
    )
    .await
}

pub async fn revoke_invitation(
    State(state): State<AppState>,
    page: Page,
    Path((id, invitation_id)): Path<(String, String)>,
    form: WebForm,
) -> Response {
    act(
        &state,
        &page,
        &form,
        &format!("team-{id}"),
        "invitation_revoked",
        async |auth| {
            let (id, invitation_id) = (parse_id(&id)?, parse_id(&invitation_id)?);
            tenants::revoke_invitation(&state, auth, &id, &invitation_id, &page.client).await
        },
    )
    .await
}

pub async fn unlink_identity(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    form: WebForm,
) -> Response {
    act(
        &state,
        &page,
        &form,
        "identities",
        "identity_unlinked",
        async |auth| oauth::unlink(&state, auth, &parse_id(&id)?, &page.client).await,
    )
    .await
}

/// Delete the account, confirmed as the API's rule asks (the password, or a recent provider
/// sign-in); then signed out and on to the sign-in page.
pub async fn delete_account(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    let result = match form.parse::<DeleteAccount>() {
        Ok(input) => accounts::delete_account(&state, auth, input, &page.client).await,
        Err(e) => Err(e),
    };
    let err = match result {
        Ok(()) => return signed_out(&state, "/login?done=account_deleted"),
        Err(ApiError::Unauthenticated) => return page.to_login(),
        Err(e) => e,
    };
    let mut errors = page.form_errors(&err);
    if let Some(wrong) = errors.fields.remove("current_password") {
        // No password sent: say what is missing rather than "wrong password".
        let message = match form.get("password") {
            "" => page.t("delete_password_required").to_string(),
            _ => wrong,
        };
        errors.fields.insert("password".into(), message);
    }
    let outcome = Outcome {
        form: "delete",
        errors,
        ..Outcome::default()
    };
    with_error(render_account(&state, &page, auth, outcome).await, err)
}

/// The invitation link: sign in first, then a button accepts (the GET changes nothing).
/// The invitation page: what the link offers, then Accept (signed in) or Sign in (signed out,
/// returning here); an unusable link or a refused accept is shown in words.
async fn invitation_view(
    state: &AppState,
    page: &Page,
    token: &str,
    refused: Option<ApiError>,
) -> Response {
    let action = format!("/invitations/{}", encode(token));
    let login = format!("/login?return_to={}", encode(&action));
    let (offer, err) = match tenants::invitation(state, token).await {
        Ok(o) => {
            let offer = context! {
                team => o.tenant_name, email => o.email,
                role => page.t(&format!("role_{}", o.role.as_str())),
                expires_at => page.time(&o.expires_at),
            };
            (Some(offer), refused)
        }
        Err(e) => (None, Some(e)),
    };
    let error = err.as_ref().map(|e| e.code().message(page.lang));
    let ctx = context! { title => page.t("invitation_title"), action, login, offer, error };
    let rendered = page.render(state, "invitation.html", ctx);
    match err {
        Some(e) => with_error(rendered, e),
        None => rendered,
    }
}

pub async fn invitation_page(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> Response {
    invitation_view(&state, &page, &token, None).await
}

pub async fn accept_invitation(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
    _form: WebForm,
) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    match tenants::accept(&state, auth, &token, &page.client).await {
        Ok(()) => redirect("/account?done=invitation_accepted#teams"),
        Err(err) => invitation_view(&state, &page, &token, Some(err)).await,
    }
}
