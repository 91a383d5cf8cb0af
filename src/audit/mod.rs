//! The audit trail: one row per security-relevant change, written in the change's own transaction.
//! `detail` holds context (channel, reason, counts) and never a secret.

use serde_json::Value;

use crate::http::ClientInfo;

/// Declares [`Event`] with the name each kind is stored under; the names are part of the
/// audit trail's contract (the admin API filters on them, operators query them).
macro_rules! events {
    ($($kind:ident => $name:literal,)*) => {
        /// What happened.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Event {
            $($kind,)*
        }

        impl Event {
            /// Every kind, for the test that their names are unique.
            #[cfg(test)]
            const ALL: &[Event] = &[$(Event::$kind,)*];

            /// The name stored in `audit_events.event`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Event::$kind => $name,)*
                }
            }
        }
    };
}

events! {
    AdminMfaReset => "admin.mfa_reset",
    AdminUserUpdated => "admin.user_updated",
    ApiKeyCreated => "api_key.created",
    ApiKeyRevoked => "api_key.revoked",
    IdentityLinked => "identity.linked",
    IdentityUnlinked => "identity.unlinked",
    MailSent => "mail.sent",
    MailAccountAdded => "mail_account.added",
    MailAccountRemoved => "mail_account.removed",
    MfaDisabled => "mfa.disabled",
    MfaEnabled => "mfa.enabled",
    MfaRecoveryCodesRenewed => "mfa.recovery_codes_renewed",
    OauthConsentGranted => "oauth.consent_granted",
    OauthClientCreated => "oauth_client.created",
    OauthClientDeleted => "oauth_client.deleted",
    OauthClientUpdated => "oauth_client.updated",
    PasskeyAdded => "passkey.added",
    PasskeyRemoved => "passkey.removed",
    SessionRevoked => "session.revoked",
    TenantBroadcast => "tenant.broadcast",
    TenantCreated => "tenant.created",
    TenantInvitationRevoked => "tenant.invitation_revoked",
    TenantMemberInvited => "tenant.member_invited",
    TenantMemberJoined => "tenant.member_joined",
    TenantMemberRemoved => "tenant.member_removed",
    TenantMemberRoleChanged => "tenant.member_role_changed",
    UserDeleted => "user.deleted",
    UserEmailChangeCancelled => "user.email_change_cancelled",
    UserEmailChanged => "user.email_changed",
    UserEmailVerified => "user.email_verified",
    UserLocked => "user.locked",
    UserLogin => "user.login",
    UserLoginFailed => "user.login_failed",
    UserLogout => "user.logout",
    UserPasswordChanged => "user.password_changed",
    UserPasswordReset => "user.password_reset",
    UserPasswordResetRequested => "user.password_reset_requested",
    UserRegistered => "user.registered",
    UserUnlocked => "user.unlocked",
}

/// Who did what to whom, and from where.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub event: Event,
    pub actor_user_id: Option<&'a str>,
    pub subject_user_id: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub client: Option<&'a ClientInfo>,
    pub detail: Value,
}

impl<'a> AuditEvent<'a> {
    /// An event a user caused on their own account.
    pub fn by_user(event: Event, user_id: &'a str, client: &'a ClientInfo) -> Self {
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

/// Append `event` through `ex` (a transaction when the event records a change).
pub fn record<'c>(
    ex: impl crate::db::Exec<'c> + 'c,
    now: i64,
    event: AuditEvent<'c>,
) -> crate::db::StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
        "INSERT INTO audit_events (id, at, event, actor_user_id, subject_user_id, tenant_id, ip, user_agent, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(now)
    .bind(event.event.as_str())
    .bind(event.actor_user_id)
    .bind(event.subject_user_id)
    .bind(event.tenant_id)
    .bind(event.client.map(|c| c.ip.to_string()))
    .bind(event.client.and_then(|c| c.user_agent.clone()))
    .bind(event.detail.to_string())
    .execute(&mut *conn)
    .await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::Event;

    #[test]
    fn event_names_are_unique_and_dotted() {
        let mut seen = std::collections::HashSet::new();
        for kind in Event::ALL {
            let name = kind.as_str();
            assert!(seen.insert(name), "{name} is used twice");
            let (area, what) = name.split_once('.').unwrap_or_default();
            assert!(!area.is_empty() && !what.is_empty(), "{name}");
        }
        assert_eq!(Event::UserLogin.as_str(), "user.login");
    }
}
