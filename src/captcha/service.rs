//! Captcha rules: make a challenge, check an answer once.

use std::time::Duration;

use base64::Engine;
use captcha::filters::{Dots, Noise, Wave};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
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

#[cfg(test)]
mod fuzz_captcha {
    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;

    use super::*;
    use crate::fuzz::{config, hostile_text, mutate};

    fn state(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> AppState {
        let config = crate::config::Config {
            data_dir: dir.to_path_buf(),
            secret_key: Some(crate::config::Secret::new("k".repeat(40))),
            ..Default::default()
        };
        rt.block_on(AppState::build(config, "t:"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// An answer as a person types it: any case, spaces around.
    fn typed(answer: &str, lower: &[bool], pad: (&str, &str)) -> String {
        let body: String = answer
            .chars()
            .zip(lower.iter().cycle())
            .map(|(c, l)| if *l { c.to_ascii_lowercase() } else { c })
            .collect();
        format!("{}{body}{}", pad.0, pad.1)
    }

    /// The right answer passes once, in any case and with blanks around it; a wrong one (one
    /// character replaced, added or dropped) fails; either way the challenge is used up.
    #[test]
    fn fuzz_captcha_answers_are_checked_once() {
        let rt = runtime();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = state(&rt, dir.path());
        let strategy = (
            "[ACDEFGHJKLMNPQRTUVWXY345679]{4,8}",
            proptest::collection::vec(any::<bool>(), 1..8),
            ("[ \t\n]{0,3}", "[ \t\n]{0,3}"),
            any::<bool>(),
            (any::<usize>(), any::<char>(), any::<u8>()),
        );
        let result = TestRunner::new(config(1000)).run(
            &strategy,
            |(expected, lower, pad, right, (at, with, how))| {
                rt.block_on(async {
                    let id = uuid::Uuid::new_v4().to_string();
                    state
                        .kv
                        .set_ex(&key(&id), &expected, Duration::from_secs(60))
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let answer = if right {
                        typed(&expected, &lower, (&pad.0, &pad.1))
                    } else {
                        mutate(&expected, at, with, how)
                    };
                    // A blank or a case change is all that separates an edit from the answer.
                    let same = answer.trim().eq_ignore_ascii_case(&expected);
                    prop_assert!(same || !right);
                    let first = verify(&state, &id, &answer).await.ok();
                    prop_assert_eq!(first, Some(same), "{:?}", answer);
                    prop_assert_eq!(verify(&state, &id, &expected).await.ok(), Some(false));
                    Ok(())
                })
            },
        );
        assert!(result.is_ok(), "{result:?}");
    }

    /// Any id and any answer for a challenge that does not exist: refused, no error, no panic.
    #[test]
    fn fuzz_captcha_unknown_challenges_are_refused() {
        let rt = runtime();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = state(&rt, dir.path());
        let strategy = (hostile_text(100), hostile_text(100));
        let result = TestRunner::new(config(1000)).run(&strategy, |(id, answer)| {
            let outcome = rt.block_on(verify(&state, &id, &answer)).ok();
            prop_assert_eq!(outcome, Some(false));
            Ok(())
        });
        assert!(result.is_ok(), "{result:?}");
    }
}
