//! The OpenAPI document's shared parts: the security schemes routes name in `security(...)`, and
//! the error answers that every route of a kind gives, added in one place from what each
//! operation declares, so that no route repeats them and none can forget one.
//!
//! | an operation that declares…              | also documents                                  |
//! |------------------------------------------|-------------------------------------------------|
//! | a request body (read by `ApiJson`)        | 400 `malformed_json`, 413 `payload_too_large`,  |
//! |                                          | 415 `unsupported_media_type`, 422 `validation_failed` |
//! | `page` / `per_page` query parameters     | 422 `validation_failed`                         |
//! | any `security` requirement               | 401 `unauthenticated`                           |
//! | only session schemes (`session`, `cookie`) | 403 `session_required`                        |
//! | the `cookie` scheme on an unsafe method  | 403 `csrf_failed`                               |
//! | anything                                 | 503 `busy` (database or Redis unreachable)      |
//!
//! Every answer also documents `Cache-Control: no-store`, which `http::middleware::edge` sets on
//! every `/api/` answer that has none of its own: they hold accounts, sessions and tokens, which
//! no shared cache may keep.
//!
//! Codes that depend on the route (404 for unknown ids, 429, route-specific 400/403/409) stay in
//! the route's own `responses(...)`; a status both name keeps the route's description with the
//! shared codes added to it.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, Responses};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};

/// A session token (`ghs_…`) or an API key (`ghk_…`) as `Authorization: Bearer`.
pub const BEARER: &str = "bearer";
/// A session token only: API keys are refused with 403 `session_required`.
pub const SESSION: &str = "session";
/// The session cookie; unsafe methods must also pass the same-origin check.
pub const COOKIE: &str = "cookie";

/// Where the document is served, and Swagger UI reads it.
const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

/// `GET /api/v1/openapi.json` and Swagger UI at `/api/docs`. The document is serialized once,
/// here, and only its JSON is kept: the `OpenApi` value is a tree of maps (one per answer of
/// every route) several times the JSON's size, and it would stay resident for the life of the
/// process to be serialized again on every request.
pub fn document_routes<S: Clone + Send + Sync + 'static>(openapi: &OpenApi) -> axum::Router<S> {
    // String-keyed maps of plain values: serializing cannot fail, but a failure must not stop
    // the server either.
    let json = serde_json::to_vec(openapi).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document did not serialize");
        b"{}".to_vec()
    });
    let json = axum::body::Bytes::from(json);
    let serve = move || {
        let json = json.clone();
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                json,
            )
        }
    };
    let config = utoipa_swagger_ui::Config::new([DOCUMENT_PATH]);
    axum::Router::new()
        .route(DOCUMENT_PATH, axum::routing::get(serve))
        .merge(utoipa_swagger_ui::SwaggerUi::new("/api/docs").config(config))
}

/// Registers [`BEARER`], [`SESSION`] and [`COOKIE`] with the document.
pub struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(BEARER, bearer("ghs_… session token or ghk_… API key"));
        components.add_security_scheme(
            SESSION,
            bearer("ghs_… session token; API keys are refused with 403 session_required"),
        );
        components.add_security_scheme(
            COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::sessions::COOKIE_NAME,
            ))),
        );
    }
}

/// Add the standard error answers (see the module table) to every operation, give every error
/// answer the API's error body, and every answer a description.
pub fn add_standard_errors(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                for (status, code) in standard_errors(method, operation) {
                    document(&mut operation.responses, status, code);
                }
                add_error_bodies(&mut operation.responses);
                describe_the_undescribed(&mut operation.responses);
                add_no_store(&mut operation.responses);
            }
        }
    }
}

/// The standard `(status, code)` answers of one operation.
fn standard_errors(method: &str, operation: &Operation) -> Vec<(u16, &'static str)> {
    // Any route that reaches the database or Redis answers 503 while they are unreachable.
    let mut errors = vec![(503, "busy")];
    if operation.request_body.is_some() {
        errors.extend([
            (400, "malformed_json"),
            (413, "payload_too_large"),
            (415, "unsupported_media_type"),
            (422, "validation_failed"),
        ]);
    }
    let pages = operation.parameters.iter().flatten().any(|p| {
        matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query
            && (p.name == "page" || p.name == "per_page"))
    });
    if pages {
        errors.push((422, "validation_failed"));
    }
    let schemes = security_schemes(operation);
    if !schemes.is_empty() {
        errors.push((401, "unauthenticated"));
        if !schemes.iter().any(|s| s == BEARER) {
            errors.push((403, "session_required"));
        }
        if method != "get" && schemes.iter().any(|s| s == COOKIE) {
            errors.push((403, "csrf_failed"));
        }
    }
    errors
}

/// The scheme names an operation's security requirements mention (their fields are private, so
/// they are read through their JSON form).
fn security_schemes(operation: &Operation) -> Vec<String> {
    operation
        .security
        .iter()
        .flatten()
        .filter_map(|requirement| serde_json::to_value(requirement).ok())
        .filter_map(|value| match value {
            serde_json::Value::Object(map) => Some(map.into_iter().map(|(name, _)| name)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Document `code` under `status`: a new answer, or the code added to the route's description.
fn document(responses: &mut Responses, status: u16, code: &str) {
    let key = status.to_string();
    match responses.responses.get_mut(&key) {
        Some(RefOr::T(response)) => {
            if !response.description.contains(code) {
                response.description = if response.description.is_empty() {
                    code.to_string()
                } else {
                    format!("{} / {code}", response.description)
                };
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses
                .responses
                .insert(key, RefOr::T(Response::new(code)));
        }
    }
}

/// Every 4xx/5xx answer carries `{"error": {...}}`.
fn add_error_bodies(responses: &mut Responses) {
    for (status, response) in responses.responses.iter_mut() {
        let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
        if let (true, RefOr::T(response)) = (is_error, response)
            && response.content.is_empty()
        {
            response.content.insert(
                "application/json".into(),
                RefOr::T(Content::new(Some(Ref::from_schema_name("ErrorBody")))),
            );
        }
    }
}

/// Every answer carries `Cache-Control: no-store` (see the module comment).
fn add_no_store(responses: &mut Responses) {
    for response in responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            response
                .headers
                .entry("Cache-Control".into())
                .or_insert_with(|| {
                    RefOr::T(
                        HeaderBuilder::new()
                            .description(Some("no-store: no cache may keep the answer"))
                            .example(Some("no-store".into()))
                            .build(),
                    )
                });
        }
    }
}

/// OpenAPI requires a description on every answer; `(status = 204)` alone leaves it empty (and
/// utoipa then omits it), so the status's reason phrase stands in.
fn describe_the_undescribed(responses: &mut Responses) {
    for (status, response) in responses.responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            let reason = status
                .parse::<u16>()
                .ok()
                .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason());
            response.description = reason.unwrap_or("answer").to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn spec() -> Value {
        serde_json::to_value(crate::api().1).unwrap()
    }

    fn codes(spec: &Value, path: &str, method: &str, status: &str) -> String {
        spec["paths"][path][method]["responses"][status]["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} does not document {status}"))
            .to_string()
    }

    #[test]
    fn body_routes_document_the_body_errors() {
        let spec = spec();
        for (status, code) in [
            ("400", "malformed_json"),
            ("413", "payload_too_large"),
            ("415", "unsupported_media_type"),
            ("422", "validation_failed"),
        ] {
            assert!(codes(&spec, "/api/v1/auth/login", "post", status).contains(code));
        }
        // The route's own 400 codes are kept beside the shared one.
        let login_400 = codes(&spec, "/api/v1/auth/login", "post", "400");
        assert!(login_400.contains("captcha_required"), "{login_400}");
        // A route without a body gets none of them.
        assert!(spec["paths"]["/api/v1/users/me"]["get"]["responses"]["415"].is_null());
    }

    #[test]
    fn authenticated_routes_document_401_and_session_routes_403() {
        let spec = spec();
        assert!(codes(&spec, "/api/v1/users/me", "get", "401").contains("unauthenticated"));
        let revoke = codes(&spec, "/api/v1/api-keys/{id}", "delete", "403");
        assert!(revoke.contains("session_required"), "{revoke}");
        assert!(revoke.contains("csrf_failed"), "{revoke}");
        // API keys are accepted on /users/me, and a GET is not checked for CSRF.
        assert!(spec["paths"]["/api/v1/users/me"]["get"]["responses"]["403"].is_null());
        // Unauthenticated routes do not claim a 401.
        assert!(spec["paths"]["/api/v1/system/config"]["get"]["responses"]["401"].is_null());
        // Every route may meet an outage of the database or Redis.
        assert!(codes(&spec, "/api/v1/system/config", "get", "503").contains("busy"));
    }

    #[test]
    fn every_native_route_is_under_the_version_prefix() {
        // Routes carry their whole path (no nested router), so a route written without the
        // prefix would be served at the site's root.
        let spec = spec();
        let paths = spec["paths"].as_object().unwrap();
        assert!(paths.len() > 50, "{}", paths.len());
        for path in paths.keys() {
            assert!(path.starts_with("/api/v1/"), "{path}");
        }
    }

    #[test]
    fn every_named_scheme_exists_and_every_answer_is_described_and_not_cached() {
        let spec = spec();
        let schemes = &spec["components"]["securitySchemes"];
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for requirement in operation["security"].as_array().into_iter().flatten() {
                    for name in requirement.as_object().unwrap().keys() {
                        assert!(
                            schemes[name].is_object(),
                            "{method} {path}: no scheme {name}"
                        );
                    }
                }
                for (status, response) in operation["responses"].as_object().unwrap() {
                    assert!(
                        response["description"]
                            .as_str()
                            .is_some_and(|d| !d.is_empty()),
                        "{method} {path} {status} has no description"
                    );
                    assert_eq!(
                        response["headers"]["Cache-Control"]["example"], "no-store",
                        "{method} {path} {status}"
                    );
                    if status.as_str() >= "400" {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/ErrorBody",
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }
}
