//! Request inputs at the edge: JSON bodies whose rejections are API errors, the caller's address
//! and user agent, the request language, and who is calling.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, Method, header, request::Parts};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldErrors, FieldProblem};
use crate::i18n::{Lang, RequestLang};
use crate::sessions::{self, Authenticated, CookieScope};
use crate::state::AppState;

/// Request bodies above this size are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON object body: 415 without a JSON content type, 400 for broken JSON, 422 with `fields`
/// for anything that is not the expected object.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedJson
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parse a JSON object into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ApiError::MalformedJson)?;
    if !value.is_object() {
        return Err(ApiError::field(
            "body",
            FieldProblem::WrongType("expected a JSON object".into()),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        ApiError::Validation(field_error(&path, &message))
    })
}

/// The field error a deserialization failure at `path` stands for.
pub(crate) fn field_error(path: &str, message: &str) -> FieldErrors {
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    let join = |name: String| {
        if path == "." || path.is_empty() {
            name
        } else {
            format!("{path}.{name}")
        }
    };
    let (field, problem) = if let Some(name) = quoted("missing field `") {
        (join(name), FieldProblem::Required)
    } else if let Some(name) = quoted("unknown field `") {
        let problem = if name == "email" {
            FieldProblem::NotAllowed
        } else {
            FieldProblem::Unknown
        };
        // For an unknown field the path already ends with its name.
        let field = if path == "." || path.is_empty() {
            name
        } else {
            path.to_string()
        };
        (field, problem)
    } else if let Some(problem) = message.strip_prefix("field:") {
        // Our own validating types report `field:<problem>` (see `domain::inputs`).
        (
            path.to_string(),
            crate::http::inputs::problem_from_tag(problem),
        )
    } else {
        let field = if path == "." {
            "body".to_string()
        } else {
            path.to_string()
        };
        let detail = message
            .split(" at line ")
            .next()
            .unwrap_or(message)
            .to_string();
        (field, FieldProblem::WrongType(detail))
    };
    BTreeMap::from([(field, problem)])
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Where a request came from: the peer address, or the first untrusted hop of
/// `X-Forwarded-For` when the peer is a trusted proxy.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn from_parts(parts: &Parts, state: &AppState) -> Self {
        // Without a connection (in-process tests) the caller is this host.
        let peer = peer_ip(parts).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let ip = client_ip(peer, &parts.headers, &state.config.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        Self { ip, user_agent }
    }
}

/// The client's address: `peer` itself unless it is a trusted proxy; then the first address of
/// `X-Forwarded-For`, read from the nearest hop outwards, that is not a trusted proxy. Hops that
/// are not IP addresses are skipped.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[ipnet::IpNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| is_trusted_proxy(trusted_proxies, ip);
    let mut ip = peer;
    if trusted(&peer) {
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse().ok())
            .collect();
        // Walk from the nearest hop outwards and stop at the first address we do not trust.
        for hop in hops.iter().rev() {
            ip = *hop;
            if !trusted(hop) {
                break;
            }
        }
    }
    ip
}

/// The address at the other end of the connection, when the server was given one.
pub fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Whether `ip` is one of the `trusted_proxies`, whose forwarding headers are believed.
pub fn is_trusted_proxy(trusted_proxies: &[ipnet::IpNet], ip: &IpAddr) -> bool {
    trusted_proxies.iter().any(|net| net.contains(ip))
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts, state))
    }
}

/// The language to answer in (the user's setting once known, else `Accept-Language`).
pub struct ReqLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for ReqLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<RequestLang>()
                .map(RequestLang::get)
                .unwrap_or_default(),
        ))
    }
}

/// Any authenticated caller: a session (Bearer or cookie) or an API key.
pub struct CurrentUser(pub Authenticated);

/// A caller signed in with a session; API keys are refused with 403 `session_required`.
pub struct SessionUser(pub Authenticated);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(CurrentUser)
    }
}

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = authenticate(parts, state).await?;
        if auth.session_id().is_none() {
            return Err(ApiError::SessionRequired);
        }
        Ok(SessionUser(auth))
    }
}

/// The credential a request carries, and whether it came from the cookie (which makes
/// unsafe methods subject to the same-origin check); `secure_cookies` names the cookie.
pub fn credential(headers: &HeaderMap, cookie: &CookieScope) -> Option<(String, bool)> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| (token.trim().to_string(), false));
    }
    sessions::cookie_token(headers, cookie).map(|t| (t, true))
}

async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Authenticated, ApiError> {
    if let Some(auth) = parts.extensions.get::<Authenticated>() {
        return Ok(auth.clone());
    }
    let (token, from_cookie) =
        credential(&parts.headers, &state.session_cookie()).ok_or(ApiError::Unauthenticated)?;
    if from_cookie && is_unsafe(&parts.method) {
        super::csrf::check_same_origin(&parts.headers, &state.public_base_url)?;
    }
    let found = if token.starts_with(crate::api_keys::KEY_PREFIX) {
        crate::api_keys::service::authenticate(state, &token).await?
    } else {
        sessions::service::authenticate(state, &token).await?
    };
    let auth = found.ok_or(ApiError::Unauthenticated)?;
    if let Some(lang) = parts.extensions.get::<RequestLang>() {
        let _ = lang.user.set(auth.user.lang());
    }
    crate::mfa::service::gate(state, &auth, &parts.method, parts.uri.path()).await?;
    parts.extensions.insert(auth.clone());
    Ok(auth)
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

#[cfg(test)]
mod fuzz_request_headers {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use axum::http::HeaderValue;
    use ipnet::IpNet;
    use proptest::prelude::*;

    use super::*;
    use crate::compat::ragflow::wire;
    use crate::fuzz::config;
    use crate::sessions::{COOKIE_NAME, CookieScope, cookie_token, set_cookie};

    fn trusted() -> Vec<IpNet> {
        ["10.0.0.0/8", "fd00::/8", "127.0.0.1/32"]
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect()
    }

    fn is_trusted(ip: &IpAddr) -> bool {
        trusted().iter().any(|n| n.contains(ip))
    }

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|v| IpAddr::from(Ipv4Addr::from(v))),
            any::<u128>().prop_map(|v| IpAddr::from(Ipv6Addr::from(v))),
        ]
    }

    fn proxy_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>()
                .prop_map(|v| IpAddr::from(Ipv4Addr::from(0x0a00_0000 | (v & 0x00ff_ffff)))),
            any::<u128>().prop_map(|v| IpAddr::from(Ipv6Addr::from((0xfd << 120) | (v >> 8)))),
            Just(IpAddr::from([127, 0, 0, 1])),
        ]
    }

    /// What a client may write into a header: any bytes a header can carry.
    fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            4 => proptest::sample::select(b"0123456789abcdef.:,; =[]%/ ghs_kBearer\t".to_vec()),
            1 => any::<u8>(),
        ];
        proptest::collection::vec(byte, 0..max)
    }

    fn headers(pairs: &[(&'static str, Vec<u8>)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(v) = HeaderValue::from_bytes(value) {
                h.append(*name, v);
            }
        }
        h
    }

    fn xff(hops: &[String]) -> HeaderMap {
        headers(&[("x-forwarded-for", hops.join(", ").into_bytes())])
    }

    /// A forwarded-for hop as a forger writes it: an address, garbage, or nothing.
    fn forged_hop() -> impl Strategy<Value = String> {
        prop_oneof![
            any_ip().prop_map(|ip| ip.to_string()),
            proxy_ip().prop_map(|ip| ip.to_string()),
            "[0-9a-f.:\\[\\] ]{0,20}",
        ]
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// Behind trusted proxies the client is the nearest untrusted hop, whatever the client
        /// itself put in front of it in `X-Forwarded-For`.
        #[test]
        fn fuzz_forwarded_for_cannot_be_spoofed(
            forged in proptest::collection::vec(forged_hop(), 0..6),
            client in any_ip(),
            proxies in proptest::collection::vec(proxy_ip(), 0..3),
            peer in proxy_ip(),
        ) {
            prop_assume!(!is_trusted(&client));
            let mut hops = forged;
            hops.push(client.to_string());
            hops.extend(proxies.iter().map(IpAddr::to_string));
            prop_assert_eq!(client_ip(peer, &xff(&hops), &trusted()), client);
        }

        /// A peer that is no trusted proxy is the client, whatever the header says; behind a
        /// trusted one the answer is the peer or one of the addresses in the header.
        #[test]
        fn fuzz_forwarded_for_is_only_read_from_trusted_peers(
            peer in prop_oneof![any_ip(), proxy_ip()],
            values in proptest::collection::vec(header_bytes(120), 0..3),
        ) {
            let pairs: Vec<_> = values.into_iter().map(|v| ("x-forwarded-for", v)).collect();
            let h = headers(&pairs);
            let ip = client_ip(peer, &h, &trusted());
            if !is_trusted(&peer) {
                prop_assert_eq!(ip, peer);
            } else if ip != peer {
                let listed = h
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .any(|hop| hop.trim().parse::<IpAddr>().ok() == Some(ip));
                prop_assert!(listed, "{ip}");
            }
        }

        /// The session cookie is found among any other cookies, in one `Cookie` header or
        /// several, and nothing else is taken for it.
        #[test]
        fn fuzz_session_cookie_round_trips(
            token in "ghs_[A-Za-z0-9_-]{43}",
            others in proptest::collection::vec(("[A-Za-z0-9_.-]{1,12}", "[!#-+\\--:<-~]{0,20}"), 0..6),
            at in any::<usize>(),
            split in any::<bool>(),
            scope in 0..3u8,
        ) {
            let scope = match scope {
                0 => CookieScope::Http,
                1 => CookieScope::Host,
                _ => CookieScope::Domain("example.com".into()),
            };
            let name = scope.name();
            let mut pairs: Vec<String> = others
                .iter()
                .filter(|(n, _)| n != name)
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            let without = pairs.clone();
            pairs.insert(at % (pairs.len() + 1), format!("{name}={token}"));
            let h = if split {
                headers(&pairs.iter().map(|p| ("cookie", p.clone().into_bytes())).collect::<Vec<_>>())
            } else {
                headers(&[("cookie", pairs.join("; ").into_bytes())])
            };
            prop_assert_eq!(cookie_token(&h, &scope), Some(token.clone()));
            prop_assert_eq!(credential(&h, &scope), Some((token.clone(), true)));
            let h = headers(&[("cookie", without.join("; ").into_bytes())]);
            prop_assert_eq!(cookie_token(&h, &scope), None);
            // What we set is what the browser sends back.
            let set = set_cookie(&token, 3600, &scope);
            let sent = set.to_str().unwrap_or_default().split(';').next().unwrap_or_default();
            prop_assert_eq!(cookie_token(&headers(&[("cookie", sent.as_bytes().to_vec())]), &scope), Some(token));
        }

        /// Any `Cookie` and `Authorization` bytes: no panic, and a credential found is a
        /// non-empty value without separators or surrounding blanks.
        #[test]
        fn fuzz_credentials_from_any_headers(
            cookie in header_bytes(200),
            authorization in proptest::option::of(header_bytes(120)),
            secure in any::<bool>(),
        ) {
            let scope = CookieScope::new(secure, None);
            let mut pairs = vec![("cookie", cookie)];
            if let Some(a) = authorization {
                pairs.push(("authorization", a));
            }
            let h = headers(&pairs);
            if let Some(t) = cookie_token(&h, &scope) {
                prop_assert!(!t.is_empty() && !t.contains(';') && t.trim() == t);
            }
            if let Some((t, _)) = credential(&h, &scope) {
                prop_assert_eq!(t.trim(), t.as_str());
            }
            if let Some(t) = wire::credential(&h) {
                prop_assert!(!t.is_empty() && t.trim() == t);
            }
        }

        /// `Authorization: Bearer <token>` in any case gives the token to both doors; RAGFlow's
        /// also takes it raw; a bearer header wins over the cookie.
        #[test]
        fn fuzz_bearer_round_trips(
            token in "[!-~]{1,100}",
            scheme in "[bB][eE][aA][rR][eE][rR]",
            pad in "[ \t]{0,2}",
        ) {
            let h = headers(&[
                ("authorization", format!("{pad}{scheme} {token}{pad}").into_bytes()),
                ("cookie", format!("{COOKIE_NAME}=ghs_other").into_bytes()),
            ]);
            prop_assert_eq!(credential(&h, &CookieScope::Http), Some((token.clone(), false)));
            prop_assert_eq!(wire::credential(&h), Some(token.clone()));
            let raw = headers(&[("authorization", token.clone().into_bytes())]);
            prop_assert_eq!(wire::credential(&raw), Some(token));
        }
    }
}
