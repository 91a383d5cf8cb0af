//! Administration pages for superusers: users (search, paging, detail and actions), the audit
//! trail with filters, and the mail outbox. Each handler holds an [`Admin`] from the same check
//! the admin API uses.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};

use super::form::WebForm;
use super::page::{Page, WebError, redirect};
use crate::admin::Admin;
use crate::admin::service::{self as admin, AuditQuery, UpdateUser};
use crate::error::ApiError;
use crate::http::paging::Paging;
use crate::http::parse_id;
use crate::state::AppState;

type Q = Query<HashMap<String, String>>;

fn text(q: &HashMap<String, String>, name: &str) -> Option<String> {
    q.get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Links to the previous and next page, keeping the other filters.
fn pager(q: &HashMap<String, String>, base: &str, page: i64, per_page: i64, total: i64) -> Value {
    let link = |n: i64| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in q.iter().filter(|(k, _)| *k != "page") {
            ser.append_pair(k, v);
        }
        ser.append_pair("page", &n.to_string());
        format!("{base}?{}", ser.finish())
    };
    let last = ((total + per_page - 1) / per_page).max(1);
    context! {
        page, last, total,
        prev => (page > 1).then(|| link(page - 1)),
        next => (page < last).then(|| link(page + 1)),
    }
}

fn user_row(page: &Page, u: &admin::AdminUserView) -> Value {
    context! {
        id => &u.user.id, email => &u.user.email, nickname => &u.user.nickname,
        is_active => u.is_active, is_superuser => u.user.is_superuser,
        email_verified => u.user.email_verified,
        created_at => page.time(&u.user.created_at),
        last_login_at => u.user.last_login_at.as_deref().map(|t| page.time(t)),
    }
}

pub async fn users(
    State(state): State<AppState>,
    page: Page,
    admin: Result<Admin, ApiError>,
    Query(q): Q,
) -> Result<Response, WebError> {
    let admin = admin?;
    let paging = Paging::from_query(&q)?;
    let query = text(&q, "query").unwrap_or_default();
    let found = admin::list_users(&state, &admin, &query, paging).await?;
    let ctx = context! {
        title => page.t("admin_users_title"),
        query,
        users => found.items.iter().map(|u| user_row(&page, u)).collect::<Vec<_>>(),
        pager => pager(&q, "/admin/users", found.page, found.per_page, found.total),
    };
    Ok(page.render(&state, "admin_users.html", ctx))
}

const DONE: &[&str] = &["updated", "reset_sent", "sessions_revoked"];

pub async fn user(
    State(state): State<AppState>,
    page: Page,
    admin: Result<Admin, ApiError>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, WebError> {
    let admin = admin?;
    let found = admin::get_user(&state, &admin, &parse_id(&id)?).await?;
    let notice = q
        .get("done")
        .and_then(|d| DONE.iter().find(|k| *k == d))
        .map(|k| page.t(&format!("admin_done_{k}")));
    let ctx = context! {
        title => page.t("admin_user_title"),
        subject => user_row(&page, &found),
        own => admin.user_id() == Some(found.user.id.as_str()),
        language => &found.user.language,
        login_channel => &found.user.login_channel,
        notice,
    };
    Ok(page.render(&state, "admin_user.html", ctx))
}

/// `action` is one of disable, enable, promote, demote, reset, revoke.
pub async fn user_action(
    State(state): State<AppState>,
    page: Page,
    admin: Result<Admin, ApiError>,
    Path((id, action)): Path<(String, String)>,
    _form: WebForm,
) -> Result<Response, WebError> {
    let admin = admin?;
    let id = parse_id(&id)?;
    let client = &page.client;
    let update = |is_active, is_superuser| UpdateUser {
        is_active,
        is_superuser,
        nickname: None,
    };
    let done = match action.as_str() {
        "disable" | "enable" | "promote" | "demote" => {
            let input = match action.as_str() {
                "disable" => update(Some(false), None),
                "enable" => update(Some(true), None),
                "promote" => update(None, Some(true)),
                _ => update(None, Some(false)),
            };
            admin::update_user(&state, &admin, &id, input, client).await?;
            "updated"
        }
        "reset" => {
            admin::send_password_reset(&state, &admin, &id, client).await?;
            "reset_sent"
        }
        "revoke" => {
            admin::revoke_sessions(&state, &admin, &id, client).await?;
            "sessions_revoked"
        }
        _ => return Err(ApiError::NotFound.into()),
    };
    let to = format!("/admin/users/{id}?done={done}");
    Ok(redirect(&to))
}

pub async fn audit(
    State(state): State<AppState>,
    page: Page,
    admin: Result<Admin, ApiError>,
    Query(q): Q,
) -> Result<Response, WebError> {
    let admin = admin?;
    let paging = Paging::from_query(&q)?;
    let time = |name: &str| {
        text(&q, name)
            .map(|v| admin::parse_time(name, &v))
            .transpose()
    };
    let filter = AuditQuery {
        user_id: text(&q, "user_id"),
        event: text(&q, "event"),
        since: time("since")?,
        until: time("until")?,
    };
    let found = admin::audit(&state, &admin, filter, paging).await?;
    let events: Vec<Value> = found
        .items
        .iter()
        .map(|e| {
            context! {
                at => page.time(&e.at), event => &e.event, actor => &e.actor_user_id,
                subject => &e.subject_user_id, ip => &e.ip, detail => e.detail.to_string(),
            }
        })
        .collect();
    let ctx = context! {
        title => page.t("admin_audit_title"),
        filters => context! {
            user_id => text(&q, "user_id"), event => text(&q, "event"),
            since => text(&q, "since"), until => text(&q, "until"),
        },
        events,
        pager => pager(&q, "/admin/audit", found.page, found.per_page, found.total),
    };
    Ok(page.render(&state, "admin_audit.html", ctx))
}

pub async fn outbox(
    State(state): State<AppState>,
    page: Page,
    admin: Result<Admin, ApiError>,
    Query(q): Q,
) -> Result<Response, WebError> {
    let admin = admin?;
    let paging = Paging::from_query(&q)?;
    let status = text(&q, "status");
    let found = admin::outbox(&state, &admin, status.as_deref(), paging).await?;
    let mails: Vec<Value> = found
        .items
        .iter()
        .map(|m| {
            context! {
                kind => &m.kind, recipient => &m.recipient, subject => &m.subject,
                status => &m.status, attempts => m.attempts, last_error => &m.last_error,
                created_at => page.time(&m.created_at),
                sent_at => m.sent_at.as_deref().map(|t| page.time(t)),
            }
        })
        .collect();
    let ctx = context! {
        title => page.t("admin_outbox_title"),
        status,
        mails,
        pager => pager(&q, "/admin/outbox", found.page, found.per_page, found.total),
    };
    Ok(page.render(&state, "admin_outbox.html", ctx))
}
