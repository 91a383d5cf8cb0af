//! RAGFlow's sign-in channel routes over gatehouse's provider sign-in: the list, the start
//! (302 to the provider) and the callback, which answers as RAGFlow's web client expects —
//! 302 to `/?auth=<token>` signed in, or `/?error=<code>`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::Profile;
use super::auth::{self, Client};
use super::wire::{self, code};
use crate::i18n::Lang;
use crate::oauth::flow::{self, Door, Failure};
use crate::oauth::routes::redirect;
use crate::oauth::service::{self, Callback, Finished};

/// Where the binding cookie is sent: the profile's callback routes.
const COOKIE_PATH: &str = "/api/v1/auth/oauth";

/// The profile's door for `channel`: its callback URL on the profile's own listener.
fn door(p: &Profile, channel: &str) -> Door {
    let base = p.app.config.ragflow.public_base_url();
    Door::Profile {
        callback: format!("{base}/api/v1/auth/oauth/{channel}/callback"),
    }
}

/// `/?error=CODE` with RAGFlow's code where it has one; the code is URL-safe (RAGFlow puts the
/// raw exception text there — gatehouse never does).
fn error_location(failure: &Failure) -> String {
    let code = match failure {
        Failure::AccountDisabled => "user_inactive",
        other => other.code(),
    };
    format!("/?error={code}")
}

/// `GET /auth/login/channels`: the configured sign-in providers, as RAGFlow lists them.
pub async fn list(State(p): State<Profile>) -> Response {
    let list = service::providers(&p.app)
        .into_iter()
        .map(|c| {
            json!({"channel": c.id, "display_name": c.name,
                "icon": c.icon.unwrap_or_else(|| "sso".into())})
        })
        .collect();
    wire::ok(Value::Array(list))
}

/// `GET /auth/login/{channel}`: 302 to the provider, which comes back to the profile's callback.
pub async fn start(
    State(p): State<Profile>,
    Path(channel): Path<String>,
    headers: HeaderMap,
) -> Response {
    let door = door(&p, &channel);
    match service::authorize(&p.app, &channel, Some("/"), &headers, door).await {
        Ok(started) => {
            let secure = p
                .app
                .config
                .ragflow
                .public_base_url()
                .starts_with("https://");
            let cookie = flow::binding_cookie(&started.binding, secure, COOKIE_PATH);
            redirect(&started.location, Some(cookie))
        }
        Err(Failure::UnknownChannel) => wire::fail(
            code::EXCEPTION_ERROR,
            &format!("ValueError('Invalid channel name: {channel}')"),
        ),
        Err(failure) => {
            service::record_failure(&p.app, &channel, &failure);
            redirect(&error_location(&failure), None)
        }
    }
}

/// `GET /auth/oauth/{channel}/callback`: finish the sign-in started at this profile with the
/// native rules (identity, verified email, or a new account), open a gatehouse session and hand
/// RAGFlow's web client its token in `/?auth=`.
pub async fn callback(
    State(p): State<Profile>,
    Path(channel): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Client(client): Client,
) -> Response {
    let answer = Callback::read(query.as_deref(), &headers);
    let lang = Lang::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let door = door(&p, &channel);
    let failure = match service::callback(&p.app, &channel, answer, &client, lang, &door).await {
        Ok(Finished::SignedIn { session, .. }) => match auth::token_for(&p, &session).await {
            Ok(token) => {
                // The token rides in the URL: the page it lands on must not pass that URL on
                // to other sites in `Referer`.
                let mut response = redirect(&format!("/?auth={token}"), None);
                response.headers_mut().insert(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                );
                return response;
            }
            Err(e) => Failure::Internal(e.into()),
        },
        // A profile flow never links (it has no native session to link to).
        Ok(Finished::Linked { .. }) => Failure::InvalidState,
        // Profile flows never owe a second step (see `oauth::service`).
        Ok(Finished::SecondStep { .. }) => Failure::InvalidState,
        Err(failure) => failure,
    };
    service::record_failure(&p.app, &channel, &failure);
    redirect(&error_location(&failure), None)
}
