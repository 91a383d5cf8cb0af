//! The audit trail: one row per security-relevant change, written in the change's own transaction.
//! `detail` holds context (channel, reason, counts) and never a secret.

use serde_json::Value;

use crate::http::ClientInfo;

/// Who did what to whom, and from where.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub event: &'static str,
    pub actor_user_id: Option<&'a str>,
    pub subject_user_id: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub client: Option<&'a ClientInfo>,
    pub detail: Value,
}

impl<'a> AuditEvent<'a> {
    /// An event a user caused on their own account.
    pub fn by_user(event: &'static str, user_id: &'a str, client: &'a ClientInfo) -> Self {
        Self {
            event,
            actor_user_id: Some(user_id),
            subject_user_id: Some(user_id),
            tenant_id: None,
            client: Some(client),
            detail: Value::Object(Default::default()),
        }
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn tenant(mut self, tenant_id: &'a str) -> Self {
        self.tenant_id = Some(tenant_id);
        self
    }
}

/// Append `event` through `conn` (a transaction when the event records a change).
pub async fn record(
    conn: &mut crate::db::Conn,
    now: i64,
    event: AuditEvent<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (id, at, event, actor_user_id, subject_user_id, tenant_id, ip, user_agent, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(now)
    .bind(event.event)
    .bind(event.actor_user_id)
    .bind(event.subject_user_id)
    .bind(event.tenant_id)
    .bind(event.client.map(|c| c.ip.to_string()))
    .bind(event.client.and_then(|c| c.user_agent.clone()))
    .bind(event.detail.to_string())
    .execute(conn)
    .await?;
    Ok(())
}
