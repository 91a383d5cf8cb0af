//! The mail pages: "Mail accounts" in the account area (add with presets, test, make primary,
//! remove) and the mail client at `/mail` (account switcher, folders with unread counts, message
//! list with search and paging, a reading pane showing sanitised HTML in a sandboxed iframe,
//! compose/reply/forward, drafts, delete, read/unread). Everything works without JavaScript.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde_json::json;

use super::form::WebForm;
use super::page::{FormErrors, Page, redirect, with_error};
use crate::error::ApiError;
use crate::mailbox::compose::SendInput;
use crate::mailbox::presets;
use crate::mailbox::service::{self as mail, AccountView};
use crate::sessions::Authenticated;
use crate::state::AppState;

const DONE: &[&str] = &[
    "mail_account_added",
    "mail_account_removed",
    "mail_account_primary",
    "mail_sent",
    "mail_draft_saved",
    "mail_deleted",
];

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn notice(page: &Page, query: &HashMap<String, String>) -> Option<&'static str> {
    query
        .get("done")
        .and_then(|d| DONE.iter().find(|k| *k == d))
        .map(|k| page.t(&format!("done_{k}")))
}

fn account_context(page: &Page, a: &AccountView) -> Value {
    context! {
        id => &a.id, email => &a.email, display_name => &a.display_name,
        imap => format!("{}:{} ({})", a.imap_host, a.imap_port, a.imap_tls.as_str()),
        smtp => format!("{}:{} ({})", a.smtp_host, a.smtp_port, a.smtp_tls.as_str()),
        is_primary => a.is_primary,
        last_checked_at => a.last_checked_at.as_deref().map(|t| page.time(t)),
        last_error => &a.last_error,
    }
}

/// A connection failure in words: which of IMAP and SMTP failed, and how.
fn connection_message(page: &Page, err: &ApiError) -> Option<String> {
    let ApiError::MailConnectionFailed(detail) = err else {
        return None;
    };
    let part = |name: &str| {
        let r = &detail[name];
        if r["ok"] == true {
            format!("{}: {}", name.to_uppercase(), page.t("mail_check_ok"))
        } else {
            let class = r["error"].as_str().unwrap_or("connect");
            format!(
                "{}: {}",
                name.to_uppercase(),
                page.t(&format!("mail_failure_{class}"))
            )
        }
    };
    Some(format!(
        "{} {}; {}",
        err.code().message(page.lang),
        part("imap"),
        part("smtp")
    ))
}

async fn render_accounts(
    state: &AppState,
    page: &Page,
    auth: &Authenticated,
    notice: Option<&'static str>,
    errors: FormErrors,
    values: Option<&WebForm>,
) -> Response {
    let accounts = match mail::list(state, &auth.user.id).await {
        Ok(list) => list,
        Err(e) => return page.error(state, e),
    };
    let value = |name: &str, default: &str| -> String {
        values.map_or_else(|| default.to_string(), |f| f.get(name).to_string())
    };
    let form = context! {
        preset => value("preset", "custom"), email => value("email", ""),
        display_name => value("display_name", ""), imap_host => value("imap_host", ""),
        imap_port => value("imap_port", "993"), imap_tls => value("imap_tls", "implicit"),
        smtp_host => value("smtp_host", ""), smtp_port => value("smtp_port", "587"),
        smtp_tls => value("smtp_tls", "starttls"), username => value("username", ""),
    };
    let presets: Vec<Value> = presets::all()
        .iter()
        .map(|p| context! { id => p.id, name => p.name, note => p.note })
        .collect();
    page.render(
        state,
        "account_mail.html",
        context! {
            title => page.t("mail_accounts_title"),
            section => "mail",
            accounts => accounts.iter().map(|a| account_context(page, a)).collect::<Vec<_>>(),
            presets,
            form,
            errors => context! { add => errors.fields },
            form_error => errors.message,
            notice,
        },
    )
}

/// `/account/mail`: the user's mail accounts and the form that adds one.
pub async fn accounts_page(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    let notice = notice(&page, &query);
    render_accounts(&state, &page, auth, notice, FormErrors::default(), None).await
}

/// The add form as the API's body: a chosen preset fills the server fields left empty.
fn new_account_body(form: &WebForm) -> serde_json::Value {
    let preset = presets::all()
        .into_iter()
        .find(|p| p.id == form.get("preset"));
    let pick = |name: &str, from_preset: Option<String>| -> Option<String> {
        let v = form.get(name).trim().to_string();
        if v.is_empty() { from_preset } else { Some(v) }
    };
    let port = |name: &str, from_preset: Option<u16>| -> serde_json::Value {
        match pick(name, from_preset.map(|p| p.to_string())) {
            Some(v) => v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n)),
            None => serde_json::Value::Null,
        }
    };
    let p = preset.as_ref();
    let mut body = json!({
        "email": form.get("email").trim(),
        "imap_host": pick("imap_host", p.and_then(|p| p.imap_host.map(str::to_string))),
        "imap_port": port("imap_port", p.map(|p| p.imap_port)),
        "imap_tls": pick("imap_tls", p.map(|p| p.imap_tls.as_str().to_string())),
        "smtp_host": pick("smtp_host", p.and_then(|p| p.smtp_host.map(str::to_string))),
        "smtp_port": port("smtp_port", p.map(|p| p.smtp_port)),
        "smtp_tls": pick("smtp_tls", p.map(|p| p.smtp_tls.as_str().to_string())),
        "username": pick("username", Some(form.get("email").trim().to_string())),
        "password": form.get("password"),
    });
    if !form.get("display_name").trim().is_empty() {
        body["display_name"] = json!(form.get("display_name").trim());
    }
    if let Some(object) = body.as_object_mut() {
        object.retain(|_, v| !v.is_null());
    }
    body
}

pub async fn add_account(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    let body = new_account_body(&form);
    let result = match crate::http::extractors::parse_json(body.to_string().as_bytes()) {
        Ok(input) => mail::create(&state, &auth.user.id, input, &page.client).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => redirect("/account/mail?done=mail_account_added"),
        Err(err) => {
            let mut errors = page.form_errors(&err);
            if let Some(message) = connection_message(&page, &err) {
                errors.message = Some(message);
            }
            let response = render_accounts(&state, &page, auth, None, errors, Some(&form)).await;
            with_error(response, err)
        }
    }
}

/// Test, make primary or remove one account (`action` in the form).
pub async fn account_action(
    State(state): State<AppState>,
    page: Page,
    axum::extract::Path((id, action)): axum::extract::Path<(String, String)>,
    form: WebForm,
) -> Response {
    let _ = &form;
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    let user_id = &auth.user.id;
    match action.as_str() {
        "remove" => match mail::delete(&state, user_id, &id, &page.client).await {
            Ok(()) => redirect("/account/mail?done=mail_account_removed"),
            Err(e) => page.error(&state, e),
        },
        "primary" => {
            let patch = mail::AccountPatch {
                is_primary: Some(true),
                ..mail::AccountPatch::default()
            };
            match mail::update(&state, user_id, &id, patch).await {
                Ok(_) => redirect("/account/mail?done=mail_account_primary"),
                Err(e) => page.error(&state, e),
            }
        }
        "test" => match mail::test(&state, user_id, &id).await {
            Ok(_) => redirect("/account/mail"),
            Err(e) => page.error(&state, e),
        },
        _ => page.error(&state, ApiError::NotFound),
    }
}

fn uid_param(query: &HashMap<String, String>, name: &str) -> Option<u32> {
    query
        .get(name)
        .and_then(|v| v.parse().ok())
        .filter(|u| *u > 0)
}

const PER_PAGE: usize = 25;

/// `/mail`: the client. Query: `account`, `folder`, `page`, `q`, `uid`, `compose`
/// (`new|reply|forward`), `remote_images`.
pub async fn client(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    render_client(&state, &page, auth, &query, None, FormErrors::default()).await
}

async fn render_client(
    state: &AppState,
    page: &Page,
    auth: &Authenticated,
    query: &HashMap<String, String>,
    compose_values: Option<&WebForm>,
    compose_errors: FormErrors,
) -> Response {
    let user_id = &auth.user.id;
    let accounts = match mail::list(state, user_id).await {
        Ok(list) => list,
        Err(e) => return page.error(state, e),
    };
    let current = query
        .get("account")
        .and_then(|id| accounts.iter().find(|a| &a.id == id))
        .or_else(|| accounts.iter().find(|a| a.is_primary))
        .or_else(|| accounts.first())
        .cloned();
    let folder = query
        .get("folder")
        .filter(|f| !f.is_empty())
        .cloned()
        .unwrap_or_else(|| "INBOX".into());
    let q = query.get("q").cloned().filter(|q| !q.trim().is_empty());
    let page_no: usize = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let mut mail_error: Option<String> = None;
    let server_error = |e: &ApiError| e.code().message(page.lang).to_string();
    let (mut folders, mut messages, mut total, mut message) = (vec![], vec![], 0usize, None);
    if let Some(account) = &current {
        // The open message first: reading marks it seen, so the counts below include that.
        if let Some(uid) = uid_param(query, "uid") {
            let remote = query.get("remote_images").is_some_and(|v| v == "1");
            match mail::message(state, user_id, &account.id, uid, Some(&folder), remote).await {
                Ok(m) => message = Some(m),
                Err(e) => mail_error = Some(server_error(&e)),
            }
        }
        match mail::folders(state, user_id, &account.id).await {
            Ok(mut list) => {
                // Inbox, then the other roles, then the user's own folders by name.
                let rank = |f: &mail::FolderView| match f.role.as_deref() {
                    Some("inbox") => 0,
                    Some("drafts") => 1,
                    Some("sent") => 2,
                    Some("archive") => 3,
                    Some("junk") => 4,
                    Some("trash") => 5,
                    _ => 6,
                };
                list.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name)));
                folders = list;
            }
            Err(e) => mail_error = Some(server_error(&e)),
        }
        if folders.is_empty() && mail_error.is_some() {
            // The server is down: no point asking it for the list too.
        } else {
            match mail::messages(
                state,
                user_id,
                &account.id,
                Some(&folder),
                q.as_deref(),
                (page_no - 1) * PER_PAGE,
                PER_PAGE,
            )
            .await
            {
                Ok((items, n)) => {
                    messages = items;
                    total = n;
                }
                Err(e) => mail_error = Some(server_error(&e)),
            }
        }
    }
    let compose = query
        .get("compose")
        .cloned()
        .filter(|c| matches!(c.as_str(), "new" | "reply" | "forward"));
    let prefill = |name: &str, default: String| -> String {
        compose_values.map_or(default, |f| f.get(name).to_string())
    };
    let compose_ctx = compose.as_ref().map(|mode| {
        let (to, subject) = match (&message, mode.as_str()) {
            (Some(m), "reply") => (
                m.from.clone().unwrap_or_default(),
                format!("Re: {}", m.subject.clone().unwrap_or_default()),
            ),
            (Some(m), "forward") => (
                String::new(),
                format!("Fwd: {}", m.subject.clone().unwrap_or_default()),
            ),
            _ => (String::new(), String::new()),
        };
        context! {
            mode => mode,
            to => prefill("to", to), cc => prefill("cc", String::new()),
            bcc => prefill("bcc", String::new()), subject => prefill("subject", subject),
            text => prefill("text", String::new()),
            reply_to_uid => if mode == "reply" { message.as_ref().map(|m| m.uid) } else { None },
            forward_uid => if mode == "forward" { message.as_ref().map(|m| m.uid) } else { None },
        }
    });
    let account_id = current.as_ref().map(|a| a.id.clone()).unwrap_or_default();
    let base = format!(
        "/mail?account={}&folder={}",
        encode(&account_id),
        encode(&folder)
    );
    let pages = total.div_ceil(PER_PAGE).max(1);
    let list: Vec<Value> = messages
        .iter()
        .map(|m| {
            context! {
                uid => m.uid, from => &m.from, subject => &m.subject, seen => m.seen,
                flagged => m.flagged, has_attachments => m.has_attachments,
                preview => &m.preview, date => m.date.as_deref().map(|d| page.time(d)),
                selected => message.as_ref().is_some_and(|x| x.uid == m.uid),
            }
        })
        .collect();
    let reading = message.as_ref().map(|m| {
        context! {
            uid => m.uid, from => &m.from, to => m.to.join(", "), cc => m.cc.join(", "),
            subject => &m.subject, date => m.date.as_deref().map(|d| page.time(d)),
            seen => m.seen, text => &m.text, html => &m.html,
            attachments => m.attachments.iter().map(|a| context! {
                id => &a.id, filename => &a.filename, size => a.size,
            }).collect::<Vec<_>>(),
        }
    });
    page.render(
        state,
        "mail.html",
        context! {
            title => page.t("mail_title"),
            accounts => accounts.iter().map(|a| context! {
                id => &a.id, email => &a.email, selected => a.id == account_id,
            }).collect::<Vec<_>>(),
            account_id,
            folder_encoded => encode(&folder),
            folder,
            folders => folders.iter().map(|f| context! {
                name => &f.name, role => &f.role, unread => f.unread, total => f.total,
                href => format!("/mail?account={}&folder={}", encode(&current.as_ref().map(|a| a.id.clone()).unwrap_or_default()), encode(&f.name)),
            }).collect::<Vec<_>>(),
            messages => list,
            total,
            q_encoded => encode(q.as_deref().unwrap_or_default()),
            q => q.unwrap_or_default(),
            page_no,
            pages,
            prev => (page_no > 1).then(|| format!("{base}&page={}", page_no - 1)),
            next => (page_no < pages).then(|| format!("{base}&page={}", page_no + 1)),
            base,
            reading,
            compose => compose_ctx,
            compose_errors => compose_errors.fields,
            compose_error => compose_errors.message,
            mail_error,
            notice => notice(page, query),
        },
    )
}

fn addresses(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn send_input(form: &WebForm) -> SendInput {
    let text = form.get("text");
    SendInput {
        to: addresses(form.get("to")),
        cc: Some(addresses(form.get("cc"))),
        bcc: Some(addresses(form.get("bcc"))),
        subject: form.get("subject").to_string(),
        text: (!text.is_empty()).then(|| text.replace("\r\n", "\n")),
        reply_to_uid: form.get("reply_to_uid").parse().ok(),
        forward_uid: form.get("forward_uid").parse().ok(),
        folder: Some(form.get("folder").to_string()).filter(|f| !f.is_empty()),
        ..SendInput::default()
    }
}

fn back_query(form: &WebForm) -> HashMap<String, String> {
    let mut query = HashMap::new();
    for key in ["account", "folder", "uid", "compose"] {
        if !form.get(key).is_empty() {
            query.insert(key.to_string(), form.get(key).to_string());
        }
    }
    query
}

/// Send (`intent=send`) or save as a draft (`intent=draft`) from the compose form.
pub async fn compose_submit(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    let account = form.get("account").to_string();
    let folder = form.get("folder").to_string();
    let input = send_input(&form);
    let (result, done) = if form.get("intent") == "draft" {
        let r = mail::save_draft(&state, &auth.user.id, &account, None, input).await;
        (r.map(|_| ()), "mail_draft_saved")
    } else {
        let r = mail::send(&state, &auth.user.id, &account, input, &page.client).await;
        (r.map(|_| ()), "mail_sent")
    };
    match result {
        Ok(()) => redirect(&format!(
            "/mail?account={}&folder={}&done={done}",
            encode(&account),
            encode(&folder)
        )),
        Err(ApiError::NotFound) => page.error(&state, ApiError::NotFound),
        Err(err) => {
            let mut errors = page.form_errors(&err);
            if errors.message.is_none() && errors.fields.is_empty() {
                errors.message = Some(err.code().message(page.lang).to_string());
            }
            let response =
                render_client(&state, &page, auth, &back_query(&form), Some(&form), errors).await;
            with_error(response, err)
        }
    }
}

/// Mark read/unread (`seen=true|false`) or delete (`action=delete`) one message.
pub async fn message_action(State(state): State<AppState>, page: Page, form: WebForm) -> Response {
    let Some(auth) = &page.auth else {
        return page.to_login();
    };
    let account = form.get("account").to_string();
    let folder = form.get("folder").to_string();
    let Ok(uid) = form.get("uid").parse::<u32>() else {
        return page.error(&state, ApiError::NotFound);
    };
    let back = format!(
        "/mail?account={}&folder={}",
        encode(&account),
        encode(&folder)
    );
    let result = match form.get("action") {
        "delete" => mail::delete_message(&state, &auth.user.id, &account, uid, Some(&folder))
            .await
            .map(|()| format!("{back}&done=mail_deleted")),
        "seen" | "unseen" => mail::set_flags(
            &state,
            &auth.user.id,
            &account,
            uid,
            Some(&folder),
            Some(form.get("action") == "seen"),
            None,
        )
        .await
        .map(|()| back.clone()),
        _ => Err(ApiError::NotFound),
    };
    match result {
        Ok(to) => redirect(&to),
        Err(e) => page.error(&state, e),
    }
}
