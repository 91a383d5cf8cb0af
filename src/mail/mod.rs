//! System mail that is never lost: every message is a `mail_outbox` row written in the same
//! transaction as the change that causes it, and a worker on each instance delivers it (SMTP,
//! or `.eml` files under `{data_dir}/mail/` when no SMTP host is configured).

pub mod outbox;
pub mod templates;
pub mod transport;

pub use templates::{Rendered, SignInChange, Template};
pub use transport::{Delivered, FailureClass, SendError, Transport};

use crate::config::Config;
use crate::db::Conn;
use crate::i18n::Lang;
use crate::state::AppState;

/// Queue `template` for `to`, rendered in `lang`, inside the caller's transaction.
pub async fn enqueue(
    conn: &mut Conn,
    state: &AppState,
    to: &str,
    template: &Template<'_>,
    lang: Lang,
) -> anyhow::Result<String> {
    let rendered = templates::render(template, lang, &state.config.product_name)?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = state.clock.now();
    sqlx::query(
        "INSERT INTO mail_outbox (id, kind, recipient, subject, body_text, body_html, status, attempts, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
    )
    .bind(&id)
    .bind(template.kind())
    .bind(to)
    .bind(&rendered.subject)
    .bind(&rendered.text)
    .bind(&rendered.html)
    .bind(now)
    .execute(conn)
    .await?;
    state.mail_wake.notify_one();
    Ok(id)
}

/// A link into the public site: `{public_base_url}{path}`.
pub fn link(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.public_base_url)
}

/// Send one test message to `to` now, through the configured transport and outside the
/// outbox (`gatehouse mail test`). The error names the failing step (DNS, connect, TLS, …).
pub async fn send_test(config: &Config, to: &str) -> anyhow::Result<Delivered> {
    let transport = Transport::from_config(config)?;
    let product = &config.product_name;
    let base = config.public_base_url();
    let id = uuid::Uuid::now_v7().to_string();
    let text = format!(
        "This is a test message from {product} at {base}.\nIf you can read it, mail delivery works.\n"
    );
    let html = format!(
        "<p>This is a test message from {product} at {base}.</p><p>If you can read it, mail delivery works.</p>"
    );
    let subject = format!("{product} test mail");
    let mail = transport::Outgoing {
        id: &id,
        recipient: to,
        subject: &subject,
        text: &text,
        html: &html,
    };
    transport
        .send(&mail)
        .await
        .map_err(|e| anyhow::anyhow!("mail test via {} failed: {e}", transport.describe()))
}
