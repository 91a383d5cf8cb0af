//! GitHub sign-in: plain OAuth2, the user from `/user` (subject = the numeric id, which never
//! changes, unlike the login) and the primary email with its verified flag from `/user/emails`.

use oauth2::AccessToken;
use serde_json::Value;

use super::channels::{Channel, Profile, get_json, get_json_opt};
use super::flow::Failure;

const API_HEADERS: &[(&str, &str)] = &[
    ("accept", "application/vnd.github+json"),
    ("x-github-api-version", "2022-11-28"),
];

/// A configured GitHub base URL without its trailing slash, for paths to be appended.
pub fn base(url: &url::Url) -> &str {
    url.as_str().trim_end_matches('/')
}

pub async fn profile(
    channel: &Channel<'_>,
    api_base_url: &url::Url,
    token: &AccessToken,
) -> Result<Profile, Failure> {
    let api = base(api_base_url);
    let user = get_json(
        channel.id,
        "userinfo",
        &format!("{api}/user"),
        token,
        API_HEADERS,
    )
    .await?;
    let subject = match user.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(Failure::ProviderError),
    };
    // Without the `user:email` scope GitHub answers 404 here: that is "no email", not an outage.
    let emails = get_json_opt(
        channel.id,
        "emails",
        &format!("{api}/user/emails"),
        token,
        API_HEADERS,
    )
    .await?;
    let primary = emails.as_ref().and_then(Value::as_array).and_then(|list| {
        list.iter()
            .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
    });
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    Ok(Profile {
        subject,
        email: primary.and_then(|e| text(e, "email")),
        email_verified: primary
            .and_then(|e| e.get("verified"))
            .and_then(Value::as_bool)
            == Some(true),
        name: text(&user, "name"),
        username: text(&user, "login"),
        picture: text(&user, "avatar_url"),
    })
}
