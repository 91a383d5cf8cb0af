//! `GET /admin/stats`: the overview's series as JSON (superusers, at a session).

use std::collections::HashMap;

use axum::extract::{Query, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::stats::{self, Range, Stats};
use crate::admin::Admin;
use crate::error::ApiError;
use crate::error::FieldProblem;
use crate::http::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_stats))
}

/// Sign-ins, failed sign-ins, lockouts, new accounts and mail sent / given up, per hour over
/// the last 24 hours (`range=24h`, the default) or per day over the last 30 days (`range=30d`),
/// UTC buckets oldest first, with totals.
#[utoipa::path(get, path = "/api/v1/admin/stats", tag = "admin",
    params(("range" = Option<String>, Query, description = "`24h` (default) or `30d`")),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Stats), (status = 403, description = "forbidden: not a superuser"),
        (status = 422, description = "validation_failed: `range` is not 24h or 30d")))]
async fn admin_stats(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Stats>, ApiError> {
    let range = match q.get("range").map(String::as_str) {
        None | Some("") => Range::Day,
        Some(text) => {
            Range::parse(text).ok_or_else(|| ApiError::field("range", FieldProblem::Invalid))?
        }
    };
    stats::stats(&state, &admin, range).await.map(Json)
}
