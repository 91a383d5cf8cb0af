//! The administrators' overview page (`/admin`): per hour over the last 24 hours and per day over
//! the last 30 days, small bar charts drawn as SVG on the server (no chart library, no script)
//! from [`crate::ops::stats`], with each series' total beside it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use minijinja::{Value, context};

use super::page::{Page, WebError, redirect};
use crate::admin::Admin;
use crate::error::ApiError;
use crate::ops::stats::{self, Range};
use crate::state::AppState;

/// Chart size in SVG units; the CSS scales it to the card.
const WIDTH: f64 = 240.0;
const HEIGHT: f64 = 64.0;

pub async fn overview(
    State(state): State<AppState>,
    page: Page,
    admin: Result<Admin, ApiError>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    // `/admin?query=…` was the users list's address: keep such links working.
    if q.contains_key("query") || q.contains_key("page") {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.extend_pairs(q.iter());
        return Ok(redirect(&format!("/admin/users?{}", ser.finish())));
    }
    let admin = admin?;
    let mut sections = Vec::new();
    for (range, heading) in [(Range::Day, "overview_24h"), (Range::Month, "overview_30d")] {
        let found = stats::stats(&state, &admin, range).await?;
        let labels: Vec<String> = found
            .buckets
            .iter()
            .map(|b| bucket_label(&page, b, range))
            .collect();
        let s = &found.series;
        let t = &found.totals;
        let charts = vec![
            chart(&page, "overview_sign_ins", &s.sign_ins, t.sign_ins, &labels),
            chart(
                &page,
                "overview_failed_sign_ins",
                &s.failed_sign_ins,
                t.failed_sign_ins,
                &labels,
            ),
            chart(&page, "overview_lockouts", &s.lockouts, t.lockouts, &labels),
            chart(
                &page,
                "overview_new_accounts",
                &s.new_accounts,
                t.new_accounts,
                &labels,
            ),
            chart(
                &page,
                "overview_mail_sent",
                &s.mail_sent,
                t.mail_sent,
                &labels,
            ),
            chart(
                &page,
                "overview_mail_failed",
                &s.mail_failed,
                t.mail_failed,
                &labels,
            ),
        ];
        sections.push(context! {
            id => range.as_str(),
            heading => page.t(heading),
            first => labels.first(),
            last => labels.last(),
            charts,
        });
    }
    let ctx = context! {
        title => page.t("admin_overview_title"),
        sections,
    };
    Ok(page.render(&state, "admin_overview.html", ctx))
}

/// A bucket's start in the viewer's zone: the hour for 24 h, the date for 30 days.
fn bucket_label(page: &Page, rfc3339: &str, range: Range) -> String {
    let shown = page.time(rfc3339);
    match range {
        Range::Day => shown,
        Range::Month => shown.split(' ').next().unwrap_or_default().to_string(),
    }
}

/// One chart: a bar per bucket scaled to the largest, with a title per bar for pointer users
/// and the series name and total for everyone.
fn chart(page: &Page, key: &str, values: &[i64], total: i64, labels: &[String]) -> Value {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len().max(1) as f64;
    let slot = WIDTH / n;
    let bars: Vec<Value> = values
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(i, (v, label))| {
            let h = if *v > 0 {
                (*v as f64 / max * (HEIGHT - 2.0)).max(2.0)
            } else {
                0.0
            };
            context! {
                x => format!("{:.1}", i as f64 * slot + 0.5),
                y => format!("{:.1}", HEIGHT - h),
                w => format!("{:.1}", (slot - 1.0).max(1.0)),
                h => format!("{h:.1}"),
                label => format!("{label}: {v}"),
            }
        })
        .collect();
    context! {
        id => key,
        name => page.t(key),
        total,
        max => values.iter().copied().max().unwrap_or(0),
        bars,
        width => WIDTH,
        height => HEIGHT,
    }
}
