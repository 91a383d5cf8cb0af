//! RAGFlow's forgot-password flow (§6: captcha → four-letter OTP → verify → reset) over the
//! native captcha and recovery rules, without RAGFlow's weaknesses: a captcha answers once, a
//! new code does not lift the lock, codes are compared in constant time, and no answer tells
//! whether an address has an account.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;

use super::Profile;
use super::auth::{Body, Client, token_for};
use super::users::{crypt_failed, password, policy, user_dict};
use super::wire::{self, WireError, WireResult, code};
use crate::domain::normalize_email;
use crate::error::ApiError;
use crate::recovery::service::{
    self as recovery, CodeStyle, ForgotInput, ResetInput, VerifyCodeInput,
};
use crate::tokens::sha256_hex;

/// RAGFlow keeps the "verified" mark five minutes.
const VERIFIED_TTL: Duration = Duration::from_secs(300);

fn captcha_key(email: &str) -> String {
    format!("ragflow:captcha:{}", sha256_hex(&normalize_email(email)))
}

fn verified_key(email: &str) -> String {
    format!("ragflow:verified:{}", sha256_hex(&normalize_email(email)))
}

#[derive(serde::Deserialize)]
pub struct EmailQuery {
    email: Option<String>,
}

/// `POST /auth/password/forgot/captcha?email=`: an image for any address (known or not).
pub async fn captcha(
    State(p): State<Profile>,
    Client(client): Client,
    Query(q): Query<EmailQuery>,
) -> Response {
    let Some(email) = q.email.filter(|e| !e.trim().is_empty()) else {
        return wire::fail(code::ARGUMENT_ERROR, "email is required");
    };
    let made = async {
        let challenge = crate::captcha::service::create(&p.app, client.ip).await?;
        let ttl = p.app.config.captcha.ttl.0;
        p.app
            .kv
            .set_ex(&captcha_key(&email), &challenge.captcha_id, ttl)
            .await?;
        let png = challenge
            .image
            .split_once(',')
            .and_then(|(_, b64)| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("captcha image is not base64")))?;
        Ok::<_, ApiError>(png)
    }
    .await;
    match made {
        Ok(png) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("image/png"))],
            png,
        )
            .into_response(),
        Err(e) => wire::fault(e),
    }
}

/// `POST /auth/password/forgot/otp {email, captcha}`: mails a code to a known address; the
/// same answer for every address once the captcha is right.
pub async fn send_otp(State(p): State<Profile>, Client(client): Client, body: Body) -> WireResult {
    let (Some(email), Some(answer)) = (body.text("email"), body.text("captcha")) else {
        return Ok(wire::fail(
            code::ARGUMENT_ERROR,
            "email and captcha required",
        ));
    };
    let bad_captcha = || WireError::fail(code::AUTHENTICATION_ERROR, "invalid or expired captcha");
    let captcha_id = p.app.kv.take(&captcha_key(&email)).await?;
    if p.app.config.captcha.enabled && captcha_id.is_none() {
        return Err(bad_captcha());
    }
    let input = ForgotInput {
        email,
        captcha_id,
        captcha_answer: Some(answer),
    };
    recovery::forgot_with(&p.app, input, &client, CodeStyle::Letters)
        .await
        .map_err(|e| match e {
            ApiError::InvalidCaptcha | ApiError::CaptchaRequired => bad_captcha(),
            other => other.into(),
        })?;
    Ok(wire::ok_with(
        "verification passed, email sent",
        Value::Bool(true),
    ))
}

/// `POST /auth/password/forgot/otp/verify {email, otp}`: five wrong codes lock the address for
/// 30 minutes. A right code marks the address verified for five minutes.
pub async fn verify_otp(
    State(p): State<Profile>,
    Client(client): Client,
    body: Body,
) -> WireResult {
    let (Some(email), Some(otp)) = (body.text("email"), body.text("otp")) else {
        return Ok(wire::fail(
            code::ARGUMENT_ERROR,
            "email and otp are required",
        ));
    };
    let input = VerifyCodeInput {
        email: email.clone(),
        code: otp,
    };
    let token = recovery::verify_code_with(&p.app, input, &client, CodeStyle::Letters)
        .await
        .map_err(|e| match e {
            ApiError::InvalidCode => WireError::fail(code::AUTHENTICATION_ERROR, "expired otp"),
            other => other.into(),
        })?;
    let sealed = p
        .keys
        .seal(&token.reset_token)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("sealing failed")))?;
    p.app
        .kv
        .set_ex(&verified_key(&email), &sealed, VERIFIED_TTL)
        .await?;
    Ok(wire::ok_with("otp verified", Value::Bool(true)))
}

/// `POST /auth/password/reset {email, new_password, confirm_new_password}`: the native reset
/// (every session ends), then a new session for this client.
pub async fn reset(State(p): State<Profile>, Client(client): Client, body: Body) -> WireResult {
    let fields = ["email", "new_password", "confirm_new_password"];
    if !body.missing(&fields).is_empty() {
        return Ok(wire::fail(
            code::ARGUMENT_ERROR,
            "email and passwords are required",
        ));
    }
    let email = body.text("email").unwrap_or_default();
    let Some(sealed) = p.app.kv.get(&verified_key(&email)).await? else {
        return Ok(wire::fail(code::AUTHENTICATION_ERROR, "email not verified"));
    };
    let (new, confirm) = match (
        password(&p, body.text("new_password")),
        password(&p, body.text("confirm_new_password")),
    ) {
        (Some(a), Some(b)) => (a, b),
        _ => return Ok(crypt_failed()),
    };
    if new.expose() != confirm.expose() {
        return Ok(wire::fail(code::ARGUMENT_ERROR, "passwords do not match"));
    }
    let input = ResetInput {
        reset_token: p.keys.open(&sealed).unwrap_or_default(),
        new_password: new,
    };
    recovery::reset_with(&p.app, input, &client, policy(&p))
        .await
        .map_err(reset_fault)?;
    p.app.kv.del(&verified_key(&email)).await?;
    let mut user = crate::accounts::store::find_by_email(&p.app.db, &normalize_email(&email))
        .await?
        .filter(|u| u.is_active)
        .ok_or(ApiError::AccountDisabled)
        .map_err(reset_fault)?;
    let session = crate::accounts::service::sign_in(&p.app, &mut user, &client, "password")
        .await
        .map_err(reset_fault)?;
    let token = token_for(&p, &session).await.map_err(reset_fault)?;
    Ok(wire::with_token(
        wire::ok_with("Password reset successful. Logged in.", user_dict(&user)),
        &token,
    ))
}

/// The reset's own words for a stale verification, a disabled account and a rejected password.
fn reset_fault(e: ApiError) -> WireError {
    match e {
        ApiError::InvalidToken => WireError::fail(code::AUTHENTICATION_ERROR, "email not verified"),
        ApiError::AccountDisabled => WireError::fail(
            code::FORBIDDEN,
            "This account has been disabled, please contact the administrator!",
        ),
        e @ (ApiError::Validation(_) | ApiError::WeakPassword(_)) => {
            WireError::fail(code::ARGUMENT_ERROR, &wire::describe(&e))
        }
        other => WireError::Fault(other),
    }
}

#[cfg(test)]
mod tests {
    use hmac::{KeyInit, Mac};

    /// RAGFlow's stored OTP (§14): `hex(HMAC-SHA256(key = salt, otp)):hex(salt)`, in Redis. The
    /// profile does not keep that form: codes are MACs under the server key in the database, so
    /// a leaked store cannot be searched for the 26⁴ possible codes.
    #[test]
    fn ragflow_otp_hash_vector() {
        let salt: Vec<u8> = (0u8..16).collect();
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&salt).unwrap_or_else(|e| panic!("{e}"));
        mac.update(b"ABCD");
        let stored = format!(
            "{}:{}",
            hex::encode(mac.finalize().into_bytes()),
            hex::encode(&salt)
        );
        assert_eq!(
            stored,
            "47d27544ce70a9a40f2c6afcacb94826afc22ef48a075eeb57d2a4803369f5cb:000102030405060708090a0b0c0d0e0f"
        );
    }
}
