//! The authorization endpoint's rules: which request is good, when the user must sign in (again)
//! or consent, and the code or error the client gets back. A request whose client or redirect
//! URI cannot be trusted never redirects anywhere: it is an error page.

use std::collections::HashMap;

use super::clients::SCOPES;
use super::store::{self, ClientRow};
use super::tokens::{self, Grant};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// Query parameter gatehouse adds to the authorize URL it sends to the sign-in page for
/// `prompt=login`: the sign-in must be at least this recent (unix seconds), so coming back does
/// not ask again.
pub const LOGIN_AFTER: &str = "gh_login_after";

/// Where the browser goes next.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing trustworthy to redirect to: show `message` on an error page (400).
    ErrorPage(&'static str),
    /// Back to the client with a code or an error.
    Redirect(String),
    /// To the sign-in page, coming back to `return_to`; `reauth` shows the form even to a
    /// signed-in user.
    Login {
        return_to: String,
        reauth: bool,
        login_hint: Option<String>,
    },
    /// Ask the user; the page posts `request` back with the decision.
    Consent {
        client: Box<ClientRow>,
        scopes: Vec<String>,
        request: String,
    },
}

/// A checked request: the client and where its answers go.
struct Checked {
    client: ClientRow,
    redirect_uri: String,
    state: Option<String>,
}

impl Checked {
    fn error(&self, issuer: &str, code: &str, description: &str) -> Outcome {
        error_redirect(
            &self.redirect_uri,
            self.state.as_deref(),
            issuer,
            code,
            description,
        )
    }
}

/// `redirect_uri?error=…&error_description=…&state=…&iss=…` (RFC 6749 §4.1.2.1, RFC 9207).
fn error_redirect(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    code: &str,
    description: &str,
) -> Outcome {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return Outcome::ErrorPage("provider_error_redirect_uri");
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", code);
        q.append_pair("error_description", description);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    Outcome::Redirect(url.to_string())
}

fn one<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// Decide what `/oauth/authorize?query` does for `auth` (the browser's gatehouse session).
/// `consented` is set when the consent page has just been answered "allow".
pub async fn decide(
    state: &AppState,
    pairs: &[(String, String)],
    auth: Option<&Authenticated>,
    consented: bool,
) -> Result<Outcome, super::OAuthError> {
    let mut q = HashMap::new();
    for (k, v) in pairs {
        // A repeated parameter is ambiguous (RFC 6749 §3.1); treat it as absent.
        if q.insert(k.clone(), v.clone()).is_some() {
            return Ok(Outcome::ErrorPage("provider_error_bad_request"));
        }
    }
    let Some(client_id) = one(&q, "client_id") else {
        return Ok(Outcome::ErrorPage("provider_error_unknown_client"));
    };
    let Some(client) = store::client_by_client_id(&state.db, client_id)
        .await
        .map_err(super::OAuthError::internal)?
    else {
        return Ok(Outcome::ErrorPage("provider_error_unknown_client"));
    };
    // Exact string match with a registered URI: no prefix, no normalisation.
    let redirect_uri = match one(&q, "redirect_uri") {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_string(),
        _ => return Ok(Outcome::ErrorPage("provider_error_redirect_uri")),
    };
    let issuer = state.public_base_url.trim_end_matches('/').to_string();
    let checked = Checked {
        client,
        redirect_uri,
        state: one(&q, "state").map(str::to_string),
    };
    let err = |code: &str, description: &str| Ok(checked.error(&issuer, code, description));
    if one(&q, "response_type") != Some("code") {
        return err(
            "unsupported_response_type",
            "only the authorization code flow (response_type=code) is supported",
        );
    }
    if one(&q, "request").is_some() || one(&q, "request_uri").is_some() {
        return err("request_not_supported", "request objects are not supported");
    }
    let scopes: Vec<String> = one(&q, "scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if scopes.is_empty()
        || !scopes
            .iter()
            .all(|s| SCOPES.contains(&s.as_str()) && checked.client.allowed_scopes.contains(s))
    {
        return err(
            "invalid_scope",
            "a scope is unknown or not allowed for this client",
        );
    }
    let mut scopes_unique: Vec<String> = Vec::new();
    for s in scopes {
        if !scopes_unique.contains(&s) {
            scopes_unique.push(s);
        }
    }
    let scopes = scopes_unique;
    let challenge = one(&q, "code_challenge").map(str::to_string);
    match (&challenge, one(&q, "code_challenge_method")) {
        (None, None) if checked.client.is_public() => {
            return err("invalid_request", "public clients must use PKCE (S256)");
        }
        (None, None) => {}
        (Some(c), Some("S256"))
            if c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {}
        (Some(_), Some("S256")) => return err("invalid_request", "malformed code_challenge"),
        _ => {
            return err(
                "invalid_request",
                "code_challenge_method must be S256 and come with code_challenge",
            );
        }
    }
    let prompts: Vec<&str> = one(&q, "prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if !prompts
        .iter()
        .all(|p| matches!(*p, "none" | "login" | "consent" | "select_account"))
        || (prompts.contains(&"none") && prompts.len() > 1)
    {
        return err("invalid_request", "unsupported prompt value");
    }
    let none = prompts.contains(&"none");
    let max_age = match one(&q, "max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return err("invalid_request", "max_age must be a number of seconds"),
        },
    };
    let login_after = one(&q, LOGIN_AFTER).and_then(|v| v.parse::<i64>().ok());
    let nonce = one(&q, "nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) {
        return err("invalid_request", "nonce is too long");
    }

    // The session, and whether it is recent enough.
    let now = state.clock.now();
    let session = match auth.and_then(|a| a.session_id().map(|s| (a, s.to_string()))) {
        Some((a, sid)) => store::session_origin(&state.db, &sid)
            .await
            .map_err(super::OAuthError::internal)?
            .map(|(_, created_at)| (a, sid, created_at)),
        None => None,
    };
    let login = |reauth: bool, fresh_from: Option<i64>| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if k == "prompt" || k == LOGIN_AFTER {
                continue;
            }
            ser.append_pair(k, v);
        }
        if let Some(p) = one(&q, "prompt") {
            let kept: Vec<&str> = p.split(' ').filter(|x| *x != "login").collect();
            if !kept.is_empty() {
                ser.append_pair("prompt", &kept.join(" "));
            }
        }
        if let Some(t) = fresh_from {
            ser.append_pair(LOGIN_AFTER, &t.to_string());
        }
        Outcome::Login {
            return_to: format!("/oauth/authorize?{}", ser.finish()),
            reauth,
            login_hint: one(&q, "login_hint").map(str::to_string),
        }
    };
    let Some((auth, session_id, auth_time)) = session else {
        if none {
            return err("login_required", "the user is not signed in");
        }
        return Ok(login(false, None));
    };
    let too_old = max_age.is_some_and(|m| now - auth_time > m);
    let forced = prompts.contains(&"login") && login_after.is_none_or(|t| auth_time < t);
    let stale_marker = login_after.is_some_and(|t| auth_time < t);
    if too_old || forced || stale_marker {
        if none {
            return err("login_required", "a fresh sign-in is required");
        }
        return Ok(login(true, Some(now)));
    }

    // Consent: remembered per client and scope; first-party clients are trusted.
    let wants_consent = prompts.contains(&"consent");
    if !consented && (wants_consent || !checked.client.first_party) {
        let granted = store::granted_scopes(&state.db, &auth.user.id, &checked.client.id)
            .await
            .map_err(super::OAuthError::internal)?;
        let missing = scopes.iter().any(|s| !granted.contains(s));
        if wants_consent || missing {
            if none {
                return err(
                    "consent_required",
                    "the user has not consented to these scopes",
                );
            }
            let request = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter().filter(|(k, _)| k != "prompt"))
                .finish();
            return Ok(Outcome::Consent {
                client: Box::new(checked.client),
                scopes,
                request,
            });
        }
    }

    let grant = Grant {
        client: checked.client.id.clone(),
        user_id: auth.user.id.clone(),
        session_id,
        scope: scopes,
        auth_time,
        nonce,
    };
    let code = tokens::new_code(state, grant, &checked.redirect_uri, challenge).await?;
    let mut url = url::Url::parse(&checked.redirect_uri).map_err(super::OAuthError::internal)?;
    {
        let mut qp = url.query_pairs_mut();
        qp.append_pair("code", &code);
        if let Some(s) = &checked.state {
            qp.append_pair("state", s);
        }
        qp.append_pair("iss", &issuer);
    }
    Ok(Outcome::Redirect(url.to_string()))
}

/// Remember the user's consent to `scopes` for the client, with an audit event.
pub async fn record_consent(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientRow,
    scopes: &[String],
    info: &crate::http::ClientInfo,
) -> Result<(), super::OAuthError> {
    let now = state.clock.now();
    let mut tx = state
        .db
        .begin()
        .await
        .map_err(super::OAuthError::internal)?;
    for s in scopes {
        store::grant(&mut tx, &auth.user.id, &client.id, s, now)
            .await
            .map_err(super::OAuthError::internal)?;
    }
    let event = crate::audit::AuditEvent::by_user(
        crate::audit::Event::OauthConsentGranted,
        &auth.user.id,
        info,
    )
    .detail(serde_json::json!({"client_id": client.client_id, "scopes": scopes}));
    crate::audit::record(&mut tx, now, event)
        .await
        .map_err(super::OAuthError::internal)?;
    tx.commit().await.map_err(super::OAuthError::internal)?;
    Ok(())
}

/// The client a consent form names (from its saved request).
pub async fn client_of(state: &AppState, client_id: &str) -> Option<ClientRow> {
    store::client_by_client_id(&state.db, client_id)
        .await
        .ok()
        .flatten()
}

/// The client's answer when the user declines: `error=access_denied` at the redirect URI of a
/// request [`decide`] has already checked.
pub fn denied(state: &AppState, pairs: &[(String, String)]) -> String {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let issuer = state.public_base_url.trim_end_matches('/');
    let redirect_uri = get("redirect_uri").unwrap_or_default();
    let client_state = get("state").filter(|s| !s.is_empty());
    match error_redirect(
        &redirect_uri,
        client_state.as_deref(),
        issuer,
        "access_denied",
        "the user declined",
    ) {
        Outcome::Redirect(to) => to,
        _ => "/".into(),
    }
}
