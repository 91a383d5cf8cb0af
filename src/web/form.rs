//! Form posts: the same-origin check and the CSRF token are verified before a handler runs, and
//! fields are turned into the API's own input types, so a value is judged by one rule everywhere.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::Response;
use serde::de::{DeserializeOwned, Visitor};

use super::page::Page;
use crate::error::ApiError;
use crate::http::extractors::field_error;
use crate::state::AppState;
use crate::tokens::constant_time_eq;

/// A checked `application/x-www-form-urlencoded` post.
pub struct WebForm {
    fields: HashMap<String, String>,
}

impl FromRequest<AppState> for WebForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let page = Page::from_request_parts(&mut parts, state).await?;
        if let Err(e) = crate::http::csrf::check_same_origin(&parts.headers, &state.public_base_url)
        {
            return Err(page.error(state, e));
        }
        let req = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| page.error(state, ApiError::PayloadTooLarge))?;
        let mut fields = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(&bytes) {
            fields
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
        let sent = fields.get("csrf_token").map(String::as_str).unwrap_or("");
        if !constant_time_eq(sent, &page.csrf_token(state)) {
            return Err(page.error(state, ApiError::CsrfFailed));
        }
        Ok(Self { fields })
    }
}

impl WebForm {
    /// A field's value, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }

    /// Deserialize the fields `T` declares into `T` as the API would from a JSON body: an empty
    /// field counts as absent (so a required one reports "required"); page-only fields such as
    /// `csrf_token` are not among `T`'s fields and never reach its `deny_unknown_fields`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let mut pairs: Vec<(&str, Cow<'_, str>)> = field_names::<T>()
            .iter()
            .filter_map(|&name| {
                let value = self.get(name);
                (!value.is_empty()).then_some((name, Cow::Borrowed(value)))
            })
            .collect();
        loop {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&pairs)
                .finish();
            let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(
                encoded.as_bytes(),
            ));
            let err = match serde_path_to_error::deserialize(de) {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let path = err.path().to_string();
            let message = err.inner().to_string();
            let Some(pair) = pairs
                .iter_mut()
                .find(|(name, _)| *name == path)
                .filter(|_| is_int_error(&message))
            else {
                return Err(ApiError::Validation(field_error(&path, &message)));
            };
            // A number field reads as the page's old JSON number did: surrounding blanks are
            // ignored (each retry trims one field), and anything else is reported as a string
            // where a number was expected.
            let trimmed = pair.1.trim();
            if trimmed.len() != pair.1.len() && trimmed.parse::<i64>().is_ok() {
                pair.1 = Cow::Owned(trimmed.to_string());
                continue;
            }
            let detail = <serde::de::value::Error as serde::de::Error>::invalid_type(
                serde::de::Unexpected::Str(&pair.1),
                &"i64",
            );
            return Err(ApiError::Validation(field_error(
                &path,
                &detail.to_string(),
            )));
        }
    }
}

/// The messages of [`std::num::ParseIntError`], which serde_urlencoded passes on as they are.
fn is_int_error(message: &str) -> bool {
    matches!(
        message,
        "invalid digit found in string"
            | "cannot parse integer from empty string"
            | "number too large to fit in target type"
            | "number too small to fit in target type"
    )
}

/// The field names a derived `Deserialize` struct declares (after `rename`), read from what it
/// asks of a deserializer; empty for anything that is not a struct.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("probed"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// As [`safe_return_to`](crate::http::safe_return_to), and also an absolute http(s) URL on one of the
/// `[forward_auth] allowed_hosts` (the application a reverse proxy sent the user from).
pub fn safe_return_to_for(state: &AppState, raw: Option<&str>) -> String {
    if let Some(raw) = raw.map(str::trim)
        && raw.len() <= 2048
        && !raw.chars().any(char::is_control)
        && let Ok(url) = url::Url::parse(raw)
        && matches!(url.scheme(), "http" | "https")
        && crate::provider::forward::allowed_host(state, &url)
    {
        return url.to_string();
    }
    crate::http::safe_return_to(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::service::{ProfilePatch, RegisterInput};
    use crate::api_keys::service::CreateKey;
    use crate::error::FieldProblem;
    use crate::http::inputs::Patch;

    fn form(pairs: &[(&str, &str)]) -> WebForm {
        WebForm {
            fields: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn problem(err: ApiError, field: &str) -> FieldProblem {
        match err {
            ApiError::Validation(fields) => fields.get(field).cloned().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn page_fields_are_left_out_and_empty_fields_are_absent() {
        let key: CreateKey = form(&[("csrf_token", "x"), ("name", "ci"), ("tenant_id", "")])
            .parse()
            .unwrap();
        assert_eq!((key.name.as_str(), key.tenant_id), ("ci", None));
        let err = form(&[("csrf_token", "x")])
            .parse::<CreateKey>()
            .err()
            .unwrap();
        assert_eq!(problem(err, "name"), FieldProblem::Required);
    }

    #[test]
    fn numbers_read_as_the_json_body_did() {
        let key: CreateKey = form(&[("name", "ci"), ("expires_in_days", " 30 ")])
            .parse()
            .unwrap();
        assert_eq!(key.expires_in_days, Some(30));
        let err = form(&[("name", "ci"), ("expires_in_days", "soon")])
            .parse::<CreateKey>()
            .err()
            .unwrap();
        assert_eq!(
            problem(err, "expires_in_days"),
            FieldProblem::WrongType(r#"invalid type: string "soon", expected i64"#.into())
        );
    }

    #[test]
    fn validating_types_report_their_problem() {
        let err = form(&[
            ("email", "nope"),
            ("password", "longenough"),
            ("nickname", "n"),
        ])
        .parse::<RegisterInput>()
        .err()
        .unwrap();
        assert_eq!(problem(err, "email"), FieldProblem::InvalidEmail);
        let err = form(&[("avatar", "http://example.com/a.png")])
            .parse::<ProfilePatch>()
            .err()
            .unwrap();
        assert_eq!(problem(err, "avatar"), FieldProblem::InvalidAvatar);
        let patch: ProfilePatch = form(&[("nickname", "Ann"), ("avatar", "")])
            .parse()
            .unwrap();
        assert!(matches!(patch.avatar, Patch::Absent));
        assert!(matches!(patch.nickname, Patch::Value(_)));
    }
}
