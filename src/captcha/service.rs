//! Captcha rules: make a challenge, check an answer once.

use std::time::Duration;

use base64::Engine;
use captcha::filters::{Dots, Noise, Wave};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::ApiError;
use crate::state::AppState;
use crate::tokens::constant_time_eq;

/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L, 2/Z, 5/S, 8/B).
const ALPHABET: &str = "ACDEFGHJKLMNPQRTUVWXY345679";
/// Challenges one address may ask for per minute.
const PER_IP_PER_MINUTE: i64 = 30;

#[derive(Serialize, ToSchema)]
pub struct Challenge {
    pub captcha_id: String,
    /// `data:image/png;base64,…`
    pub image: String,
    pub expires_in: u64,
}

/// Where the answer of challenge `id` is kept.
pub fn key(id: &str) -> String {
    format!("captcha:{id}")
}

/// A new challenge; its answer is kept for `[captcha] ttl`.
pub async fn create(state: &AppState, ip: std::net::IpAddr) -> Result<Challenge, ApiError> {
    if !state.config.captcha.enabled {
        return Err(ApiError::NotFound);
    }
    let count = state
        .kv
        .incr(&format!("captcha:rate:{ip}"), Duration::from_secs(60))
        .await?;
    if count > PER_IP_PER_MINUTE {
        return Err(ApiError::RateLimited { retry_after: 60 });
    }
    let length = state.config.captcha.length;
    let (answer, png) = tokio::task::spawn_blocking(move || render(length))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("captcha task failed: {e}")))?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("captcha rendering failed")))?;
    let id = uuid::Uuid::new_v4().to_string();
    let ttl = state.config.captcha.ttl.0;
    state
        .kv
        .set_ex(&key(&id), &answer.to_uppercase(), ttl)
        .await?;
    let image = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    );
    Ok(Challenge {
        captcha_id: id,
        image,
        expires_in: ttl.as_secs(),
    })
}

fn render(length: u32) -> Option<(String, Vec<u8>)> {
    let mut c = captcha::Captcha::new();
    let supported = c.supported_chars();
    let chars: Vec<char> = ALPHABET
        .chars()
        .filter(|ch| supported.contains(ch))
        .collect();
    c.set_chars(&chars)
        .add_chars(length)
        .apply_filter(Noise::new(0.1))
        .apply_filter(Wave::new(2.0, 16.0))
        .view(240, 90)
        .apply_filter(Dots::new(8));
    c.as_tuple()
}

/// Check an answer; the challenge is used up whether the answer was right or wrong.
pub async fn verify(state: &AppState, id: &str, answer: &str) -> Result<bool, ApiError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(false);
    }
    let Some(expected) = state.kv.take(&key(id)).await? else {
        return Ok(false);
    };
    Ok(constant_time_eq(&expected, &answer.trim().to_uppercase()))
}

/// The login-style gate: pass when no captcha is due or the captcha is off; else demand a
/// correct answer (400 `captcha_required` / `invalid_captcha`).
pub async fn require(
    state: &AppState,
    due: bool,
    id: Option<&str>,
    answer: Option<&str>,
) -> Result<(), ApiError> {
    if !due || !state.config.captcha.enabled {
        return Ok(());
    }
    match (id, answer) {
        (Some(id), Some(answer)) if !id.is_empty() => {
            if verify(state, id, answer).await? {
                Ok(())
            } else {
                Err(ApiError::InvalidCaptcha)
            }
        }
        _ => Err(ApiError::CaptchaRequired),
    }
}
